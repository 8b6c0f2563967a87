"""What the ledger needs from the chain, as two small protocols, plus an in-memory stand-in.

:class:`KeyDirectory` is the ActorRegistry (actor -> keys, role, validity, revocation) and
:class:`AnchorLedger` the AnchorRegistry (append-only tree heads). ``contracts.Chain``'s
``chain.actors`` and ``chain.anchors`` satisfy them as they are; :class:`MemoryRegistry`
implements both with the same rules for unit tests and for offline tools, and says so: it is
never used to claim on-chain behaviour.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "KEY_CACHE_TTL_S",
    "AnchorLedger",
    "AnchorLike",
    "CachedAnchors",
    "CachedDirectory",
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


KEY_CACHE_TTL_S = 60.0  # a revocation reaches a caching verifier within a minute


class CachedDirectory:
    """A :class:`KeyDirectory` that remembers each actor's keys for ``ttl`` seconds.

    Verifying a batch asks for every signer's keys; on a remote node each lookup is a few
    round trips. Keys change rarely (registration, rotation, revocation), so a verifier that
    runs often (the web service, a benchmark's warm run) caches them; the price is that a
    revocation is seen up to ``ttl`` seconds late. Command-line verification does not cache.
    """

    def __init__(self, inner: KeyDirectory, ttl: float = KEY_CACHE_TTL_S) -> None:
        self.inner = inner
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Sequence[KeyRecordLike]]] = {}

    def keys(self, actor_id: str) -> Sequence[KeyRecordLike]:
        now = time.monotonic()
        hit = self._cache.get(actor_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        records = self.inner.keys(actor_id)
        self._cache[actor_id] = (now, records)
        return records


class CachedAnchors:
    """An :class:`AnchorLedger` that remembers anchors it has found.

    Sound because the AnchorRegistry is append-only and refuses a root twice: once a root is
    found at an index with a size and a transaction, that never changes (on a chain with
    finality). Misses are never cached, so a new anchor is seen at once.
    """

    def __init__(self, inner: AnchorLedger) -> None:
        self.inner = inner
        self._by_root: dict[bytes, AnchorLike] = {}
        self._tx: dict[bytes, str] = {}

    def anchor(self, log_id: int, tree_size: int, root: bytes) -> ReceiptLike:
        return self.inner.anchor(log_id, tree_size, root)

    def count(self) -> int:
        return self.inner.count()

    def by_index(self, index: int) -> AnchorLike:
        return self.inner.by_index(index)

    def by_root(self, root: bytes) -> AnchorLike | None:
        if root not in self._by_root:
            found = self.inner.by_root(root)
            if found is None:
                return None
            self._by_root[root] = found
        return self._by_root[root]

    def tx_of(self, root: bytes) -> str | None:
        if root not in self._tx:
            tx = self.inner.tx_of(root)
            if tx is None:
                return None
            self._tx[root] = tx
        return self._tx[root]


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
