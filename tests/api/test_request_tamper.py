"""Signed requests: every single-field change of a signed write (method, path, query, body,
each X-LT-* header) is refused with its own code and writes nothing; the untouched request
then succeeds once, and its replay is refused. The table is in docs/reliability-security.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from provenance import to_document
from services._provenance_demo import sample_story
from services.api import create_app
from services.api._signing import MAX_CLOCK_SKEW_S, sign_request
from services.config import Settings
from tests.api.conftest import ADMIN_KEY, World, private_key, register
from tests.security._doctable import sync_table
from tests.security._mutate import tweak

PATH = "/api/v1/events"


@pytest.fixture(scope="module")
def world(
    api_db: str | None, tmp_path_factory: pytest.TempPathFactory, compile_cache: Path
) -> Iterator[World]:
    home = tmp_path_factory.mktemp("tamper-req") / "home"
    app = create_app(Settings(home=home, cache=compile_cache, db=api_db, admin_key=ADMIN_KEY))
    with TestClient(app) as client:
        w = World(client, home)
        for actor, role in (("tr-farm", "farm"), ("tr-other", "farm")):
            w.api_keys[actor] = register(client, actor, role)["api_key"]
        yield w


Request = dict[str, Any]  # method, path, body, headers
Change = Callable[[Request], None]


def _header(name: str, value: Callable[[str], str | None]) -> Change:
    def change(req: Request) -> None:
        new = value(req["headers"][name])
        if new is None:
            del req["headers"][name]
        else:
            req["headers"][name] = new

    return change


def _set(field: str, value: Callable[[Any], Any]) -> Change:
    def change(req: Request) -> None:
        req[field] = value(req[field])

    return change


def _body_value(body: bytes) -> bytes:
    """Change one value inside the JSON body (still valid JSON, same shape)."""
    doc = json.loads(body)
    event = doc["epcisBody"]["eventList"][0]
    event["eventTime"] = tweak(event["eventTime"])
    return json.dumps(doc).encode()


def _now_offset(seconds: int) -> Callable[[str], str]:
    return lambda _: str(int(time.time()) + seconds)


# (field, mutation, change, expected (status, code))
MUTATIONS: list[tuple[str, str, Change, tuple[int, str]]] = [
    ("method", "changed", _set("method", lambda _: "PUT"), (405, "method_not_allowed")),
    ("path", "changed", _set("path", lambda _: "/api/v1/anchors"), (401, "bad_signature")),
    ("query", "added", _set("path", lambda p: p + "?batch=x"), (401, "bad_signature")),
    ("body", "value changed", _set("body", _body_value), (401, "bad_signature")),
    ("body", "byte appended", _set("body", lambda b: b + b" "), (401, "bad_signature")),
    ("body", "removed", _set("body", lambda _: b""), (415, "unsupported_media_type")),
    ("X-LT-Actor", "changed", _header("X-LT-Actor", lambda _: "tr-other"), (401, "bad_signature")),
    ("X-LT-Actor", "unknown", _header("X-LT-Actor", lambda _: "nobody-x"), (401, "unknown_actor")),
    ("X-LT-Actor", "removed", _header("X-LT-Actor", lambda _: None), (401, "unauthenticated")),
    (
        "X-LT-Timestamp",
        "+1 s",
        _header("X-LT-Timestamp", lambda t: str(int(t) + 1)),
        (401, "bad_signature"),
    ),
    (
        "X-LT-Timestamp",
        "stale",
        _header("X-LT-Timestamp", _now_offset(-MAX_CLOCK_SKEW_S - 5)),
        (401, "stale_request"),
    ),
    (
        "X-LT-Timestamp",
        "future",
        _header("X-LT-Timestamp", _now_offset(MAX_CLOCK_SKEW_S + 5)),
        (401, "stale_request"),
    ),
    (
        "X-LT-Timestamp",
        "wrong type",
        _header("X-LT-Timestamp", lambda _: "yesterday"),
        (401, "stale_request"),
    ),
    (
        "X-LT-Timestamp",
        "removed",
        _header("X-LT-Timestamp", lambda _: None),
        (401, "unauthenticated"),
    ),
    ("X-LT-Nonce", "changed", _header("X-LT-Nonce", tweak), (401, "bad_signature")),
    ("X-LT-Nonce", "too short", _header("X-LT-Nonce", lambda n: n[:4]), (401, "unauthenticated")),
    ("X-LT-Nonce", "removed", _header("X-LT-Nonce", lambda _: None), (401, "unauthenticated")),
    ("X-LT-Signature", "changed", _header("X-LT-Signature", tweak), (401, "bad_signature")),
    (
        "X-LT-Signature",
        "wrong type",
        _header("X-LT-Signature", lambda _: "%%%"),
        (401, "bad_signature"),
    ),
    (
        "X-LT-Signature",
        "truncated",
        _header("X-LT-Signature", lambda s: s[:-4]),
        (401, "bad_signature"),
    ),
    (
        "X-LT-Signature",
        "removed",
        _header("X-LT-Signature", lambda _: None),
        (401, "unauthenticated"),
    ),
    (
        "Content-Type",
        "changed",
        _header("Content-Type", lambda _: "text/plain"),
        (415, "unsupported_media_type"),
    ),
]


def _send(w: World, req: Request) -> tuple[int, str]:
    r = w.client.request(req["method"], req["path"], content=req["body"], headers=req["headers"])
    return r.status_code, ("" if r.status_code < 300 else r.json()["error"]["code"])


def _log_size(w: World) -> int:
    return int(w.client.get("/api/v1/anchors").json()["log_size"])


def test_every_field_of_a_signed_request_is_bound(world: World) -> None:
    body = json.dumps(to_document(sample_story(tag="7701")[0].events)).encode()
    signed = sign_request(private_key(world.home, "tr-farm"), "tr-farm", "POST", PATH, body)
    original: Request = {
        "method": "POST",
        "path": PATH,
        "body": body,
        "headers": {**signed.headers(), "Content-Type": "application/json"},
    }
    before = _log_size(world)
    rows = []
    for field, kind, change, want in MUTATIONS:
        req = json.loads(json.dumps({**original, "body": body.decode()}))
        req["body"] = req["body"].encode()
        change(req)
        assert req != {**original}, f"{field} {kind}: no change"
        got = _send(world, req)
        assert got == want, f"{field} {kind}: expected {want}, got {got}"
        rows.append([f"`{field}`", kind, f"{want[0]} {want[1]}"])
    assert _log_size(world) == before, "a refused request wrote something"
    assert _send(world, original) == (201, ""), "the untouched request must still pass"
    assert _send(world, original) == (401, "replayed_request")
    rows.append(["(whole request)", "replayed", "401 replayed_request"])
    sync_table("tamper-request", ["field", "mutation", "refused with"], rows)
