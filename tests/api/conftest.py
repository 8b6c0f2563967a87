"""Fixtures: a fresh app per test, and one shared populated world (the demo story recorded
through the API by its five parties, anchored) for read tests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from contracts._keyfile import load_secret
from provenance import to_document
from services._provenance_demo import DEMO_ACTORS, sample_story
from services.api import create_app
from services.api._local import fresh_pg_database
from services.api._signing import sign_request
from services.config import Settings

ADMIN_KEY = "lt_admin_test_registrar_key"
PG_ENV = "LIVETRUST_TEST_PG"


@pytest.fixture
def api_settings(tmp_path: Path, compile_cache: Path) -> Settings:
    return Settings(home=tmp_path / "home", cache=compile_cache, admin_key=ADMIN_KEY)


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as c:
        yield c


def private_key(home: Path, actor: str) -> Ed25519PrivateKey:
    seed, _ = load_secret(home / "keys" / f"{actor}.pem", "ed25519")
    return Ed25519PrivateKey.from_private_bytes(seed)


@dataclass
class World:
    client: TestClient
    home: Path
    api_keys: dict[str, str] = field(default_factory=dict)
    batches: dict[str, str] = field(default_factory=dict)
    orders: dict[str, Any] = field(default_factory=dict)

    def signed(self, actor: str, method: str, path: str, body: bytes = b"", **kw: Any) -> Any:
        req = sign_request(private_key(self.home, actor), actor, method, path, body, **kw)
        headers = {**req.headers(), "Content-Type": "application/json"}
        return self.client.request(method, path, content=body, headers=headers)

    def bearer(self, actor: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_keys[actor]}"}


def register(client: TestClient, actor: str, role: str) -> dict[str, Any]:
    r = client.post(
        "/api/v1/actors",
        json={"id": actor, "role": role},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def record_story(
    world: World,
    tag: str,
    temps: tuple[float, ...] = (2.5, 3.1, 4.0, 3.6),
    story: list[Any] | None = None,
) -> None:
    """Post the demo story of lot ``tag`` (or ``story``, an edited one) as its actors."""
    for step in story or sample_story(tag=tag, temps=temps):
        doc = json.dumps(to_document(step.events)).encode()
        r = world.client.post(
            "/api/v1/events",
            content=doc,
            headers={**world.bearer(step.actor), "Content-Type": "application/ld+json"},
        )
        assert r.status_code == 201, r.text
    world.batches[tag] = f"urn:epc:class:lgtin:0614141.307346.R{tag}A"


def populate(client: TestClient, home: Path) -> World:
    world = World(client, home)
    for actor, role in DEMO_ACTORS.items():
        world.api_keys[actor] = register(client, actor, role.label)["api_key"]
    record_story(world, "0501")
    r = world.signed("farm-green-valley", "POST", "/api/v1/anchors")
    assert r.status_code == 200, r.text
    record_story(world, "0502", temps=(2.5, 9.5, 4.0))  # a warm reading, and not anchored
    return world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, compile_cache: Path) -> Iterator[World]:
    home = tmp_path_factory.mktemp("world") / "home"
    settings = Settings(home=home, cache=compile_cache, admin_key=ADMIN_KEY)
    with TestClient(create_app(settings)) as c:
        yield populate(c, home)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def api_db(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The database of a module's app, each backend in turn: None (SQLite in the app's
    home) or a fresh PostgreSQL database, dropped afterwards. Security and write suites take
    it so that authentication, replay protection and role checks are proven on both."""
    if request.param == "sqlite":
        yield None
        return
    url = os.environ.get(PG_ENV)
    if not url:
        reason = f"{PG_ENV} not set: the PostgreSQL run of the API suite is skipped (CI sets it)"
        if os.environ.get("CI"):  # CI must run every backend, as with anvil
            pytest.fail(reason)
        pytest.skip(reason)
    with fresh_pg_database(url) as db:
        yield db


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} not set")
    return url
