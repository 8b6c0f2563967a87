"""``/api/v1/anchors``: anchored tree heads of our log; trigger anchoring (authenticated)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from services.api._deps import CurrentActor, RuntimeDep
from services.api._views import anchors_list, log_state

router = APIRouter(prefix="/anchors", tags=["anchors"])


@router.get("", summary="Anchored tree heads")
def list_anchors(
    rt: RuntimeDep, limit: int = Query(100, ge=1, le=1000, description="newest first")
) -> dict[str, Any]:
    size, anchored = log_state(rt)
    return {
        "log_id": rt.read_ledger.log_id,
        "log_size": size,
        "anchored_size": anchored,
        "interval_s": rt.settings.anchor_interval_s or None,
        "anchors": anchors_list(rt, limit),
    }


@router.post("", summary="Anchor the log now")
async def anchor_now(caller: CurrentActor, rt: RuntimeDep) -> dict[str, Any]:
    """One transaction for every event recorded since the last anchor (any registered actor
    may ask; the anchoring loop does the same every ``LIVETRUST_ANCHOR_INTERVAL_S``)."""
    from provenance import Anchorer

    result = await run_in_threadpool(lambda: Anchorer(rt.ledger, rt.anchors).anchor())
    out: dict[str, Any] = result.to_json()
    out["requested_by"] = caller.actor
    return out
