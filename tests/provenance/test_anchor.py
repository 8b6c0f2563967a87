"""Anchoring: one transaction per tree head, idempotent, crash-safe (also with a real process
killed between sending and recording, on the real embedded chain), and the log audit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import RETAIL_A, record, registered
from sqlalchemy import select

from provenance import (
    Anchorer,
    AnchorFailed,
    Ledger,
    MemoryRegistry,
    Store,
    audit_log,
    verify_batch,
)
from provenance._store import ANCHORS
from services._provenance_demo import sample_story


class Crash(BaseException):
    """Stands for the process dying (not an Exception: nothing may catch it)."""


def _ledger(tmp_path: Path, reg: MemoryRegistry, name: str = "a.db") -> Ledger:
    return Ledger(Store.open(f"sqlite:///{tmp_path / name}"), reg)


def anchor_rows(ledger: Ledger) -> list[tuple[int, str]]:
    t = ANCHORS
    with ledger.store.read() as conn:
        return [(r.tree_size, r.state) for r in conn.execute(select(t).order_by(t.c.id))]


def test_one_transaction_per_head_and_idempotent(tmp_path: Path) -> None:
    reg = registered()
    ledger = _ledger(tmp_path, reg)
    assert Anchorer(ledger, reg).anchor().status == "empty"
    record(ledger, sample_story())
    first = Anchorer(ledger, reg).anchor()
    assert first.status == "anchored" and first.new_events == 8 and reg.count() == 1
    again = Anchorer(ledger, reg).anchor()
    assert again.status == "up_to_date" and reg.count() == 1
    record(ledger, sample_story(tag="0502", day="2026-05-02"))
    second = Anchorer(ledger, reg).anchor()
    assert second.new_events == 8 and reg.count() == 2
    assert anchor_rows(ledger) == [(8, "confirmed"), (16, "confirmed")]
    assert audit_log(ledger, reg).ok


def test_crash_after_send_is_settled_on_restart(tmp_path: Path) -> None:
    reg = registered()
    ledger = _ledger(tmp_path, reg)
    record(ledger, sample_story())

    def die() -> None:
        raise Crash

    with pytest.raises(Crash):
        Anchorer(ledger, reg, after_send=die).anchor()
    assert reg.count() == 1 and anchor_rows(ledger) == [(8, "intent")]
    result = Anchorer(ledger, reg).anchor()  # the restarted process
    assert result.recovered == 1 and result.status == "up_to_date"
    assert reg.count() == 1  # not duplicated
    assert anchor_rows(ledger) == [(8, "confirmed")]
    assert result.head is not None and result.head.tx_hash == reg.tx_of(result.head.root)
    assert verify_batch(ledger, RETAIL_A, reg).ok


def test_crash_before_send_resends(tmp_path: Path) -> None:
    reg = registered()
    ledger = _ledger(tmp_path, reg)
    record(ledger, sample_story())

    class DeadChain(MemoryRegistry):
        def anchor(self, log_id: int, tree_size: int, root: bytes):  # type: ignore[no-untyped-def]
            raise Crash

    with pytest.raises(Crash):
        Anchorer(ledger, DeadChain()).anchor()
    assert anchor_rows(ledger) == [(8, "intent")] and reg.count() == 0
    result = Anchorer(ledger, reg).anchor()
    assert result.status == "anchored" and reg.count() == 1
    assert anchor_rows(ledger) == [(8, "confirmed")]


def test_receipt_lost_but_anchored_settles_through_the_chain(tmp_path: Path) -> None:
    """Sent, mined, receipt lost, then re-sent: the contract says 'already anchored'."""
    reg = registered()
    ledger = _ledger(tmp_path, reg)
    record(ledger, sample_story())
    head = ledger.head()
    reg.anchor(ledger.log_id, head.tree_size, head.root)  # the lost first attempt
    result = Anchorer(ledger, reg).anchor()
    assert result.status == "anchored" and reg.count() == 1
    assert anchor_rows(ledger) == [(8, "confirmed")]


def test_a_root_anchored_for_another_size_is_not_misattributed(tmp_path: Path) -> None:
    reg = registered()
    ledger = _ledger(tmp_path, reg)
    record(ledger, sample_story())
    head = ledger.head()
    reg.anchor(ledger.log_id, head.tree_size + 5, head.root)  # someone else's claim
    with pytest.raises(AnchorFailed):
        Anchorer(ledger, reg).anchor()
    assert anchor_rows(ledger) == [(8, "intent")]


def test_audit_detects_a_rewritten_history(tmp_path: Path) -> None:
    reg = registered()
    honest = _ledger(tmp_path, reg, "honest.db")
    record(honest, sample_story())
    Anchorer(honest, reg).anchor()
    record(honest, sample_story(tag="0502", day="2026-05-02"))
    Anchorer(honest, reg).anchor()
    assert audit_log(honest, reg).ok
    # an operator rebuilds the log without the first batch and anchors it as the same log
    forked = _ledger(tmp_path, reg, "forked.db")
    record(forked, sample_story(tag="0502", day="2026-05-02"))
    record(forked, sample_story(tag="0503", day="2026-05-03"))
    record(forked, sample_story(tag="0504", day="2026-05-04"))
    Anchorer(forked, reg).anchor()
    report = audit_log(forked, reg)
    assert not report.ok
    assert {f.code for f in report.findings} >= {"root_mismatch", "consistency_proof_invalid"}


CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from contracts import Chain
    from provenance import Anchorer, Ledger, Signer, Store
    from services._provenance_demo import DEMO_ACTORS, demo_key, sample_story

    home, cache = Path(sys.argv[1]), Path(sys.argv[2])
    chain = Chain.connect("embedded", home, cache=cache)
    for actor, role in DEMO_ACTORS.items():
        chain.actors.register(actor, demo_key(actor).public_key, role, 0)
    ledger = Ledger(Store.open(f"sqlite:///{home / 'ledger.db'}"), chain.actors)
    for step in sample_story():
        ledger.ingest(step.events, Signer(step.actor, demo_key(step.actor)))
    Anchorer(ledger, chain.anchors, after_send=lambda: os._exit(137)).anchor()
    """
)


@pytest.mark.slow
def test_killed_process_on_the_embedded_chain(tmp_path: Path, compile_cache: Path) -> None:
    """A real process dies right after its anchor transaction is mined; the next run on the
    same home settles it: one anchor on chain, attributed to the right head."""
    from contracts import Chain

    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), str(compile_cache)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 137, proc.stderr[-2000:]
    with Chain.connect("embedded", home, cache=compile_cache) as chain:
        ledger = Ledger(Store.open(f"sqlite:///{home / 'ledger.db'}"), chain.actors)
        assert anchor_rows(ledger) == [(8, "intent")]
        before = chain.anchors.count()
        result = Anchorer(ledger, chain.anchors).anchor()
        assert result.recovered == 1 and result.status == "up_to_date"
        assert chain.anchors.count() == before  # nothing sent twice
        assert anchor_rows(ledger) == [(8, "confirmed")]
        assert result.head is not None
        assert result.head.tx_hash == chain.anchors.tx_of(result.head.root)
        v = verify_batch(ledger, RETAIL_A, chain.anchors)
        assert v.ok, v.findings
        assert audit_log(ledger, chain.anchors).ok


def test_anchoring_loop_anchors_new_events_each_round(tmp_path: Path) -> None:
    import threading

    reg = registered()
    ledger = _ledger(tmp_path, reg)
    stop = threading.Event()
    results = []

    def seen(result) -> None:  # type: ignore[no-untyped-def]
        results.append(result.status)
        if len(results) == 1:
            record(ledger, sample_story())
        elif len(results) == 3:
            stop.set()

    Anchorer(ledger, reg).run(stop, interval_s=0.01, on_result=seen)
    assert results == ["empty", "anchored", "up_to_date"] and reg.count() == 1
