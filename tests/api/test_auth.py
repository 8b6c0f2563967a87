"""Writes are authenticated and role-checked; every refusal has its own stable code."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from provenance import to_document
from services._provenance_demo import sample_story
from services.api import create_app
from services.api._signing import MAX_CLOCK_SKEW_S, sign_request
from services.config import Settings
from tests.api.conftest import ADMIN_KEY, World, private_key, register


@pytest.fixture(scope="module")
def fresh(
    api_db: str | None, tmp_path_factory: pytest.TempPathFactory, compile_cache: Path
) -> Iterator[World]:
    home = tmp_path_factory.mktemp("auth") / "home"
    app = create_app(Settings(home=home, cache=compile_cache, db=api_db, admin_key=ADMIN_KEY))
    with TestClient(app) as c:
        yield World(c, home)


def new_actor(w: World, role: str) -> str:
    name = f"{role}-{secrets.token_hex(4)}"
    w.api_keys[name] = register(w.client, name, role)["api_key"]
    return name


def doc_for(step_index: int, tag: str) -> bytes:
    step = sample_story(tag=tag)[step_index]
    return json.dumps(to_document(step.events)).encode()


def code(r: object) -> str:
    return str(r.json()["error"]["code"])  # type: ignore[attr-defined]


def log_size(w: World) -> int:
    return int(w.client.get("/api/v1/anchors").json()["log_size"])


# -- registration -------------------------------------------------------------------------------


def test_registration_needs_the_registrar_key(fresh: World) -> None:
    body = {"id": "farm-x", "role": "farm"}
    r = fresh.client.post("/api/v1/actors", json=body)
    assert r.status_code == 401 and code(r) == "unauthenticated"
    r = fresh.client.post("/api/v1/actors", json=body, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 403 and code(r) == "forbidden"
    farm = new_actor(fresh, "farm")
    r = fresh.client.post(
        "/api/v1/actors",
        json={"id": farm, "role": "farm"},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert r.status_code == 409 and code(r) == "conflict"
    for bad in ({"id": "../etc", "role": "farm"}, {"id": "ok", "role": "king"}):
        r = fresh.client.post(
            "/api/v1/actors", json=bad, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
        assert r.status_code == 422 and code(r) == "invalid_request"


def test_registration_returns_key_once_and_stores_only_its_hash(fresh: World) -> None:
    name = new_actor(fresh, "qc")
    key = fresh.api_keys[name]
    assert key.startswith("lt_")
    rt = fresh.client.app.state.runtime  # type: ignore[attr-defined]
    from sqlalchemy import select

    from services.api._auth import API_KEYS

    with rt.store.read() as conn:
        rows = conn.execute(select(API_KEYS).where(API_KEYS.c.actor_id == name)).all()
    assert len(rows) == 1 and rows[0].key_hash != key and len(rows[0].key_hash) == 64


# -- writes: authentication ------------------------------------------------------------------


def test_signed_request_records_events(fresh: World) -> None:
    farm = new_actor(fresh, "farm")
    body = doc_for(0, secrets.token_hex(2))
    r = fresh.signed(farm, "POST", "/api/v1/events", body)
    assert r.status_code == 201, r.text
    assert r.json()["actor"] == farm and r.json()["imported"] == 1


def test_missing_credentials(fresh: World) -> None:
    r = fresh.client.post(
        "/api/v1/events", content=doc_for(0, "a001"), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 401 and code(r) == "unauthenticated"
    r = fresh.client.post("/api/v1/anchors", headers={"Authorization": "Bearer lt_unknown"})
    assert r.status_code == 401 and code(r) == "unauthenticated"
    r = fresh.client.post("/api/v1/anchors", headers={"X-LT-Actor": "someone"})
    assert r.status_code == 401 and code(r) == "unauthenticated"


def test_bad_signature(fresh: World) -> None:
    farm = new_actor(fresh, "farm")
    body = doc_for(0, "b001")
    req = sign_request(private_key(fresh.home, farm), farm, "POST", "/api/v1/events", b"other")
    r = fresh.client.post(
        "/api/v1/events",
        content=body,
        headers={**req.headers(), "Content-Type": "application/json"},
    )
    assert r.status_code == 401 and code(r) == "bad_signature"
    # signed by a key that is not the actor's
    req = sign_request(Ed25519PrivateKey.generate(), farm, "POST", "/api/v1/events", body)
    r = fresh.client.post(
        "/api/v1/events",
        content=body,
        headers={**req.headers(), "Content-Type": "application/json"},
    )
    assert r.status_code == 401 and code(r) == "bad_signature"
    # the path is signed too
    req = sign_request(private_key(fresh.home, farm), farm, "POST", "/api/v1/anchors", body)
    r = fresh.client.post(
        "/api/v1/events",
        content=body,
        headers={**req.headers(), "Content-Type": "application/json"},
    )
    assert r.status_code == 401 and code(r) == "bad_signature"


def test_stale_timestamp(fresh: World) -> None:
    farm = new_actor(fresh, "farm")
    old = int(time.time()) - MAX_CLOCK_SKEW_S - 5
    r = fresh.signed(farm, "POST", "/api/v1/anchors", timestamp=old)
    assert r.status_code == 401 and code(r) == "stale_request"
    future = int(time.time()) + MAX_CLOCK_SKEW_S + 5
    r = fresh.signed(farm, "POST", "/api/v1/anchors", timestamp=future)
    assert r.status_code == 401 and code(r) == "stale_request"


def test_replayed_nonce(fresh: World) -> None:
    farm = new_actor(fresh, "farm")
    req = sign_request(private_key(fresh.home, farm), farm, "POST", "/api/v1/anchors")
    first = fresh.client.post("/api/v1/anchors", headers=req.headers())
    assert first.status_code == 200, first.text
    again = fresh.client.post("/api/v1/anchors", headers=req.headers())
    assert again.status_code == 401 and code(again) == "replayed_request"


def test_unknown_actor(fresh: World) -> None:
    req = sign_request(Ed25519PrivateKey.generate(), "ghost-farm", "POST", "/api/v1/anchors")
    r = fresh.client.post("/api/v1/anchors", headers=req.headers())
    assert r.status_code == 401 and code(r) == "unknown_actor"


def test_revoked_key_refused_for_signatures_and_api_keys(fresh: World) -> None:
    farm = new_actor(fresh, "farm")
    assert fresh.signed(farm, "POST", "/api/v1/anchors").status_code == 200
    rt = fresh.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.chain_lock:
        rt.chain.actors.revoke(farm, 0, int(time.time()) - 1)
    r = fresh.signed(farm, "POST", "/api/v1/anchors")
    assert r.status_code == 401 and code(r) == "key_revoked"
    r = fresh.client.post("/api/v1/anchors", headers=fresh.bearer(farm))
    assert r.status_code == 401 and code(r) == "key_revoked"


# -- writes: roles and content -------------------------------------------------------------------


def test_farm_cannot_post_a_qc_result_and_nothing_is_written(fresh: World) -> None:
    farm = new_actor(fresh, "farm")
    tag = secrets.token_hex(2)
    before = log_size(fresh)
    qc_step = doc_for(2, tag)  # the inspecting event
    r = fresh.client.post(
        "/api/v1/events",
        content=qc_step,
        headers={**fresh.bearer(farm), "Content-Type": "application/json"},
    )
    assert r.status_code == 403 and code(r) == "role_not_allowed"
    assert log_size(fresh) == before


def test_bad_epcis_is_4xx_with_provenance_code_and_atomic(fresh: World) -> None:
    farm = new_actor(fresh, "farm")
    headers = {**fresh.bearer(farm), "Content-Type": "application/json"}
    before = log_size(fresh)
    r = fresh.client.post("/api/v1/events", content=b'{"type": "Nope"}', headers=headers)
    assert r.status_code == 422 and code(r) == "malformed_event"
    r = fresh.client.post("/api/v1/events", content=b'{"broken', headers=headers)
    assert r.status_code == 422 and code(r) == "malformed_event"
    # one good event and one bad: nothing written
    good = json.loads(doc_for(0, secrets.token_hex(2)))
    good["epcisBody"]["eventList"].append({"type": "ObjectEvent"})
    r = fresh.client.post("/api/v1/events", content=json.dumps(good).encode(), headers=headers)
    assert r.status_code == 422 and code(r) == "malformed_event"
    assert log_size(fresh) == before
    # a replayed event
    body = doc_for(0, secrets.token_hex(2))
    assert fresh.client.post("/api/v1/events", content=body, headers=headers).status_code == 201
    r = fresh.client.post("/api/v1/events", content=body, headers=headers)
    assert r.status_code == 409 and code(r) == "replay_rejected"


def test_content_type_sniffing_and_size(fresh: World) -> None:
    farm = new_actor(fresh, "farm")
    r = fresh.client.post(
        "/api/v1/events",
        content=doc_for(0, "c001"),
        headers={**fresh.bearer(farm), "Content-Type": "text/csv"},
    )
    assert r.status_code == 415 and code(r) == "unsupported_media_type"
    r = fresh.client.post(
        "/api/v1/events",
        content=b"<xml/>",
        headers={**fresh.bearer(farm), "Content-Type": "application/json"},
    )
    assert r.status_code == 415 and code(r) == "unsupported_media_type"
    r = fresh.client.post(
        "/api/v1/events",
        content=b"[" + b" " * (9 * 1024 * 1024) + b"]",
        headers={**fresh.bearer(farm), "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and code(r) == "payload_too_large"


def test_anchor_via_api(fresh: World) -> None:
    farm = new_actor(fresh, "farm")
    fresh.client.post(
        "/api/v1/events",
        content=doc_for(0, secrets.token_hex(2)),
        headers={**fresh.bearer(farm), "Content-Type": "application/json"},
    )
    r = fresh.client.post("/api/v1/anchors", headers=fresh.bearer(farm))
    assert r.status_code == 200
    assert r.json()["status"] == "anchored" and r.json()["requested_by"] == farm
    r = fresh.client.post("/api/v1/anchors", headers=fresh.bearer(farm))
    assert r.json()["status"] == "up_to_date"
