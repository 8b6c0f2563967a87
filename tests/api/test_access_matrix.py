"""Access control, table-driven: every write route x every caller (each role, by signed
request and by API key; the registrar; nobody) is allowed or denied with its stable code;
expired, not-yet-valid and revoked keys and replayed requests are refused on every route.

A new write route is one line in ``WRITE_ROUTES``; ``test_every_write_route_is_in_the_table``
fails until it is there. The table of outcomes is generated into docs/reliability-security.md.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from provenance import Role, to_document
from services._provenance_demo import sample_story
from services.api import create_app
from services.api._signing import sign_request
from services.config import Settings
from tests.api.conftest import ADMIN_KEY, World, private_key, register
from tests.security._doctable import sync_table

ROLES = ("farm", "processor", "logistics", "retailer", "qc", "streamer", "arbiter")
_tags = itertools.count(7000)


def _story_doc(step: int) -> Callable[[], bytes]:
    """An EPCIS document with one step of a fresh batch (a new lot each call: no replay)."""

    def body() -> bytes:
        events = sample_story(tag=f"{next(_tags)}")[step].events
        return json.dumps(to_document(events)).encode()

    return body


def _new_actor_body() -> bytes:
    return json.dumps({"id": f"acl-new-{next(_tags)}", "role": "farm"}).encode()


@dataclass(frozen=True)
class WriteRoute:
    """One write route and who may call it.

    ``auth``: ``registrar`` (the admin key only), ``actor`` (a registered actor, signed request
    or API key; ``roles`` may, others get ``denied``), or ``public`` (anyone; verification
    endpoints that write nothing lasting)."""

    name: str
    method: str
    path: str
    auth: str
    body: Callable[[], bytes]
    roles: frozenset[str] = frozenset(ROLES)
    denied: tuple[int, str] = (403, "role_not_allowed")


WRITE_ROUTES: list[WriteRoute] = [
    WriteRoute("register actor", "POST", "/api/v1/actors", "registrar", _new_actor_body),
    # the role table decides per bizStep (provenance/_roles.py): origin steps, QC results
    WriteRoute(
        "record events: commissioning",
        "POST",
        "/api/v1/events",
        "actor",
        _story_doc(0),
        frozenset({"farm", "processor"}),
    ),
    WriteRoute(
        "record events: inspecting",
        "POST",
        "/api/v1/events",
        "actor",
        _story_doc(2),
        frozenset({"qc"}),
    ),
    WriteRoute("anchor now", "POST", "/api/v1/anchors", "actor", lambda: b""),
]
# POST routes that only read (verification), open to anyone by design
PUBLIC_POSTS = {"/api/v1/proofs/verify", "/api/v1/proofs/jobs", "/api/v1/clips/jobs"}
# Order and dispute writes are decided by the order's parties and state (its buyer, seller,
# an arbiter on chain), not by the caller's role alone: tests/api/test_order_writes.py tries
# each with its party, the other party, an arbiter and a stranger, and checks the order is
# unchanged after every refusal. Listed here so that a new write route still fails below.
PARTY_ROUTES = {
    ("POST", "/api/v1/orders"),
    *(
        ("POST", f"/api/v1/orders/{{order_id}}/{step}")
        for step in ("ship", "deliver", "confirm", "dispute", "evidence", "ruling")
    ),
}


@dataclass
class Callers:
    world: World
    keys: dict[str, Ed25519PrivateKey]

    def request(self, route: WriteRoute, caller: str, body: bytes | None = None) -> Any:
        data = route.body() if body is None else body
        headers = {"Content-Type": "application/json"}
        if caller == "registrar":
            headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        elif caller.endswith(":key"):
            headers.update(self.world.bearer(self.actor(caller)))
        elif caller.endswith(":signed"):
            actor = self.actor(caller)
            signed = sign_request(self.keys[actor], actor, route.method, route.path, data)
            headers.update(signed.headers())
        return self.world.client.request(route.method, route.path, content=data, headers=headers)

    @staticmethod
    def actor(caller: str) -> str:
        return f"acl-{caller.split(':')[0]}"


CALLERS = ["nobody", "registrar"] + [f"{r}:{m}" for r in ROLES for m in ("signed", "key")]


def expected(route: WriteRoute, caller: str) -> tuple[int, str]:
    """(status, code) the route must answer; code "" means allowed (2xx)."""
    if route.auth == "public":
        return 200, ""
    if caller == "nobody":
        return 401, "unauthenticated"
    if route.auth == "registrar":
        if caller == "registrar":
            return 201, ""
        # an actor's API key is not the registrar key; a signed request carries none
        return (403, "forbidden") if caller.endswith(":key") else (401, "unauthenticated")
    if caller == "registrar":  # the admin key is no actor's API key
        return 401, "unauthenticated"
    return (200, "") if caller.split(":")[0] in route.roles else route.denied


@pytest.fixture(scope="module")
def callers(
    api_db: str | None, tmp_path_factory: pytest.TempPathFactory, compile_cache: Path
) -> Iterator[Callers]:
    home = tmp_path_factory.mktemp("acl") / "home"
    app = create_app(Settings(home=home, cache=compile_cache, db=api_db, admin_key=ADMIN_KEY))
    with TestClient(app) as client:
        world = World(client, home)
        keys = {}
        for role in ROLES:
            actor = f"acl-{role}"
            world.api_keys[actor] = register(client, actor, role)["api_key"]
            keys[actor] = private_key(home, actor)
        yield Callers(world, keys)


def _outcome(r: Any) -> tuple[int, str]:
    code = "" if r.status_code < 300 else r.json()["error"]["code"]
    return r.status_code, code


def _allowed(got: tuple[int, str], want: tuple[int, str]) -> bool:
    return got[1] == want[1] and (200 <= got[0] < 300 if not want[1] else got[0] == want[0])


def test_every_write_route_is_in_the_table(callers: Callers) -> None:
    listed = {(r.method, r.path) for r in WRITE_ROUTES} | PARTY_ROUTES
    for route in callers.world.client.app.routes:  # type: ignore[attr-defined]
        for method in getattr(route, "methods", set()) & {"POST", "PUT", "PATCH", "DELETE"}:
            path = route.path
            if not path.startswith("/api/") or path in PUBLIC_POSTS:
                continue
            assert (method, path) in listed, (
                f"{method} {path} is a write route: add it to WRITE_ROUTES in {__file__}"
            )


def test_role_matrix(callers: Callers) -> None:
    rows = []
    for route in WRITE_ROUTES:
        cells = []
        for caller in CALLERS:
            want = expected(route, caller)
            got = _outcome(callers.request(route, caller))
            assert _allowed(got, want), f"{route.name} as {caller}: expected {want}, got {got}"
            cells.append("allowed" if not want[1] else f"{want[0]} {want[1]}")
        rows.append([route.name, f"`{route.method} {route.path}`", *cells])
    short = ["nobody", "registrar"] + [
        c.replace(":signed", " (signed)").replace(":key", " (key)") for c in CALLERS[2:]
    ]
    # one column per caller is too wide to read: transpose to a row per caller
    header = ["caller", *[r[0] for r in rows]]
    table = [[short[i], *[r[2 + i] for r in rows]] for i in range(len(CALLERS))]
    sync_table("access-matrix", header, table)


@pytest.mark.parametrize("state", ["revoked", "expired", "not yet valid"])
def test_invalid_keys_are_refused_on_every_actor_route(callers: Callers, state: str) -> None:
    rt = callers.world.client.app.state.runtime  # type: ignore[attr-defined]
    now = int(time.time())
    for route in (r for r in WRITE_ROUTES if r.auth == "actor"):
        role = sorted(route.roles)[0]
        actor = f"acl-{state.replace(' ', '-')}-{next(_tags)}"
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        window = {"expired": (now - 7200, now - 60), "not yet valid": (now + 3600, 0)}
        valid_from, valid_until = window.get(state, (0, 0))
        with rt.chain_lock:
            rt.chain.actors.register(actor, public, Role.parse(role), valid_from, valid_until)
            if state == "revoked":
                rt.chain.actors.revoke(actor, 0, now - 1)
        body = route.body()
        signed = sign_request(key, actor, route.method, route.path, body)
        r = callers.world.client.request(
            route.method,
            route.path,
            content=body,
            headers={**signed.headers(), "Content-Type": "application/json"},
        )
        assert _outcome(r) == (401, "key_revoked"), f"{route.name}, {state} key: {r.text}"


def test_replayed_requests_are_refused_on_every_actor_route(callers: Callers) -> None:
    for route in (r for r in WRITE_ROUTES if r.auth == "actor"):
        actor = Callers.actor(sorted(route.roles)[0])
        body = route.body()
        signed = sign_request(callers.keys[actor], actor, route.method, route.path, body)
        headers = {**signed.headers(), "Content-Type": "application/json"}
        first = callers.world.client.request(
            route.method, route.path, content=body, headers=headers
        )
        assert first.status_code < 300, first.text
        again = callers.world.client.request(
            route.method, route.path, content=body, headers=headers
        )
        assert _outcome(again) == (401, "replayed_request"), f"{route.name}: {again.text}"
