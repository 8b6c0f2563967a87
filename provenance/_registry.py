"""What the ledger needs from the chain, as two small protocols, plus an in-memory stand-in.

:class:`KeyDirectory` is the ActorRegistry (actor -> keys, role, validity, revocation) and
:class:`AnchorLedger` the AnchorRegistry (append-only tree heads). ``contracts.Chain``'s
``chain.actors`` and ``chain.anchors`` satisfy them as they are; :class:`MemoryRegistry`
implements both with the same rules for unit tests and for offline tools, and says so: it is
never used to claim on-chain behaviour.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "AnchorLedger",
    "AnchorLike",
    "KeyDirectory",
    "KeyRecordLike",
    "MemoryRegistry",
    "key_valid_at",
]


class KeyRecordLike(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def public_key(self) -> bytes: ...
    @property
    def role(self) -> int: ...
    @property
    def valid_from(self) -> int: ...
    @property
    def valid_until(self) -> int: ...
    @property
    def revoked_at(self) -> int: ...


class AnchorLike(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def log_id(self) -> int: ...
    @property
    def tree_size(self) -> int: ...
    @property
    def root(self) -> bytes: ...
    @property
    def timestamp(self) -> int: ...


class ReceiptLike(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def tx_hash(self) -> str: ...
    @property
    def block_number(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def gas_used(self) -> int: ...


class KeyDirectory(Protocol):
    """Actor keys and roles (``contracts.ActorRegistry``)."""

    def keys(self, actor_id: str) -> Sequence[KeyRecordLike]: ...


class AnchorLedger(Protocol):
    """Anchored tree heads (``contracts.AnchorRegistry``)."""

    def anchor(self, log_id: int, tree_size: int, root: bytes) -> ReceiptLike: ...
    def count(self) -> int: ...
    def by_index(self, index: int) -> AnchorLike: ...
    def by_root(self, root: bytes) -> AnchorLike | None: ...
    def tx_of(self, root: bytes) -> str | None: ...


def key_valid_at(record: KeyRecordLike, t: int, role: int | None = None) -> bool:
    """The ActorRegistry's rule: role matches, valid_from <= t < valid_until, not revoked at t."""
    if role is not None and int(role) != int(record.role):
        return False
    if t < record.valid_from:
        return False
    if record.valid_until and t >= record.valid_until:
        return False
    return not (record.revoked_at and t >= record.revoked_at)


@dataclass(frozen=True)
class _Key:
    index: int
    public_key: bytes
    role: int
    valid_from: int
    valid_until: int
    revoked_at: int


@dataclass(frozen=True)
class _Anchor:
    index: int
    log_id: int
    tree_size: int
    root: bytes
    timestamp: int


@dataclass(frozen=True)
class _Receipt:
    index: int
    tx_hash: str
    block_number: int
    timestamp: int
    gas_used: int


class AlreadyAnchored(Exception):
    """The in-memory registry's version of the contract's ``already anchored`` revert."""

    reason = "already anchored"


@dataclass
class MemoryRegistry:
    """ActorRegistry + AnchorRegistry semantics in memory (tests, offline tools)."""

    now: int = 1_700_000_000
    _keys: dict[str, list[_Key]] = field(default_factory=dict)
    _anchors: list[_Anchor] = field(default_factory=list)
    _txs: dict[bytes, str] = field(default_factory=dict)

    # KeyDirectory
    def register(
        self, actor_id: str, public_key: bytes, role: int, valid_from: int, valid_until: int = 0
    ) -> int:
        keys = self._keys.setdefault(actor_id, [])
        keys.append(_Key(len(keys), public_key, int(role), valid_from, valid_until, 0))
        return len(keys) - 1

    def revoke(self, actor_id: str, key_index: int, at: int) -> None:
        k = self._keys[actor_id][key_index]
        self._keys[actor_id][key_index] = _Key(
            k.index, k.public_key, k.role, k.valid_from, k.valid_until, at
        )

    def keys(self, actor_id: str) -> list[_Key]:
        return list(self._keys.get(actor_id, []))

    def key_valid_at(self, actor_id: str, public_key: bytes, role: int, t: int) -> bool:
        return any(
            k.public_key == public_key and key_valid_at(k, t, role) for k in self.keys(actor_id)
        )

    # AnchorLedger
    def anchor(self, log_id: int, tree_size: int, root: bytes) -> _Receipt:
        if root in self._txs:
            raise AlreadyAnchored("already anchored")
        self.now += 12
        a = _Anchor(len(self._anchors), log_id, tree_size, root, self.now)
        self._anchors.append(a)
        tx = "0x" + hashlib.sha256(b"tx" + root).hexdigest()
        self._txs[root] = tx
        return _Receipt(a.index, tx, a.index + 1, a.timestamp, 50_000)

    def count(self) -> int:
        return len(self._anchors)

    def by_index(self, index: int) -> _Anchor:
        return self._anchors[index]

    def by_root(self, root: bytes) -> _Anchor | None:
        return next((a for a in self._anchors if a.root == root), None)

    def tx_of(self, root: bytes) -> str | None:
        return self._txs.get(root)
