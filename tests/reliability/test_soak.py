"""Soak: mixed ingest, verification and disputes against a real server on loopback, for
``LIVETRUST_SOAK_S`` seconds (default 600: ``make soak``; e.g. 20 for a quick look).

A ``uvicorn`` server (one worker, SQLite, anvil as the chain, its anchoring loop every 2 s)
takes, at once: one client recording new batches through ``POST /api/v1/events`` (five
parties, signed by their API keys), two clients reading verdicts of random batches
(``GET /api/v1/batches/{batch}/verdict``, new and anchored ones), and one client opening,
disputing, ruling and settling orders on the escrow (the oracle in this process, the
order pages read from the server: ``GET /api/v1/orders/{id}``). Every response is checked.
The server's resident memory is sampled every second.

Pass: no request fails, every accepted event is in the log and anchored by the end, the log
audit passes, and memory is flat: the last quarter's RSS is within ``RSS_GROWTH_LIMIT`` of
the second quarter's (caches are bounded and fill early; a leak grows without bound).
Figures (requests, p50/p99 per kind, RSS) go to ``benchmarks/results/reliability.json``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from benchmarks import bench_api as api
from benchmarks._common import Report
from contracts import DEFAULT_ESCROW_PARAMS, Chain
from provenance import Ledger, Store, audit_log, to_document
from services._orders import DisputeReason, OrderBook
from services._provenance_demo import sample_story
from services._store import DisputeStore
from services.api._local import register_demo_actors
from tests.services._docs import BATCH, breach

pytestmark = [pytest.mark.anvil, pytest.mark.soak, pytest.mark.timeout(3600)]

SOAK_S = float(os.environ.get("LIVETRUST_SOAK_S", "600"))
RSS_GROWTH_LIMIT = 1.25  # last quarter vs second quarter of the run
ANCHOR_INTERVAL_S = "2"
ETH = 10**18
WRITE_FROM_S = 300.0
FLOW = "dispute (open to settled)"  # an order's whole life: chain calls, not one request


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Load:
    """Latencies per kind of request, failures, and a stop flag shared by the clients."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.failures: list[str] = []
        self.lock = threading.Lock()

    def running(self) -> bool:
        return time.monotonic() < self.deadline and not self.failures

    def timed(self, kind: str, call: Callable[[], httpx.Response]) -> httpx.Response:
        t = time.perf_counter()
        r = call()
        ms = (time.perf_counter() - t) * 1000
        with self.lock:
            self.lat[kind].append(ms)
            if r.status_code >= 400:
                self.failures.append(f"{kind}: {r.status_code} {r.text[:300]}")
        return r

    def guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception as exc:  # a crashed client is a failed soak
                with self.lock:
                    self.failures.append(f"{fn.__name__}: {type(exc).__name__}: {exc}")

        return run


@pytest.fixture
def server(anvil_url: str, tmp_path: Path, compile_cache: Path) -> Iterator[tuple[Any, str, Path]]:
    home = tmp_path / "home"
    with Chain.connect(anvil_url, home, cache=compile_cache) as chain:
        chain.escrow.contract.address  # noqa: B018 - deploy every contract before the server
        chain.anchors.count()
    env = {
        "LIVETRUST_RPC": anvil_url,
        "LIVETRUST_CACHE": str(compile_cache),
        "LIVETRUST_ANCHOR_INTERVAL_S": ANCHOR_INTERVAL_S,
    }
    local = api._start(home, None, env)
    yield local.proc, local.url, home
    local.stop()


def test_soak_mixed_load(
    server: tuple[Any, str, Path], anvil_url: str, compile_cache: Path
) -> None:
    proc, url, home = server
    with httpx.Client(base_url=url, timeout=120) as c:
        keys = register_demo_actors(c, api.ADMIN_KEY)
    load = Load(time.monotonic() + SOAK_S)
    batches: list[str] = []
    accepted: list[str] = []
    orders: list[int] = []
    rss: list[tuple[float, float]] = []

    def ingest() -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            n = 0
            while load.running():
                tag = f"S{n:05d}"
                for step in sample_story(tag=tag):
                    body = json.dumps(to_document(step.events)).encode()
                    r = load.timed(
                        "ingest",
                        lambda body=body, step=step: c.post(
                            "/api/v1/events",
                            content=body,
                            headers={
                                "Authorization": f"Bearer {keys[step.actor]}",
                                "Content-Type": "application/json",
                            },
                        ),
                    )
                    if r.status_code != 201:
                        return
                    accepted.extend(e.hash_id for e in step.events)
                batches.append(f"urn:epc:class:lgtin:0614141.307346.R{tag}A")
                n += 1

    def verify() -> None:
        rnd = random.Random(threading.get_ident())
        with httpx.Client(base_url=url, timeout=120) as c:
            while load.running():
                if not batches:
                    time.sleep(0.05)
                    continue
                path = f"/api/v1/batches/{quote(rnd.choice(batches), safe='')}/verdict"
                r = load.timed("verify", lambda path=path: c.get(path))
                # a batch may be judged before its anchor: not_anchored, never anything else
                codes = {f["code"] for f in r.json().get("findings", [])}
                if codes - {"not_anchored"}:
                    load.failures.append(f"verdict {path}: {codes}")

    def disputes() -> None:
        chain = Chain.connect(anvil_url, home, cache=compile_cache)
        store = DisputeStore.open(f"sqlite:///{home / 'livetrust.db'}")
        book = OrderBook(chain, store, home)
        buyer, seller = chain.accounts[1], chain.accounts[2]
        evidence = home / "breach.json"
        evidence.write_text(json.dumps(breach()))
        book.post_bond(seller, 1_000 * ETH)
        with httpx.Client(base_url=url, timeout=120) as c:
            while load.running():
                t = time.perf_counter()
                oid = book.create_order(buyer, seller, ETH // 100, 86_400, 3 * 86_400, BATCH)
                book.ship(oid.order_id)
                book.open_dispute(oid.order_id, DisputeReason.QUALITY, [evidence])
                book.rule(oid.order_id)
                chain.advance_time(DEFAULT_ESCROW_PARAMS.appeal_window + 1)
                book.settle(oid.order_id)
                with load.lock:
                    load.lat[FLOW].append((time.perf_counter() - t) * 1000)
                page = f"/api/v1/orders/{oid.order_id}"
                r = load.timed("order page", lambda page=page: c.get(page))
                if r.json().get("state") != "settled":
                    load.failures.append(f"order {oid.order_id}: {r.text[:200]}")
                orders.append(oid.order_id)
        store.close()
        chain.close()

    def memory() -> None:
        start = time.monotonic()
        while load.running():
            rss.append((time.monotonic() - start, _rss_mb(proc.pid)))
            time.sleep(1.0)

    clients = [ingest, verify, verify, disputes, memory]
    threads = [threading.Thread(target=load.guard(f)) for f in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SOAK_S + 300)
    assert not load.failures, load.failures[:5]

    # nothing lost: every accepted event is in the log, all of it anchored, audit clean
    with httpx.Client(base_url=url, timeout=120) as c:
        c.post("/api/v1/anchors", headers={"Authorization": f"Bearer {keys['farm-green-valley']}"})
    with Chain.connect(anvil_url, home, cache=compile_cache) as chain:
        ledger = Ledger(Store.open(f"sqlite:///{home / 'livetrust.db'}"), chain.actors)
        assert ledger.size() == len(accepted)
        assert all(
            ledger.event_by_hash(h) is not None for h in accepted[:: max(1, len(accepted) // 200)]
        )
        report = audit_log(ledger, chain.anchors)
        assert report.ok and report.events == len(accepted), report.findings
        ledger.store.close()

    quarter = len(rss) // 4
    second = statistics.median(m for _, m in rss[quarter : 2 * quarter]) if quarter else 0
    last = statistics.median(m for _, m in rss[3 * quarter :]) if quarter else 0
    # the figures first: a run that fails on memory must still leave its RSS curve behind
    _write(load, rss, len(accepted), len(batches), len(orders), second, last)
    if quarter:
        assert last <= second * RSS_GROWTH_LIMIT, f"RSS grew {second:.0f} -> {last:.0f} MB"


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else 0.0


def _write(
    load: Load,
    rss: list[tuple[float, float]],
    events: int,
    batches: int,
    orders: int,
    rss_second: float,
    rss_last: float,
) -> None:
    report = Report("reliability")
    kinds = {
        k: {"n": len(v), "p50_ms": round(_pct(v, 0.5), 1), "p99_ms": round(_pct(v, 0.99), 1)}
        for k, v in load.lat.items()
    }
    report.data = {
        "soak_s": SOAK_S,
        "events": events,
        "batches": batches,
        "orders_settled": orders,
        "requests": kinds,
        "rss_mb": [(round(t, 1), round(m, 1)) for t, m in rss],
        "load_avg_1m": os.getloadavg()[0],
    }
    total = sum(len(v) for k, v in load.lat.items() if k != FLOW)
    flat = rss_last <= rss_second * RSS_GROWTH_LIMIT
    verdict = "" if flat else "; over the limit: memory FAILED"
    report.row(
        f"soak {SOAK_S / 60:.0f} min, mixed load on loopback",
        f"{total:,} HTTP requests + {orders} dispute flows, 0 failed",
        "nothing lost, memory flat",
        f"{events:,} events in {batches} batches, {orders} orders disputed and settled; "
        f"server RSS {rss_second:.0f} -> {rss_last:.0f} MB (2nd vs last quarter{verdict}); "
        f"load avg {os.getloadavg()[0]:.1f}",
    )
    for k, v in kinds.items():
        report.row(
            f"soak p99 latency: {k}",
            f"{v['p99_ms']} ms",
            "reported",
            f"p50 {v['p50_ms']} ms, n={v['n']}",
        )
    if SOAK_S >= WRITE_FROM_S:  # the short slice's figures are not worth keeping
        report.write()
    print(json.dumps(report.data["requests"], indent=1))
