"""Crash safety: the ingest process and the anchoring loop killed (-9) at random points, on
SQLite and PostgreSQL, against a real node (anvil); after every restart nothing accepted is
lost, nothing is duplicated, every anchor on chain matches a recorded tree head, and
``livetrust log audit`` passes. Harness and kill sites: ``tests/reliability/_crash.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from contracts import Chain
from provenance import Ledger, audit_log
from provenance._store import ANCHORS, EVENTS
from services._provenance_demo import DEMO_ACTORS, demo_key
from tests.reliability._crash import Harness, kill_schedule, plan
from tests.reliability.conftest import Db

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("LIVETRUST_CRASH_SEED", "20261125"))
# CI slice per database: 42 exact kill points (a fifth of them aimed at the sites of
# ``_crash.TARGETED``) + 4 SIGKILLs at random times with anchoring rounds between ingest
# calls, then 6 exact + 3 random with the service's anchoring loop running alongside: 55 per
# database, 110 over both. The soak version below runs 640 per database.
INJECTED, SIGNALLED, SERVICE = 42, 4, 6
# A child's first ~60 checkpoints span 3-4 ingest calls and an anchoring round, so kill
# points fall everywhere in both, and each child still makes progress.
MAX_CHECKPOINT = 60
STEPS = 400  # more than the kills can consume; the final child finishes what was started


@dataclass(frozen=True)
class Node:
    rpc: str
    home: Path
    cache: Path


@pytest.fixture
def node(anvil_url: str, tmp_path: Path, compile_cache: Path) -> Iterator[Node]:
    """Fresh registries on anvil with the demo story's five actors registered."""
    home = tmp_path / "home"
    with Chain.connect(anvil_url, home, cache=compile_cache) as chain:
        for actor, role in DEMO_ACTORS.items():
            chain.actors.register(actor, demo_key(actor).public_key, role, 0)
        chain.anchors.count()  # deploys the AnchorRegistry before any child runs
    yield Node(anvil_url, home, compile_cache)


def db_ids(db: Db) -> list[str]:
    store = db.open()
    try:
        with store.read() as conn:
            return [str(h) for (h,) in conn.execute(select(EVENTS.c.hash_id))]
    finally:
        store.close()


def check_after_kill(h: Harness) -> None:
    """Right after a death: every accepted event is there, each step that was started but
    not reported is all or nothing, and no step after the furthest started left anything."""
    ids = db_ids(h.db)
    have = set(ids)
    assert len(ids) == len(have)
    for step in h.steps:
        present = [i in have for i in step.ids]
        if step.index in h.accepted:
            assert all(present), f"accepted step {step.index} lost events"
        elif step.index <= h.furthest:
            assert all(present) or not any(present), f"step {step.index} half-written"
        else:
            assert not any(present), f"step {step.index} was never started but has events"


def check_final(h: Harness) -> dict[str, int]:
    done = [s for s in h.steps if s.index in h.accepted]
    assert [s.index for s in done] == list(range(len(done)))
    ids = db_ids(h.db)
    expected = [i for s in done for i in s.ids]
    assert sorted(ids) == sorted(expected)  # none lost, none duplicated, nothing extra
    store = h.db.open()
    try:
        with Chain.connect(h.rpc, h.home, cache=h.cache) as chain:
            ledger = Ledger(store, chain.actors)
            assert ledger.size() == len(expected)
            report = audit_log(ledger, chain.anchors)
            assert report.ok, report.findings
            assert report.events == len(expected)
            with store.read() as conn:
                rows = conn.execute(select(ANCHORS).order_by(ANCHORS.c.tree_size)).all()
            confirmed = [r for r in rows if r.state == "confirmed"]
            on_chain = [chain.anchors.by_index(i) for i in range(chain.anchors.count())]
            # every anchor on chain is a recorded head (and the other way), never twice
            assert [(a.tree_size, a.root) for a in on_chain] == [
                (int(r.tree_size), bytes(r.root)) for r in confirmed
            ]
            assert on_chain[-1].tree_size == len(expected)
            return {"anchors": len(on_chain), "pending": report.pending, "events": len(ids)}
    finally:
        store.close()


def cli_audit(h: Harness) -> dict[str, object]:
    env = {
        **os.environ,
        "LIVETRUST_HOME": str(h.home),
        "LIVETRUST_CACHE": str(h.cache),
        "LIVETRUST_RPC": h.rpc,
        "LIVETRUST_DB": h.db.url,
        "PYTHONPATH": str(ROOT),
    }
    if h.db.schema:  # the test's fresh schema, through libpq's options
        env["PGOPTIONS"] = f"-csearch_path={h.db.schema}"
    proc = subprocess.run(
        [sys.executable, "-m", "services.cli", "log", "audit", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def crash_run(
    db: Db,
    node: Node,
    injected: int,
    signalled: int,
    seed: int,
    steps: int = STEPS,
    service: int = 0,
) -> Harness:
    h = Harness(db, node.rpc, node.home, node.cache, plan(steps))
    targeted = injected // 5
    for kill_at, delay, site in kill_schedule(seed, injected, signalled, MAX_CHECKPOINT, targeted):
        out = h.run(kill_at, delay, site)
        assert not out.done, "the plan ran out before the kills did: raise STEPS"
        check_after_kill(h)
    # the service's own anchoring loop (a thread of `livetrust serve`) killed with the ingest
    loop_kills = kill_schedule(seed + 7, service, service // 2, 2 * MAX_CHECKPOINT)
    for kill_at, delay, _ in loop_kills:
        out = h.run(kill_at, delay, service_loop=True)
        assert not out.done, "the plan ran out before the kills did: raise STEPS"
        check_after_kill(h)
    h.steps = h.steps[: max(h.start + 1, 1)]  # the final run finishes what was started
    final = h.run()
    assert final.status == "completed" and final.done
    return h


def test_kill9_ingest_and_anchoring(db: Db, node: Node) -> None:
    h = crash_run(db, node, INJECTED, SIGNALLED, SEED, service=SERVICE)
    figures = check_final(h)
    assert cli_audit(h)["ok"]
    assert h.kills == INJECTED + SIGNALLED + SERVICE + SERVICE // 2
    # the kill points reached every phase: inside the ingest transaction, between commit
    # and report, inside the anchoring round, and between the anchor tx and its record
    sites = set(h.sites)
    assert "sql:COMMIT" in sites and "between commit and report" in sites
    assert "rpc:sent, not recorded" in sites and "rpc:before send" in sites
    writes = ("INSERT prov_", "DELETE prov_", "UPDATE prov_logs")
    assert any(w in s for s in sites for w in writes)
    print(f"\n{db.kind}: {h.kills} kills survived, {figures}, sites {dict(h.sites)}")


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_kill9_soak(db: Db, node: Node) -> None:
    """The long version (`pytest -m soak`): 600 kills per database."""
    h = crash_run(db, node, 480, 40, SEED + 1, steps=4000, service=80)
    figures = check_final(h)
    assert cli_audit(h)["ok"]
    print(f"\n{db.kind}: {h.kills} kills survived, {figures}, sites {dict(h.sites)}")
