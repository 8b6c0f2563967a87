"""``/api/v1/orders`` and ``/api/v1/streamers``: the order lifecycle, disputes, trust index.

Thin wrappers over ``services._orders.OrderBook`` (docs/disputes.md). Reads are public: an
order's state, evidence, ruling and payouts; a streamer's credit score, circuit-breaker tier
and score history (recomputed without storing or sending anything).

Writes are authenticated and made from the caller's escrow account (bound at registration,
``services.api._auth.API_ACCOUNTS``); the service signs the escrow transaction custodially,
as the CLI does. Who may do what (checked here before any transaction, and again by the
contract):

============================ ====================================================
route                        caller
============================ ====================================================
``POST /orders``             a buyer (role ``buyer``); the seller is a streamer or
                             retailer actor with an account
``POST /orders/{id}/ship``   the order's seller
``POST /orders/{id}/deliver`` the order's seller
``POST /orders/{id}/confirm`` the order's buyer
``POST /orders/{id}/dispute`` the order's buyer; the body is an optional evidence file;
                             the oracle rules at once or queues it for a human
``POST /orders/{id}/evidence`` the order's buyer or seller, while disputed
``POST /orders/{id}/ruling`` an arbiter (role ``arbiter``, an arbiter account on
                             chain), only on a dispute the oracle queued
============================ ====================================================
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from services._evidence import MAX_EVIDENCE_BYTES
from services.api._auth import BUYER, Caller, account_of
from services.api._deps import Authed, CurrentActor, RuntimeDep, authenticated_body
from services.api._errors import ApiError
from services.api._uploads import JSON_TYPES, MAX_BODY_BYTES, sniff_json

router = APIRouter(tags=["orders"])

MAX_ORDER_ID = 2**63 - 1
SCORE_HISTORY = 30  # points shown per streamer
MAX_WINDOW_S = 365 * 86_400  # DisputeEscrow.vy MAX_WINDOW
MAX_PRICE_WEI = 2**128 - 1  # DisputeEscrow.vy MASK128
SELLER_ROLES = ("streamer", "retailer")
# Evidence file names are kept with the file (shown to the arbiter), never used as paths.
EVIDENCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
OrderId = Annotated[int, Path(ge=0, le=MAX_ORDER_ID)]


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


# -- writes -----------------------------------------------------------------------------------


class OrderCreate(BaseModel):
    seller: str = Field(max_length=64, description="actor id of the streamer's shop")
    price_wei: int = Field(gt=0, le=MAX_PRICE_WEI, description="paid into escrow now")
    ship_window_s: int = Field(gt=0, le=MAX_WINDOW_S)
    delivery_window_s: int = Field(gt=0, le=MAX_WINDOW_S)
    batch: str | None = Field(default=None, max_length=512, description="LGTIN/SGTIN URN")
    streamer: str | None = Field(default=None, max_length=128, description="watermark id")


class RulingCreate(BaseModel):
    code: str = Field(max_length=32, description="a ruling code: no_fault, full_refund, …")


def json_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The request body in the OpenAPI document: routes read the raw bytes themselves (the
    signature covers them), so FastAPI cannot infer it."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


EVIDENCE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
}
JsonBody = Annotated[Authed, Depends(authenticated_body(MAX_BODY_BYTES, JSON_TYPES, sniff_json))]
EvidenceBody = Annotated[
    Authed, Depends(authenticated_body(MAX_EVIDENCE_BYTES, None, None, "evidence"))
]


def _parse(model: type[BaseModel], authed: Authed) -> Any:
    try:
        return model.model_validate_json(authed.body.read_bytes())
    except ValidationError as exc:
        raise ApiError("invalid_request", f"body does not match the schema: {exc}") from exc


def _account(rt: Any, caller: Caller) -> str:
    account = account_of(rt.store, caller.actor)
    if account is None:
        raise ApiError("forbidden", f"{caller.actor!r} has no escrow account (registrar binds one)")
    return account


def _require(caller: Caller, *roles: str) -> None:
    if caller.role not in roles:
        raise ApiError(
            "role_not_allowed", f"{caller.actor!r} is a {caller.role}; needs {', '.join(roles)}"
        )


def _party(rt: Any, caller: Caller, order_id: int, *parties: str) -> str:
    """The caller's account if it is the order's buyer/seller (caller holds chain_lock)."""
    account = _account(rt, caller)
    if order_id >= rt.chain.escrow.order_count():
        raise ApiError("unknown_order", f"no order {order_id}")
    order = rt.book.order(order_id)
    if not any(getattr(order, p).lower() == account.lower() for p in parties):
        raise ApiError(
            "not_order_party",
            f"{caller.actor!r} is not the {' or '.join(parties)} of order {order_id}",
        )
    return account


def _create(rt: Any, caller: Caller, body: OrderCreate) -> dict[str, Any]:
    _require(caller, BUYER)
    buyer = _account(rt, caller)
    seller = account_of(rt.store, body.seller)
    with rt.chain_lock:
        keys = list(rt.directory.keys(body.seller)) if seller else []
        if not keys or keys[-1].role.label not in SELLER_ROLES:
            raise ApiError(
                "unknown_account",
                f"{body.seller!r} is not a streamer or retailer with an escrow account",
            )
        view = rt.book.create_order(
            buyer,
            seller,
            body.price_wei,
            body.ship_window_s,
            body.delivery_window_s,
            body.batch,
            body.streamer,
        )
    out: dict[str, Any] = view.to_json()
    return out


def _step(rt: Any, caller: Caller, order_id: int, step: str) -> dict[str, Any]:
    party = "buyer" if step == "confirm" else "seller"
    with rt.chain_lock:
        account = _party(rt, caller, order_id, party)
        view = getattr(rt.book, step)(order_id, account)
    out: dict[str, Any] = view.to_json()
    return out


@contextlib.contextmanager
def _named(authed: Authed, name: str) -> Iterator[list[FilePath]]:
    """The uploaded evidence as a file called ``name`` (the book records a file's name), or
    nothing for an empty body."""
    if authed.body.size == 0:
        yield []
        return
    with tempfile.TemporaryDirectory(dir=authed.body.path.parent) as tmp:
        path = FilePath(tmp) / name
        os.link(authed.body.path, path)
        yield [path]


def _evidence_name(name: str) -> str:
    if not EVIDENCE_NAME.match(name):
        raise ApiError("invalid_request", f"evidence name {name!r}: letters, digits, . _ -")
    return name


def _dispute(rt: Any, authed: Authed, order_id: int, reason: str, name: str) -> dict[str, Any]:
    from services._orders import parse_reason

    parsed = parse_reason(reason)
    with rt.chain_lock:
        account = _party(rt, authed.caller, order_id, "buyer")
        with _named(authed, _evidence_name(name)) as files:
            rt.book.open_dispute(order_id, parsed, files, account)
        rt.book.rule(order_id)  # parametric rules settle now; anything else is queued
        status: dict[str, Any] = rt.book.status(order_id)
    return status


def _add_evidence(rt: Any, authed: Authed, order_id: int, name: str) -> dict[str, Any]:
    from contracts import OrderState

    if authed.body.size == 0:
        raise ApiError("invalid_request", "the body is the evidence file; it is empty")
    with rt.chain_lock:
        account = _party(rt, authed.caller, order_id, "buyer", "seller")
        if rt.book.order(order_id).state is not OrderState.DISPUTED:
            raise ApiError("wrong_state", f"order {order_id} has no open dispute")
        with _named(authed, _evidence_name(name)) as files:
            status: dict[str, Any] = rt.book.add_evidence(order_id, files, account)
    return status


def _rule(rt: Any, caller: Caller, order_id: int, body: RulingCreate) -> dict[str, Any]:
    from services._orders import parse_ruling

    _require(caller, "arbiter")
    code = parse_ruling(body.code)
    account = _account(rt, caller)
    with rt.chain_lock:
        if order_id >= rt.chain.escrow.order_count():
            raise ApiError("unknown_order", f"no order {order_id}")
        if not rt.chain.call(rt.book.escrow.fn.is_arbiter(account)):
            raise ApiError("forbidden", f"{account} is not an arbiter of the escrow")
        dispute = rt.book.status(order_id)["dispute"]
        if dispute is None or dispute["status"] != "queued":
            raise ApiError(
                "wrong_state",
                f"order {order_id} has no dispute queued for a human arbiter "
                f"({'none' if dispute is None else dispute['status']})",
            )
        rt.book.rule(order_id, code, account)
        status: dict[str, Any] = rt.book.status(order_id)
    return status


@router.post(
    "/orders",
    status_code=201,
    summary="Open and pay an order into escrow (buyer)",
    openapi_extra=json_body_schema(OrderCreate),
)
async def create_order(authed: JsonBody, rt: RuntimeDep) -> dict[str, Any]:
    """The buyer's account pays ``price_wei`` into the escrow; the seller's bond must cover
    3x the price. Returns the order (``id``, ``state`` ``paid``, deadlines)."""
    body = _parse(OrderCreate, authed)
    return await run_in_threadpool(_create, rt, authed.caller, body)


@router.post("/orders/{order_id}/ship", summary="Mark shipped (seller)")
async def ship_order(order_id: OrderId, caller: CurrentActor, rt: RuntimeDep) -> dict[str, Any]:
    return await run_in_threadpool(_step, rt, caller, order_id, "ship")


@router.post("/orders/{order_id}/deliver", summary="Mark delivered (seller)")
async def deliver_order(order_id: OrderId, caller: CurrentActor, rt: RuntimeDep) -> dict[str, Any]:
    return await run_in_threadpool(_step, rt, caller, order_id, "deliver")


@router.post("/orders/{order_id}/confirm", summary="Accept the goods; pays the seller (buyer)")
async def confirm_order(order_id: OrderId, caller: CurrentActor, rt: RuntimeDep) -> dict[str, Any]:
    return await run_in_threadpool(_step, rt, caller, order_id, "confirm")


@router.post(
    "/orders/{order_id}/dispute",
    summary="Dispute your own order, with an optional evidence file (buyer)",
    openapi_extra=EVIDENCE_BODY,
)
async def dispute_order(
    order_id: OrderId,
    authed: EvidenceBody,
    rt: RuntimeDep,
    reason: str = Query(max_length=32, description="late, quality, counterfeit, misleading, …"),
    name: str = Query(default="evidence", max_length=100, description="the evidence file name"),
) -> dict[str, Any]:
    """The body (any type, up to 16 MB, may be empty) is kept under its SHA-256 and committed
    on chain with the dispute. The oracle then rules at once on the evidence and the batch's
    provenance, or queues the dispute for a human arbiter (``dispute.status`` ``queued``).
    Returns the order's status as ``GET /orders/{id}``."""
    return await run_in_threadpool(_dispute, rt, authed, order_id, reason, name)


@router.post(
    "/orders/{order_id}/evidence",
    summary="Add an evidence file to an open dispute (buyer or seller)",
    openapi_extra=EVIDENCE_BODY,
)
async def add_evidence(
    order_id: OrderId,
    authed: EvidenceBody,
    rt: RuntimeDep,
    name: str = Query(default="evidence", max_length=100),
) -> dict[str, Any]:
    """Each file's SHA-256 is announced on chain (ERC-1497 ``Evidence`` event)."""
    return await run_in_threadpool(_add_evidence, rt, authed, order_id, name)


@router.post(
    "/orders/{order_id}/ruling",
    summary="Rule a dispute the oracle queued for a human (arbiter)",
    openapi_extra=json_body_schema(RulingCreate),
)
async def rule_order(order_id: OrderId, authed: JsonBody, rt: RuntimeDep) -> dict[str, Any]:
    """``{"code": "quality_failure"}``; the decision records the arbiter's account and what
    the oracle would have done; the ruling transaction is sent from the arbiter's account."""
    body = _parse(RulingCreate, authed)
    return await run_in_threadpool(_rule, rt, authed.caller, order_id, body)
