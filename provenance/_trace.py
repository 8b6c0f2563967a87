"""Recall lineage: where a batch came from and everything that contains part of it.

Backward: every lot it was made from (transformation inputs, aggregation children),
recursively, up to origins (lots nothing produced), with the farms that signed them.
Forward: every lot made from it or containing it (packs, pallets), recursively, with the
shipments (shipping/transport events) and the retailers that received any of them.
Each listed event carries its proof status against the latest anchored tree head.
"""

from __future__ import annotations

from typing import Any

from provenance._anchor import latest_anchor
from provenance._epcis import canonical_id
from provenance._errors import ProofError, UnknownBatch
from provenance._ledger import Ledger, Link
from provenance._merkle import verify_inclusion
from provenance._registry import AnchorLedger

__all__ = ["SHIPPING_STEPS", "trace_batch"]

SHIPPING_STEPS = frozenset({"shipping", "departing", "transporting", "arriving"})
RECEIVING_STEPS = frozenset({"receiving", "accepting", "stocking", "retail_selling"})


def _walk(ledger: Ledger, start: str, forward: bool) -> tuple[set[str], set[int]]:
    """Lots reachable from ``start`` (excluding it) and the events that link them."""
    src, dst = ("in", "out") if forward else ("out", "in")
    lots: set[str] = set()
    events: set[int] = set()
    todo = [start]
    seen = {start}
    while todo:
        current = todo.pop()
        links = ledger.lot_links([current])
        steps = [s for s, _, r in links if r == src]
        if not steps:
            continue
        for s, other, r in ledger.event_links(steps):
            if r == dst and other not in seen:
                seen.add(other)
                lots.add(other)
                events.add(s)
                todo.append(other)
    return lots, events


def trace_batch(ledger: Ledger, batch: str, anchors: AnchorLedger | None = None) -> dict[str, Any]:
    """``livetrust batch trace``: backward and forward lineage with proof status per event."""
    lot = canonical_id(batch)
    own = ledger.lot_links([lot])
    if not own:
        raise UnknownBatch(f"no recorded event names batch {batch!r}")
    back_lots, _ = _walk(ledger, lot, forward=False)
    fwd_lots, _ = _walk(ledger, lot, forward=True)
    all_links: list[Link] = ledger.lot_links(sorted(back_lots | fwd_lots | {lot}))
    seqs = sorted({s for s, _, _ in all_links})
    events = ledger.events(seqs)
    by_seq_links: dict[int, list[Link]] = {}
    for link in all_links:
        by_seq_links.setdefault(link[0], []).append(link)
    producers = {other for _, other, r in ledger.lot_links(sorted(back_lots)) if r == "out"}
    origins = sorted(back_lots - producers) if back_lots else [lot]

    anchored = latest_anchor(ledger)
    on_chain = (
        anchors.by_root(anchored.root) is not None if (anchored and anchors is not None) else None
    )
    covered = [s.seq for s in events if anchored and s.seq < anchored.tree_size]
    proofs = ledger.inclusion_proofs(covered, anchored.tree_size) if anchored and covered else {}

    listed = []
    farms: set[str] = set()
    shipments: list[str] = []
    retailers: set[str] = set()
    for s in events:
        st = s.record.statement
        status = "not_anchored"
        proof = proofs.get(s.seq)
        if proof is not None and anchored is not None:
            try:
                verify_inclusion(s.leaf_hash, proof, anchored.root)
                status = "anchored" if on_chain in (True, None) else "root_not_on_chain"
            except ProofError:
                status = "inclusion_proof_invalid"
        step = s.event.biz_step
        lots_here = by_seq_links.get(s.seq, [])
        if st.role == "farm":
            farms.add(st.actor)
        if step in SHIPPING_STEPS:
            shipments.append(s.hash_id)
        if st.role == "retailer" and step in RECEIVING_STEPS:
            retailers.add(st.actor)
        listed.append(
            {
                "event": s.hash_id,
                "seq": s.seq,
                "type": s.event.type,
                "biz_step": step,
                "event_time": s.event.body.get("eventTime"),
                "actor": st.actor,
                "role": st.role,
                "lots": sorted({f"{r}:{x}" for _, x, r in lots_here}),
                "proof": status,
            }
        )
    return {
        "batch": lot,
        "backward": {
            "origins": origins,
            "inputs": sorted(back_lots),
            "farms": sorted(farms),
        },
        "forward": {
            "lots": sorted(fwd_lots),
            "shipments": shipments,
            "retailers": sorted(retailers),
        },
        "anchor": anchored.to_json() if anchored else None,
        "events": listed,
    }
