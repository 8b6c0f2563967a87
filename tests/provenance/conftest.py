"""Fixtures for the provenance suite: one store suite on SQLite and PostgreSQL, the demo
story recorded by its five actors, and an in-memory registry for unit tests (tests that
claim on-chain behaviour use the real embedded chain from ``tests/conftest.py``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance import Ledger, MemoryRegistry, Signer, Store
from services._provenance_demo import DEMO_ACTORS, StoryStep, demo_key, sample_story

PG_ENV = "LIVETRUST_TEST_PG"

RETAIL_A = "urn:epc:class:lgtin:0614141.307346.R0501A"
HARVEST = "urn:epc:class:lgtin:0614141.107346.H0501"
PACKS = "urn:epc:class:lgtin:0614141.207346.P0501"


def _pg_url() -> str | None:
    return os.environ.get(PG_ENV)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A freshly migrated store: SQLite file in tmp, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        s = Store.open(f"sqlite:///{tmp_path / 'ledger.db'}")
        yield s
        s.close()
        return
    url = _pg_url()
    if not url:
        reason = f"{PG_ENV} not set: PostgreSQL store tests skipped (CI sets it)"
        if os.environ.get("CI"):  # CI must run every backend, as with anvil
            pytest.fail(reason)
        print(f"\nSKIP: {reason}")
        pytest.skip(reason)
    schema = f"prov_test_{uuid.uuid4().hex[:12]}"
    s = Store.open(url, schema=schema)
    yield s
    from sqlalchemy import text

    with s.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield s
    s.close()


def registered() -> MemoryRegistry:
    reg = MemoryRegistry()
    for actor, role in DEMO_ACTORS.items():
        reg.register(actor, demo_key(actor).public_key, role, 0)
    return reg


@pytest.fixture
def registry() -> MemoryRegistry:
    return registered()


def record(ledger: Ledger, story: list[StoryStep]) -> None:
    for step in story:
        ledger.ingest(step.events, Signer(step.actor, demo_key(step.actor)))


@pytest.fixture
def ledger(sqlite_store: Store, registry: MemoryRegistry) -> Ledger:
    """The demo story recorded in SQLite (not anchored)."""
    led = Ledger(sqlite_store, registry)
    record(led, sample_story())
    return led
