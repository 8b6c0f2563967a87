"""The service as deployed: the anchoring loop, PostgreSQL, the server staying responsive
while a job runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from provenance import to_document
from services._provenance_demo import sample_story
from services.api import create_app
from services.api._local import fresh_pg_database
from services.config import Settings
from tests.api.conftest import ADMIN_KEY, World, populate, register


def test_anchoring_loop_anchors_new_events(tmp_path: Path, compile_cache: Path) -> None:
    settings = Settings(
        home=tmp_path / "home", cache=compile_cache, admin_key=ADMIN_KEY, anchor_interval_s=0.2
    )
    app = create_app(settings)
    with TestClient(app) as c:
        key = register(c, "farm-loop", "farm")["api_key"]
        step = sample_story(tag="L001")[0]
        r = c.post(
            "/api/v1/events",
            content=json.dumps(to_document(step.events)).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        assert r.status_code == 201
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            a = c.get("/api/v1/anchors").json()
            if a["anchored_size"] == 1:
                break
            time.sleep(0.1)
        assert a["anchored_size"] == 1, a
        assert a["interval_s"] == 0.2
    # the loop stops with the app
    assert not any(t.name == "anchor-loop" and t.is_alive() for t in threading.enumerate())


@pytest.fixture
def pg_world(pg_url: str, tmp_path: Path, compile_cache: Path) -> Iterator[World]:
    home = tmp_path / "home"
    with fresh_pg_database(pg_url) as db:
        app = create_app(Settings(home=home, cache=compile_cache, db=db, admin_key=ADMIN_KEY))
        with TestClient(app) as c:
            yield populate(c, home)


@pytest.mark.pg
def test_on_postgresql(pg_world: World) -> None:
    w = pg_world
    rt: Any = w.client.app.state.runtime  # type: ignore[attr-defined]
    assert rt.store.dialect == "postgresql"
    ok = w.client.get(f"/api/v1/batches/{quote(w.batches['0501'], safe='')}/verdict").json()
    assert ok["ok"] is True
    bad = w.client.get(f"/api/v1/batches/{quote(w.batches['0502'], safe='')}/verdict").json()
    assert "cold_chain_breach" in {f["code"] for f in bad["findings"]}
    # replayed nonce memory lives in PostgreSQL too
    from services.api._signing import sign_request
    from tests.api.conftest import private_key

    req = sign_request(private_key(w.home, "qc-lab-hk"), "qc-lab-hk", "POST", "/api/v1/anchors")
    assert w.client.post("/api/v1/anchors", headers=req.headers()).status_code == 200
    again = w.client.post("/api/v1/anchors", headers=req.headers())
    assert again.json()["error"]["code"] == "replayed_request"
    assert w.client.get("/api/v1/dashboard").json()["platform"]["events"] == 16
    assert w.client.get(f"/b/{quote(w.batches['0501'], safe='')}").status_code == 200


def test_server_stays_responsive_while_a_job_runs(world: World) -> None:
    rt: Any = world.client.app.state.runtime  # type: ignore[attr-defined]
    release = threading.Event()

    def slow(progress: Any) -> dict[str, Any]:
        progress(0.5, "halfway")
        release.wait(10)
        return {"ok": True}

    job = rt.jobs.submit("test", slow)
    try:
        time.sleep(0.05)
        t0 = time.perf_counter()
        assert world.client.get("/api/v1/health").status_code == 200
        assert time.perf_counter() - t0 < 1.0
        state = world.client.get(f"/api/v1/jobs/{job.id}").json()
        assert state["state"] == "running" and state["stage"] == "halfway"
    finally:
        release.set()


@pytest.fixture
def second_worker(world: World, compile_cache: Path) -> Iterator[TestClient]:
    """Another uvicorn worker of the same deployment: same home and database (it never
    opens the chain here: polling needs none)."""
    app = create_app(Settings(home=world.home, cache=compile_cache, admin_key=ADMIN_KEY))
    with TestClient(app) as c:
        yield c


def test_jobs_are_shared_by_the_workers(world: World, second_worker: TestClient) -> None:
    rt: Any = world.client.app.state.runtime  # type: ignore[attr-defined]
    release = threading.Event()

    def slow(progress: Any) -> dict[str, Any]:
        progress(0.5, "halfway")
        release.wait(10)
        return {"verdict": "fine"}

    job = rt.jobs.submit("test", slow)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            state = second_worker.get(f"/api/v1/jobs/{job.id}").json()
            if state["stage"] == "halfway":
                break
            time.sleep(0.05)
        assert state["state"] == "running" and state["progress"] == 0.5, state
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while state["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
        state = second_worker.get(f"/api/v1/jobs/{job.id}").json()
    assert state["state"] == "done" and state["result"] == {"verdict": "fine"}
    html = second_worker.get(f"/verify/jobs/{job.id}")
    assert html.status_code == 200 and "Check failed" not in html.text
    missing = second_worker.get("/api/v1/jobs/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_job"


def test_a_dead_workers_jobs_fail_instead_of_hanging(
    world: World, second_worker: TestClient
) -> None:
    from services._store import JOBS
    from services.api._jobs import STALE_S

    rt: Any = world.client.app.state.runtime  # type: ignore[attr-defined]
    now = time.time()
    with rt.service_store.begin() as conn:
        for job_id, updated in (("stale-job", now - STALE_S - 1), ("live-job", now - 1)):
            conn.execute(
                JOBS.insert().values(
                    id=job_id,
                    kind="clip",
                    state="running",
                    progress=0.3,
                    stage="decoded 3 of 10 s",
                    worker="gone-host:1234",
                    created=now - 100,
                    updated=updated,
                )
            )
    stale = second_worker.get("/api/v1/jobs/stale-job").json()
    assert stale["state"] == "failed" and stale["error"]["code"] == "worker_lost"
    assert "gone-host:1234" in stale["error"]["message"]
    assert second_worker.get("/api/v1/jobs/live-job").json()["state"] == "running"


def test_stopping_a_worker_fails_its_unfinished_jobs(tmp_path: Path, compile_cache: Path) -> None:
    release = threading.Event()
    settings = Settings(home=tmp_path / "home", cache=compile_cache, admin_key=ADMIN_KEY)
    with TestClient(create_app(settings)) as a:
        rt: Any = a.app.state.runtime  # type: ignore[attr-defined]
        running = rt.jobs.submit("test", lambda p: release.wait(10) and {})
        queued = rt.jobs.submit("test", lambda p: {})
    try:
        with TestClient(create_app(settings)) as b:
            for job in (running, queued):
                state = b.get(f"/api/v1/jobs/{job.id}").json()
                assert state["state"] == "failed" and state["error"]["code"] == "worker_lost"
    finally:
        release.set()


def test_state_batcher_shares_queries_without_staleness() -> None:
    import asyncio

    from services.api._views import StateBatcher

    calls: list[float] = []

    class Probe:
        def direct(self, log_id: int) -> tuple[int, int]:
            calls.append(time.monotonic())
            time.sleep(0.02)  # a network round trip
            return len(calls), 0

    batcher = StateBatcher(Probe())  # type: ignore[arg-type]

    async def read() -> tuple[float, tuple[int, int]]:
        arrived = time.monotonic()
        return arrived, await batcher.get(1)

    async def main() -> list[tuple[float, tuple[int, int]]]:
        return await asyncio.gather(*(read() for _ in range(50)))

    results = asyncio.run(main())
    batcher.close()
    assert len(calls) < 10  # 50 reads, a few queries
    for arrived, (n, _) in results:
        assert calls[n - 1] >= arrived  # the answer was read after the request arrived
