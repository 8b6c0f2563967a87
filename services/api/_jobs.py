"""Background jobs: long work (verifying an uploaded bundle or clip) off the request path,
visible to every uvicorn worker.

The worker process that took an upload runs its job on its own job thread (one per process,
in submission order), so a heavy verification never takes the request threads; the job's
state, progress (0..1 and a short stage text), result or error live in the database table
``svc_jobs`` (``services._store.JOBS``, Alembic revision ``s0002``), so ``GET
/api/v1/jobs/{id}`` and the polling page answer from whichever worker the load balancer
picks. A job is run where its upload landed (the input is a file in that machine's
``LIVETRUST_HOME/uploads``); work is not handed between processes.

Liveness: each process touches ``updated`` of its queued and running jobs every
``HEARTBEAT_S``; a queued or running job not touched for ``STALE_S`` belongs to a worker
that died (or was stopped) and is reported ``failed`` with code ``worker_lost``. Finished
jobs are forgotten after ``KEEP_S``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from services._store import JOBS

if TYPE_CHECKING:
    from services._store import DisputeStore

__all__ = ["HEARTBEAT_S", "JOB_WORKERS", "KEEP_S", "STALE_S", "Job", "Jobs", "Progress"]

log = logging.getLogger("livetrust.api")

# One worker: jobs are CPU-bound (hashing, signatures, video decoding) and the machine has few
# cores; the request threads keep the rest.
JOB_WORKERS = 1
HEARTBEAT_S = 5.0
# A dozen missed heartbeats: a worker busy at 100% CPU still beats (the thread sleeps).
STALE_S = 60.0
KEEP_S = 24 * 3600.0  # finished jobs stay pollable for a day
PROGRESS_WRITE_S = 0.25  # progress is written at most this often (pages poll once a second)
MAX_JOB_ID = 32
MAX_STAGE = 200

Progress = Callable[[float, str], None]


def _worker_id() -> str:
    return f"{socket.gethostname()[:80]}:{os.getpid()}"


@dataclass
class Job:
    id: str
    kind: str
    state: str = "queued"  # queued | running | done | failed
    progress: float = 0.0
    stage: str = "queued"
    created: float = field(default_factory=time.time)
    finished: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": round(self.progress, 3),
            "stage": self.stage,
            "created": self.created,
            "finished": self.finished,
            "result": self.result,
            "error": self.error,
        }


class Jobs:
    """Jobs in ``svc_jobs``; ``store`` opens the (migrated) services store on first use."""

    def __init__(self, store: Callable[[], DisputeStore], workers: int = JOB_WORKERS) -> None:
        self._store = store
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None  # started on first job, again after close
        self._lock = threading.Lock()
        self._live: set[str] = set()  # queued or running in this process
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self.worker = _worker_id()

    # -- writes (this process's jobs) ------------------------------------------------------

    def _write(self, job_id: str, when: str | None = None, **values: Any) -> None:
        """Update the job's row (only while its state is ``when``, if given)."""
        query = update(JOBS).where(JOBS.c.id == job_id)
        if when is not None:
            query = query.where(JOBS.c.state == when)
        try:
            with self._store().begin() as conn:
                conn.execute(query.values(updated=time.time(), **values))
        except Exception as exc:  # the job goes on; a poll sees it as stale at worst
            log.warning("job %s: cannot record its state: %s", job_id, exc)

    def submit(
        self,
        kind: str,
        work: Callable[[Progress], dict[str, Any]],
        cleanup: Callable[[], None] | None = None,
    ) -> Job:
        """Record the job and queue it; blocking (a database write): call it off the event
        loop. If it cannot be recorded, ``cleanup`` runs and the error is raised."""
        job = Job(id=secrets.token_urlsafe(12), kind=kind)
        try:
            with self._store().begin() as conn:
                conn.execute(delete(JOBS).where(JOBS.c.created < job.created - KEEP_S))
                conn.execute(
                    JOBS.insert().values(
                        id=job.id,
                        kind=kind,
                        state=job.state,
                        progress=0.0,
                        stage=job.stage,
                        worker=self.worker,
                        created=job.created,
                        updated=job.created,
                    )
                )
        except BaseException:
            if cleanup is not None:
                cleanup()
            raise
        last = [0.0]

        def progress(fraction: float, stage: str) -> None:
            job.progress = max(0.0, min(1.0, fraction))
            job.stage = stage[:MAX_STAGE]
            now = time.monotonic()
            if now - last[0] >= PROGRESS_WRITE_S:
                last[0] = now
                self._write(job.id, "running", progress=job.progress, stage=job.stage)

        def run() -> None:
            job.state, job.stage = "running", "started"
            # not over a "failed" that close() wrote while this thread was starting
            self._write(job.id, "queued", state=job.state, stage=job.stage)
            try:
                job.result = work(progress)
                job.state, job.progress, job.stage = "done", 1.0, "done"
            except Exception as exc:  # reported to the client with its stable code
                job.state, job.stage = "failed", "failed"
                job.error = {"code": str(getattr(exc, "code", "job_failed")), "message": str(exc)}
            finally:
                job.finished = time.time()
                self._write(
                    job.id,
                    state=job.state,
                    progress=job.progress,
                    stage=job.stage,
                    finished=job.finished,
                    result=None if job.result is None else json.dumps(job.result),
                    error=None if job.error is None else json.dumps(job.error),
                )
                with self._lock:
                    self._live.discard(job.id)
                if cleanup is not None:
                    cleanup()

        with self._lock:
            self._live.add(job.id)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="job")
                self._stop = threading.Event()
                self._beat = threading.Thread(target=self._heartbeat, name="job-beat", daemon=True)
                self._beat.start()
            self._pool.submit(run)
        return job

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                live = list(self._live)
            if not live:
                continue
            try:
                with self._store().begin() as conn:
                    conn.execute(
                        update(JOBS).where(JOBS.c.id.in_(live)).values(updated=time.time())
                    )
            except Exception as exc:
                log.warning("job heartbeat failed: %s", exc)

    # -- reads (any process's jobs) --------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        if not job_id or len(job_id) > MAX_JOB_ID:
            return None
        with self._store().begin() as conn:
            row = conn.execute(select(JOBS).where(JOBS.c.id == job_id)).first()
        if row is None:
            return None
        job = Job(
            id=row.id,
            kind=row.kind,
            state=row.state,
            progress=float(row.progress),
            stage=row.stage,
            created=float(row.created),
            finished=row.finished,
            result=None if row.result is None else json.loads(row.result),
            error=None if row.error is None else json.loads(row.error),
        )
        if job.state in ("queued", "running") and time.time() - float(row.updated) > STALE_S:
            job.state, job.stage = "failed", "failed"
            job.error = {
                "code": "worker_lost",
                "message": f"the worker running this job ({row.worker}) stopped; upload again",
            }
        return job

    def close(self) -> None:
        """Stop this process's job thread; its unfinished jobs are failed at once (a poll
        would otherwise wait ``STALE_S`` to learn it)."""
        with self._lock:
            pool, self._pool = self._pool, None
            live, self._live = list(self._live), set()
        self._stop.set()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if live:
            error = json.dumps({"code": "worker_lost", "message": "the server was stopped"})
            for job_id in live:
                self._write(job_id, state="failed", stage="failed", error=error)
