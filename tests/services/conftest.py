"""Service fixtures: an OrderBook on each chain backend, and a dispute store on SQLite and,
when ``LIVETRUST_TEST_PG`` is set, on PostgreSQL (a fresh schema per test run)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts import Chain
from services._orders import OrderBook
from services._store import DisputeStore

ETH = 10**18


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[tuple[str, str]]:
    url = os.environ.get("LIVETRUST_TEST_PG")
    if not url:
        reason = "LIVETRUST_TEST_PG not set (make test sets it; CI runs PostgreSQL)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        print(f"\nSKIP: {reason}")
        pytest.skip(reason)
    schema = f"svc_test_{uuid.uuid4().hex[:10]}"
    yield url, schema
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        names = conn.execute(
            text("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"),
            {"p": f"{schema}%"},
        ).scalars()
        for name in list(names):
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DisputeStore]:
    """One store suite, two databases."""
    if request.param == "sqlite":
        s = DisputeStore.open(f"sqlite:///{tmp_path / 'svc.db'}")
    else:
        url, schema = request.getfixturevalue("pg_schema")
        # a schema per test keeps tests independent inside the run's namespace
        s = DisputeStore.open(url, schema=f"{schema}_{uuid.uuid4().hex[:6]}")
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[DisputeStore]:
    s = DisputeStore.open(f"sqlite:///{tmp_path / 'svc.db'}")
    yield s
    s.close()


@pytest.fixture
def book(chain: Chain, sqlite_store: DisputeStore, tmp_path: Path) -> OrderBook:
    """An order book on every chain backend (embedded, served, anvil)."""
    return OrderBook(chain, sqlite_store, tmp_path / "home")


@pytest.fixture
def embedded_book(embedded_chain: Chain, sqlite_store: DisputeStore, tmp_path: Path) -> OrderBook:
    return OrderBook(embedded_chain, sqlite_store, tmp_path / "home")
