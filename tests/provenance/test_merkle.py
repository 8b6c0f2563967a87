"""RFC 9162 Merkle log: proofs from stored nodes agree with the textbook recursion, verify
for every size, and fail for every mutation."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance import (
    ConsistencyProof,
    ConsistencyProofInvalid,
    InclusionProof,
    InclusionProofInvalid,
    MerkleLog,
    TreeHead,
    verify_consistency,
    verify_inclusion,
)
from provenance._merkle import empty_root, leaf_hash, node_hash


def mth(leaves: list[bytes]) -> bytes:
    """MTH as written in RFC 9162 §2.1.1 (recursive, from the leaf data)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n <= 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def build(n: int) -> tuple[MerkleLog, list[bytes]]:
    leaves = [f"leaf-{i}".encode() for i in range(n)]
    log = MerkleLog()
    for leaf in leaves:
        log.append(leaf)
    return log, leaves


def test_empty_and_single() -> None:
    log = MerkleLog()
    assert log.root() == empty_root() == hashlib.sha256(b"").digest()
    log.append(b"a")
    assert log.root() == hashlib.sha256(b"\x00a").digest()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_inclusion_matches_rfc_and_verifies(n: int, data: st.DataObject) -> None:
    log, leaves = build(n)
    assert log.root() == mth(leaves)
    size = data.draw(st.integers(min_value=1, max_value=n))
    m = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = log.inclusion_proof(m, size)
    assert list(proof.path) == path(m, leaves[:size])
    verify_inclusion(leaf_hash(leaves[m]), proof, mth(leaves[:size]))
    assert InclusionProof.from_json(proof.to_json()) == proof


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_consistency_matches_rfc_and_verifies(n: int, data: st.DataObject) -> None:
    log, leaves = build(n)
    old = data.draw(st.integers(min_value=1, max_value=n))
    proof = log.consistency_proof(old, n)
    if old < n:
        assert list(proof.path) == subproof(old, leaves, True)
    verify_consistency(mth(leaves[:old]), mth(leaves), proof)


def _flip(b: bytes, bit: int) -> bytes:
    i = bit // 8 % len(b)
    return b[:i] + bytes([b[i] ^ (1 << (bit % 8))]) + b[i + 1 :]


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=2, max_value=40), st.data())
def test_any_inclusion_mutation_fails(n: int, data: st.DataObject) -> None:
    log, leaves = build(n)
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof, root, leaf = log.inclusion_proof(m, n), log.root(), leaf_hash(leaves[m])
    # The tree size is not a proof mutation: it is bound to the root by the anchored tree
    # head (log_id, tree_size, root) and checked there (see test_bundle.py).
    what = data.draw(st.sampled_from(["leaf", "root", "index", "path", "drop", "add"]))
    bit = data.draw(st.integers(min_value=0, max_value=255))
    if what == "leaf":
        leaf = _flip(leaf, bit)
    elif what == "root":
        root = _flip(root, bit)
    elif what == "index":
        proof = InclusionProof((m + 1 + bit) % n if n > 1 else m + 1, n, proof.path)
        if proof.leaf_index == m:
            proof = InclusionProof(m + n, n, proof.path)
    elif what == "path":
        if not proof.path:
            return
        i = bit % len(proof.path)
        p = list(proof.path)
        p[i] = _flip(p[i], bit)
        proof = InclusionProof(m, n, tuple(p))
    elif what == "drop":
        proof = InclusionProof(m, n, proof.path[:-1])
    else:
        proof = InclusionProof(m, n, (*proof.path, leaf))
    with pytest.raises(InclusionProofInvalid):
        verify_inclusion(leaf, proof, root)


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=2, max_value=40), st.data())
def test_any_consistency_mutation_fails(n: int, data: st.DataObject) -> None:
    log, _leaves = build(n)
    old = data.draw(st.integers(min_value=1, max_value=n - 1))
    proof = log.consistency_proof(old, n)
    r1, r2 = log.root(old), log.root(n)
    what = data.draw(st.sampled_from(["old_root", "new_root", "path", "drop", "old"]))
    bit = data.draw(st.integers(min_value=0, max_value=255))
    if what == "old_root":
        r1 = _flip(r1, bit)
    elif what == "new_root":
        r2 = _flip(r2, bit)
    elif what == "path":
        i = bit % len(proof.path)
        p = list(proof.path)
        p[i] = _flip(p[i], bit)
        proof = ConsistencyProof(old, n, tuple(p))
    elif what == "drop":
        proof = ConsistencyProof(old, n, proof.path[:-1])
    else:
        proof = ConsistencyProof(old + 1, n, proof.path)
    with pytest.raises(ConsistencyProofInvalid):
        verify_consistency(r1, r2, proof)


def test_error_says_expected_and_computed() -> None:
    log, _leaves = build(5)
    proof = log.inclusion_proof(2)
    with pytest.raises(InclusionProofInvalid, match=r"expected root .* computed"):
        verify_inclusion(leaf_hash(b"other"), proof, log.root())
    assert InclusionProofInvalid.code == "inclusion_proof_invalid"


def test_tree_head_text_form_round_trips() -> None:
    log, _ = build(9)
    head = log.head()
    assert TreeHead.parse(str(head)) == head
    assert TreeHead.from_json(head.to_json()) == head


def test_proofs_read_log_n_nodes() -> None:
    """A proof touches O(log n) stored nodes; nothing is rebuilt."""

    class CountingStore:
        def __init__(self) -> None:
            from provenance._merkle import MemoryNodeStore

            self.inner = MemoryNodeStore()
            self.reads = 0

        def get_nodes(self, keys):  # type: ignore[no-untyped-def]
            keys = list(keys)
            self.reads += len(keys)
            return self.inner.get_nodes(keys)

        def put_nodes(self, nodes):  # type: ignore[no-untyped-def]
            self.inner.put_nodes(nodes)

    store = CountingStore()
    log = MerkleLog(store)
    log.extend_hashes(leaf_hash(i.to_bytes(4, "big")) for i in range(5000))
    store.reads = 0
    log.inclusion_proof(1234)
    log.consistency_proof(3333)
    assert store.reads <= 4 * 13  # 2 proofs, ~2*log2(5000) nodes each


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 70), data=st.data())
def test_multiproof_verifies_many_leaves_and_fails_for_every_mutation(
    n: int, data: st.DataObject
) -> None:
    """verify_inclusions (one recomputation for many leaves) accepts the multiproof of any
    subset and the merged audit paths, and rejects any changed leaf, node or root."""
    from provenance._merkle import inclusion_ranges, multiproof_ranges, verify_inclusions

    leaves = [i.to_bytes(4, "big") for i in range(n)]
    log = MerkleLog()
    for x in leaves:
        log.append(x)
    root = log.root()
    chosen = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n)))
    hashes = {i: leaf_hash(leaves[i]) for i in chosen}
    nodes = {(a, b): mth(leaves[a:b]) for a, b in multiproof_ranges(chosen, n)}
    assert verify_inclusions(hashes, n, nodes, root) == set(nodes)
    # the audit paths merged by range are accepted too (every given node checked)
    merged = {r: mth(leaves[r[0] : r[1]]) for i in chosen for r in inclusion_ranges(i, n)}
    assert verify_inclusions(hashes, n, merged, root) == set(merged)
    bad = bytes(32)
    with pytest.raises(InclusionProofInvalid):
        verify_inclusions(hashes, n, nodes, bad)
    victim = data.draw(st.sampled_from(chosen))
    with pytest.raises(InclusionProofInvalid):
        verify_inclusions({**hashes, victim: bad}, n, nodes, root)
    for r in merged:
        with pytest.raises(InclusionProofInvalid):
            verify_inclusions(hashes, n, {**merged, r: bad}, root)
    if nodes:
        dropped = data.draw(st.sampled_from(sorted(nodes)))
        with pytest.raises(InclusionProofInvalid, match="missing"):
            verify_inclusions(hashes, n, {k: v for k, v in nodes.items() if k != dropped}, root)
    # a multiproof is never larger than the merged paths
    assert len(nodes) <= len(merged)


# what the audit-path plan cache may hold at most: a server keeps it for its lifetime
RANGES_CACHE_BUDGET_MIB = 16


def test_audit_path_plan_cache_is_bounded_in_memory() -> None:
    """A verifier that sees ever new tree sizes (a server whose log grows: every anchored size
    is a new key) fills the plan cache to its bound and no further, and a full cache stays
    within its budget. At the former bound (65,536 plans) it reached ~100 MB in the soak
    (docs/reliability.md); this test fails for any bound that large."""
    import tracemalloc

    from provenance._merkle import RANGES_CACHE_SIZE, inclusion_ranges

    inclusion_ranges.cache_clear()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        size = 1_000_000  # a large log: the longest plans (20 ranges)
        for n in range(2 * RANGES_CACHE_SIZE):
            inclusion_ranges(n % 1000 * 997, size + n)  # always a new (index, size)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        inclusion_ranges.cache_clear()
    assert inclusion_ranges.cache_info().maxsize == RANGES_CACHE_SIZE
    assert held <= RANGES_CACHE_BUDGET_MIB * 2**20, f"plan cache holds {held / 2**20:.1f} MiB"
