"""``/api/v1/batches/{batch}``: verdict, recall trace and the events of a batch (public).

``{batch}`` is an LGTIN/SGTIN/SSCC URN or a GS1 Digital Link URI (URL-encode it; slashes
are accepted as they are).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.api._deps import RuntimeDep
from services.api._views import cached_verdict_async, verdict_bytes

router = APIRouter(prefix="/batches", tags=["batches"])

PROFILE_Q = Query("chilled_produce", description="product profile: chilled_produce | ambient")

VERDICT_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the verdict (as `livetrust batch verify --json`); ok=false lists findings",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["ok", "batch", "events", "anchored", "findings"],
                    "properties": {
                        "ok": {"type": "boolean"},
                        "batch": {"type": "string"},
                        "events": {"type": "integer"},
                        "anchored": {"type": "boolean"},
                        "findings": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "code": {"type": "string"},
                                    "event": {"type": ["string", "null"]},
                                    "detail": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            }
        },
    }
}


@router.get("/{batch:path}/verdict", summary="Verify a batch", responses=VERDICT_DOC)
async def batch_verdict(batch: str, rt: RuntimeDep, profile: str = PROFILE_Q) -> Response:
    """Every check: signatures, roles, hash chains, quantities, cold chain, anchors. Cached
    while the log and its anchors are unchanged, so repeated reads do not re-verify.

    The cache check is one indexed query: inline on SQLite, shared among concurrent reads on
    PostgreSQL (``StateBatcher``); a miss verifies in the thread pool."""
    hit, state = await cached_verdict_async(rt, batch, profile)
    if hit is None:
        hit = await run_in_threadpool(verdict_bytes, rt, batch, profile, state)
    return Response(hit, media_type="application/json")


@router.get("/{batch:path}/trace", summary="Recall trace of a batch")
def batch_trace(batch: str, rt: RuntimeDep) -> dict[str, Any]:
    """Backward to origins and farms, forward to packs, pallets, shipments and retailers,
    each event with its proof status (as `livetrust batch trace --json`)."""
    from provenance import trace_batch

    result: dict[str, Any] = trace_batch(rt.read_ledger, batch, rt.read_anchors)
    return result


@router.get("/{batch:path}/events", summary="A batch's history as an EPCIS 2.0 document")
async def batch_events(batch: str, rt: RuntimeDep) -> dict[str, Any]:
    from provenance import to_document

    story = await run_in_threadpool(rt.read_ledger.story, batch)
    doc: dict[str, Any] = to_document([s.event for s in story])
    return doc
