"""Append-only Merkle log with RFC 9162 hashing and proofs served from stored nodes.

Construction (RFC 9162 §2.1): leaves hash as ``SHA-256(0x00 || data)``, interior nodes as
``SHA-256(0x01 || left || right)``; the tree over ``n`` leaves splits at the largest power of
two smaller than ``n`` (§2.1.1). Inclusion proofs are §2.1.3 audit paths, consistency proofs
§2.1.4 SUBPROOFs, verified with the §2.1.3.2 and §2.1.4.2 algorithms.

Storage: every *complete aligned* subtree is stored once, as node ``(level, index)`` covering
leaves ``[index * 2**level, (index + 1) * 2**level)``. Appending a leaf writes the leaf node
and each subtree it completes (amortised two nodes per leaf). Every hash a proof needs is
the hash of a range that splits into at most ``log2 n`` such stored subtrees, so a proof
reads O(log n) stored nodes (one batched lookup) and never rebuilds the tree.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from provenance._errors import ConsistencyProofInvalid, InclusionProofInvalid, ProofError

__all__ = [
    "HASH_SIZE",
    "ConsistencyProof",
    "InclusionProof",
    "MemoryNodeStore",
    "MerkleLog",
    "NodeKey",
    "NodeStore",
    "TreeHead",
    "append_nodes",
    "consistency_ranges",
    "empty_root",
    "frontier_keys",
    "inclusion_paths",
    "inclusion_ranges",
    "leaf_hash",
    "multiproof_ranges",
    "node_hash",
    "range_keys",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusions",
]

HASH_SIZE = 32  # SHA-256
LEAF_PREFIX = b"\x00"  # RFC 9162 §2.1.1 domain separation
NODE_PREFIX = b"\x01"

NodeKey = tuple[int, int]  # (level, index)
# Audit-path plans (pure in index and size) a verifier reuses within one verdict and across
# verdicts at the same tree size. A plan costs 1.6 KB (tree of 10^3 leaves) to 2.9 KB (10^6):
# 4,096 of them stay under 12 MB. Most keys are new once the log grows (every anchored size
# is a new key), so a bigger cache only holds dead plans: at 65,536 it filled to ~100 MB in
# the soak for no speed (an uncached plan is ~11 us; a verdict needs one per event).
RANGES_CACHE_SIZE = 4_096


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def empty_root() -> bytes:
    """MTH({}) = SHA-256() (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"").digest()


def _hex(b: bytes) -> str:
    return b.hex()


def _unhex(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 2 * HASH_SIZE or text != text.lower():
        raise ProofError(f"{what}: expected {2 * HASH_SIZE} lowercase hex digits, got {text!r}")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ProofError(f"{what}: not hex: {text!r}") from exc


@dataclass(frozen=True)
class TreeHead:
    """A tree size and its root hash; text form ``<size>:sha256:<hex>``."""

    tree_size: int
    root: bytes

    def __str__(self) -> str:
        return f"{self.tree_size}:sha256:{self.root.hex()}"

    @classmethod
    def parse(cls, text: str) -> TreeHead:
        size, _, rest = text.partition(":sha256:")
        if not size.isdigit():
            raise ProofError(f"tree head: expected '<size>:sha256:<hex>', got {text!r}")
        return cls(int(size), _unhex(rest, "tree head root"))

    def to_json(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root": _hex(self.root)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TreeHead:
        size = data.get("tree_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ProofError(f"tree head: expected a non-negative tree_size, got {size!r}")
        return cls(size, _unhex(data.get("root"), "tree head root"))


@dataclass(frozen=True)
class InclusionProof:
    """RFC 9162 §2.1.3 audit path for leaf ``leaf_index`` in the tree of ``tree_size``."""

    leaf_index: int
    tree_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "path": [_hex(p) for p in self.path],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InclusionProof:
        index, size, path = data.get("leaf_index"), data.get("tree_size"), data.get("path")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (index, size)):
            raise ProofError("inclusion proof: leaf_index and tree_size must be integers")
        if not isinstance(path, list):
            raise ProofError("inclusion proof: path must be a list of hex hashes")
        return cls(int(index), int(size), tuple(_unhex(p, "inclusion path") for p in path))  # type: ignore[arg-type]


@dataclass(frozen=True)
class ConsistencyProof:
    """RFC 9162 §2.1.4 proof that the tree of ``old_size`` is a prefix of ``new_size``."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "path": [_hex(p) for p in self.path],
        }


# -- which stored nodes a range needs ---------------------------------------------------------


def _largest_pow2_below(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_keys(start: int, end: int) -> list[NodeKey]:
    """Aligned complete subtrees covering leaves ``[start, end)``, left to right."""
    keys: list[NodeKey] = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def frontier_keys(size: int) -> list[NodeKey]:
    """The right edge of a tree of ``size`` leaves: what an append combines with."""
    return range_keys(0, size)


def _range_hash(start: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    keys = range_keys(start, end)
    h = nodes[keys[-1]]
    for k in reversed(keys[:-1]):
        h = node_hash(nodes[k], h)
    return h


@functools.lru_cache(maxsize=RANGES_CACHE_SIZE)
def inclusion_ranges(index: int, size: int) -> tuple[tuple[int, int], ...]:
    """Leaf ranges whose hashes form PATH(index, D[0:size]), in proof order (§2.1.3.1)."""
    out: list[tuple[int, int]] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _largest_pow2_below(end - start)
        if m < k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m = start + k, m - k
    out.reverse()
    return tuple(out)


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PROOF(old, D[0:new]), in proof order (§2.1.4.1)."""
    out: list[tuple[int, int]] = []
    start, end, m, whole = 0, new, old, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                out.append((start, end))
            break
        k = _largest_pow2_below(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m, whole = start + k, m - k, False
    out.reverse()
    return out


# -- storage ----------------------------------------------------------------------------------


class NodeStore(Protocol):
    """Where stored subtree hashes live (memory, or the ``merkle_nodes`` table)."""

    def get_nodes(self, keys: Iterable[NodeKey]) -> Mapping[NodeKey, bytes]: ...

    def put_nodes(self, nodes: Sequence[tuple[NodeKey, bytes]]) -> None: ...


class MemoryNodeStore:
    """Nodes in one contiguous ``bytearray`` per level (32 bytes per node, no per-node objects)."""

    def __init__(self) -> None:
        self.levels: list[bytearray] = []

    def get_nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        out: dict[NodeKey, bytes] = {}
        for level, index in keys:
            start = index * HASH_SIZE
            out[(level, index)] = bytes(self.levels[level][start : start + HASH_SIZE])
        return out

    def put_nodes(self, nodes: Sequence[tuple[NodeKey, bytes]]) -> None:
        for (level, index), h in nodes:
            while len(self.levels) <= level:
                self.levels.append(bytearray())
            row = self.levels[level]
            if len(row) != index * HASH_SIZE:
                raise ProofError(f"node ({level}, {index}) written out of order")
            row += h

    def nbytes(self) -> int:
        return sum(len(r) for r in self.levels)


def append_nodes(
    size: int, frontier: dict[NodeKey, bytes], leaf_hashes: Iterable[bytes]
) -> list[tuple[NodeKey, bytes]]:
    """New stored nodes for appending ``leaf_hashes`` to a tree of ``size`` leaves.

    ``frontier`` holds the nodes of :func:`frontier_keys` (``size``) and is updated in place,
    so a caller appends in batches with one read of O(log n) nodes per batch.
    """
    out: list[tuple[NodeKey, bytes]] = []
    for h in leaf_hashes:
        level, index = 0, size
        out.append(((0, index), h))
        frontier[(0, index)] = h
        while index & 1:
            left = frontier.pop((level, index - 1))
            frontier.pop((level, index))
            h = node_hash(left, h)
            level, index = level + 1, index >> 1
            out.append(((level, index), h))
            frontier[(level, index)] = h
        size += 1
    return out


class MerkleLog:
    """An append-only log over a :class:`NodeStore` (RFC 9162 tree, proofs from stored nodes)."""

    def __init__(self, store: NodeStore | None = None, size: int = 0) -> None:
        self.store: NodeStore = store if store is not None else MemoryNodeStore()
        self.size = size
        self._frontier: dict[NodeKey, bytes] | None = None  # read on the first append

    def append(self, data: bytes) -> int:
        """Append one leaf (its data, hashed here); returns its index."""
        return self.extend_hashes([leaf_hash(data)])

    def extend_hashes(self, hashes: Iterable[bytes]) -> int:
        first = self.size
        hashes = list(hashes)
        if self._frontier is None:
            self._frontier = (
                dict(self.store.get_nodes(frontier_keys(self.size))) if self.size else {}
            )
        self.store.put_nodes(append_nodes(self.size, self._frontier, hashes))
        self.size += len(hashes)
        return first

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        self._check_size(size)
        if size == 0:
            return empty_root()
        return _range_hash(0, size, self.store.get_nodes(range_keys(0, size)))

    def head(self) -> TreeHead:
        return TreeHead(self.size, self.root())

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise InclusionProofInvalid(f"leaf index {index} outside tree of size {size}")
        ranges = inclusion_ranges(index, size)
        nodes = self.store.get_nodes({k for r in ranges for k in range_keys(*r)})
        return InclusionProof(index, size, tuple(_range_hash(s, e, nodes) for s, e in ranges))

    def inclusion_proofs(self, indices: Iterable[int], size: int) -> dict[int, InclusionProof]:
        """Proofs for many leaves against one tree size, with one batched node read."""
        return self.inclusion_proofs_and_root(indices, size)[0]

    def inclusion_proofs_and_root(
        self, indices: Iterable[int], size: int
    ) -> tuple[dict[int, InclusionProof], bytes]:
        """:meth:`inclusion_proofs` and the root at ``size``, from the same node read."""
        self._check_size(size)
        indices = list(indices)
        for index in indices:
            if not 0 <= index < size:
                raise InclusionProofInvalid(f"leaf index {index} outside tree of size {size}")
        if size == 0:
            return {}, empty_root()
        plans = {i: inclusion_ranges(i, size) for i in indices}
        unique = {r for ranges in plans.values() for r in ranges}  # neighbours share most
        keys = {k for r in unique for k in range_keys(*r)} | set(range_keys(0, size))
        nodes = self.store.get_nodes(keys)
        hashes = {r: _range_hash(r[0], r[1], nodes) for r in unique}
        proofs = {
            i: InclusionProof(i, size, tuple(hashes[r] for r in ranges))
            for i, ranges in plans.items()
        }
        return proofs, _range_hash(0, size, nodes)

    def consistency_proof(self, old: int, new: int | None = None) -> ConsistencyProof:
        new = self.size if new is None else new
        self._check_size(new)
        if not 0 <= old <= new:
            raise ConsistencyProofInvalid(f"old size {old} not within 0..{new}")
        if old in (0, new):
            return ConsistencyProof(old, new, ())
        ranges = consistency_ranges(old, new)
        nodes = self.store.get_nodes({k for r in ranges for k in range_keys(*r)})
        return ConsistencyProof(old, new, tuple(_range_hash(s, e, nodes) for s, e in ranges))

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} not within 0..{self.size}")


# -- verification (RFC 9162 §2.1.3.2, §2.1.4.2) -----------------------------------------------


def verify_inclusion(leaf: bytes, proof: InclusionProof, root: bytes) -> None:
    """Check that ``leaf`` (a leaf hash) is at ``proof.leaf_index`` in the tree with ``root``.

    Raises :class:`InclusionProofInvalid` ("expected root X, computed Y") on any mismatch.
    """
    fn, sn = proof.leaf_index, proof.tree_size - 1
    if not 0 <= fn <= sn:
        raise InclusionProofInvalid(
            f"leaf index {proof.leaf_index} outside tree of size {proof.tree_size}"
        )
    r = leaf
    for p in proof.path:
        if sn == 0:
            raise InclusionProofInvalid(
                f"expected a path of at most {len(proof.path) - 1} hashes, got {len(proof.path)}"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofInvalid(f"path too short for tree size {proof.tree_size}")
    if r != root:
        raise InclusionProofInvalid(f"expected root {root.hex()}, computed {r.hex()}")


def multiproof_ranges(indices: Iterable[int], size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes, with the leaves at ``indices``, determine the root of the
    tree of ``size``: the siblings of every path that hold none of those leaves, left to
    right. The union of the leaves' RFC 9162 §2.1.3.1 audit paths less the nodes that
    the leaves themselves determine (a multiproof: shared nodes written once)."""
    targets = sorted(set(indices))
    out: list[tuple[int, int]] = []

    def walk(start: int, end: int, lo: int, hi: int) -> None:  # targets[lo:hi] in range
        if lo == hi:
            out.append((start, end))
            return
        if end - start == 1:
            return
        k = start + _largest_pow2_below(end - start)
        mid = bisect.bisect_left(targets, k, lo, hi)
        walk(start, k, lo, mid)
        walk(k, end, mid, hi)

    if size and targets:
        if not 0 <= targets[0] <= targets[-1] < size:
            raise InclusionProofInvalid(f"leaf index outside tree of size {size}")
        walk(0, size, 0, len(targets))
    return out


def inclusion_paths(
    leaves: Mapping[int, bytes], size: int, nodes: Mapping[tuple[int, int], bytes]
) -> dict[int, InclusionProof]:
    """Each leaf's RFC 9162 audit path from a multiproof (:func:`multiproof_ranges` hashes
    in ``nodes``): a range holding some of ``leaves`` is computed from them and the nodes
    under it. A path that needs a hash nobody gave is left empty (it fails to verify)."""
    targets = sorted(leaves)
    memo: dict[tuple[int, int], bytes] = dict(nodes)

    def holds_target(start: int, end: int) -> bool:
        k = bisect.bisect_left(targets, start)
        return k < len(targets) and targets[k] < end

    def range_hash(start: int, end: int) -> bytes:
        found = memo.get((start, end))
        if found is not None:
            return found
        if not holds_target(start, end):
            raise InclusionProofInvalid(f"proof node {start}-{end} missing")
        if end - start == 1:
            h = leaves[start]
        else:
            k = start + _largest_pow2_below(end - start)
            h = node_hash(range_hash(start, k), range_hash(k, end))
        memo[(start, end)] = h
        return h

    out: dict[int, InclusionProof] = {}
    for i in targets:
        try:
            path = tuple(range_hash(a, b) for a, b in inclusion_ranges(i, size))
        except InclusionProofInvalid:
            path = ()
        out[i] = InclusionProof(i, size, path)
    return out


def verify_inclusions(
    leaves: Mapping[int, bytes],
    size: int,
    nodes: Mapping[tuple[int, int], bytes],
    root: bytes,
) -> set[tuple[int, int]]:
    """Check many leaves against one tree head at once (a multiproof).

    ``leaves`` maps leaf indices to leaf hashes, ``nodes`` leaf ranges ``(start, end)`` to
    their hashes. The root is recomputed once from the leaves and the nodes of
    :func:`multiproof_ranges`, so a node shared by several audit paths is hashed once. A
    node given for a range the leaves determine must equal the computed hash: then the
    check passes exactly when every leaf's own audit path (RFC 9162 §2.1.3.2) would.
    Returns the ranges of ``nodes`` it used; raises :class:`InclusionProofInvalid`.
    """
    targets = sorted(leaves)
    if not targets:
        return set()
    if not 0 <= targets[0] <= targets[-1] < size:
        raise InclusionProofInvalid(f"leaf index outside tree of size {size}")
    used: set[tuple[int, int]] = set()

    def walk(start: int, end: int, lo: int, hi: int) -> bytes:
        given = nodes.get((start, end))
        if lo == hi:
            if given is None:
                raise InclusionProofInvalid(f"proof node {start}-{end} missing")
            used.add((start, end))
            return given
        if end - start == 1:
            h = leaves[start]
        else:
            k = start + _largest_pow2_below(end - start)
            mid = bisect.bisect_left(targets, k, lo, hi)
            h = node_hash(walk(start, k, lo, mid), walk(k, end, mid, hi))
        if given is not None:
            used.add((start, end))
            if given != h:
                raise InclusionProofInvalid(
                    f"proof node {start}-{end}: expected {given.hex()}, computed {h.hex()}"
                )
        return h

    computed = walk(0, size, 0, len(targets))
    if computed != root:
        raise InclusionProofInvalid(f"expected root {root.hex()}, computed {computed.hex()}")
    return used


def verify_consistency(old_root: bytes, new_root: bytes, proof: ConsistencyProof) -> None:
    """Check that the tree of ``proof.old_size`` with ``old_root`` is a prefix of the new one.

    Raises :class:`ConsistencyProofInvalid` ("expected X, computed Y") on any mismatch.
    """
    m, n, path = proof.old_size, proof.new_size, list(proof.path)
    if not 0 <= m <= n:
        raise ConsistencyProofInvalid(f"old size {m} larger than new size {n}")
    if m == n:
        if path or old_root != new_root:
            raise ConsistencyProofInvalid(
                f"equal sizes: expected equal roots and no path, got {old_root.hex()} / "
                f"{new_root.hex()} and {len(path)} hashes"
            )
        return
    if m == 0:
        if path:
            raise ConsistencyProofInvalid("empty old tree: expected an empty proof")
        return
    if m & (m - 1) == 0:  # old size is a power of two: its root is the first node
        path.insert(0, old_root)
    if not path:
        raise ConsistencyProofInvalid("expected a non-empty consistency proof")
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofInvalid("consistency proof longer than the tree allows")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyProofInvalid("consistency proof too short for the new tree size")
    if fr != old_root:
        raise ConsistencyProofInvalid(f"expected old root {old_root.hex()}, computed {fr.hex()}")
    if sr != new_root:
        raise ConsistencyProofInvalid(f"expected new root {new_root.hex()}, computed {sr.hex()}")
