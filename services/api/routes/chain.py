"""``/api/v1/chain``: which chain the service anchors on, where the contracts live, and what
a transaction of ours did (the pages link every transaction hash here: the embedded chain
and a private node have no block explorer)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from services.api._deps import RuntimeDep
from services.api._errors import ApiError

TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")

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


def _plain(value: Any) -> Any:
    """Event arguments as JSON: bytes as 0x hex, everything else as it is."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def transaction_view(rt: Any, tx_hash: str) -> dict[str, Any]:
    """Receipt of ``tx_hash`` with its logs decoded against our contracts."""
    from web3.exceptions import TransactionNotFound

    with rt.chain_lock:
        chain = rt.chain
        try:
            receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound as exc:
            raise ApiError("unknown_tx", f"no transaction {tx_hash} on this chain") from exc
        contracts = [chain.escrow.contract, chain.anchors.contract, chain.actors.contract]
        names = {
            c.address.lower(): (name, c)
            for name, c in zip(
                ("DisputeEscrow", "AnchorRegistry", "ActorRegistry"), contracts, strict=True
            )
        }
        events = []
        for entry in receipt["logs"]:
            known = names.get(str(entry["address"]).lower())
            if known is None:
                continue
            name, contract = known
            for event in contract.events:
                try:
                    decoded = event().process_log(entry)
                except Exception:  # not this event's signature
                    continue
                events.append(
                    {
                        "contract": name,
                        "event": decoded["event"],
                        "args": {k: _plain(v) for k, v in decoded["args"].items()},
                    }
                )
                break
    return {
        "tx": tx_hash,
        "block": int(receipt["blockNumber"]),
        "status": "success" if int(receipt["status"]) == 1 else "reverted",
        "from": receipt["from"],
        "to": receipt["to"],
        "gas_used": int(receipt["gasUsed"]),
        "events": events,
    }


@router.get("/tx/{tx_hash}", summary="A transaction and its decoded contract events")
def chain_transaction(tx_hash: str, rt: RuntimeDep) -> dict[str, Any]:
    """Public: block, status, gas and the events our contracts emitted (an order's state
    change, a dispute's evidence commitment, a ruling, an anchor), decoded."""
    if not TX_HASH.match(tx_hash):
        raise ApiError("unknown_tx", f"{tx_hash!r} is not a transaction hash (0x + 64 hex)")
    return transaction_view(rt, tx_hash)
