"""``/api/v1/orders/{id}`` and ``/api/v1/streamers``: disputes and trust index (public reads).

Thin wrappers over ``services._orders.OrderBook`` (docs/disputes.md): an order's state,
evidence, ruling and payouts; a streamer's credit score, circuit-breaker tier and score
history. Reads never write: the score is recomputed without storing or sending anything.
Writes (opening a dispute as the buyer of the order, arbiter rulings) are future work for
the API; the CLI has them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from services.api._deps import RuntimeDep
from services.api._errors import ApiError

router = APIRouter(tags=["orders"])

MAX_ORDER_ID = 2**63 - 1
SCORE_HISTORY = 30  # points shown per streamer


def order_status(rt: Any, order_id: int) -> dict[str, Any]:
    with rt.chain_lock:
        if order_id >= rt.chain.escrow.order_count():
            raise ApiError("unknown_order", f"no order {order_id}")
        status: dict[str, Any] = rt.book.status(order_id)
    return status


def streamer_view(rt: Any, seller: str) -> dict[str, Any]:
    from contracts import Tier
    from services._store import ORDERS, SCORES

    book = rt.book
    with rt.chain_lock:
        report = book.rescore(seller, write=False).to_json()
        on_chain = book.escrow.tier(seller).label
    with book.store.begin() as conn:
        streamer = conn.execute(
            select(ORDERS.c.streamer).where(ORDERS.c.seller == seller).limit(1)
        ).scalar()
        history = conn.execute(
            select(SCORES.c.at, SCORES.c.score, SCORES.c.tier)
            .where(SCORES.c.seller == seller)
            .order_by(SCORES.c.id.desc())
            .limit(SCORE_HISTORY)
        ).all()
    out: dict[str, Any] = report | {
        "streamer": streamer,
        "tier_on_chain": on_chain,
        "history": [
            {"at": h.at, "score": round(h.score, 4), "tier": Tier(h.tier).label}
            for h in reversed(history)
        ],
    }
    return out


def sellers(rt: Any) -> list[str]:
    from services._store import ORDERS

    with rt.book.store.begin() as conn:
        rows = conn.execute(
            select(ORDERS.c.seller, func.count())
            .group_by(ORDERS.c.seller)
            .order_by(func.count().desc())
        ).all()
    return [str(r[0]) for r in rows]


def streamers_index(rt: Any) -> list[dict[str, Any]]:
    return [streamer_view(rt, s) for s in sellers(rt)]


@router.get("/orders/{order_id}", summary="An order: state, evidence, ruling, payouts")
async def get_order(rt: RuntimeDep, order_id: int = Path(ge=0, le=MAX_ORDER_ID)) -> dict[str, Any]:
    """As ``livetrust dispute status``: state, ruling, payouts, evidence (hashes and the
    transactions that announced them), the oracle's decision and its reasons."""
    return await run_in_threadpool(order_status, rt, order_id)


@router.get("/streamers", summary="Trust index of every seller with orders")
async def list_streamers(rt: RuntimeDep) -> list[dict[str, Any]]:
    return await run_in_threadpool(streamers_index, rt)


@router.get("/streamers/{seller}", summary="A seller's credit score, tier and history")
async def get_streamer(seller: str, rt: RuntimeDep) -> dict[str, Any]:
    """Score (0-100) with its terms (QC pass rate, complaint rate, fulfilment, dispute
    outcomes), the 30-day complaint window, the circuit-breaker tier (computed and on
    chain) and the score history."""
    if not (seller.startswith("0x") and len(seller) == 42):
        raise ApiError("unknown_account", f"{seller!r} is not a seller address (0x…)")
    try:
        int(seller[2:], 16)
    except ValueError as exc:
        raise ApiError("unknown_account", f"{seller!r} is not a seller address") from exc
    if seller.lower() not in {s.lower() for s in await run_in_threadpool(sellers, rt)}:
        raise ApiError("unknown_account", f"no orders for seller {seller}")
    match = next(s for s in await run_in_threadpool(sellers, rt) if s.lower() == seller.lower())
    return await run_in_threadpool(streamer_view, rt, match)
