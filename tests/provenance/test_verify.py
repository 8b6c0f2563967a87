"""Batch verification: the demo batch passes; each defect gives its specific finding, and
every defect present is reported (not only the first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RETAIL_A, record, registered
from sqlalchemy import update

from provenance import (
    FINDING_CODES,
    Anchorer,
    Event,
    Ledger,
    MemoryRegistry,
    Role,
    Store,
    Verdict,
    verify_batch,
)
from provenance._store import EVENT_LOTS, EVENTS, MERKLE_NODES
from services._provenance_demo import DEMO_ACTORS, StoryStep, demo_key, sample_story


def recorded(
    tmp_path: Path, story: list[StoryStep] | None = None, anchor: bool = True
) -> tuple[Ledger, MemoryRegistry]:
    reg = registered()
    ledger = Ledger(Store.open(f"sqlite:///{tmp_path / 'v.db'}"), reg)
    record(ledger, story if story is not None else sample_story())
    if anchor:
        Anchorer(ledger, reg).anchor()
    return ledger, reg


def codes(v: Verdict) -> set[str]:
    assert all(f.code in FINDING_CODES for f in v.findings)
    return v.codes


def test_demo_batch_verifies(tmp_path: Path) -> None:
    ledger, reg = recorded(tmp_path)
    v = verify_batch(ledger, RETAIL_A, reg)
    assert v.ok and v.anchored and v.events == 8, v.findings
    doc = v.to_json()
    assert set(doc) == {"ok", "batch", "events", "anchored", "findings"}


def test_cold_chain_breach_names_the_logger_event(tmp_path: Path) -> None:
    ledger, reg = recorded(tmp_path, sample_story(temps=(3.0, 11.5, 4.0)))
    v = verify_batch(ledger, RETAIL_A, reg)
    assert codes(v) == {"cold_chain_breach"}
    [f] = v.findings
    logger = ledger.story(RETAIL_A)[5]
    assert f.event == logger.hash_id and "11.5" in f.detail


def test_quantity_not_conserved_on_the_split(tmp_path: Path) -> None:
    ledger, reg = recorded(tmp_path, sample_story(split=(900.0, 735.0)))
    assert codes(verify_batch(ledger, RETAIL_A, reg)) == {"quantity_not_conserved"}


def test_quantity_within_tolerance_is_fine(tmp_path: Path) -> None:
    ledger, reg = recorded(tmp_path, sample_story(split=(745.0, 740.0)))  # 0.3 % gain: weighing
    assert verify_batch(ledger, RETAIL_A, reg).ok


def test_missing_qc_step(tmp_path: Path) -> None:
    story = [s for s in sample_story() if s.actor != "qc-lab-hk"]
    ledger, reg = recorded(tmp_path, story)
    v = verify_batch(ledger, RETAIL_A, reg)
    assert codes(v) == {"missing_step"}
    assert "qc" in v.findings[0].detail and v.findings[0].event is None


def _with_time(step: StoryStep, i: int, when: str) -> StoryStep:
    e = step.events[i]
    events = list(step.events)
    events[i] = Event.from_json({**e.body, "eventTime": when}, e.namespaces)
    return StoryStep(step.actor, events)


def test_time_out_of_order(tmp_path: Path) -> None:
    story = sample_story()
    story[5] = _with_time(story[5], 0, "2026-05-01T10:30:00.000+08:00")  # received before shipped
    ledger, reg = recorded(tmp_path, story)
    v = verify_batch(ledger, RETAIL_A, reg)
    assert codes(v) == {"time_out_of_order"}
    assert v.findings[0].event == ledger.story(RETAIL_A)[6].hash_id


def test_not_anchored_then_anchored(tmp_path: Path) -> None:
    ledger, reg = recorded(tmp_path, anchor=False)
    v = verify_batch(ledger, RETAIL_A, reg)
    assert codes(v) == {"not_anchored"} and not v.anchored
    assert len(v.findings) == 8
    Anchorer(ledger, reg).anchor()
    assert verify_batch(ledger, RETAIL_A, reg).ok


def test_root_not_on_chain(tmp_path: Path) -> None:
    ledger, _ = recorded(tmp_path)
    elsewhere = registered()  # same actors, but this chain never saw our anchor
    v = verify_batch(ledger, RETAIL_A, elsewhere)
    assert codes(v) == {"root_not_on_chain"}


def _directory(change: str) -> MemoryRegistry:
    reg = MemoryRegistry()
    for actor, role in DEMO_ACTORS.items():
        key = demo_key(actor).public_key
        if actor != "carrier-coldline":
            reg.register(actor, key, role, 0)
        elif change == "role":
            reg.register(actor, key, Role.RETAILER, 0)
        elif change == "later":
            reg.register(actor, key, role, 1_900_000_000)  # valid from 2030
        elif change == "revoked":
            reg.register(actor, key, role, 0)
            reg.revoke(actor, 0, at=1_770_000_000)  # before the May 2026 shipment
    return reg


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("missing", "unknown_actor"),
        ("role", "role_not_allowed"),
        ("later", "key_not_valid_at_time"),
        ("revoked", "key_not_valid_at_time"),
    ],
)
def test_authority_is_checked_against_the_directory(tmp_path: Path, change: str, code: str) -> None:
    ledger, reg = recorded(tmp_path)
    directory = _directory(change)
    for a in reg._anchors:  # the same chain's anchors, another view of its actor registry
        directory._anchors.append(a)
    directory._txs.update(reg._txs)
    ledger.directory = directory
    v = verify_batch(ledger, RETAIL_A, directory)
    assert codes(v) == {code}
    carrier_events = {
        s.hash_id for s in ledger.story(RETAIL_A) if s.record.statement.actor == "carrier-coldline"
    }
    assert {f.event for f in v.findings} == carrier_events


def _tamper(ledger: Ledger, seq: int, **values: object) -> None:
    t = EVENTS
    with ledger.store.begin() as conn:
        conn.execute(update(t).where(t.c.seq == seq).values(**values))


def test_signature_invalid_when_a_stored_signature_changes(tmp_path: Path) -> None:
    ledger, reg = recorded(tmp_path)
    _tamper(ledger, 2, signature=bytes(64))
    v = verify_batch(ledger, RETAIL_A, reg)
    assert "signature_invalid" in codes(v)
    assert "inclusion_proof_invalid" in codes(v)  # the leaf covers the signature too


def test_edited_event_body_is_caught(tmp_path: Path) -> None:
    ledger, reg = recorded(tmp_path)
    story = ledger.story(RETAIL_A)
    body = dict(story[2].event.body)
    body["disposition"] = "non_conformant"
    import json

    _tamper(ledger, 2, body=json.dumps(body))
    v = verify_batch(ledger, RETAIL_A, reg)
    assert codes(v) == {"hash_mismatch"}
    assert {f.event for f in v.findings} == {story[2].hash_id}


def test_deleted_event_breaks_the_chain(tmp_path: Path) -> None:

    ledger, reg = recorded(tmp_path)
    t = EVENT_LOTS
    with ledger.store.begin() as conn:  # an insider removes the QC event's lineage rows
        conn.execute(t.delete().where(t.c.event_seq == 2))
    v = verify_batch(ledger, RETAIL_A, reg)
    assert {"chain_broken", "missing_step"} <= codes(v)


def test_rewritten_log_node_is_caught(tmp_path: Path) -> None:
    ledger, reg = recorded(tmp_path)
    t = MERKLE_NODES
    with ledger.store.begin() as conn:
        conn.execute(update(t).where(t.c.level == 0, t.c.idx == 4).values(hash=bytes(32)))
    assert codes(verify_batch(ledger, RETAIL_A, reg)) == {"inclusion_proof_invalid"}
    with ledger.store.begin() as conn:  # the node that is the whole anchored tree
        conn.execute(update(t).where(t.c.level == 3, t.c.idx == 0).values(hash=bytes(32)))
    assert {"inclusion_proof_invalid", "root_mismatch"} <= codes(
        verify_batch(ledger, RETAIL_A, reg)
    )


def test_every_problem_is_reported(tmp_path: Path) -> None:
    story = [s for s in sample_story(temps=(14.0,), split=(100.0, 100.0)) if s.actor != "qc-lab-hk"]
    ledger, reg = recorded(tmp_path, story, anchor=False)
    v = verify_batch(ledger, RETAIL_A, reg)
    assert codes(v) == {
        "cold_chain_breach",
        "quantity_not_conserved",
        "missing_step",
        "not_anchored",
    }


def test_warm_caches_never_hide_a_change(tmp_path: Path) -> None:
    from provenance import CachedAnchors, CachedDirectory, VerifiedRecords

    ledger, reg = recorded(tmp_path)
    memo, anchors = VerifiedRecords(), CachedAnchors(reg)
    warm = Ledger(ledger.store, CachedDirectory(reg))
    assert verify_batch(warm, RETAIL_A, anchors, memo=memo).ok
    assert verify_batch(warm, RETAIL_A, anchors, memo=memo).ok  # from the caches
    _tamper(ledger, 2, signature=bytes(64))
    assert "signature_invalid" in codes(verify_batch(warm, RETAIL_A, anchors, memo=memo))
    assert CachedAnchors(registered()).by_root(ledger.head().root) is None


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        '{"type": "ObjectEvent"}',
        '["a list"]',
        '{"type": "ObjectEvent", "eventTime": "soon"}',
    ],
)
def test_garbage_in_a_row_is_a_finding_not_a_crash(tmp_path: Path, body: str) -> None:
    ledger, reg = recorded(tmp_path)
    hash_id = ledger.story(RETAIL_A)[2].hash_id
    _tamper(ledger, 2, body=body)
    v = verify_batch(ledger, RETAIL_A, reg)
    assert not v.ok and v.events == 8
    assert "hash_mismatch" in codes(v)
    assert hash_id in {f.event for f in v.findings if f.code == "hash_mismatch"}


def test_garbage_statement_row_is_a_finding(tmp_path: Path) -> None:
    ledger, reg = recorded(tmp_path)
    _tamper(ledger, 2, statement="{}")
    v = verify_batch(ledger, RETAIL_A, reg)
    assert not v.ok and "signature_invalid" in codes(v)
