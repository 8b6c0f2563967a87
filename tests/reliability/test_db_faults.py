"""Database faults on PostgreSQL: the ledger's connection terminated mid-transaction by the
server (``pg_terminate_backend`` from a second connection, what a failover, an admin or an
idle-timeout does), and every pooled connection terminated at once (a server restart).
Nothing partial is visible, and the next call works without restarting the process."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from provenance import Anchorer, Ledger, MemoryRegistry, Signer, Store, StoreError, audit_log
from provenance._store import EVENTS
from services._provenance_demo import DEMO_ACTORS, demo_key, sample_story
from tests.reliability.conftest import Db

pytestmark = pytest.mark.pg


def registry() -> MemoryRegistry:
    reg = MemoryRegistry()
    for actor, role in DEMO_ACTORS.items():
        reg.register(actor, demo_key(actor).public_key, role, 0)
    return reg


def record(ledger: Ledger, tag: str) -> None:
    for step in sample_story(tag=tag):
        ledger.ingest(step.events, Signer(step.actor, demo_key(step.actor)))


def terminate(db: Db, pids: list[int]) -> int:
    """Kill server backends from a connection of their own."""
    admin = Store.open(db.url, migrate=False)
    try:
        with admin.engine.begin() as conn:
            return sum(
                bool(conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": p}).scalar())
                for p in pids
            )
    finally:
        admin.close()


def backend_pid(conn: Any) -> int:
    return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())


@pytest.mark.parametrize(
    "at", ["INSERT INTO prov_events", "INSERT INTO prov_merkle_nodes", "UPDATE prov_logs SET size="]
)
def test_connection_killed_mid_ingest(pg: Db, at: str) -> None:
    store = pg.open()
    reg = registry()
    ledger = Ledger(store, reg)
    record(ledger, "0501")
    Anchorer(ledger, reg).anchor()
    before = ledger.size()
    fired: list[int] = []

    def kill_here(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if at in statement and not fired:
            pid = cursor.connection.info.backend_pid
            fired.append(terminate(pg, [pid]))

    event.listen(store.engine, "before_cursor_execute", kill_here)
    with pytest.raises(StoreError):
        record(ledger, "0502")
    event.remove(store.engine, "before_cursor_execute", kill_here)
    assert fired == [1]
    # nothing of the interrupted import is visible, from a fresh connection either
    assert ledger.size() == before
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(EVENTS)).scalar() == before
    # the same process goes on: the import succeeds on a new connection, the log is whole
    record(ledger, "0502")
    Anchorer(ledger, reg).anchor()
    report = audit_log(ledger, reg)
    assert report.ok and report.events == before + 8, report.findings
    store.close()


def test_every_pooled_connection_killed(pg: Db) -> None:
    """As after a server restart: all the pool's idle connections are dead. The next read
    and write work (the pool checks a connection before handing it out)."""
    store = pg.open()
    reg = registry()
    ledger = Ledger(store, reg)
    record(ledger, "0501")
    # several connections into the pool
    conns = [store.engine.connect() for _ in range(3)]
    pids = [backend_pid(c) for c in conns]
    for c in conns:
        c.close()
    assert terminate(pg, pids) == 3
    assert ledger.size() == 8
    record(ledger, "0502")
    assert audit_log(ledger, reg).ok
    store.close()


def test_dispute_store_survives_a_server_restart(pg: Db) -> None:
    from services._store import DisputeStore

    store = DisputeStore.open(pg.url, schema=pg.schema)
    conns = [store.engine.connect() for _ in range(2)]
    pids = [backend_pid(c) for c in conns]
    for c in conns:
        c.close()
    assert terminate(pg, pids) == 2
    with store.begin() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    store.close()
