"""The chain layer: Vyper contracts, compiled and cached, deployed once per chain, and a
``Chain`` client for the embedded (py-evm) chain or any JSON-RPC node."""

from __future__ import annotations

from contracts._errors import (
    ChainError,
    ChainUnavailable,
    CompileError,
    ContractReverted,
    DeploymentMismatch,
    TransactionFailed,
)

__all__ = [
    "ChainError",
    "ChainUnavailable",
    "CompileError",
    "ContractReverted",
    "DeploymentMismatch",
    "TransactionFailed",
]
