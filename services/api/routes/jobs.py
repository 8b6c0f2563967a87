"""``/api/v1/jobs/{id}``: progress and result of background work (uploads being verified)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.api._deps import RuntimeDep
from services.api._errors import ApiError

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}", summary="A background job's state")
def job_state(job_id: str, rt: RuntimeDep) -> dict[str, Any]:
    """``state`` is queued | running | done | failed; ``progress`` 0..1 with a ``stage``;
    ``result`` holds the verdict when done, ``error`` its code and message when failed
    (``worker_lost`` if the worker running it stopped). Any worker answers: jobs live in
    the database."""
    job = rt.jobs.get(job_id)
    if job is None:
        raise ApiError("unknown_job", f"no job {job_id!r} (finished jobs are kept for a day)")
    return job.to_json()
