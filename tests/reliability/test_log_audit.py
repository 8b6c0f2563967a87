"""``livetrust log audit``: a clean log passes; each kind of damage gives its own finding.

Every mutation below is what a crash, a bad migration or an operator could leave behind:
a changed signature or leaf, a lost or changed Merkle node, a missing row, a broken lot
link, a recorded head that is not the chain's, an anchor sent but never recorded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Connection, delete, func, select, update

from provenance import Anchorer, Ledger, MemoryRegistry, Signer, Store, audit_log
from provenance._store import ANCHORS, EVENT_LOTS, EVENTS, LOT_HEADS, MERKLE_NODES
from services._provenance_demo import DEMO_ACTORS, demo_key, sample_story


def registry() -> MemoryRegistry:
    reg = MemoryRegistry()
    for actor, role in DEMO_ACTORS.items():
        reg.register(actor, demo_key(actor).public_key, role, 0)
    return reg


def two_anchored_batches(store: Store) -> tuple[Ledger, MemoryRegistry]:
    reg = registry()
    ledger = Ledger(store, reg)
    for tag, day in (("0501", "2026-05-01"), ("0502", "2026-05-02")):
        for step in sample_story(tag=tag, day=day):
            ledger.ingest(step.events, Signer(step.actor, demo_key(step.actor)))
        assert Anchorer(ledger, reg).anchor().status == "anchored"
    return ledger, reg


def test_clean_log_passes_with_counts(store: Store) -> None:
    ledger, reg = two_anchored_batches(store)
    report = audit_log(ledger, reg)
    assert report.ok, report.findings
    assert (report.events, report.recorded, report.anchors, report.pending) == (16, 2, 2, 0)
    assert report.lots == 10  # per story: harvest, packs, pallet, two retail lots


def _flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 1]) + b[1:]


def _first_lot_link(conn: Connection) -> None:
    seq, lot = conn.execute(
        select(EVENT_LOTS.c.event_seq, EVENT_LOTS.c.lot).where(EVENT_LOTS.c.event_seq == 3)
    ).first()  # type: ignore[misc]
    conn.execute(delete(EVENT_LOTS).where(EVENT_LOTS.c.event_seq == seq, EVENT_LOTS.c.lot == lot))


def _signature(conn: Connection) -> None:
    sig = conn.execute(select(EVENTS.c.signature).where(EVENTS.c.seq == 3)).scalar_one()
    conn.execute(update(EVENTS).where(EVENTS.c.seq == 3).values(signature=_flip(bytes(sig))))


def _leaf(conn: Connection) -> None:
    leaf = conn.execute(select(EVENTS.c.leaf_hash).where(EVENTS.c.seq == 5)).scalar_one()
    conn.execute(update(EVENTS).where(EVENTS.c.seq == 5).values(leaf_hash=_flip(bytes(leaf))))


def _node(level: int, idx: int, drop: bool = False) -> Callable[[Connection], None]:
    def mutate(conn: Connection) -> None:
        where = (MERKLE_NODES.c.level == level, MERKLE_NODES.c.idx == idx)
        if drop:
            conn.execute(delete(MERKLE_NODES).where(*where))
            return
        h = conn.execute(select(MERKLE_NODES.c.hash).where(*where)).scalar_one()
        conn.execute(update(MERKLE_NODES).where(*where).values(hash=_flip(bytes(h))))

    return mutate


def _last_event(conn: Connection) -> None:
    last = conn.execute(select(func.max(EVENTS.c.seq))).scalar_one()
    conn.execute(delete(EVENT_LOTS).where(EVENT_LOTS.c.event_seq == last))
    conn.execute(delete(EVENTS).where(EVENTS.c.seq == last))


def _lot_head(conn: Connection) -> None:
    conn.execute(update(LOT_HEADS).values(hash_id="ni:///sha-256;" + "0" * 64 + "?ver=CBV2.0"))


def _recorded_root(conn: Connection) -> None:
    root = conn.execute(select(ANCHORS.c.root).where(ANCHORS.c.tree_size == 8)).scalar_one()
    conn.execute(update(ANCHORS).where(ANCHORS.c.tree_size == 8).values(root=_flip(bytes(root))))


def _recorded_tx(conn: Connection) -> None:
    conn.execute(update(ANCHORS).where(ANCHORS.c.tree_size == 8).values(tx_hash="0x" + "ab" * 32))


def _recorded_size(conn: Connection) -> None:
    conn.execute(update(ANCHORS).where(ANCHORS.c.tree_size == 8).values(chain_index=7))


DAMAGE: dict[str, tuple[Callable[[Connection], None], set[str]]] = {
    "signature changed": (_signature, {"leaf_mismatch"}),
    "leaf hash changed": (_leaf, {"leaf_mismatch", "node_mismatch"}),
    "leaf node changed": (_node(0, 6), {"node_mismatch"}),
    "inner node changed": (_node(2, 1), {"node_mismatch"}),
    "node lost": (_node(3, 0, drop=True), {"node_mismatch"}),
    "last event lost": (_last_event, {"log_size_mismatch"}),
    "lot link lost": (_first_lot_link, {"chain_broken"}),
    "lot head changed": (_lot_head, {"chain_broken"}),
    "recorded root changed": (_recorded_root, {"root_mismatch", "root_not_on_chain"}),
    "recorded tx changed": (_recorded_tx, {"anchor_mismatch"}),
    "recorded index changed": (_recorded_size, {"anchor_mismatch"}),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_each_damage_has_its_finding(store: Store, damage: str) -> None:
    ledger, reg = two_anchored_batches(store)
    mutate, expected = DAMAGE[damage]
    with store.begin() as conn:
        mutate(conn)
    report = audit_log(ledger, reg)
    assert not report.ok
    assert expected <= {f.code for f in report.findings}, report.findings


def test_sent_but_unrecorded_anchor_is_a_finding_until_reconciled(store: Store) -> None:
    """The crash between sending the anchor and recording it: the chain holds a head our
    records do not; the next anchoring round settles it and the audit passes."""
    ledger, reg = two_anchored_batches(store)
    for step in sample_story(tag="0503", day="2026-05-03"):
        ledger.ingest(step.events, Signer(step.actor, demo_key(step.actor)))
    crash = RuntimeError("killed after send")

    def die() -> None:
        raise crash

    with pytest.raises(RuntimeError):
        Anchorer(ledger, reg, after_send=die).anchor()
    report = audit_log(ledger, reg)
    assert [f.code for f in report.findings] == ["anchor_not_recorded"]
    assert Anchorer(ledger, reg).anchor().recovered == 1
    assert audit_log(ledger, reg).ok


def test_intent_never_sent_is_pending_not_a_fault(store: Store) -> None:
    ledger, reg = two_anchored_batches(store)
    for step in sample_story(tag="0503", day="2026-05-03"):
        ledger.ingest(step.events, Signer(step.actor, demo_key(step.actor)))
    head = ledger.head()
    with store.begin() as conn:
        conn.execute(
            ANCHORS.insert().values(
                log_id=ledger.log_id,
                tree_size=head.tree_size,
                root=head.root,
                state="intent",
                created_at=0,
            )
        )
    report = audit_log(ledger, reg)
    assert report.ok and report.pending == 1
