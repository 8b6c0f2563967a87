"""``/api/v1/dashboard``: platform totals (public)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.api._deps import RuntimeDep
from services.api._views import dashboard_totals

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


@router.get("", summary="Platform totals")
def dashboard(rt: RuntimeDep) -> dict[str, Any]:
    """Actors by role, events, batches, anchors, the not-yet-anchored backlog and events per
    day (14 days)."""
    return {"platform": dashboard_totals(rt)}
