"""``/api/v1/proofs``: a batch's proof bundle, and verification of a bundle (public).

Bundles travel in request and response bodies, never in query strings.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.api._deps import RuntimeDep
from services.api._errors import ApiError
from services.api._jobs import Progress
from services.api._uploads import JSON_TYPES, MAX_BUNDLE_BYTES, receive, sniff_json
from services.api._views import bundle_for, profile_named, verify_bundle_bytes
from services.api.routes.batches import PROFILE_Q, VERDICT_DOC

router = APIRouter(prefix="/proofs", tags=["proofs"])

BUNDLE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "a proof bundle (livetrust.provenance.bundle/3)",
                }
            }
        },
    }
}


def bundle_filename(batch: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in batch.rsplit("/", 1)[-1])
    return f"bundle-{safe or 'batch'}.json"


@router.get(
    "/{batch:path}",
    summary="Download a batch's proof bundle",
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def download_bundle(batch: str, rt: RuntimeDep) -> Response:
    """The self-contained evidence for the batch; check it offline with
    ``livetrust proof verify`` or by POSTing it to ``/api/v1/proofs/verify``."""
    data = await run_in_threadpool(bundle_for, rt, batch)
    return Response(
        data,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{bundle_filename(batch)}"'},
    )


async def _bundle_upload(request: Request, rt: Any) -> Any:
    upload = await receive(request, MAX_BUNDLE_BYTES, rt.settings.home, JSON_TYPES)
    if not sniff_json(upload.head):
        upload.discard()
        raise ApiError("unsupported_media_type", "a proof bundle is a JSON document")
    return upload


@router.post(
    "/verify",
    summary="Verify a proof bundle",
    responses=VERDICT_DOC,
    openapi_extra=BUNDLE_BODY,
)
async def verify_bundle(request: Request, rt: RuntimeDep, profile: str = PROFILE_Q) -> Response:
    """Checks the bundle against the chain only (keys and anchored roots), never our
    database: the answer a buyer's own verifier would give. A tampered bundle is a 200 with
    ``ok: false`` and its findings."""
    profile_named(profile)
    upload = await _bundle_upload(request, rt)
    try:
        verdict = await run_in_threadpool(verify_bundle_bytes, rt, upload.read_bytes(), profile)
    finally:
        upload.discard()
    import json

    return Response(json.dumps(verdict).encode(), media_type="application/json")


@router.post(
    "/jobs",
    status_code=202,
    summary="Verify a proof bundle in the background",
    openapi_extra=BUNDLE_BODY,
)
async def verify_bundle_job(
    request: Request, rt: RuntimeDep, profile: str = PROFILE_Q
) -> dict[str, Any]:
    """For large bundles: returns a job id at once; poll ``/api/v1/jobs/{id}``."""
    profile_named(profile)
    upload = await _bundle_upload(request, rt)
    job = await run_in_threadpool(submit_bundle_job, rt, upload, profile)  # a database write
    return {"job": job.id, "poll": f"/api/v1/jobs/{job.id}"}


def submit_bundle_job(rt: Any, upload: Any, profile: str) -> Any:
    def work(progress: Progress) -> dict[str, Any]:
        progress(0.1, "reading bundle")
        data = upload.read_bytes()
        progress(0.3, "checking signatures, keys, hash chains and anchors")
        verdict = verify_bundle_bytes(rt, data, profile)
        progress(1.0, "done")
        return verdict

    return rt.jobs.submit("proof_bundle", work, upload.discard)


__all__ = ["router", "submit_bundle_job"]
