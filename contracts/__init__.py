"""The chain layer: Vyper contracts, compiled and cached, deployed once per chain, and a
``Chain`` client for the embedded (py-evm) chain or any JSON-RPC node."""

from __future__ import annotations

from contracts._chain import EMBEDDED, Chain, Receipt
from contracts._compile import compile_contract, contract_names
from contracts._errors import (
    ChainError,
    ChainUnavailable,
    CompileError,
    ContractReverted,
    DeploymentMismatch,
    InsufficientFunds,
    TransactionFailed,
)
from contracts._escrow import (
    DEFAULT_ESCROW_PARAMS,
    DisputeEscrow,
    EscrowParams,
    Order,
    OrderState,
    RulingCode,
    Tier,
)
from contracts._registries import (
    ActorRegistry,
    Anchor,
    AnchorReceipt,
    AnchorRegistry,
    KeyRecord,
    Role,
    actor_key,
)

__all__ = [
    "DEFAULT_ESCROW_PARAMS",
    "EMBEDDED",
    "ActorRegistry",
    "Anchor",
    "AnchorReceipt",
    "AnchorRegistry",
    "Chain",
    "ChainError",
    "ChainUnavailable",
    "CompileError",
    "ContractReverted",
    "DeploymentMismatch",
    "DisputeEscrow",
    "EscrowParams",
    "InsufficientFunds",
    "KeyRecord",
    "Order",
    "OrderState",
    "Receipt",
    "Role",
    "RulingCode",
    "Tier",
    "TransactionFailed",
    "actor_key",
    "compile_contract",
    "contract_names",
]
