"""Kill -9 harness: a child process ingests and anchors; it dies at an exact checkpoint or
by a real SIGKILL; the parent restarts it and checks that nothing accepted was lost.

How a child dies
  * injected: the child counts checkpoints (before every SQL statement and every COMMIT its
    engine sends, before and after every transaction it sends to the node, and between an
    ingest's commit and its report) and calls ``os._exit`` at the N-th: no ``finally``, no
    flush, no rollback: what ``kill -9`` leaves (the kernel closes its sockets and files);
  * signalled: the parent sends SIGKILL after a random delay.

Children are ``os.fork()``-ed from the test process after the imports (a fresh interpreter
costs seconds of imports on the shared machine; a fork a few milliseconds). Each opens its
own database engine and node connection; nothing of the parent's is used in the child.

What the child reports (one JSON line per ``write`` on a pipe, atomic below PIPE_BUF): the
Event Hash IDs of an ingest *after* ``Ledger.ingest`` returned, i.e. after COMMIT; "accepted"
means exactly that. Everything else the parent checks against the database and the chain.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from provenance import Anchorer, Ledger, ReplayRejected, Signer
from provenance._anchor import latest_anchor
from provenance._store import EVENTS
from services._provenance_demo import demo_key, sample_story
from tests.reliability.conftest import Db

INJECTED_EXIT = 86  # the child's exit status when it dies at its N-th checkpoint
FAILED_EXIT = 3  # an unexpected exception in the child (its traceback is reported)
ANCHOR_EVERY = 2  # an anchoring round after every 2nd ingest step, as the service's loop
SENDS = ("eth_sendTransaction", "eth_sendRawTransaction")
_TABLE = re.compile(r"prov_[a-z_]+")


@dataclass(frozen=True)
class Step:
    """One ingest call: one actor's events of one story (1-2 events)."""

    index: int
    story: int
    within: int
    actor: str
    ids: tuple[str, ...]


def plan(steps: int, prefix: str = "K") -> list[Step]:
    """Enough stories for ``steps`` ingest calls; lot numbers unique per story."""
    out: list[Step] = []
    story = 0
    while len(out) < steps:
        tag = f"{prefix}{story:03d}"
        for within, s in enumerate(sample_story(tag=tag, day="2026-05-01")):
            ids = tuple(e.hash_id for e in s.events)
            out.append(Step(len(out), story, within, s.actor, ids))
        story += 1
    return out[:steps]


def _events_of(step: Step, prefix: str) -> Any:
    return sample_story(tag=f"{prefix}{step.story:03d}", day="2026-05-01")[step.within].events


class _Killer:
    """Counts checkpoints; exits the process at the N-th (None: never)."""

    def __init__(
        self, kill_at: int | None, report: Callable[[dict[str, Any]], None], site: str | None
    ) -> None:
        self.kill_at = kill_at
        self.site = site  # if set: the first checkpoint at or after kill_at with this site
        self.count = 0
        self.report = report
        self.trace: list[str] = []

    def __call__(self, site: str) -> None:
        self.count += 1
        self.trace.append(site)
        due = self.kill_at is not None and self.count >= self.kill_at
        if due and (self.count == self.kill_at if self.site is None else site == self.site):
            self.report({"killed_at": site, "checkpoint": self.count})
            os._exit(INJECTED_EXIT)


def _sql_site(statement: str) -> str:
    verb = statement.split(None, 1)[0].upper() if statement.strip() else "?"
    table = _TABLE.search(statement)
    return f"sql:{verb} {table.group(0) if table else ''}".strip()


def hook_sends(chain: Any, before: Callable[[], None], after: Callable[[Any], None]) -> None:
    """Call ``before()`` / ``after(response)`` around every transaction the chain client
    sends (``eth_sendTransaction`` / ``eth_sendRawTransaction``), at the JSON-RPC boundary;
    a later call replaces the hooks."""
    provider = chain.w3.provider
    # hooks replace each other: always wrap the provider's own method
    inner = provider.__dict__.setdefault("_unhooked_make_request", provider.make_request)

    def make_request(method: Any, params: Any) -> Any:
        if method in SENDS:
            before()
            out = inner(method, params)
            after(out)
            return out
        return inner(method, params)

    provider.make_request = make_request
    provider._request_func_cache = ((), None)  # web3 binds make_request on first use


def _instrument(engine: Any, chain: Any, kill: _Killer) -> None:
    event.listen(engine, "before_cursor_execute", lambda *a: kill(_sql_site(a[2])))
    event.listen(engine, "commit", lambda conn: kill("sql:COMMIT"))
    hook_sends(chain, lambda: kill("rpc:before send"), lambda _: kill("rpc:sent, not recorded"))


SERVICE_LOOP_INTERVAL_S = 0.02


class _NONE:
    tree_size = -1


def _start_service_loop(db: Db, rpc: str, home: Path, cache: Path, kill: _Killer) -> None:
    """The web service's anchoring loop, with the same kill points on its own engine."""
    from services.api._runtime import Runtime
    from services.config import Settings

    if db.schema:  # the runtime opens the database by URL; libpq takes the schema from here
        os.environ["PGOPTIONS"] = f"-csearch_path={db.schema}"
    runtime = Runtime(
        Settings(
            home=home, db=db.url, rpc=rpc, cache=cache, anchor_interval_s=SERVICE_LOOP_INTERVAL_S
        )
    )
    _instrument(runtime.store.engine, runtime.chain, kill)
    runtime.start_anchoring()


def child(
    db: Db,
    rpc: str,
    home: Path,
    cache: Path,
    steps: list[Step],
    start: int,
    prefix: str,
    kill_at: int | None,
    out_fd: int,
    kill_site: str | None = None,
    service_loop: bool = False,
) -> None:
    """The child process's whole life; never returns. ``service_loop``: anchoring is the
    API service's own loop (``Runtime.start_anchoring``, a thread) running alongside the
    ingest, instead of rounds between ingest calls."""

    def report(msg: dict[str, Any]) -> None:
        os.write(out_fd, (json.dumps(msg) + "\n").encode())

    status = 0
    try:
        from contracts import Chain

        store = db.open()
        chain = Chain.connect(rpc, home, cache=cache)
        kill = _Killer(kill_at, report, kill_site)
        _instrument(store.engine, chain, kill)
        ledger = Ledger(store, chain.actors)
        anchorer = Anchorer(ledger, chain.anchors)
        if service_loop:
            _start_service_loop(db, rpc, home, cache, kill)
        for step in steps[start:]:
            report({"started": step.index})
            signer = Signer(step.actor, demo_key(step.actor))
            try:
                ledger.ingest(_events_of(step, prefix), signer)
            except ReplayRejected:  # committed by a process killed before it reported
                with store.read() as conn:
                    found = conn.execute(
                        select(EVENTS.c.hash_id).where(EVENTS.c.hash_id.in_(step.ids))
                    ).all()
                if len(found) != len(step.ids):
                    report({"partial": step.index, "found": len(found)})
                    os._exit(FAILED_EXIT)
            kill("between commit and report")
            report({"accepted": step.index, "ids": list(step.ids)})
            if not service_loop and (step.index + 1) % ANCHOR_EVERY == 0:
                r = anchorer.anchor()
                report({"anchored": r.status, "recovered": r.recovered})
        if service_loop:  # the loop's rounds catch up with the last ingest
            deadline = time.monotonic() + 30
            while (latest_anchor(ledger) or _NONE).tree_size < ledger.size():
                assert time.monotonic() < deadline, "the service loop stopped anchoring"
                time.sleep(SERVICE_LOOP_INTERVAL_S)
            report({"anchored": "service loop", "done": True})
        else:
            r = anchorer.anchor()  # the final round settles what an earlier child left
            report({"anchored": r.status, "recovered": r.recovered, "done": True})
        report({"checkpoints": kill.count})
        if os.environ.get("CRASH_TRACE"):
            report({"trace": kill.trace})
    except BaseException:
        report({"error": traceback.format_exc()[-3000:]})
        status = FAILED_EXIT
    os._exit(status)


@dataclass
class Outcome:
    """What one child did, as the parent saw it."""

    status: str  # injected | signalled | completed
    site: str | None
    accepted: list[int]
    started: list[int]
    done: bool


@dataclass
class Harness:
    """Runs children against one database and chain until the plan is done."""

    db: Db
    rpc: str
    home: Path
    cache: Path
    steps: list[Step]
    prefix: str = "K"
    accepted: set[int] = field(default_factory=set)
    sites: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    furthest: int = -1  # the last step any child started (a later one may hold its events)

    @property
    def start(self) -> int:
        n = 0
        while n in self.accepted:
            n += 1
        return n

    def run(
        self,
        kill_at: int | None = None,
        sigkill_after: float | None = None,
        kill_site: str | None = None,
        service_loop: bool = False,
    ) -> Outcome:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(r)
            try:
                child(
                    self.db,
                    self.rpc,
                    self.home,
                    self.cache,
                    self.steps,
                    self.start,
                    self.prefix,
                    kill_at,
                    w,
                    kill_site,
                    service_loop,
                )
            finally:
                os._exit(FAILED_EXIT)
        os.close(w)
        if sigkill_after is not None:
            time.sleep(sigkill_after)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with os.fdopen(r, "rb") as fh:
            lines = [json.loads(x) for x in fh.read().splitlines() if x.strip()]
        _, raw = os.waitpid(pid, 0)
        accepted = [m["accepted"] for m in lines if "accepted" in m]
        started = [m["started"] for m in lines if "started" in m]
        errors = [m for m in lines if "error" in m or "partial" in m]
        if errors:
            raise AssertionError(f"child failed: {errors[0]}")
        done = any(m.get("done") for m in lines)
        if os.WIFSIGNALED(raw) and os.WTERMSIG(raw) == signal.SIGKILL:
            status, site = "signalled", "SIGKILL at a random time"
        elif os.WIFEXITED(raw) and os.WEXITSTATUS(raw) == INJECTED_EXIT:
            status = "injected"
            site = next(m["killed_at"] for m in lines if "killed_at" in m)
        elif os.WIFEXITED(raw) and os.WEXITSTATUS(raw) == 0:
            status, site = "completed", None
        else:
            raise AssertionError(f"child ended with status {raw}: {lines[-3:]}")
        if status != "completed":
            self.kills += 1
            self.sites[site or "?"] += 1
        for i in accepted:
            self.accepted.add(i)
        self.furthest = max([self.furthest, *started])
        return Outcome(status, site, accepted, started, done)


# Sites a uniform draw hits rarely but that matter most: each gets kills of its own.
TARGETED = ("rpc:sent, not recorded", "rpc:before send", "between commit and report")


def kill_schedule(
    seed: int, injected: int, signalled: int, max_checkpoint: int, targeted: int = 0
) -> Iterator[tuple[int | None, float | None, str | None]]:
    """``injected`` exact kill points (uniform over the first ``max_checkpoint`` checkpoints
    of a child's life; ``targeted`` of them at the first :data:`TARGETED` site after such a
    point, round robin) mixed with ``signalled`` SIGKILLs after a random delay."""
    rnd = random.Random(seed)
    kinds = ["t"] * targeted + ["i"] * (injected - targeted) + ["s"] * signalled
    rnd.shuffle(kinds)
    sites = iter(TARGETED * injected)
    for k in kinds:
        if k == "s":
            yield None, rnd.uniform(0.05, 0.6), None
        else:
            yield rnd.randint(1, max_checkpoint), None, next(sites) if k == "t" else None
