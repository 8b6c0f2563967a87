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
what anchoring's crash safety needs). SQLAlchemy and Alembic errors are translated to
:class:`StoreError` here, once. :class:`SqlStore`, the way a database is opened, is shared
with the services' stores (``services._store``), which only swap migrations and error type.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self, cast

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
    or_,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
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
    "SqlStore",
    "Store",
    "insert_rows",
    "select_in",
    "upsert_rows",
]

DEFAULT_LOG_ID = 1  # one log per deployment today; the column keeps room for more
VERSION_TABLE = "prov_alembic_version"
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # writers queue instead of failing under a concurrent write
MAX_IN_CLAUSE = 500  # keep IN (...) lists well under SQLite's variable limit
SQLITE_CACHE_KIB = 65_536  # page cache per connection (default 2 MiB): index pages stay hot
# Connections an engine keeps open (SQLAlchemy's default, named because it bounds memory):
# each pooled SQLite connection holds up to min(SQLITE_CACHE_KIB, database size) of page
# cache, so one store's SQLite memory is at most POOL_SIZE x that (a server has two stores,
# ledger and services, on the same file). Overflow connections (max_overflow, default 10)
# are closed when returned, and their cache with them.
POOL_SIZE = 5
# a schema name must be an unquoted PostgreSQL identifier: search_path folds case, and the
# name is spliced into CREATE SCHEMA (63 bytes is PostgreSQL's NAMEDATALEN - 1)
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


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
    cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cur.close()


class SqlStore:
    """A database connection (SQLAlchemy engine) whose errors come out as one typed error.

    The one place livetrust opens a database: the ledger (:class:`Store`, ``prov_`` tables)
    and the services' stores (``services._store.DisputeStore``, ``svc_`` tables) differ only
    in their Alembic migrations and their error type, which subclasses set as class
    attributes. It lives here because services may import provenance, not the reverse.
    """

    error: ClassVar[type[Exception]] = StoreError  # what SQLAlchemy / Alembic errors become
    label: ClassVar[str] = "database"  # how messages name the store
    migrations: ClassVar[Path] = MIGRATIONS  # Alembic script directory
    target: ClassVar[str] = "head"  # "heads" for a history that may branch

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def connect(cls, url: str, schema: str | None = None) -> Self:
        """Connect to ``url`` (SQLite file or ``postgresql+psycopg://…``); no migration.

        SQLite: the file's folder is created (a fresh home works), WAL with
        ``synchronous=NORMAL`` (durable across process crashes, which anchoring's crash
        safety needs), writers wait ``SQLITE_BUSY_TIMEOUT_MS`` for a lock. PostgreSQL:
        ``schema`` puts every table in that schema, created if needed, via ``search_path``
        (tests use a fresh one per run); a server restart or failover kills every pooled
        connection, so pre-ping (one round trip per checkout) replaces a dead one instead
        of failing the next call.
        """
        sqlite = url.startswith("sqlite")
        connect_args: dict[str, Any] = {}
        if sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_MS / 1000
        elif schema:
            if not SCHEMA_NAME.match(schema):
                raise cls.error(f"bad schema name {schema!r}: expected {SCHEMA_NAME.pattern}")
            connect_args["options"] = f"-csearch_path={schema}"
        try:
            engine = create_engine(
                url, connect_args=connect_args, pool_pre_ping=not sqlite, pool_size=POOL_SIZE
            )
            if sqlite:
                event.listen(engine, "connect", _sqlite_pragmas)
            elif schema:
                with engine.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        except SQLAlchemyError as exc:
            raise cls.error(f"cannot open the {cls.label} at {_safe_url(url)!r}: {exc}") from exc
        return cls(engine)

    @classmethod
    def upgrade(cls, engine: Engine) -> None:
        """Run the Alembic migrations of ``cls.migrations`` to ``cls.target`` (idempotent).

        A database stamped by a newer livetrust (a revision this script directory does not
        know) is refused with ``cls.error``, as is any database error on the way.
        """
        from alembic import command
        from alembic.config import Config
        from alembic.util import CommandError

        cfg = Config()
        cfg.set_main_option("script_location", str(cls.migrations))
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, cls.target)
        except (CommandError, SQLAlchemyError) as exc:
            raise cls.error(f"cannot migrate the {cls.label}: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise self.error(f"{self.label} error: {exc.__class__.__name__}: {exc}") from exc

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction; database errors become ``self.error``."""
        with self._translated(), self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (no transaction is committed); errors as :meth:`begin`."""
        with self._translated(), self.engine.connect() as conn:
            yield conn

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


class Store(SqlStore):
    """A migrated database connection for the ledger (``Store.open(url)``)."""

    @classmethod
    def open(cls, url: str, *, schema: str | None = None, migrate: bool = True) -> Store:
        """Connect to ``url`` (see :meth:`SqlStore.connect`) and migrate the ``prov_``
        tables to head unless ``migrate`` is false."""
        store = cls.connect(url, schema)
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        """Run the ledger's Alembic migrations to head (idempotent)."""
        self.upgrade(self.engine)


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


def upsert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    key: str,
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Insert or replace by primary key ``key``, with the driver's ``executemany``.

    ``INSERT … ON CONFLICT (key) DO UPDATE`` is the same SQL on SQLite (>= 3.24) and
    PostgreSQL; one statement instead of a delete plus an insert per batch."""
    if not rows:
        return
    mark = _PLACEHOLDERS.get(conn.dialect.paramstyle)
    if mark is None:  # another driver: the portable path
        conn.execute(table.delete().where(table.c[key].in_([r[columns.index(key)] for r in rows])))
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    quote = conn.dialect.identifier_preparer.quote
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c != key)
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT ({quote(key)}) DO UPDATE SET {updates}"
    )
    conn.exec_driver_sql(sql, list(rows))


def select_in(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    key: str,
    values: Sequence[Any],
    where: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of ``columns`` whose ``key`` is one of ``values`` (and ``where`` columns equal),
    as plain tuples, ``MAX_IN_CLAUSE`` values per query.

    Written as driver SQL: SQLAlchemy re-renders an expanding ``IN`` of hundreds of
    parameters on every execution, which at ingest and verify rates costs more than the
    query itself."""
    where = dict(where or {})
    mark = _PLACEHOLDERS.get(conn.dialect.paramstyle)
    out: list[tuple[Any, ...]] = []
    if mark is None:  # another driver: the portable path
        cond = [table.c[c] == v for c, v in where.items()]
        for part in chunks(values):
            q = select(*(table.c[c] for c in columns)).where(*cond, table.c[key].in_(part))
            out.extend(tuple(r) for r in conn.execute(q))
        return out
    quote = conn.dialect.identifier_preparer.quote
    head = (
        f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table.name)} WHERE "
        + "".join(f"{quote(c)} = {mark} AND " for c in where)
        + f"{quote(key)} IN ("
    )
    fixed = tuple(where.values())
    for part in chunks(values):
        sql = head + ", ".join([mark] * len(part)) + ")"
        out.extend(fetch_rows(conn, sql, fixed + tuple(part)))
    return out


def fetch_rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of a read-only driver query, on ``conn``'s DBAPI connection (same transaction).

    Skips SQLAlchemy's execution context and result objects, which cost more than a small
    indexed query itself (a batch verify runs a dozen of them). Driver errors are translated
    to :class:`StoreError` here, as ``Store.begin``/``read`` do for SQLAlchemy's."""
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:  # pragma: no cover - a closed connection
        raise StoreError("database connection is closed")
    try:
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return [tuple(r) for r in cursor.fetchall()]
        finally:
            cursor.close()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise StoreError(f"database error: {exc.__class__.__name__}: {exc}") from exc


def chunks(items: Sequence[Any], size: int = MAX_IN_CLAUSE) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class DbNodeStore:
    """:class:`provenance._merkle.NodeStore` over ``prov_merkle_nodes`` on one connection."""

    def __init__(self, conn: Connection, log_id: int = DEFAULT_LOG_ID) -> None:
        self.conn = conn
        self.log_id = log_id

    def get_nodes(self, keys: Iterable[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Stored nodes by (level, index): one query per ``MAX_IN_CLAUSE`` keys, written as
        ``level = ? AND idx IN (…)`` per level (cheaper than a row-value ``IN``)."""
        keys = list(set(keys))
        out: dict[NodeKey, bytes] = {}
        by_level: dict[int, list[int]] = {}
        for level, idx in sorted(keys):
            by_level.setdefault(level, []).append(idx)
        conn, t = self.conn, MERKLE_NODES
        mark = _PLACEHOLDERS.get(conn.dialect.paramstyle)
        batches: list[list[tuple[int, Sequence[int]]]] = [[]]
        room = MAX_IN_CLAUSE
        for level, indices in by_level.items():
            for part in chunks(indices):
                if len(part) > room:
                    batches.append([])
                    room = MAX_IN_CLAUSE
                batches[-1].append((level, part))
                room -= len(part)
        for batch in batches:
            if not batch:
                continue
            if mark is None:  # another driver: the portable path
                q = select(t.c.level, t.c.idx, t.c.hash).where(
                    t.c.log_id == self.log_id,
                    or_(*((t.c.level == lv) & t.c.idx.in_(part) for lv, part in batch)),
                )
                rows: Iterable[Any] = conn.execute(q)
            else:
                quote = conn.dialect.identifier_preparer.quote
                level_c, idx_c = quote("level"), quote("idx")
                cond = " OR ".join(
                    f"({level_c} = {mark} AND {idx_c} IN ({', '.join([mark] * len(part))}))"
                    for _, part in batch
                )
                sql = (
                    f"SELECT {level_c}, {idx_c}, {quote('hash')} FROM {quote(t.name)} "
                    f"WHERE {quote('log_id')} = {mark} AND ({cond})"
                )
                params: list[Any] = [self.log_id]
                for level, part in batch:
                    params.append(level)
                    params.extend(part)
                rows = fetch_rows(conn, sql, params)
            for level, idx, h in rows:
                out[(int(level), int(idx))] = bytes(h)
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


def _safe_url(url: str) -> str:
    """``url`` with its password masked: error messages reach logs and terminals."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"
