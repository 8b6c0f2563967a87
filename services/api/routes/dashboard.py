"""``/api/v1/dashboard``: platform totals (public)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from services.api._deps import RuntimeDep
from services.api._views import dashboard_totals

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


@router.get("", summary="Platform totals and the streamers' trust index")
async def dashboard(rt: RuntimeDep) -> dict[str, Any]:
    """Platform: actors by role, events, batches, anchors, the not-yet-anchored backlog and
    events per day (14 days). Streamers: per seller the credit score with its terms, the
    complaint window, the circuit-breaker tier and the score history."""
    from services.api.routes.orders import streamers_index

    platform = await run_in_threadpool(dashboard_totals, rt)
    streamers = await run_in_threadpool(streamers_index, rt)
    return {"platform": platform, "streamers": streamers}
