"""The ``Chain`` client: one way to talk to the embedded chain or any JSON-RPC node.

It deploys each contract once per chain and remembers the address in
``$LIVETRUST_HOME/chain/deployments.json`` (keyed by chain id and genesis hash, so a fresh
node is never mistaken for an old one), sends transactions (from the node's first unlocked
account, or signed locally with a configured key), waits for receipts, replaces a
transaction stuck in the pool by one with the same nonce and higher fees, and translates
web3 / eth-tester exceptions into :mod:`contracts._errors` in exactly one place.

A deployment is written down as an *intent* (sender, nonce, the CREATE address they
determine, the code hash) before it is sent. A process that dies between sending it and
recording the address finds, on the next start, the contract at that address (its code hash
checked) instead of deploying a second, orphaned copy; if nothing is there and the nonce is
still unused, it sends the deployment again with the same nonce, so the two can never both
create a contract.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import rlp
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception

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

__all__ = ["EMBEDDED", "Chain", "Receipt", "create_address"]

EMBEDDED = "embedded"
# A receipt on anvil or the embedded chain arrives at once; a public testnet may take
# minutes under congestion. After this we report tx_failed instead of hanging.
RECEIPT_TIMEOUT_S = 180.0
RECEIPT_POLL_S = 0.05
RPC_TIMEOUT_S = 30.0
# JSON-RPC reads retried when the connection is refused or reset: a node restart leaves the
# HTTP pool's kept-alive connection dead, and the first request on it is reset. web3's own
# default retries only the builtin ConnectionError, which requests' errors are not. Sends
# and node-control methods (evm_*, anvil_*) are never retried here: a send the node got
# before the reset would be sent twice (the client's receipt logic handles those).
RPC_READ_RETRIES = 3
RPC_RETRY_BACKOFF_S = 0.1  # 0.1, 0.2 s between the tries
RPC_RETRIED_READS = (
    "eth_call",
    "eth_chainId",
    "eth_blockNumber",
    "eth_getBalance",
    "eth_getCode",
    "eth_getStorageAt",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
    "eth_getTransactionCount",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getLogs",
    "eth_estimateGas",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_feeHistory",
)
# A transaction still without a receipt after this long is replaced: the same call with the
# same nonce and higher fees, so that at most one of the two can ever be mined. Its fee no
# longer buys a place in a block (the base fee rose above its fee cap, or the tip is too low
# for the pool). 60 s is five Ethereum slots; within RECEIPT_TIMEOUT_S that is two
# replacements before the call is reported as tx_failed.
# a send that lost a race for the pending nonce to another process is sent again this often
_NONCE_RACE_RETRIES = 5
_NONCE_RACE_MESSAGES = ("replacement transaction underpriced", "nonce too low")
REPLACE_AFTER_S = 60.0
# A replacement pays at least 9/8 of the pending transaction's fee cap and tip (geth's pool
# refuses a replacement below +10 %; ethers and viem bump by 12.5 % as well), and at least
# twice the next block's base fee plus the node's suggested tip (the base fee can rise
# 12.5 % a block, so this stays includable for several blocks).
FEE_BUMP = (9, 8)
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


INTENT = "intent"  # a deployment written down but not yet seen on chain


def create_address(sender: str, nonce: int) -> str:
    """The address a contract created by ``sender``'s transaction ``nonce`` gets (CREATE,
    Ethereum Yellow Paper eq. 86: the last 20 bytes of keccak(rlp([sender, nonce])))."""
    digest = keccak(rlp.encode([bytes.fromhex(sender.removeprefix("0x")), nonce]))
    return "0x" + digest[12:].hex()


def _deployed(address: str, code_hash: str, tx_hash: str | None) -> dict[str, Any]:
    return {"address": address, "code_hash": code_hash, "tx": tx_hash}


def _bumped(tx: dict[str, Any], w3: Web3) -> dict[str, Any]:
    """``tx`` with fees for a replacement: ``FEE_BUMP``, and enough for the next block's base
    fee (the pending block's; the latest one's where a node does not say)."""
    num, den = FEE_BUMP

    def raised(value: Any) -> int:
        return -(-int(value) * num // den)  # rounded up: never below the pool's minimum

    if "maxFeePerGas" in tx:
        pending = w3.eth.get_block("pending").get("baseFeePerGas")
        base = int(
            pending if pending is not None else w3.eth.get_block("latest").get("baseFeePerGas") or 0
        )
        tip = max(raised(tx["maxPriorityFeePerGas"]), int(w3.eth.max_priority_fee))
        fee = max(raised(tx["maxFeePerGas"]), 2 * base + tip)
        return tx | {"maxFeePerGas": fee, "maxPriorityFeePerGas": tip}
    return tx | {"gasPrice": max(raised(tx["gasPrice"]), int(w3.eth.gas_price))}


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


def http_provider(rpc: str) -> Any:
    """web3's HTTP provider for ``rpc``, retrying reads on a refused or reset connection
    (``RPC_RETRIED_READS``)."""
    import requests
    from web3.providers.rpc.utils import ExceptionRetryConfiguration

    retry = ExceptionRetryConfiguration(
        errors=(requests.ConnectionError, ConnectionError),
        retries=RPC_READ_RETRIES,
        backoff_factor=RPC_RETRY_BACKOFF_S,
        method_allowlist=RPC_RETRIED_READS,
    )
    return Web3.HTTPProvider(
        rpc, request_kwargs={"timeout": RPC_TIMEOUT_S}, exception_retry_configuration=retry
    )


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
            w3 = Web3(http_provider(rpc))
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

    def _save_deployment(self, name: str, entry: dict[str, Any]) -> None:
        data = self._load_deployments()
        data.setdefault(f"{self.chain_id}:{self.genesis_hash}", {})[name] = entry
        path = self._deployments_path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())  # the intent must be on disk before the deployment is sent
        os.replace(tmp, path)

    def _holds(self, name: str, address: str, code_hash: str, what: str) -> bool:
        """True if ``address`` runs ``name``'s code, False if it holds no code; other code is
        :class:`DeploymentMismatch`."""
        code = bytes(self.w3.eth.get_code(Web3.to_checksum_address(address)))
        if not code:
            return False
        actual = "0x" + keccak(code).hex()
        if actual != code_hash:
            raise DeploymentMismatch(
                f"{name}: {what} {address} runs other code than contracts/{name}.vy "
                f"(expected code hash {code_hash}, found {actual}); "
                "use a new LIVETRUST_HOME or chain for the changed contract"
            )
        return True

    def _deploy(
        self,
        name: str,
        compiled: Any,
        code_hash: str,
        entry: dict[str, Any] | None,
        constructor_args: tuple[Any, ...],
    ) -> str:
        """Deploy ``name`` once: adopt what an interrupted earlier deployment left on chain,
        else write the intent (sender, nonce, CREATE address) and send."""
        sender = self.sender
        nonce: int | None = None
        if entry is not None and entry.get("state") == INTENT:
            address = str(entry["address"])
            if self._holds(name, address, code_hash, "the interrupted deployment"):
                self._save_deployment(name, _deployed(address, code_hash, entry.get("tx")))
                return address
            used = self.w3.eth.get_transaction_count(Web3.to_checksum_address(entry["sender"]))
            if entry["sender"].lower() == sender.lower() and used <= int(entry["nonce"]):
                nonce = int(entry["nonce"])  # never mined: resend at the same address
        if nonce is None:
            nonce = int(
                self.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "pending")
            )
        address = Web3.to_checksum_address(create_address(sender, nonce))
        intent = {"address": address, "code_hash": code_hash, "tx": None, "state": INTENT}
        self._save_deployment(name, intent | {"sender": sender, "nonce": nonce})
        factory = self.w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
        receipt = self._send(
            factory.constructor(*constructor_args),
            {"from": sender, "nonce": nonce},
            f"deploy {name}",
        )
        if receipt.contract_address is None or receipt.contract_address.lower() != address.lower():
            raise TransactionFailed(
                f"deploy {name}: receipt names contract {receipt.contract_address}, "
                f"expected {address} (sender {sender}, nonce {nonce})"
            )
        self._save_deployment(name, _deployed(address, code_hash, receipt.tx_hash))
        return address

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
            if (
                entry is not None
                and entry.get("state") != INTENT
                and self._holds(name, entry["address"], expected, "the remembered address")
            ):
                address = entry["address"]
            if address is None:
                address = self._deploy(name, compiled, expected, entry, constructor_args)
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
        return self._send(fn, params, name)

    def call(self, fn: Any, *, sender: str | None = None) -> Any:
        """Run a view function; reverts become :class:`ContractReverted`."""
        name = getattr(fn, "fn_name", None)
        with self._translate(name):
            return fn.call({"from": sender or self.sender})

    def _send(self, call: Any, params: dict[str, Any], name: str) -> Receipt:
        """Send ``call`` (a contract function or constructor) as ``params["from"]`` and wait
        for the receipt (:meth:`_await_receipt`, which replaces it if it gets stuck).

        The nonce is the node's choice, made atomically as it accepts the transaction (or
        the signing middleware's, from the node's pending count), unless ``params`` names one
        (a deployment, whose address it determines): several processes may send from one
        unlocked account, and a nonce picked here could collide with theirs."""
        with self._tx_lock, self._translate(name):
            first = self._transact(call, params)
            raw = self._await_receipt(first, name)
            tx_hash = raw["transactionHash"]
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

    def _transact(self, call: Any, params: dict[str, Any]) -> HexBytes:
        """``call.transact(params)``; when the nonce was not named and another process took
        the same pending nonce a moment earlier (a signing middleware reads the node's
        pending count, so two senders can read the same), the node refuses ours as an
        underpriced replacement or a used nonce: send again, which reads the count anew."""
        for attempt in range(_NONCE_RACE_RETRIES):
            try:
                return HexBytes(call.transact(params))
            except Exception as e:
                raced = any(m in str(e) for m in _NONCE_RACE_MESSAGES)
                if "nonce" in params or not raced or attempt == _NONCE_RACE_RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _await_receipt(self, first: HexBytes, name: str) -> Any:
        """Poll for the receipt of ``first`` or of a replacement of it.

        Not mined at the first look, the transaction is read back from the node's pool
        (sender, nonce, call, gas, fees: :func:`_replacement`). Every ``REPLACE_AFTER_S``
        without a receipt, it is sent again with that nonce and higher fees
        (:func:`_bumped`): priced out of the next block, it is replaced. All versions carry
        one nonce, so at most one is ever mined, and its receipt (with its hash) is
        returned. Once the nonce went to another transaction (ours mined meanwhile, or
        someone else's) the node refuses a replacement ("nonce too low") and polling goes
        on. A transaction gone from the pool before it was read back is not re-sent (the
        caller's protocol retries). No receipt in ``RECEIPT_TIMEOUT_S``: ``tx_failed``.
        """
        sent = [first]
        tx: dict[str, Any] | None = None
        start = time.monotonic()
        replace_at = start + REPLACE_AFTER_S
        refused = ""
        while True:
            for h in sent:
                try:
                    return self.w3.eth.get_transaction_receipt(h)
                except TransactionNotFound:
                    pass
            now = time.monotonic()
            if now - start >= RECEIPT_TIMEOUT_S:
                hashes = ", ".join(Web3.to_hex(h) for h in sent)
                raise TransactionFailed(
                    f"{name}: no receipt for {hashes} after {RECEIPT_TIMEOUT_S:.0f}s{refused}"
                )
            if self.embedded is None and tx is None:
                tx = self._replacement(first)
            if tx is not None and now >= replace_at:
                replace_at = now + REPLACE_AFTER_S
                tx = _bumped(tx, self.w3)
                try:
                    sent.append(HexBytes(self.w3.eth.send_transaction(tx)))  # type: ignore[arg-type]
                except Web3Exception as exc:
                    refused = f" (replacement refused: {exc})"
            time.sleep(RECEIPT_POLL_S)

    def _replacement(self, tx_hash: HexBytes) -> dict[str, Any] | None:
        """The fields to send ``tx_hash`` again (same sender, nonce, call, gas and fees), read
        from the node while it is pending; None if the node does not hold it (yet)."""
        try:
            tx = self.w3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            return None
        fields = {"from": tx["from"], "nonce": tx["nonce"], "gas": tx["gas"]}
        fields |= {"value": tx["value"], "data": tx["input"]}
        if tx.get("to"):
            fields["to"] = tx["to"]
        if tx.get("maxFeePerGas") is not None:
            fields["maxFeePerGas"] = int(tx["maxFeePerGas"])
            fields["maxPriorityFeePerGas"] = int(tx["maxPriorityFeePerGas"])
        else:
            fields["gasPrice"] = int(tx["gasPrice"])
        return fields

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
