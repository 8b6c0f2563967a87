"""Where the ledger lives: SQLAlchemy 2 tables, Alembic-migrated, on SQLite or PostgreSQL.

Tables (all prefixed ``prov_`` so the provenance ledger can share a database with other
services; migrations use their own version table ``prov_alembic_version``):

- ``prov_events``: one row per event, ``seq`` = its Merkle leaf index; the event JSON, its
  signed statement and signature, the leaf hash.
- ``prov_event_lots``: which lots (batches) an event names, and how (``in``, ``out``, ``at``).
- ``prov_lot_heads``: the newest event of each lot (the tip of its hash chain).
- ``prov_merkle_nodes``: stored complete subtrees of the log (see ``provenance._merkle``).
- ``prov_logs``: the size of each log.
- ``prov_anchors``: anchoring intents and their on-chain outcome (see ``provenance._anchor``).
- ``prov_actors``: local names for actors (keys and roles are on chain).

SQLite runs in WAL mode with ``synchronous=NORMAL`` (durable across process crashes, which is
what anchoring's crash safety needs). SQLAlchemy errors are translated to
:class:`StoreError` here, once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from provenance._errors import StoreError
from provenance._merkle import NodeKey

__all__ = [
    "ACTORS",
    "ANCHORS",
    "DEFAULT_LOG_ID",
    "EVENTS",
    "EVENT_LOTS",
    "LOGS",
    "LOT_HEADS",
    "MERKLE_NODES",
    "ActorRow",
    "AnchorRow",
    "Base",
    "DbNodeStore",
    "EventLotRow",
    "EventRow",
    "LogRow",
    "LotHeadRow",
    "MerkleNodeRow",
    "Store",
    "insert_rows",
]

DEFAULT_LOG_ID = 1  # one log per deployment today; the column keeps room for more
VERSION_TABLE = "prov_alembic_version"
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # writers queue instead of failing under a concurrent write
MAX_IN_CLAUSE = 500  # keep IN (...) lists well under SQLite's variable limit


class Base(DeclarativeBase):
    metadata = MetaData()


class ActorRow(Base):
    __tablename__ = "prov_actors"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[int] = mapped_column(SmallInteger)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    key_index: Mapped[int] = mapped_column(Integer)
    registration_tx: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class EventRow(Base):
    __tablename__ = "prov_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_id: Mapped[int] = mapped_column(Integer)
    hash_id: Mapped[str] = mapped_column(String(120), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    biz_step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    event_time: Mapped[int] = mapped_column(BigInteger)
    actor_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    namespaces: Mapped[str] = mapped_column(Text)
    statement: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    recorded_at: Mapped[int] = mapped_column(BigInteger)


class EventLotRow(Base):
    __tablename__ = "prov_event_lots"
    event_seq: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("prov_events.seq"), primary_key=True
    )
    lot: Mapped[str] = mapped_column(String(250), primary_key=True)
    relation: Mapped[str] = mapped_column(String(3), primary_key=True)  # in | out | at
    __table_args__ = (Index("ix_prov_event_lots_lot", "lot", "event_seq"),)


class LotHeadRow(Base):
    __tablename__ = "prov_lot_heads"
    lot: Mapped[str] = mapped_column(String(250), primary_key=True)
    event_seq: Mapped[int] = mapped_column(BigInteger)
    hash_id: Mapped[str] = mapped_column(String(120))


class MerkleNodeRow(Base):
    __tablename__ = "prov_merkle_nodes"
    log_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogRow(Base):
    __tablename__ = "prov_logs"
    log_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)


class AnchorRow(Base):
    __tablename__ = "prov_anchors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    log_id: Mapped[int] = mapped_column(Integer)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    state: Mapped[str] = mapped_column(String(16))  # intent | confirmed
    chain_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(80), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (UniqueConstraint("log_id", "tree_size", name="uq_prov_anchors_size"),)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


ACTORS = _table(ActorRow)
EVENTS = _table(EventRow)
EVENT_LOTS = _table(EventLotRow)
LOT_HEADS = _table(LotHeadRow)
MERKLE_NODES = _table(MerkleNodeRow)
LOGS = _table(LogRow)
ANCHORS = _table(AnchorRow)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Store:
    """A migrated database connection for the ledger (``Store.open(url)``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, schema: str | None = None, migrate: bool = True) -> Store:
        """Connect to ``url`` (SQLite file or ``postgresql+psycopg://…``), migrate to head.

        ``schema`` (PostgreSQL only) puts every table in that schema via ``search_path``;
        tests use a fresh one per run.
        """
        connect_args: dict[str, Any] = {}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        elif schema:
            connect_args["options"] = f"-csearch_path={schema}"
        try:
            # a server restart or failover kills every pooled connection; pre-ping (one
            # round trip per checkout) replaces a dead one instead of failing the next call
            engine = create_engine(
                url, connect_args=connect_args, pool_pre_ping=not url.startswith("sqlite")
            )
            if url.startswith("sqlite"):
                event.listen(engine, "connect", _sqlite_pragmas)
            if schema and not url.startswith("sqlite"):
                with engine.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open database {url!r}: {exc}") from exc
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        """Run Alembic migrations to head (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise StoreError(f"migration failed: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction; database errors become :class:`StoreError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc.__class__.__name__}: {exc}") from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc.__class__.__name__}: {exc}") from exc

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Bulk insert of plain tuples with the driver's ``executemany`` (SQLite, psycopg): skips
    SQLAlchemy's per-row parameter processing, which costs more than the insert itself at
    ingest rates. Values must already be what the driver takes (int, str, bytes)."""
    if not rows:
        return
    mark = _PLACEHOLDERS.get(conn.dialect.paramstyle)
    if mark is None:  # another driver: the portable path
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    quote = conn.dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    conn.exec_driver_sql(sql, list(rows))


def chunks(items: Sequence[Any], size: int = MAX_IN_CLAUSE) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class DbNodeStore:
    """:class:`provenance._merkle.NodeStore` over ``prov_merkle_nodes`` on one connection."""

    def __init__(self, conn: Connection, log_id: int = DEFAULT_LOG_ID) -> None:
        self.conn = conn
        self.log_id = log_id

    def get_nodes(self, keys: Iterable[NodeKey]) -> Mapping[NodeKey, bytes]:
        keys = list(set(keys))
        out: dict[NodeKey, bytes] = {}
        t = MERKLE_NODES
        # one ``idx IN (...)`` per level: much cheaper to compile than ``(level, idx) IN``
        by_level: dict[int, list[int]] = {}
        for level, idx in keys:
            by_level.setdefault(level, []).append(idx)
        for level, indices in sorted(by_level.items()):
            for part in chunks(sorted(indices)):
                rows = self.conn.execute(
                    select(t.c.idx, t.c.hash).where(
                        t.c.log_id == self.log_id, t.c.level == level, t.c.idx.in_(part)
                    )
                )
                for idx, h in rows:
                    out[(level, int(idx))] = bytes(h)
        missing = [k for k in keys if k not in out]
        if missing:
            raise StoreError(f"merkle nodes missing from the store: {missing[:5]}")
        return out

    def put_nodes(self, nodes: Sequence[tuple[NodeKey, bytes]]) -> None:
        log_id = self.log_id
        insert_rows(
            self.conn,
            MERKLE_NODES,
            ("log_id", "level", "idx", "hash"),
            [(log_id, k[0], k[1], h) for k, h in nodes],
        )
