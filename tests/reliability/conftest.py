"""Fixtures for the reliability suite: a database (SQLite file or a fresh PostgreSQL schema)
named by URL, so that child processes killed mid-write can open it too."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provenance import Store

PG_ENV = "LIVETRUST_TEST_PG"


@dataclass(frozen=True)
class Db:
    """Where a test's ledger lives; ``open()`` gives a new engine (one per process)."""

    kind: str  # sqlite | postgresql
    url: str
    schema: str | None = None

    def open(self, migrate: bool = False) -> Store:
        return Store.open(self.url, schema=self.schema, migrate=migrate)


def pg_url() -> str | None:
    return os.environ.get(PG_ENV)


def _pg_schema() -> Iterator[Db]:
    url = pg_url()
    if not url:
        pytest.skip(f"{PG_ENV} not set: PostgreSQL reliability tests skipped (CI sets it)")
    d = Db("postgresql", url, f"rel_{uuid.uuid4().hex[:12]}")
    d.open(migrate=True).close()
    yield d
    from sqlalchemy import text

    store = Store.open(url, migrate=False)
    with store.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{d.schema}" CASCADE'))
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """A migrated, empty ledger database on each backend in turn."""
    if request.param == "sqlite":
        d = Db("sqlite", f"sqlite:///{tmp_path / 'ledger.db'}")
        d.open(migrate=True).close()
        yield d
        return
    yield from _pg_schema()


@pytest.fixture
def pg() -> Iterator[Db]:
    """A fresh PostgreSQL schema (tests of server-side faults)."""
    yield from _pg_schema()


@pytest.fixture
def store(db: Db) -> Iterator[Store]:
    s = db.open()
    yield s
    s.close()
