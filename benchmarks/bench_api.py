"""Web service figures (issue 7): 50 concurrent clients reading batch verifications.

A real ``uvicorn`` server (one worker, the embedded chain, ``--no-access-log``) is started on
a free loopback port with SQLite, then with PostgreSQL (``LIVETRUST_TEST_PG``, a fresh
database per run). The demo story is recorded through the API for ``BATCHES`` batches by its
five parties and anchored, then ``CLIENTS`` keep-alive HTTP/1.1 connections each send
``GET /api/v1/batches/{batch}/verdict`` for a random batch, back to back, for ``DURATION_S``
seconds after a one-second warm-up (connections opening; not counted). Every response is
checked (status 200, ``"ok":true``); requests/s counts completed requests, latency is
measured per request by the client (send to last body byte), and the server's CPU time per
request is read from /proc (the machine is shared, so it is the steadier figure).

The server caches each verdict until the log size or the latest anchor changes (and at most
the key-cache lifetime), so a read re-verifies nothing when nothing changed; the first read
of each batch (the warm-up) pays the full verification. Client and server share the
machine's cores, so the figure includes the load generator's cost.

Issue target: >= 300 requests/s with p99 <= 150 ms on this 2-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from benchmarks._common import Report
from services.api._local import (
    LocalServer,
    fresh_pg_database,
    register_demo_actors,
    start_server,
)

CLIENTS = 50
DURATION_S = float(os.environ.get("LIVETRUST_BENCH_API_S", "20"))
WARMUP_S = 1.0  # connections open and first reads; not counted
BATCHES = 20
TARGET_RPS = 300
TARGET_P99_MS = 150.0
ADMIN_KEY = "lt_admin_bench_" + uuid.uuid4().hex
PG_ENV = "LIVETRUST_TEST_PG"


def _start(home: Path, db: str | None, extra_env: Mapping[str, str] | None = None) -> LocalServer:
    """The server on ``home`` (and database ``db``, else SQLite in home), registrar key
    ``ADMIN_KEY``, with ``extra_env`` settings added (the soak test's chain, say)."""
    env = {"LIVETRUST_HOME": str(home), "LIVETRUST_ADMIN_KEY": ADMIN_KEY, **(extra_env or {})}
    if db:
        env["LIVETRUST_DB"] = db
    return start_server(env, home / "server.log", args=["--no-access-log"])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc), to report cost per request."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _populate(url: str) -> list[str]:
    from provenance import to_document
    from services._provenance_demo import sample_story

    with httpx.Client(base_url=url, timeout=120) as c:
        keys = register_demo_actors(c, ADMIN_KEY)
        batches = []
        for i in range(BATCHES):
            tag = f"{i:04d}"
            for step in sample_story(tag=tag):
                r = c.post(
                    "/api/v1/events",
                    content=json.dumps(to_document(step.events)).encode(),
                    headers={
                        "Authorization": f"Bearer {keys[step.actor]}",
                        "Content-Type": "application/json",
                    },
                )
                r.raise_for_status()
            batches.append(f"urn:epc:class:lgtin:0614141.307346.R{tag}A")
        r = c.post(
            "/api/v1/anchors", headers={"Authorization": f"Bearer {keys['farm-green-valley']}"}
        )
        r.raise_for_status()
    return batches


async def _client(
    host: str,
    port: int,
    paths: list[str],
    since: float,
    until: float,
    lat: list[float],
    errors: list[str],
) -> None:
    """One keep-alive HTTP/1.1 connection sending GETs back to back (a minimal client, so
    the load generator costs little CPU next to the server)."""
    reader, writer = await asyncio.open_connection(host, port)
    rnd = random.Random(id(lat) ^ port)
    try:
        while time.perf_counter() < until:
            path = rnd.choice(paths)
            t0 = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            if t0 >= since:  # the first second (50 connections opening) is warm-up
                lat.append(time.perf_counter() - t0)
            if b" 200 " not in status or not body.startswith(b'{"ok":true'):
                errors.append(status.decode(errors="replace").strip())
    finally:
        writer.close()


async def _load(url: str, paths: list[str]) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    lat: list[float] = []
    errors: list[str] = []
    since = time.perf_counter() + WARMUP_S
    until = since + DURATION_S
    await asyncio.gather(
        *(_client(host, int(port), paths, since, until, lat, errors) for _ in range(CLIENTS))
    )
    elapsed = time.perf_counter() - since
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {
        "clients": CLIENTS,
        "duration_s": round(elapsed, 2),
        "requests": len(lat),
        "errors": len(errors),
        "error_samples": errors[:3],
        "rps": round(len(lat) / elapsed, 1),
        "p50_ms": round(pct(0.50), 2),
        "p99_ms": round(pct(0.99), 2),
        "max_ms": round(lat[-1] * 1000, 2) if lat else None,
    }


def _run_load(url: str, paths: list[str]) -> dict[str, Any]:
    """The load generator on uvloop when available (it costs the shared cores less)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with the service's deps
        return asyncio.run(_load(url, paths))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_load(url, paths))


def _run_backend(name: str, db: str | None) -> dict[str, Any]:
    from urllib.parse import quote

    with tempfile.TemporaryDirectory(prefix=f"livetrust-bench-api-{name}-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        server = _start(home, db)
        proc, url = server.proc, server.url
        try:
            t0 = time.perf_counter()
            batches = _populate(url)
            populate_s = time.perf_counter() - t0
            paths = [f"/api/v1/batches/{quote(b, safe='')}/verdict" for b in batches]
            cold = []
            with httpx.Client(base_url=url, timeout=60) as c:
                for p in paths:  # warm-up: the one full verification per batch
                    t = time.perf_counter()
                    r = c.get(p)
                    cold.append((time.perf_counter() - t) * 1000)
                    assert r.json()["ok"] is True, r.text
            cpu0 = _cpu_s(proc.pid)
            result = _run_load(url, paths)
            cpu = _cpu_s(proc.pid) - cpu0
            result["server_cpu_ms_per_request"] = round(cpu * 1000 / max(result["requests"], 1), 3)
            result["server_cpu_share"] = round(cpu / result["duration_s"], 2)
            result["load_avg_1m"] = os.getloadavg()[0]
            result["cold_verify_ms_median"] = round(sorted(cold)[len(cold) // 2], 2)
            result["populate_s"] = round(populate_s, 1)
            result["batches"] = len(batches)
            result["events"] = 8 * len(batches)
            return result
        finally:
            server.stop()


def run() -> Report:
    report = Report("api")
    pg = os.environ.get(PG_ENV)
    for name in ("sqlite", "postgresql") if pg else ("sqlite",):
        with contextlib.ExitStack() as stack:
            db = None
            if pg and name == "postgresql":
                db = stack.enter_context(fresh_pg_database(pg, "bench_api_"))
            r = _run_backend(name, db)
        report.data[name] = r
        ok = r["rps"] >= TARGET_RPS and r["p99_ms"] <= TARGET_P99_MS and r["errors"] == 0
        report.row(
            f"verdict reads, {CLIENTS} clients ({name})",
            f"{r['rps']:.0f} req/s, p99 {r['p99_ms']:.1f} ms",
            f">= {TARGET_RPS} req/s, p99 <= {TARGET_P99_MS:.0f} ms",
            f"{'met' if ok else 'MISSED'}; p50 {r['p50_ms']:.1f} ms, {r['errors']} errors, "
            f"{r['duration_s']:.0f} s, 1 uvicorn worker, server CPU "
            f"{r['server_cpu_ms_per_request']:.2f} ms/req, cold verify "
            f"{r['cold_verify_ms_median']:.0f} ms, load avg {r['load_avg_1m']:.1f}",
        )
        print(f"   {name}: {r}", flush=True)
    if not pg:
        report.row(f"verdict reads ({'postgresql'})", "not run", "", f"set {PG_ENV}")
    return report


if __name__ == "__main__":
    print(run().data)
