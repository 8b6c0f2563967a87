"""``/api/v1/chain``: which chain the service anchors on, and where the contracts live."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from services.api._deps import RuntimeDep

router = APIRouter(prefix="/chain", tags=["chain"])


class ChainStatus(BaseModel):
    rpc: str
    chain_id: int
    block: int
    contracts: dict[str, str]


@router.get("", response_model=ChainStatus, summary="Chain status")
def chain_status(rt: RuntimeDep) -> ChainStatus:
    """Public: lets anyone check anchors against the same chain and contract addresses."""
    return ChainStatus(**rt.chain.status())
