"""The whole-log audit: our stored log against itself, our records and the chain.

``livetrust log audit`` runs :func:`audit_log`, read-only, every check, every finding:

(1) records -> leaves: every event row (``seq`` 0..size-1, no gap, none beyond the log size)
    re-hashed from its stored statement and signature equals its stored leaf hash, and the
    statement names the row's Event Hash ID (``leaf_mismatch``, ``log_size_mismatch``);
(2) leaves -> nodes: every stored Merkle node is recomputed from the leaves (RFC 9162
    §2.1.1, the same :func:`~provenance._merkle.append_nodes` the ingest uses) and compared;
    a missing, changed or extra node is ``node_mismatch``;
(3) hash chains: per batch (lot), in log order, every event's ``prev`` is exactly the set of
    the heads of the lots it names, and the lot-head table holds each lot's last event
    (``chain_broken``);
(4) recorded tree heads (``prov_anchors``): each confirmed head's root is our log's root at
    its size (``root_mismatch``), consecutive heads are consistent (RFC 9162 §2.1.4,
    ``consistency_proof_invalid``), and each is on chain under that log id, size and index,
    sent by the recorded transaction (``root_not_on_chain``, ``anchor_mismatch``); an intent
    the chain does not hold is *pending* (a crash before its transaction was mined: the next
    anchoring round supersedes it), not a fault;
(5) chain anchors (AnchorRegistry, this log id): each matches a confirmed recorded head
    (``anchor_not_recorded``: a crash between sending and recording that no anchoring round
    has reconciled yet; ``livetrust anchor`` settles it), its root is our log's root at its
    size and consecutive anchors are consistent.

Steps 1-3 stream the log in pages of :data:`AUDIT_PAGE` events, so memory stays bounded by a
page plus one entry per lot.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from provenance._errors import ProofError, StoreError
from provenance._ledger import Ledger
from provenance._merkle import NodeKey, append_nodes, leaf_hash, verify_consistency
from provenance._registry import AnchorLedger
from provenance._signing import SignedRecord, Statement
from provenance._store import ANCHORS, EVENT_LOTS, EVENTS, LOT_HEADS, MERKLE_NODES, DbNodeStore
from provenance._verify import Finding

__all__ = ["AUDIT_PAGE", "AuditReport", "audit_log"]

AUDIT_PAGE = 2_000  # events per read: ~4 MB of rows, a few hundred ms of hashing
# A corrupt database could yield a finding per row; the first few of each code say enough.
MAX_FINDINGS_PER_CODE = 50
CONFIRMED = "confirmed"


@dataclass(frozen=True)
class AuditReport:
    """``ok`` exactly when there are no findings; counts say what was checked."""

    ok: bool
    anchors: int  # anchors of this log on chain
    findings: tuple[Finding, ...]
    events: int = 0
    recorded: int = 0  # confirmed tree heads in our records
    pending: int = 0  # intents the chain does not hold (superseded by a later round)
    lots: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "anchors": self.anchors,
            "events": self.events,
            "recorded": self.recorded,
            "pending": self.pending,
            "lots": self.lots,
            "findings": [f.to_json() for f in self.findings],
        }


class _Findings:
    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.dropped: dict[str, int] = {}

    def add(self, code: str, detail: str, event: str | None = None) -> None:
        if sum(1 for f in self.items if f.code == code) >= MAX_FINDINGS_PER_CODE:
            self.dropped[code] = self.dropped.get(code, 0) + 1
            return
        self.items.append(Finding(code, event, detail))

    def done(self) -> tuple[Finding, ...]:
        more = [
            Finding(c, None, f"{n} more {c} findings not listed") for c, n in self.dropped.items()
        ]
        return (*self.items, *more)


def _check_log(ledger: Ledger, add: Callable[..., None]) -> tuple[int, int]:
    """Steps 1-3; returns (events, lots)."""
    size = ledger.size()
    t, tl = EVENTS, EVENT_LOTS
    frontier: dict[NodeKey, bytes] = {}
    last: dict[str, str] = {}  # lot -> hash id of its newest event so far
    with ledger.store.read() as conn:
        count = int(
            conn.execute(
                select(func.count())
                .select_from(t)
                .where(t.c.log_id == ledger.log_id, t.c.seq < size)
            ).scalar_one()
        )
        if count != size:
            add("log_size_mismatch", f"expected {size} event rows (the log size), found {count}")
        nodes = DbNodeStore(conn, ledger.log_id)
        for start in range(0, size, AUDIT_PAGE):
            end = min(start + AUDIT_PAGE, size)
            rows = conn.execute(
                select(t.c.seq, t.c.hash_id, t.c.statement, t.c.signature, t.c.leaf_hash)
                .where(t.c.log_id == ledger.log_id, t.c.seq >= start, t.c.seq < end)
                .order_by(t.c.seq)
            ).all()
            links: dict[int, list[str]] = {}
            for seq, lot in conn.execute(
                select(tl.c.event_seq, tl.c.lot)
                .where(tl.c.event_seq >= start, tl.c.event_seq < end)
                .order_by(tl.c.event_seq)
            ):
                links.setdefault(int(seq), []).append(str(lot))
            by_seq = {int(r.seq): r for r in rows}
            leaves: list[bytes] = []
            for seq in range(start, end):
                row = by_seq.get(seq)
                if row is None:
                    add("log_size_mismatch", f"leaf {seq} has no event row")
                    leaves.append(b"\x00" * 32)  # keeps later indices aligned
                    continue
                leaves.append(bytes(row.leaf_hash))
                hash_id = str(row.hash_id)
                try:
                    st = Statement.from_json(json.loads(row.statement))
                except ValueError as exc:  # JSONDecodeError and BundleMalformed both are
                    add("leaf_mismatch", f"leaf {seq}: stored statement unreadable: {exc}", hash_id)
                    continue
                computed = leaf_hash(SignedRecord(st, bytes(row.signature)).leaf_bytes())
                if computed != bytes(row.leaf_hash):
                    add(
                        "leaf_mismatch",
                        f"leaf {seq}: expected leaf hash {bytes(row.leaf_hash).hex()}, "
                        f"computed {computed.hex()} from the stored record",
                        hash_id,
                    )
                if st.event != hash_id:
                    add("leaf_mismatch", f"leaf {seq}: statement signs {st.event}", hash_id)
                named = list(dict.fromkeys(links.get(seq, [])))
                expected = tuple(sorted({last[lot] for lot in named if lot in last}))
                if tuple(st.prev) != expected:
                    add(
                        "chain_broken",
                        f"leaf {seq}: expected predecessors {list(expected) or 'none'} "
                        f"(heads of {len(named)} lots), found {list(st.prev) or 'none'}",
                        hash_id,
                    )
                for lot in named:
                    last[lot] = hash_id
            _check_nodes(nodes, start, frontier, leaves, add)
        # rows, nodes and heads past ``size`` may be an ingest that committed while we read;
        # only a log that did not move can be held to its exact counts
        if ledger.size(conn) != size:
            return size, len(last)
        extra = conn.execute(
            select(func.count()).select_from(t).where(t.c.log_id == ledger.log_id, t.c.seq >= size)
        ).scalar_one()
        if extra:
            add("log_size_mismatch", f"{extra} event rows lie past the log size {size}")
        _check_node_count(conn, ledger.log_id, size, add)
        heads = {
            str(lot): str(h)
            for lot, h in conn.execute(select(LOT_HEADS.c.lot, LOT_HEADS.c.hash_id))
        }
    for lot in sorted(set(last) | set(heads)):
        if heads.get(lot) != last.get(lot):
            add(
                "chain_broken",
                f"batch {lot}: expected head {last.get(lot)} (its last event in the log), "
                f"the head table holds {heads.get(lot)}",
            )
    return size, len(last)


def _check_nodes(
    nodes: DbNodeStore,
    start: int,
    frontier: dict[NodeKey, bytes],
    leaves: Sequence[bytes],
    add: Callable[..., None],
) -> None:
    expected = append_nodes(start, frontier, leaves)
    try:
        stored = nodes.get_nodes(k for k, _ in expected)
    except StoreError:  # some missing: read them one by one to name them
        stored = {}
        for k, _ in expected:
            with contextlib.suppress(StoreError):
                stored.update(nodes.get_nodes([k]))
    for key, h in expected:
        got = stored.get(key)
        if got != h:
            what = "missing" if got is None else f"stored {got.hex()}"
            add(
                "node_mismatch",
                f"node (level {key[0]}, index {key[1]}): expected {h.hex()} from the leaves, "
                f"{what}",
            )


def _check_node_count(conn: Any, log_id: int, size: int, add: Callable[..., None]) -> None:
    n = MERKLE_NODES
    per_level = dict(
        conn.execute(
            select(n.c.level, func.count()).where(n.c.log_id == log_id).group_by(n.c.level)
        ).all()
    )
    for level, count in sorted(per_level.items()):
        expected = size >> int(level)
        if int(count) != expected:
            add(
                "node_mismatch",
                f"level {level}: expected {expected} stored nodes for {size} leaves, found {count}",
            )


def _check_heads(
    ledger: Ledger,
    heads: Sequence[tuple[int, int, bytes]],
    what: str,
    add: Callable[..., None],
) -> None:
    """Root at size and consistency of consecutive (index, tree_size, root) heads."""
    size = ledger.size()
    for index, tree_size, root in heads:
        if tree_size > size:
            add("root_mismatch", f"{what} #{index} covers {tree_size} events, the log holds {size}")
            continue
        try:
            ours = ledger.head(tree_size).root
        except StoreError as exc:  # a lost node: step 2 names it
            add("node_mismatch", f"{what} #{index}: cannot compute our root: {exc}")
            continue
        if ours != root:
            add(
                "root_mismatch",
                f"{what} #{index}: expected root {root.hex()} at size {tree_size}, "
                f"computed {ours.hex()}",
            )
    for (i, old_size, old_root), (j, new_size, new_root) in itertools.pairwise(heads):
        if new_size < old_size:
            add(
                "consistency_proof_invalid",
                f"{what} #{j} has size {new_size}, smaller than #{i}'s {old_size}",
            )
            continue
        try:
            proof = ledger.consistency_proof(old_size, min(new_size, size))
            verify_consistency(old_root, new_root, proof)
        except ProofError as exc:
            add("consistency_proof_invalid", f"{what}s #{i} -> #{j}: {exc}")
        except StoreError as exc:
            add("node_mismatch", f"{what}s #{i} -> #{j}: cannot build the proof: {exc}")


def audit_log(ledger: Ledger, chain: AnchorLedger, *, deep: bool = True) -> AuditReport:
    """Run every check of the module docstring (``deep=False``: steps 4-5 only)."""
    found = _Findings()
    add = found.add
    events, lots = _check_log(ledger, add) if deep else (ledger.size(), 0)

    # (4) recorded tree heads
    t = ANCHORS
    with ledger.store.read() as conn:
        rows = conn.execute(
            select(t).where(t.c.log_id == ledger.log_id).order_by(t.c.tree_size)
        ).all()
    confirmed = [r for r in rows if r.state == CONFIRMED]
    _check_heads(
        ledger,
        [(int(r.chain_index), int(r.tree_size), bytes(r.root)) for r in confirmed],
        "recorded head",
        add,
    )
    recorded = {bytes(r.root): r for r in confirmed}
    for r in confirmed:
        on_chain = chain.by_root(bytes(r.root))
        if on_chain is None:
            add(
                "root_not_on_chain",
                f"recorded head #{r.chain_index} (size {r.tree_size}, tx {r.tx_hash}) "
                "is not on chain",
            )
            continue
        if (on_chain.log_id, on_chain.tree_size, on_chain.index) != (
            ledger.log_id,
            int(r.tree_size),
            int(r.chain_index),
        ):
            add(
                "anchor_mismatch",
                f"recorded head: expected log {ledger.log_id} size {r.tree_size} index "
                f"{r.chain_index}, chain has log {on_chain.log_id} size {on_chain.tree_size} "
                f"index {on_chain.index}",
            )
        tx = chain.tx_of(bytes(r.root))
        if r.tx_hash is not None and tx is not None and tx.lower() != str(r.tx_hash).lower():
            add("anchor_mismatch", f"recorded head #{r.chain_index}: tx {r.tx_hash}, chain {tx}")
    pending = 0
    for r in rows:
        if r.state != CONFIRMED and chain.by_root(bytes(r.root)) is None:
            pending += 1

    # (5) chain anchors of this log
    on_chain_heads = []
    for i in range(chain.count()):
        a = chain.by_index(i)
        if a.log_id != ledger.log_id:
            continue
        on_chain_heads.append((a.index, a.tree_size, a.root))
        mine = recorded.get(a.root)
        if mine is None:
            add(
                "anchor_not_recorded",
                f"anchor #{a.index} (size {a.tree_size}) is on chain but not recorded as "
                "confirmed; `livetrust anchor` reconciles it",
            )
    _check_heads(ledger, on_chain_heads, "anchor", add)
    findings = found.done()
    return AuditReport(
        not findings,
        len(on_chain_heads),
        findings,
        events=events,
        recorded=len(confirmed),
        pending=pending,
        lots=lots,
    )
