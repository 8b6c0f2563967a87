"""The dispute store on SQLite and PostgreSQL: the same suite on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from contracts import Chain, RulingCode
from services._errors import StoreFailed
from services._orders import DisputeReason, OrderBook
from services._store import ACTIVITY, EVIDENCE, ORDERS, RULINGS, DisputeStore
from tests.services._docs import breach

ETH = 10**18


def test_store_keeps_orders_evidence_rulings_and_scores(
    store: DisputeStore, embedded_chain: Chain, tmp_path: Path
) -> None:
    book = OrderBook(embedded_chain, store, tmp_path / "home")
    buyer, seller = embedded_chain.accounts[1], embedded_chain.accounts[2]
    book.post_bond(seller, 10 * ETH)
    big = 2**70  # wei beyond 64 bits survive as decimal text
    book.post_bond(seller, 3 * big)
    o = book.create_order(buyer, seller, big, 86_400, 86_400, batch="b-1", streamer="alice")
    ev = tmp_path / "v.json"
    ev.write_text(json.dumps(breach() | {"batch": "b-1"}))
    book.open_dispute(o.order_id, DisputeReason.QUALITY, [ev])
    d = book.rule(o.order_id)
    assert d.code is RulingCode.QUALITY_FAILURE
    with store.begin() as conn:
        row = conn.execute(select(ORDERS)).one()
        assert (int(row.price), row.batch, row.streamer) == (big, "b-1", "alice")
        assert conn.execute(select(EVIDENCE.c.kind)).scalar_one() == "provenance_verdict"
        r = conn.execute(select(RULINGS)).one()
        assert r.code == RulingCode.QUALITY_FAILURE and not r.needs_human
        assert json.loads(r.decision)["reasons"][0]["rule"] == "cold_chain_breach"
        kinds = sorted(conn.execute(select(ACTIVITY.c.kind)).scalars())
    assert kinds == ["complaint", "fault", "order"]
    assert book.seller_of("alice") == seller
    s = book.score(seller)
    assert len(s["history"]) >= 2  # one per complaint, ruling, and this call


def test_unreachable_database_is_a_typed_error() -> None:
    with pytest.raises(StoreFailed) as exc:
        DisputeStore.open("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert exc.value.code == "store_failed"


def test_sqlite_store_opens_as_the_ledger_does(tmp_path: Path) -> None:
    """One way to open a database (``provenance._store.SqlStore``): the dispute store gets
    the ledger's SQLite settings (WAL, a busy timeout so writers queue, foreign keys on)."""
    from provenance import Store

    def pragmas(engine: Engine) -> tuple[str, int, int, int]:
        with engine.connect() as conn:
            return (
                conn.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
                conn.exec_driver_sql("PRAGMA synchronous").scalar_one(),
                conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one(),
                conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one(),
            )

    url = f"sqlite:///{tmp_path / 'new' / 'shared.db'}"  # a fresh folder is made
    ledger, disputes = Store.open(url), DisputeStore.open(url)
    try:
        assert pragmas(disputes.engine) == pragmas(ledger.engine) == ("wal", 1, 30_000, 1)
    finally:
        disputes.close()
        ledger.close()


def test_bad_schema_name_is_a_typed_error() -> None:
    with pytest.raises(StoreFailed) as exc:
        DisputeStore.open("postgresql+psycopg://nobody@127.0.0.1:1/none", 'x"; DROP --')
    assert exc.value.code == "store_failed"
