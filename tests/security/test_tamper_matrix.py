"""Tamper matrix: every single-field mutation of a proof bundle and of a clip manifest bundle
is rejected with a specific finding; the matrix is the table in docs/reliability-security.md.

The mutations are generated from the documents' own fields (``_mutate``), so the matrix
follows format changes. ``EXPECT`` pins the finding a reader would expect for the fields that
carry meaning; a field it does not name must still be rejected with a specific finding.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provenance import (
    Anchorer,
    Ledger,
    MemoryRegistry,
    Store,
    build_bundle,
    bundle_bytes,
    verify_bundle,
)
from services._provenance_demo import sample_story
from tests.provenance.conftest import RETAIL_A, record, registered
from tests.security._doctable import sync_table
from tests.security._mutate import KINDS, Mutation, mutations

CHAIN = {
    "chain_id": 31337,
    "genesis_hash": "0x" + "ab" * 32,
    "anchor_registry": "0x" + "11" * 20,
    "actor_registry": "0x" + "22" * 20,
}
# CI mutates at most this many fields per (row, kind), chosen evenly; `make bench` all
PER_ROW = 3
GENERIC = {"bundle_not_canonical"}  # says "re-serialised", not what changed

# (field regex, mutation kinds, findings of which at least one must appear)
# the event as signed: its content digest is in the signed statement, its hash id recomputed
SIGNED_CONTENT = {"hash_mismatch", "signature_invalid"}
BUNDLE_EXPECT: list[tuple[str, tuple[str, ...], set[str]]] = [
    (r"^events\[\]\.event\.", ("changed", "removed", "unknown field"), SIGNED_CONTENT),
    (r"^events\[\]\.event$", ("unknown field",), SIGNED_CONTENT),
    (r"^events\[\]\.namespaces$", ("removed",), SIGNED_CONTENT),
    (r"^namespaces\[\]\.", ("changed", "removed"), SIGNED_CONTENT),
    (r"^events\[\]\.id$", ("changed",), {"hash_mismatch"}),
    (r"^events\[\]\.signature$", ("changed",), {"signature_invalid"}),
    (
        r"^events\[\]\.signer$",
        ("changed",),
        {"signature_invalid", "bundle_malformed"},
    ),  # or no such signer
    (r"^events\[\]\.prev\[\]$", KINDS, {"chain_broken"}),
    (r"^events\[\]\.leaf$", ("changed",), {"inclusion_proof_invalid"}),
    (r"^signers\[\]\.(key|registration)$", ("changed",), {"key_reference_invalid"}),
    (r"^signers\[\]\.actor$", ("changed",), {"unknown_actor", "signature_invalid"}),
    (r"^signers\[\]\.role$", ("changed",), {"role_not_allowed"}),
    (r"^(signers|namespaces)$", ("changed",), {"bundle_malformed"}),  # a second listing
    (r"^proof$", ("changed",), {"inclusion_proof_invalid", "bundle_malformed"}),
    (r"^anchor\.(root|tree_size)$", ("changed",), {"inclusion_proof_invalid", "root_not_on_chain"}),
    (r"^anchor\.(index|timestamp|tx_hash)$", ("changed",), {"anchor_mismatch"}),
    (r"^chain\.", ("changed",), {"anchor_mismatch"}),
    (r"^batch$", ("changed",), {"batch_mismatch"}),
    (r"^log_id$", ("changed",), {"root_not_on_chain"}),
    (r"^format$", KINDS, {"bundle_malformed"}),
]
MANIFEST_EXPECT: list[tuple[str, tuple[str, ...], set[str]]] = [
    (r"^signature$", ("changed",), {"signature_invalid"}),
    (r"^manifest\.(streamer|key)$", ("changed",), {"signature_invalid"}),
    # a changed value is a bad signature; a changed length no longer matches start..end
    (r"^manifest\.(fingerprints|audio)", ("changed",), {"signature_invalid", "manifest_malformed"}),
    (r"^manifest\.(start|end|format|fingerprint)(\.|$)", ("changed",), {"manifest_malformed"}),
    (r"^proof\.", ("changed",), {"inclusion_proof_invalid"}),
    (r"^tree_head\.", ("changed",), {"inclusion_proof_invalid"}),
    (r"^anchor", ("changed", "unknown field"), {"anchor_mismatch"}),
    (r"^(format|log_id)$", KINDS, {"manifest_malformed"}),
]


def _sample(items: list[Mutation], limit: int | None) -> list[Mutation]:
    if limit is None or len(items) <= limit:
        return items
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def run_matrix(
    doc: Any,
    check: Callable[[Any], set[str]],
    expect: list[tuple[str, tuple[str, ...], set[str]]],
    limit: int | None,
) -> tuple[dict[str, dict[str, set[str]]], dict[str, int], int]:
    """Check every mutation; returns codes by field and kind, mutations per field, total."""
    grouped: dict[tuple[str, str], list[Mutation]] = defaultdict(list)
    for m in mutations(doc):
        grouped[(m.field, m.kind)].append(m)
    codes: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    counts: dict[str, int] = defaultdict(int)
    total = 0
    for (field, kind), items in sorted(grouped.items()):
        for m in _sample(items, limit):
            got = check(m.doc)
            total += 1
            counts[field] += 1
            where = f"{kind} {field}"
            assert got, f"{where}: tampered document accepted"
            assert got - GENERIC, f"{where}: only {sorted(got)}"
            for regex, kinds, wanted in expect:
                if kind in kinds and re.search(regex, field) and wanted:
                    assert got & wanted, f"{where}: expected one of {wanted}, got {sorted(got)}"
            codes[field][kind] |= got
    return codes, counts, total


def table_rows(codes: dict[str, dict[str, set[str]]], counts: dict[str, int]) -> list[list[str]]:
    rows = []
    for field in sorted(codes):
        cells = [", ".join(sorted(codes[field][k])) if k in codes[field] else "" for k in KINDS]
        rows.append([f"`{field}`", str(counts[field]), *cells])
    return rows


HEADER = ["field", "mutations", *KINDS]


# -- proof bundles ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proof_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, MemoryRegistry]:
    tmp = tmp_path_factory.mktemp("tamper")
    reg = registered()
    store = Store.open(f"sqlite:///{tmp / 'b.db'}")
    ledger = Ledger(store, reg)
    record(ledger, sample_story())
    Anchorer(ledger, reg).anchor()
    data = bundle_bytes(build_bundle(ledger, RETAIL_A, CHAIN))
    store.close()
    return json.loads(data), reg


def _bundle_check(reg: MemoryRegistry) -> Callable[[Any], set[str]]:
    def check(doc: Any) -> set[str]:
        v = verify_bundle(bundle_bytes(doc), reg, reg, chain=CHAIN)
        assert not v.ok or not v.codes
        return set() if v.ok else set(v.codes)

    return check


def test_proof_bundle_matrix(proof_bundle: tuple[Any, MemoryRegistry]) -> None:
    doc, reg = proof_bundle
    assert _bundle_check(reg)(doc) == set()  # the untouched bundle verifies
    codes, counts, total = run_matrix(doc, _bundle_check(reg), BUNDLE_EXPECT, PER_ROW)
    assert total > 200
    sync_table("tamper-bundle", HEADER, table_rows(codes, counts))


@pytest.mark.bench
def test_proof_bundle_matrix_every_field(proof_bundle: tuple[Any, MemoryRegistry]) -> None:
    doc, reg = proof_bundle
    _, _, total = run_matrix(doc, _bundle_check(reg), BUNDLE_EXPECT, None)
    print(f"\nproof bundle: {total} single-field mutations, all rejected")


# -- clip manifests -----------------------------------------------------------------------------

T0 = 1_767_225_600


def _manifest_bundle(tmp: Path) -> tuple[Any, MemoryRegistry]:
    from watermark._fingerprint import FINGERPRINT_BYTES
    from watermark._manifest import (
        STREAMER_ROLE,
        ManifestStore,
        SignedManifest,
        build_manifest,
    )

    reg = MemoryRegistry()
    store = ManifestStore(Store.open(f"sqlite:///{tmp / 'm.sqlite'}"))
    rng = np.random.default_rng(0)
    for i, name in enumerate(["alice", "bob", "carol"]):
        key = Ed25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32)
        pub = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        reg.register(name, pub, STREAMER_ROLE, T0 - 100)
        fps = [rng.integers(0, 256, FINGERPRINT_BYTES, dtype=np.uint8).tobytes() for _ in range(3)]
        audio = [[-20 - s] * 10 for s in range(3)]
        store.record(SignedManifest.sign(build_manifest(name, pub, T0 + 10 * i, fps, audio), key))
    store.anchor(reg)
    return store.bundle(2), reg


def _manifest_check(reg: MemoryRegistry) -> Callable[[Any], set[str]]:
    from watermark import WatermarkError
    from watermark._manifest import check_bundle

    def check(doc: Any) -> set[str]:
        try:
            _, findings, _ = check_bundle(doc, reg, reg)
        except WatermarkError as exc:  # a typed refusal is a rejection with a code
            return {exc.code}
        return {f.code for f in findings}

    return check


def test_clip_manifest_matrix(tmp_path: Path) -> None:
    doc, reg = _manifest_bundle(tmp_path)
    assert _manifest_check(reg)(doc) == set()
    codes, counts, total = run_matrix(doc, _manifest_check(reg), MANIFEST_EXPECT, PER_ROW)
    assert total > 40
    sync_table("tamper-manifest", HEADER, table_rows(codes, counts))
