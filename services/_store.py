"""The off-chain side of disputes: SQLAlchemy 2 Core tables on SQLite or PostgreSQL.

The chain is the source of truth for money and state; this store caches what the chain says
(so listings need no RPC round trips) and adds what the chain cannot hold: which batch an
order is for, the evidence files behind each dispute, each ruling's reasons, the activity
log the credit score is computed from, and the score history. :meth:`OrderBook.reconcile`
re-reads the chain and repairs the cache.

Tables (prefixed ``svc_`` so they share a database with ``prov_`` tables), migrated by
Alembic from ``services/migrations`` with their own version table ``svc_alembic_version``
(branch ``services``, from revision ``s0001``); :func:`migrate` upgrades to all heads:

- ``svc_orders``: one row per escrow order (escrow address + on-chain id), with its
  destination and the provenance receive event that delivered it.
- ``svc_disputes``: one per disputed order (the contract's dispute id is the order id).
- ``svc_evidence``: evidence files (sha256, kind, stored path) per dispute.
- ``svc_rulings``: every oracle / arbiter decision, with its JSON and commitment.
- ``svc_activity``: the credit-score input log (unique per seller, kind and reference, so
  re-deriving it from the chain never double counts).
- ``svc_scores``: score history with the computation's JSON and commitment.
- ``svc_tiers``: the current circuit-breaker tier per seller and since when.

Wei amounts are stored as decimal text: they exceed 64-bit integers.
SQLAlchemy and Alembic errors become :class:`StoreFailed`, once, in the shared base
(:class:`provenance._store.SqlStore`), which also opens the database the same way as the
ledger's store.
"""

from __future__ import annotations

import weakref
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from provenance._store import SqlStore
from services._errors import StoreFailed

__all__ = [
    "ACTIVITY",
    "API_ACCOUNTS",
    "API_KEYS",
    "API_NONCES",
    "DISPUTES",
    "EVIDENCE",
    "JOBS",
    "METADATA",
    "MIGRATIONS",
    "ORDERS",
    "RULINGS",
    "SCORES",
    "TIERS",
    "VERSION_TABLE",
    "DisputeStore",
    "migrate",
]

WEI = String(80)  # 2**256 has 78 decimal digits
ADDR = String(42)
# Our own Alembic version table: the provenance ledger's (prov_alembic_version) must never
# hold a revision its script directory cannot resolve, or provenance.Store.open would fail.
VERSION_TABLE = "svc_alembic_version"
MIGRATIONS = Path(__file__).parent / "migrations"

METADATA = MetaData()
# Engines already upgraded in this process: every store over the same engine (disputes,
# personas, screenings) calls migrate() on open, and Alembic's check costs a few queries.
_MIGRATED: weakref.WeakSet[Engine] = weakref.WeakSet()

# The web service's callers (services.api._auth): API keys (only their hashes), escrow
# accounts, and the nonces of signed requests seen within the clock-skew window.
API_KEYS = Table(
    "api_keys",
    METADATA,
    Column("key_hash", String(64), primary_key=True),  # sha256 hex of the key; never the key
    Column("actor_id", String(128), nullable=False, index=True),
    Column("created_at", Integer, nullable=False),
    Column("revoked_at", Integer, nullable=True),
)
# The escrow account each actor transacts from (custodial: the node holds it unlocked, or it is
# the service's chain key), and the buyers: consumers hold no persona key on chain, only an
# API key bound to their escrow account (role "buyer" here; ActorRegistry has no such role).
API_ACCOUNTS = Table(
    "api_accounts",
    METADATA,
    Column("actor_id", String(128), primary_key=True),
    Column("account", String(42), nullable=False),
    Column("buyer", Integer, nullable=False, default=0),
)
API_NONCES = Table(
    "api_nonces",
    METADATA,
    Column("actor_id", String(128), primary_key=True),
    Column("nonce", String(128), primary_key=True),  # >= services.api._signing.MAX_NONCE_CHARS
    Column("seen_at", Integer, nullable=False, index=True),
)


ORDERS = Table(
    "svc_orders",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("escrow", ADDR, nullable=False),
    Column("order_id", BigInteger, nullable=False),
    Column("buyer", ADDR, nullable=False),
    Column("seller", ADDR, nullable=False),
    Column("streamer", String(200)),
    Column("price", WEI, nullable=False),
    Column("batch", String(500)),
    Column("ship_by", BigInteger, nullable=False),
    Column("deliver_by", BigInteger, nullable=False),
    Column("state", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("tx", String(66)),
    # where the goods go (an EPCIS location id) and the receive event that delivered them
    Column("destination", String(250)),
    Column("received_at", BigInteger),
    Column("receipt_event", String(120)),
    Column("delivered_tx", String(66)),
    UniqueConstraint("escrow", "order_id", name="svc_orders_escrow_order"),
)

DISPUTES = Table(
    "svc_disputes",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("escrow", ADDR, nullable=False),
    Column("order_id", BigInteger, nullable=False),
    Column("reason", Integer, nullable=False),
    Column("opened_at", BigInteger, nullable=False),
    Column("rule_by", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # open | queued | ruled | settled
    Column("human_deadline", BigInteger),
    Column("tx", String(66)),
    UniqueConstraint("escrow", "order_id", name="svc_disputes_escrow_order"),
)

EVIDENCE = Table(
    "svc_evidence",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("escrow", ADDR, nullable=False),
    Column("order_id", BigInteger, nullable=False),
    Column("sha256", String(71), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("name", String(300), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("path", Text, nullable=False),
    Column("party", ADDR),
    Column("added_at", BigInteger, nullable=False),
    Column("tx", String(66)),
    UniqueConstraint("escrow", "order_id", "sha256", name="svc_evidence_once"),
)

RULINGS = Table(
    "svc_rulings",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("escrow", ADDR, nullable=False),
    Column("order_id", BigInteger, nullable=False),
    Column("code", Integer),
    Column("needs_human", Boolean, nullable=False),
    Column("decision", Text, nullable=False),  # Decision.to_json()
    Column("commitment", String(66), nullable=False),
    Column("arbiter", ADDR),
    Column("tx", String(66)),
    Column("at", BigInteger, nullable=False),
)

ACTIVITY = Table(
    "svc_activity",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seller", ADDR, nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("weight", Float, nullable=False),
    Column("ref", String(600), nullable=False),
    UniqueConstraint("seller", "kind", "ref", name="svc_activity_once"),
)

SCORES = Table(
    "svc_scores",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seller", ADDR, nullable=False, index=True),
    Column("at", BigInteger, nullable=False),
    Column("score", Float, nullable=False),
    Column("tier", Integer, nullable=False),
    Column("report", Text, nullable=False),
    Column("commitment", String(66), nullable=False),
    Column("tx", String(66)),
)

TIERS = Table(
    "svc_tiers",
    METADATA,
    Column("seller", ADDR, primary_key=True),
    Column("tier", Integer, nullable=False),
    Column("since", BigInteger, nullable=False),
)

# Background jobs of the web service (services/api/_jobs.py), shared by its uvicorn workers:
# the worker that took an upload runs the job and writes its progress here; any worker
# answers a poll. Revision s0002.
JOBS = Table(
    "svc_jobs",
    METADATA,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("progress", Float, nullable=False),
    Column("stage", String(200), nullable=False),
    Column("worker", String(100), nullable=False),  # host:pid that runs it
    Column("created", Float, nullable=False, index=True),
    Column("updated", Float, nullable=False),  # last write by the worker: a heartbeat
    Column("finished", Float),
    Column("result", Text),  # JSON
    Column("error", Text),  # JSON {"code", "message"}
)


def migrate(engine: Engine) -> None:
    """Upgrade the ``svc_`` tables to every head of ``services/migrations`` (idempotent).

    Databases whose tables ``metadata.create_all`` made before the migrations existed
    upgrade in place: revision ``s0001`` keeps the tables it finds. A database stamped by a
    newer livetrust, or one that fails on the way, is :class:`StoreFailed`.
    """
    if engine in _MIGRATED:
        return
    DisputeStore.upgrade(engine)
    _MIGRATED.add(engine)


class DisputeStore(SqlStore):
    """The ``svc_`` tables' database: :class:`provenance._store.SqlStore` (engine, SQLite
    pragmas, PostgreSQL schema, transactions) with this package's migrations and errors."""

    error = StoreFailed
    label = "dispute store"
    migrations = MIGRATIONS
    target = "heads"  # parallel revisions may leave several heads until a merge joins them

    @classmethod
    def open(cls, url: str, schema: str | None = None) -> DisputeStore:
        """Connect to ``url`` and migrate the ``svc_`` tables to the newest revision.

        ``schema`` (PostgreSQL only) puts the tables in their own schema, created if needed:
        tests use a fresh schema per run.
        """
        store = cls.connect(url, schema)
        migrate(store.engine)
        return store
