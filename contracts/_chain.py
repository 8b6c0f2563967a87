"""The ``Chain`` client: one way to talk to the embedded chain or any JSON-RPC node.

It deploys each contract once per chain and remembers the address in
``$LIVETRUST_HOME/chain/deployments.json`` (keyed by chain id and genesis hash, so a fresh
node is never mistaken for an old one), sends transactions (from the node's first unlocked
account, or signed locally with a configured key), waits for receipts, and translates
web3 / eth-tester exceptions into :mod:`contracts._errors` in exactly one place.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception

from contracts._compile import compile_contract
from contracts._errors import (
    ChainError,
    ChainUnavailable,
    ContractReverted,
    DeploymentMismatch,
    InsufficientFunds,
    TransactionFailed,
)

if TYPE_CHECKING:
    from contracts._embedded import EmbeddedChain
    from contracts._escrow import DisputeEscrow
    from contracts._registries import ActorRegistry, AnchorRegistry

__all__ = ["EMBEDDED", "Chain", "Receipt"]

EMBEDDED = "embedded"
# A receipt on anvil or the embedded chain arrives at once; a public testnet may take
# minutes under congestion. After this we report tx_failed instead of hanging.
RECEIPT_TIMEOUT_S = 180.0
RPC_TIMEOUT_S = 30.0
# Gas limit for transactions on the embedded chain (block limit there is 30M); our most
# expensive call (a deployment) stays far below it.
EMBEDDED_GAS_LIMIT = 5_000_000

T = TypeVar("T")


@dataclass(frozen=True)
class Receipt:
    """What callers need from a mined transaction."""

    tx_hash: str
    block_number: int
    gas_used: int
    timestamp: int
    logs: tuple[Any, ...] = ()
    contract_address: str | None = None


def _failed(name: str | None, exc: Exception) -> TransactionFailed:
    """Node-side refusals: running out of money gets its own code (users can act on it)."""
    text = str(exc)
    low = text.lower()
    if "enough balance" in low or "insufficient funds" in low:
        return InsufficientFunds(f"{name or 'transaction'}: {text}")
    return TransactionFailed(f"{name or 'transaction'}: {text}")


def _revert_reason(exc: ContractLogicError) -> str:
    msg = getattr(exc, "message", None) or str(exc)
    for prefix in ("execution reverted: ", "execution reverted"):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
            break
    return msg.strip() or "reverted without reason"


class Chain:
    """A connection to one chain with livetrust's contracts on it."""

    CORE_CONTRACTS = ("AnchorRegistry", "ActorRegistry")

    def __init__(
        self,
        w3: Web3,
        *,
        rpc: str,
        home: Path,
        cache: Path | None = None,
        embedded: EmbeddedChain | None = None,
    ) -> None:
        self.w3 = w3
        self.rpc = rpc
        self.home = home
        self.cache = cache
        self.embedded = embedded
        self._tx_lock = threading.RLock()
        self._contracts: dict[str, Contract] = {}

    # --- connecting -------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        rpc: str = EMBEDDED,
        home: Path = Path(".livetrust"),
        cache: Path | None = None,
        key: str | None = None,
    ) -> Chain:
        """Open the embedded chain in ``home`` or connect to the node at ``rpc``.

        ``key`` (hex private key) signs transactions locally, for nodes without unlocked
        accounts (a public testnet); without it the node's first account sends.
        """
        home = Path(home)
        cache = cache if cache is not None else home / "cache"
        embedded = None
        if rpc == EMBEDDED:
            from web3 import EthereumTesterProvider

            from contracts._embedded import EmbeddedChain

            embedded = EmbeddedChain(home / "chain")
            w3 = Web3(EthereumTesterProvider(embedded.tester))
        elif rpc.startswith(("http://", "https://")):
            w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": RPC_TIMEOUT_S}))
            try:
                w3.eth.chain_id  # noqa: B018 - a probe
            except Exception as exc:  # requests/urllib errors: translate here, once
                raise ChainUnavailable(
                    f"no JSON-RPC node answers at {rpc} ({type(exc).__name__})"
                ) from exc
        else:
            raise ChainUnavailable(
                f"LIVETRUST_RPC must be 'embedded' or an http(s) URL, got {rpc!r}"
            )
        if key:
            from eth_account import Account
            from web3.middleware import SignAndSendRawMiddlewareBuilder

            account = Account.from_key(key)
            w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
            w3.eth.default_account = account.address
        else:
            accounts = w3.eth.accounts
            if not accounts:
                raise ChainUnavailable(
                    f"the node at {rpc} has no unlocked account; set LIVETRUST_CHAIN_KEY"
                )
            w3.eth.default_account = accounts[0]
        return cls(w3, rpc=rpc, home=home, cache=cache, embedded=embedded)

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.close()
            self.embedded = None

    def __enter__(self) -> Chain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- facts ------------------------------------------------------------------------

    @cached_property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    @cached_property
    def genesis_hash(self) -> str:
        return "0x" + bytes(self.w3.eth.get_block(0)["hash"]).hex()

    @property
    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    @property
    def sender(self) -> str:
        return str(self.w3.eth.default_account)

    @property
    def accounts(self) -> list[str]:
        """The node's unlocked accounts (test chains): buyers, sellers, arbiters in tests."""
        return [str(a) for a in self.w3.eth.accounts]

    def now(self) -> int:
        """Timestamp of the latest block: the chain's idea of time."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_time(self, seconds: int) -> int:
        """Move chain time forward (test chains only) and mine a block; returns its time."""
        target = self.now() + int(seconds)
        if self.embedded is not None:
            with self._tx_lock:
                self.embedded.time_travel(target)
        else:
            self.w3.provider.make_request("evm_setNextBlockTimestamp", [target])  # type: ignore[arg-type]
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        return self.now()

    def status(self) -> dict[str, Any]:
        contracts = {name: self.contract(name).address for name in self.CORE_CONTRACTS}
        return {
            "rpc": self.rpc,
            "chain_id": self.chain_id,
            "block": self.block_number,
            "contracts": contracts,
        }

    # --- contracts --------------------------------------------------------------------

    @property
    def _deployments_path(self) -> Path:
        return self.home / "chain" / "deployments.json"

    def _load_deployments(self) -> dict[str, dict[str, Any]]:
        try:
            data: dict[str, dict[str, Any]] = json.loads(self._deployments_path.read_text())
        except FileNotFoundError:
            return {}
        return data

    def _save_deployment(self, name: str, address: str, code_hash: str, tx_hash: str) -> None:
        data = self._load_deployments()
        data.setdefault(f"{self.chain_id}:{self.genesis_hash}", {})[name] = {
            "address": address,
            "code_hash": code_hash,
            "tx": tx_hash,
        }
        path = self._deployments_path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)

    def contract(self, name: str, *constructor_args: Any) -> Contract:
        """The deployed ``name`` contract, deploying it on first use on this chain."""
        if name in self._contracts:
            return self._contracts[name]
        with self._tx_lock:
            if name in self._contracts:
                return self._contracts[name]
            compiled = compile_contract(name, self.cache)
            expected = "0x" + keccak(hexstr=compiled.runtime).hex()
            known = self._load_deployments().get(f"{self.chain_id}:{self.genesis_hash}", {})
            entry = known.get(name)
            address: str | None = None
            if entry is not None:
                code = bytes(self.w3.eth.get_code(entry["address"]))
                if code:
                    actual = "0x" + keccak(code).hex()
                    if actual != expected:
                        raise DeploymentMismatch(
                            f"{name} at {entry['address']} runs other code than "
                            f"contracts/{name}.vy (expected code hash {expected}, found {actual}); "
                            "use a new LIVETRUST_HOME or chain for the changed contract"
                        )
                    address = entry["address"]
            if address is None:
                factory = self.w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
                receipt = self._send(
                    lambda: factory.constructor(*constructor_args).transact(), f"deploy {name}"
                )
                if receipt.contract_address is None:
                    raise TransactionFailed(f"deploy {name}: receipt has no contract address")
                address = receipt.contract_address
                self._save_deployment(name, address, expected, receipt.tx_hash)
            instance = self.w3.eth.contract(
                address=Web3.to_checksum_address(address), abi=compiled.abi
            )
            self._contracts[name] = instance
            return instance

    @cached_property
    def anchors(self) -> AnchorRegistry:
        from contracts._registries import AnchorRegistry

        return AnchorRegistry(self)

    @cached_property
    def escrow(self) -> DisputeEscrow:
        from contracts._escrow import DisputeEscrow

        return DisputeEscrow(self)

    @cached_property
    def actors(self) -> ActorRegistry:
        from contracts._registries import ActorRegistry

        return ActorRegistry(self)

    # --- transactions -----------------------------------------------------------------

    def transact(
        self, fn: Any, *, sender: str | None = None, value: int = 0, label: str | None = None
    ) -> Receipt:
        """Send a contract function call as a transaction and wait for its receipt.

        A revert surfaces as :class:`ContractReverted` with the contract's reason (found by
        the gas estimate before anything is sent, so a reverting call costs nothing).
        """
        params: dict[str, Any] = {"from": sender or self.sender}
        if value:
            params["value"] = value
        name = label or getattr(fn, "fn_name", None) or "transaction"
        if self.embedded is not None:
            # py-evm's gas estimate is a binary search (~13 executions of the call); one
            # eth_call surfaces a revert reason just as well, and the unused part of a
            # generous limit is never charged.
            with self._translate(name):
                fn.call(params)
            params["gas"] = EMBEDDED_GAS_LIMIT
        return self._send(lambda: fn.transact(params), name)

    def call(self, fn: Any, *, sender: str | None = None) -> Any:
        """Run a view function; reverts become :class:`ContractReverted`."""
        name = getattr(fn, "fn_name", None)
        with self._translate(name):
            return fn.call({"from": sender or self.sender})

    def _send(self, send: Callable[[], Any], name: str) -> Receipt:
        with self._tx_lock, self._translate(name):
            tx_hash = send()
            try:
                raw = self.w3.eth.wait_for_transaction_receipt(
                    tx_hash, timeout=RECEIPT_TIMEOUT_S, poll_latency=0.05
                )
            except TimeExhausted as exc:
                raise TransactionFailed(
                    f"{name}: no receipt for {Web3.to_hex(tx_hash)} after {RECEIPT_TIMEOUT_S:.0f}s"
                ) from exc
            if raw["status"] != 1:
                raise TransactionFailed(
                    f"{name}: transaction {Web3.to_hex(tx_hash)} failed (status 0)"
                )
            block = self.w3.eth.get_block(raw["blockNumber"])
            return Receipt(
                tx_hash=Web3.to_hex(tx_hash),
                block_number=int(raw["blockNumber"]),
                gas_used=int(raw["gasUsed"]),
                timestamp=int(block["timestamp"]),
                logs=tuple(raw["logs"]),
                contract_address=raw.get("contractAddress"),
            )

    @contextmanager
    def _translate(self, name: str | None) -> Iterator[None]:
        """The one place where web3 / eth-tester / transport exceptions become ours."""
        try:
            yield
        except ChainError:
            raise
        except ContractLogicError as exc:
            raise ContractReverted(_revert_reason(exc), function=name) from exc
        except Web3Exception as exc:
            raise _failed(name, exc) from exc
        except (ConnectionError, OSError) as exc:
            raise ChainUnavailable(
                f"{name or 'call'}: chain at {self.rpc} unreachable: {exc}"
            ) from exc
        except Exception as exc:
            # eth-tester raises its own TransactionFailed/ValidationError types for reverts
            # and bad input; requests raises its own transport errors.
            mod = type(exc).__module__
            if mod.startswith(("eth_tester", "eth_utils", "eth.")):
                text = str(exc)
                if "revert" in text.lower() or type(exc).__name__ == "TransactionFailed":
                    raise ContractReverted(
                        text.replace("execution reverted: ", ""), function=name
                    ) from exc
                raise _failed(name, exc) from exc
            if mod.startswith(("requests", "urllib3")):
                raise ChainUnavailable(
                    f"{name or 'call'}: chain at {self.rpc} unreachable: {exc}"
                ) from exc
            raise
