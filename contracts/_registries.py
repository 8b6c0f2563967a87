"""Typed wrappers over AnchorRegistry and ActorRegistry: Python values in and out.

Roots and keys are raw ``bytes``; actor ids are text (on chain: keccak256 of the UTF-8 id,
so ids of any length cost one slot and the human id is kept in the registration event).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak

from contracts._errors import ContractReverted

if TYPE_CHECKING:
    from contracts._chain import Chain, Receipt

__all__ = [
    "ActorRegistry",
    "Anchor",
    "AnchorReceipt",
    "AnchorRegistry",
    "KeyRecord",
    "Role",
    "actor_key",
]

MAX_NAME_BYTES = 64  # ActorRegistry.register takes String[64]


class Role(IntEnum):
    """Actor roles, numbered as in ActorRegistry.vy."""

    FARM = 1
    PROCESSOR = 2
    LOGISTICS = 3
    RETAILER = 4
    QC = 5
    STREAMER = 6
    ARBITER = 7

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(r.name.lower() for r in cls)
            raise ValueError(f"unknown role {text!r} (one of: {names})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


def actor_key(actor_id: str) -> bytes:
    """On-chain key of a text actor id."""
    return keccak(text=actor_id)


@dataclass(frozen=True)
class Anchor:
    index: int
    log_id: int
    tree_size: int
    root: bytes
    timestamp: int


@dataclass(frozen=True)
class AnchorReceipt:
    index: int
    tx_hash: str
    block_number: int
    timestamp: int
    gas_used: int


@dataclass(frozen=True)
class KeyRecord:
    index: int
    public_key: bytes
    role: Role
    valid_from: int
    valid_until: int  # 0 = open-ended
    revoked_at: int  # 0 = not revoked

    def valid_at(self, t: int, role: Role | None = None) -> bool:
        """Same rule as ``ActorRegistry.key_valid_at`` (for offline checks of fetched keys)."""
        if role is not None and role != self.role:
            return False
        if t < self.valid_from:
            return False
        if self.valid_until and t >= self.valid_until:
            return False
        return not (self.revoked_at and t >= self.revoked_at)


def _anchor(raw: Any) -> Anchor:
    index, log_id, tree_size, root, timestamp = raw
    return Anchor(int(index), int(log_id), int(tree_size), bytes(root), int(timestamp))


class _Registry:
    """A deployed contract (deployed on first use) with its chain."""

    NAME = ""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.contract = chain.contract(self.NAME)

    @property
    def address(self) -> str:
        return str(self.contract.address)


class AnchorRegistry(_Registry):
    NAME = "AnchorRegistry"

    def anchor(self, log_id: int, tree_size: int, root: bytes) -> AnchorReceipt:
        """Anchor a tree head; reverts ``already anchored`` if the root is on chain."""
        r = self.chain.transact(self.contract.functions.anchor(log_id, tree_size, root))
        index = self.contract.events.Anchored().process_log(r.logs[-1])["args"]["index"]
        return AnchorReceipt(int(index), r.tx_hash, r.block_number, r.timestamp, r.gas_used)

    def count(self) -> int:
        return int(self.chain.call(self.contract.functions.anchor_count()))

    def by_index(self, index: int) -> Anchor:
        """The anchor at ``index``, found through its indexed ``Anchored`` event."""
        logs = self.contract.events.Anchored().get_logs(
            from_block=0, argument_filters={"index": index}
        )
        if not logs:
            raise ContractReverted("no such anchor", function="by_index")
        a = logs[0]["args"]
        return Anchor(
            int(a["index"]),
            int(a["log_id"]),
            int(a["tree_size"]),
            bytes(a["root"]),
            int(a["timestamp"]),
        )

    def by_root(self, root: bytes) -> Anchor | None:
        try:
            return _anchor(self.chain.call(self.contract.functions.by_root(root)))
        except ContractReverted as exc:
            if exc.reason == "unknown root":
                return None
            raise

    def tx_of(self, root: bytes) -> str | None:
        """Hash of the transaction that anchored ``root`` (from the Anchored event)."""
        logs = self.contract.events.Anchored().get_logs(
            from_block=0, argument_filters={"root": root}
        )
        return "0x" + bytes(logs[0]["transactionHash"]).hex() if logs else None

    def set_anchorer(self, account: str, allowed: bool) -> Receipt:
        return self.chain.transact(self.contract.functions.set_anchorer(account, allowed))


class ActorRegistry(_Registry):
    NAME = "ActorRegistry"

    def register(
        self,
        actor_id: str,
        public_key: bytes,
        role: Role,
        valid_from: int,
        valid_until: int = 0,
    ) -> Receipt:
        name = actor_id.encode()[:MAX_NAME_BYTES].decode(errors="ignore")
        fn = self.contract.functions.register(
            actor_key(actor_id), name, public_key, int(role), valid_from, valid_until
        )
        return self.chain.transact(fn)

    def rotate(
        self, actor_id: str, new_public_key: bytes, valid_from: int, valid_until: int = 0
    ) -> Receipt:
        fn = self.contract.functions.rotate_key(
            actor_key(actor_id), new_public_key, valid_from, valid_until
        )
        return self.chain.transact(fn)

    def revoke(self, actor_id: str, key_index: int, at: int = 0) -> Receipt:
        return self.chain.transact(
            self.contract.functions.revoke(actor_key(actor_id), key_index, at)
        )

    def keys(self, actor_id: str) -> list[KeyRecord]:
        key = actor_key(actor_id)
        n = int(self.chain.call(self.contract.functions.key_count(key)))
        out = []
        for i in range(n):
            pk, role, vf, vu, rv = self.chain.call(self.contract.functions.get_key(key, i))
            out.append(KeyRecord(i, bytes(pk), Role(role), int(vf), int(vu), int(rv)))
        return out

    def key_valid_at(self, actor_id: str, public_key: bytes, role: Role, t: int) -> bool:
        fn = self.contract.functions.key_valid_at(actor_key(actor_id), public_key, int(role), t)
        return bool(self.chain.call(fn))

    def set_registrar(self, account: str, allowed: bool) -> Receipt:
        return self.chain.transact(self.contract.functions.set_registrar(account, allowed))
