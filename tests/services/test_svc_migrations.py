"""The ``svc_`` tables are Alembic-migrated (services/migrations, revision s0001 onwards).

On SQLite and PostgreSQL: a fresh store is at the head and matches the table definitions;
a database whose tables ``create_all`` made before the migrations existed upgrades in
place and keeps its rows; the provenance ledger still opens the shared database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, select, text

from provenance import Store
from services._errors import StoreFailed
from services._store import METADATA, MIGRATIONS, ORDERS, TIERS, VERSION_TABLE, DisputeStore

SVC_TABLES = sorted(t.name for t in METADATA.sorted_tables)
LATER_COLUMNS = ("destination", "received_at", "receipt_event", "delivered_tx")  # s0003


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """``(url, schema)`` of an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}", None
    else:
        url, schema = request.getfixturevalue("pg_schema")
        yield url, f"{schema}_{uuid.uuid4().hex[:6]}"


def _engine(url: str, schema: str | None) -> Engine:
    if schema is None:
        return create_engine(url)
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine


def _heads() -> tuple[str, ...]:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return tuple(ScriptDirectory.from_config(cfg).get_heads())


def _stamped(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def _drift(engine: Engine) -> list[Any]:
    """What the database lacks or has different from the table definitions (svc_ only)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _parent: kind != "table" or name in SVC_TABLES,
            },
        )
        return list(compare_metadata(ctx, METADATA))


def test_one_history_starting_at_s0001() -> None:
    """Every revision descends from s0001 (revisions written in parallel may leave several
    heads until a merge revision joins them: migrate upgrades all of them)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    assert list(script.get_bases()) == ["s0001"]
    assert script.get_revision("s0001").branch_labels == {"services"}
    for head in script.get_heads():
        assert "s0001" in {r.revision for r in script.iterate_revisions(head, "base")}


def test_fresh_store_is_at_head_and_matches_the_tables(db: tuple[str, str | None]) -> None:
    store = DisputeStore.open(*db)
    try:
        assert _stamped(store.engine) == set(_heads())
        assert _drift(store.engine) == []
        DisputeStore.open(*db).close()  # idempotent
        assert _stamped(store.engine) == set(_heads())
    finally:
        store.close()


def test_create_all_database_upgrades_in_place(db: tuple[str, str | None]) -> None:
    """The store before migrations: tables from create_all, rows, no services revision."""
    engine = _engine(*db)
    METADATA.create_all(engine)
    with engine.begin() as conn:
        for column in LATER_COLUMNS:  # as the tables were when create_all made them
            conn.execute(text(f"ALTER TABLE svc_orders DROP COLUMN {column}"))
        conn.execute(TIERS.insert().values(seller="0x" + "1" * 40, tier=2, since=7))
    assert not inspect(engine).has_table(VERSION_TABLE)
    engine.dispose()

    store = DisputeStore.open(*db)
    try:
        assert _stamped(store.engine) == set(_heads())
        assert _drift(store.engine) == []
        with store.begin() as conn:
            assert conn.execute(select(TIERS.c.tier, TIERS.c.since)).all() == [(2, 7)]
    finally:
        store.close()


def test_partly_created_database_gets_the_missing_tables(db: tuple[str, str | None]) -> None:
    engine = _engine(*db)
    ORDERS.create(engine)
    engine.dispose()
    store = DisputeStore.open(*db)
    try:
        assert set(SVC_TABLES) <= set(inspect(store.engine).get_table_names())
        assert _drift(store.engine) == []
    finally:
        store.close()


def test_provenance_ledger_shares_the_database(db: tuple[str, str | None]) -> None:
    """Both orders of opening work: neither version table names the other's revisions."""
    url, schema = db
    DisputeStore.open(url, schema).close()
    ledger = Store.open(url, schema=schema)
    ledger.close()
    DisputeStore.open(url, schema).close()
    engine = _engine(url, schema)
    try:
        names = set(inspect(engine).get_table_names())
        assert {"prov_alembic_version", VERSION_TABLE, "prov_events", *SVC_TABLES} <= names
        assert _stamped(engine) == set(_heads())
    finally:
        engine.dispose()


def test_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    DisputeStore.open(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 's9999'"))
    engine.dispose()
    with pytest.raises(StoreFailed) as err:
        DisputeStore.open(url)
    assert err.value.code == "store_failed"
    assert "s9999" in str(err.value)


def test_api_tables_made_by_an_earlier_build_keep_their_rows(db: tuple[str, str | None]) -> None:
    """The web service once made its api_* tables with create_all at start-up; revision
    s0006 adopts them (rows kept) and a fresh database gets them from the migration."""
    from services._store import API_KEYS, API_NONCES
    from services.api._signing import MAX_NONCE_CHARS

    engine = _engine(*db)
    API_KEYS.create(engine)
    with engine.begin() as conn:
        conn.execute(API_KEYS.insert().values(key_hash="a" * 64, actor_id="farm", created_at=1))
    engine.dispose()
    store = DisputeStore.open(*db)
    try:
        assert {"api_keys", "api_accounts", "api_nonces"} <= set(
            inspect(store.engine).get_table_names()
        )
        assert _drift(store.engine) == []
        with store.begin() as conn:
            assert conn.execute(select(API_KEYS.c.actor_id)).scalars().all() == ["farm"]
    finally:
        store.close()
    assert API_NONCES.c.nonce.type.length >= MAX_NONCE_CHARS  # type: ignore[attr-defined]
