"""The ledger: atomic ingest of signed events into per-batch hash chains and the Merkle log.

Ingest (one call, one database transaction, all or nothing):

(0) parse: every event is valid EPCIS 2.0 (done by :class:`~provenance.Event`);
(1) identity: Event Hash ID per event; a hash ID already recorded, or repeated in the same
    call, is a replay -> :class:`ReplayRejected`;
(2) authority: the signer's key is registered on chain for that actor, its role may sign the
    event's bizStep (role table) and the key is valid at eventTime -> otherwise
    :class:`UnknownActor` / :class:`RoleNotAllowed` / :class:`KeyNotValidAtTime`;
(3) chain: the event's predecessors are the current heads of every lot it names (inputs,
    outputs, subjects); its statement commits to their hash IDs; it becomes the head of all
    of them (split and merge keep lineage because a transformation names inputs and outputs);
(4) sign and check: the statement is signed and the signature verified before it is stored;
(5) log: the signed record is appended to the Merkle log (leaf index = ``seq``), new subtree
    nodes stored; lot heads and the log size updated in the same transaction.

Nothing is written before (0)-(2) pass for every event, and (3)-(5) run in one transaction,
so bad input leaves no trace.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from provenance._epcis import Event, canonical_id
from provenance._errors import (
    KeyNotValidAtTime,
    ReplayRejected,
    RoleNotAllowed,
    StoreError,
    UnknownActor,
    UnknownBatch,
)
from provenance._merkle import (
    ConsistencyProof,
    InclusionProof,
    MerkleLog,
    TreeHead,
    append_nodes,
    frontier_keys,
    leaf_hash,
)
from provenance._registry import KeyDirectory, KeyRecordLike, key_valid_at
from provenance._roles import Role, allowed_roles
from provenance._signing import (
    KeyPair,
    SignedRecord,
    Statement,
    canonical_json,
    content_digest_of,
)
from provenance._store import (
    DEFAULT_LOG_ID,
    EVENT_LOTS,
    EVENTS,
    LOGS,
    LOT_HEADS,
    DbNodeStore,
    Store,
    insert_rows,
    select_in,
    upsert_rows,
)

__all__ = [
    "IngestResult",
    "Ledger",
    "Link",
    "Signer",
    "StoredEvent",
    "history",
    "lot_relations",
    "named_lots",
]


Link = tuple[int, str, str]  # (event seq, lot, relation)
PARSED_ROWS_CACHE = 5_000  # stored rows kept parsed (~2 KB each): a few batches' stories
_LINK_COLUMNS = ("event_seq", "lot", "relation")
_EVENT_COLUMNS = (  # the order of ingest's row tuples
    "seq",
    "log_id",
    "hash_id",
    "event_type",
    "biz_step",
    "event_time",
    "actor_id",
    "body",
    "namespaces",
    "statement",
    "signature",
    "leaf_hash",
    "recorded_at",
)


@dataclass(frozen=True)
class Signer:
    """An actor's local signing identity (key file in LIVETRUST_HOME/keys)."""

    actor_id: str
    key: KeyPair


@dataclass(frozen=True)
class IngestResult:
    hash_id: str
    seq: int
    batches: tuple[str, ...]


@dataclass(frozen=True)
class StoredEvent:
    """An event as recorded: its leaf index, the event, the signed record."""

    seq: int
    event: Event
    record: SignedRecord
    leaf_hash: bytes

    @property
    def hash_id(self) -> str:
        return self.record.statement.event


def lot_relations(event: Event) -> dict[str, list[str]]:
    """Lots an event names, by relation: ``in`` (consumed/contained), ``out`` (produced/
    containing), ``at`` (observed). Every relation extends the lot's hash chain."""
    return event.relations


def named_lots(relations: dict[str, list[str]]) -> list[str]:
    """All lots of :func:`lot_relations`, once each, in a stable order."""
    return list(dict.fromkeys(relations["in"] + relations["out"] + relations["at"]))


def _find_key(
    directory: KeyDirectory, cache: dict[str, Sequence[KeyRecordLike]], actor: str, key: bytes
) -> list[KeyRecordLike]:
    if actor not in cache:
        cache[actor] = directory.keys(actor)
    records = cache[actor]
    if not records:
        raise UnknownActor(f"actor {actor!r} is not registered on chain")
    mine = [r for r in records if bytes(r.public_key) == key]
    if not mine:
        raise KeyNotValidAtTime(
            f"expected a key registered for {actor!r}, got unregistered key {key.hex()[:16]}…"
        )
    return mine


def check_authority(
    directory: KeyDirectory,
    cache: dict[Any, Any],
    actor: str,
    key: bytes,
    event: Event,
) -> Role:
    """Step (2): the role the key holds, if it may sign this event now; else raise."""
    mine: list[tuple[Role, KeyRecordLike]] | None = cache.get((actor, key))
    if mine is None:
        mine = [(Role(int(r.role)), r) for r in _find_key(directory, cache, actor, key)]
        cache[(actor, key)] = mine
    allowed = allowed_roles(event.biz_step)
    if not any(role in allowed for role, _ in mine):
        names = ", ".join(sorted(r.label for r in allowed)) or "nobody"
        raise RoleNotAllowed(
            f"bizStep {event.biz_step!r} may be signed by {names}; "
            f"{actor!r} holds {', '.join(sorted({role.label for role, _ in mine}))}"
        )
    t = event.timestamp
    for role, r in mine:
        if role in allowed and key_valid_at(r, t):
            return role
    raise KeyNotValidAtTime(
        f"expected {actor!r}'s key to be valid at eventTime {event.body['eventTime']}, "
        "it is outside its validity period or revoked"
    )


class Ledger:
    """Events, lineage and the Merkle log in a :class:`Store`, authority from a directory."""

    def __init__(self, store: Store, directory: KeyDirectory, log_id: int = DEFAULT_LOG_ID) -> None:
        self.store = store
        self.directory = directory
        self.log_id = log_id
        # parsed events by their exact stored row: parsing is a pure function of the bytes,
        # so an edited row is a miss and is parsed (and judged) afresh
        self._parsed: dict[tuple[Any, ...], StoredEvent] = {}
        self._ensure_log()

    def _ensure_log(self) -> None:
        """Create the log's row once, before any writer needs to lock it."""
        logs = LOGS
        with self.store.read() as conn:
            exists = conn.execute(select(logs.c.log_id).where(logs.c.log_id == self.log_id)).first()
        if exists is None:
            try:
                with self.store.begin() as conn:
                    conn.execute(logs.insert().values(log_id=self.log_id, size=0))
            except StoreError as exc:
                if not isinstance(exc.__cause__, IntegrityError):  # another process won: fine
                    raise

    # -- ingest ------------------------------------------------------------------------------

    def ingest(self, events: Sequence[Event], signer: Signer) -> list[IngestResult]:
        """Record ``events`` signed by ``signer``; all or nothing (see module docstring)."""
        if not events:
            return []
        # (1) identity and replay
        ids = [e.hash_id for e in events]
        seen: set[str] = set()
        for h in ids:
            if h in seen:
                raise ReplayRejected(f"event {h} appears twice in this import")
            seen.add(h)
        with self.store.read() as conn:
            dup = select_in(conn, EVENTS, ("hash_id",), "hash_id", ids)
            if dup:
                raise ReplayRejected(f"event {dup[0][0]} is already recorded (replay)")
        # (2) authority
        cache: dict[Any, Any] = {}
        roles = [
            check_authority(self.directory, cache, signer.actor_id, signer.key.public_key, e)
            for e in events
        ]
        relations = [lot_relations(e) for e in events]
        texts = [(canonical_json(e.body), canonical_json(e.namespaces)) for e in events]
        contents = [content_digest_of(body, ns) for body, ns in texts]
        now = int(time.time())
        try:
            with self.store.begin() as conn:
                return self._write(
                    conn, events, ids, roles, relations, contents, texts, signer, now
                )
        except StoreError as exc:
            # a concurrent import recorded one of these events between (1) and the insert
            if isinstance(exc.__cause__, IntegrityError) and "hash_id" in str(exc.__cause__):
                raise ReplayRejected(f"an event of this import was just recorded: {exc}") from exc
            raise

    def _write(
        self,
        conn: Connection,
        events: Sequence[Event],
        ids: Sequence[str],
        roles: Sequence[Role],
        relations: Sequence[dict[str, list[str]]],
        contents: Sequence[str],
        texts: Sequence[tuple[bytes, bytes]],
        signer: Signer,
        now: int,
    ) -> list[IngestResult]:
        logs = LOGS
        # lock the log row first: serialises writers on PostgreSQL, takes SQLite's write lock
        locked = conn.execute(
            update(logs).where(logs.c.log_id == self.log_id).values(size=logs.c.size)
        )
        if locked.rowcount == 0:
            raise StoreError(f"log {self.log_id} has no row (Ledger created it at start)")
        size = int(
            conn.execute(select(logs.c.size).where(logs.c.log_id == self.log_id)).scalar_one()
        )
        # (3) heads of every lot these events name
        lots = sorted({lot for rel in relations for lots in rel.values() for lot in lots})
        heads = {
            str(lot): str(h)
            for lot, h in select_in(conn, LOT_HEADS, ("lot", "hash_id"), "lot", lots)
        }
        event_rows: list[tuple[Any, ...]] = []
        lot_rows: list[tuple[Any, ...]] = []
        new_heads: dict[str, tuple[int, str]] = {}
        leaves: list[bytes] = []
        results: list[IngestResult] = []
        for i, (event, hash_id, role, rel, content) in enumerate(
            zip(events, ids, roles, relations, contents, strict=True)
        ):
            seq = size + i
            named = list(dict.fromkeys(rel["in"] + rel["out"] + rel["at"]))
            prev = tuple(sorted({heads[lot] for lot in named if lot in heads}))
            statement = Statement(
                event=hash_id,
                content=content,
                prev=prev,
                actor=signer.actor_id,
                key=signer.key.public_key,
                role=role.label,
            )
            # (4) sign, and check what we store
            record = SignedRecord(statement, signer.key.sign(statement.to_bytes()))
            record.verify()
            leaf = leaf_hash(record.leaf_bytes())
            leaves.append(leaf)
            for lot in named:
                heads[lot] = hash_id
                new_heads[lot] = (seq, hash_id)
            for relation, lot_list in rel.items():
                lot_rows.extend((seq, lot, relation) for lot in lot_list)
            event_rows.append(
                (
                    seq,
                    self.log_id,
                    hash_id,
                    event.type,
                    event.biz_step,
                    event.timestamp,
                    signer.actor_id,
                    texts[i][0].decode(),
                    texts[i][1].decode(),
                    statement.canonical.decode(),
                    record.signature,
                    leaf,
                    now,
                )
            )
            results.append(IngestResult(hash_id, seq, tuple(named)))
        # (5) log
        nodes = DbNodeStore(conn, self.log_id)
        frontier = dict(nodes.get_nodes(frontier_keys(size))) if size else {}
        insert_rows(conn, EVENTS, _EVENT_COLUMNS, event_rows)
        insert_rows(conn, EVENT_LOTS, ("event_seq", "lot", "relation"), lot_rows)
        nodes.put_nodes(append_nodes(size, frontier, leaves))
        upsert_rows(
            conn,
            LOT_HEADS,
            ("lot", "event_seq", "hash_id"),
            "lot",
            [(lot, seq, h) for lot, (seq, h) in new_heads.items()],
        )
        conn.execute(
            update(logs).where(logs.c.log_id == self.log_id).values(size=size + len(events))
        )
        return results

    # -- log ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def reading(self, conn: Connection | None = None) -> Iterator[Connection]:
        """``conn`` if given, else a fresh read connection: a verifier reads a batch's
        whole evidence (history, rows, proofs, anchor) over one connection."""
        if conn is not None:
            yield conn
            return
        with self.store.read() as c:
            yield c

    def size(self, conn: Connection | None = None) -> int:
        logs = LOGS
        q = select(logs.c.size).where(logs.c.log_id == self.log_id)
        with self.reading(conn) as c:
            return int(c.execute(q).scalar() or 0)

    def _log(self, conn: Connection) -> MerkleLog:
        return MerkleLog(DbNodeStore(conn, self.log_id), self.size(conn))

    def head(self, size: int | None = None, conn: Connection | None = None) -> TreeHead:
        with self.reading(conn) as c:
            log = self._log(c)
            s = log.size if size is None else size
            return TreeHead(s, log.root(s))

    def inclusion_proof(self, seq: int, size: int | None = None) -> InclusionProof:
        with self.store.read() as conn:
            return self._log(conn).inclusion_proof(seq, size)

    def inclusion_proofs(self, seqs: Iterable[int], size: int) -> dict[int, InclusionProof]:
        with self.store.read() as conn:
            return self._log(conn).inclusion_proofs(seqs, size)

    def inclusion_proofs_and_root(
        self, seqs: Iterable[int], size: int, conn: Connection | None = None
    ) -> tuple[dict[int, InclusionProof], bytes]:
        """Proofs for ``seqs`` against the tree of ``size``, and that tree's root, from one
        read of stored nodes."""
        with self.reading(conn) as c:
            return self._log(c).inclusion_proofs_and_root(seqs, size)

    def consistency_proof(self, old: int, new: int) -> ConsistencyProof:
        with self.store.read() as conn:
            return self._log(conn).consistency_proof(old, new)

    # -- queries -----------------------------------------------------------------------------

    def _rows(self, conn: Connection, seqs: Sequence[int]) -> list[StoredEvent]:
        out: list[StoredEvent] = []
        columns = ("seq", "body", "namespaces", "statement", "signature", "leaf_hash")
        for seq, body, ns, st, sig, leaf in select_in(
            conn, EVENTS, columns, "seq", sorted(set(seqs))
        ):
            row = (int(seq), body, ns, st, bytes(sig), bytes(leaf))
            parsed = self._parsed.get(row)
            if parsed is None:
                parsed = self._parse_row(*row)
                self._parsed[row] = parsed
                if len(self._parsed) > PARSED_ROWS_CACHE:
                    self._parsed.pop(next(iter(self._parsed)), None)
            out.append(parsed)
        out.sort(key=lambda s: s.seq)
        return out

    @staticmethod
    def _parse_row(seq: int, body: str, ns: str, st: str, sig: bytes, leaf: bytes) -> StoredEvent:
        # stored JSON was validated at ingest and is re-hashed by every verifier; a
        # row edited into garbage must still reach the verifier (as findings)
        try:
            body_json, ns_json = json.loads(body), json.loads(ns)
        except ValueError:
            body_json, ns_json = {"corrupt": body}, {}
        if not isinstance(body_json, dict) or not isinstance(ns_json, dict):
            body_json, ns_json = {"corrupt": body}, {}
        event = Event.model_construct(body=body_json, namespaces=ns_json)
        try:
            statement = Statement.from_json(json.loads(st))
        except ValueError:  # json.JSONDecodeError and BundleMalformed both are
            statement = Statement(f"corrupt-record:{seq}", "", (), "", b"", "")
        record = SignedRecord(statement, sig)
        return StoredEvent(seq, event, record, leaf)

    def events(self, seqs: Sequence[int], conn: Connection | None = None) -> list[StoredEvent]:
        with self.reading(conn) as c:
            return self._rows(c, seqs)

    def event_by_hash(self, hash_id: str) -> StoredEvent | None:
        t = EVENTS
        with self.store.read() as conn:
            seq = conn.execute(select(t.c.seq).where(t.c.hash_id == hash_id)).scalar()
            return self._rows(conn, [int(seq)])[0] if seq is not None else None

    def lot_links(self, lots: Iterable[str], conn: Connection | None = None) -> list[Link]:
        """(event seq, lot, relation) rows for these lots."""
        return self._links("lot", list(lots), conn)

    def event_links(self, seqs: Iterable[int], conn: Connection | None = None) -> list[Link]:
        """(event seq, lot, relation) rows for these events."""
        return self._links("event_seq", list(seqs), conn)

    def _links(self, key: str, values: Sequence[Any], conn: Connection | None) -> list[Link]:
        with self.reading(conn) as c:
            rows = select_in(c, EVENT_LOTS, _LINK_COLUMNS, key, values)
        return [(int(s), str(lot), str(r)) for s, lot, r in rows]

    def heads(self, lots: Iterable[str], conn: Connection | None = None) -> dict[str, str]:
        with self.reading(conn) as c:
            rows = select_in(c, LOT_HEADS, ("lot", "hash_id"), "lot", list(lots))
        return {str(lot): str(h) for lot, h in rows}

    def story(self, batch: str, conn: Connection | None = None) -> list[StoredEvent]:
        """Every event a buyer needs to judge ``batch``: its own, its inputs' history up to
        the transformation that made it (recursively), and the containers it travelled in.
        """
        lot = canonical_id(batch)
        with self.reading(conn) as c:
            seqs = self.story_seqs(lot, c)
            if not seqs:
                raise UnknownBatch(f"no recorded event names batch {batch!r}")
            return self._rows(c, sorted(seqs))

    def story_seqs(self, lot: str, conn: Connection | None = None) -> set[int]:
        with self.reading(conn) as c:
            return history(
                lot, lambda lots: self.lot_links(lots, c), lambda seqs: self.event_links(seqs, c)
            )


def history(
    lot: str,
    links_of_lots: Callable[[list[str]], list[Link]],
    links_of_events: Callable[[list[int]], list[Link]],
) -> set[int]:
    """Events in the history of ``lot``: its own; for each event that produced it (a
    transformation output, an aggregation parent), the history of its inputs up to that
    event; and the containers it went into (aggregation parents), whole.

    The same walk runs over the database (``Ledger.story``) and over a bundle's events (the
    offline verifier checks a bundle holds exactly its batch's history).
    """
    chosen: set[int] = set()
    visited: dict[str, float] = {}
    todo: list[tuple[str, float]] = [(lot, float("inf"))]
    while todo:
        current, upto = todo.pop()
        if visited.get(current, -1.0) >= upto:
            continue
        visited[current] = upto
        links = [x for x in links_of_lots([current]) if x[0] <= upto]
        chosen |= {s for s, _, _ in links}
        produced = {s for s, _, r in links if r == "out"}
        contained = {s for s, _, r in links if r == "in"}
        if produced or contained:
            for s, other, r in links_of_events(sorted(produced | contained)):
                if s in produced and r == "in":
                    todo.append((other, s))  # backward: what it was made of
                elif s in contained and r == "out" and other != current:
                    todo.append((other, float("inf")))  # the container it went into
    return chosen
