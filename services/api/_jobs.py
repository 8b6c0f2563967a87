"""Background jobs: long work (verifying an uploaded bundle or clip) off the request path.

One worker thread per process runs jobs in submission order, so a heavy verification never
takes the request threads and the server stays responsive; each job reports progress
(0..1 and a short stage text) that ``GET /api/v1/jobs/{id}`` and the polling page show.
Jobs live in memory: a restart forgets them (the uploaded input is deleted when the job
ends), and with several uvicorn workers a client must poll the worker that took the upload
(sticky sessions) — a shared job table is future work.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JOB_WORKERS", "MAX_JOBS_KEPT", "Job", "Jobs", "Progress"]

# One worker: jobs are CPU-bound (hashing, signatures, video decoding) and the machine has few
# cores; the request threads keep the rest.
JOB_WORKERS = 1
MAX_JOBS_KEPT = 1000  # finished jobs remembered for polling; the oldest are forgotten first

Progress = Callable[[float, str], None]


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
    def __init__(self, workers: int = JOB_WORKERS) -> None:
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None  # started on first job, again after close
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(
        self,
        kind: str,
        work: Callable[[Progress], dict[str, Any]],
        cleanup: Callable[[], None] | None = None,
    ) -> Job:
        job = Job(id=secrets.token_urlsafe(12), kind=kind)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS_KEPT:
                self._jobs.pop(next(iter(self._jobs)))

        def progress(fraction: float, stage: str) -> None:
            job.progress = max(0.0, min(1.0, fraction))
            job.stage = stage

        def run() -> None:
            job.state = "running"
            job.stage = "started"
            try:
                job.result = work(progress)
                job.state, job.progress, job.stage = "done", 1.0, "done"
            except Exception as exc:  # reported to the client with its stable code
                job.state, job.stage = "failed", "failed"
                job.error = {"code": str(getattr(exc, "code", "job_failed")), "message": str(exc)}
            finally:
                job.finished = time.time()
                if cleanup is not None:
                    cleanup()

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="job")
            self._pool.submit(run)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
