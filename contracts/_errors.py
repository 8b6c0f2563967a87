"""Errors of the chain layer.

::

    ChainError (code="chain_error")
    ├── ChainUnavailable       code="chain_unavailable"   node not reachable / embedded chain locked
    ├── CompileError           code="compile_error"       a Vyper source does not compile
    ├── ContractReverted       code="reverted"            a transaction or call reverted; .reason
    ├── TransactionFailed      code="tx_failed"           no receipt in time, or receipt status 0
    │   └── InsufficientFunds  code="insufficient_funds"  sender cannot pay value + gas
    └── DeploymentMismatch     code="deployment_mismatch" a remembered address holds other code

web3 / eth-tester exceptions are translated once, in ``contracts._chain``.
"""

from __future__ import annotations

__all__ = [
    "ChainError",
    "ChainUnavailable",
    "CompileError",
    "ContractReverted",
    "DeploymentMismatch",
    "InsufficientFunds",
    "TransactionFailed",
]


class ChainError(Exception):
    """Root of every chain-layer error; ``code`` is stable, the message is for people."""

    code = "chain_error"


class ChainUnavailable(ChainError, ConnectionError):
    code = "chain_unavailable"


class CompileError(ChainError, ValueError):
    code = "compile_error"


class ContractReverted(ChainError):
    """The EVM reverted; ``reason`` is the contract's revert string (our reasons are stable)."""

    code = "reverted"

    def __init__(self, reason: str, *, function: str | None = None) -> None:
        self.reason = reason
        self.function = function
        where = f" in {function}" if function else ""
        super().__init__(f"transaction reverted{where}: {reason}")


class TransactionFailed(ChainError):
    code = "tx_failed"


class InsufficientFunds(TransactionFailed):
    code = "insufficient_funds"


class DeploymentMismatch(ChainError):
    code = "deployment_mismatch"
