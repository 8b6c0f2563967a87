"""Manifests: canonical form, signature, store, anchoring, export, and every single-field
change of an exported bundle rejected with a specific finding."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts import Chain, Role
from provenance import MemoryRegistry, Store
from watermark._fingerprint import FINGERPRINT_BYTES
from watermark._manifest import (
    CLIP_LOG_ID,
    FARM_ROLE,
    STREAMER_ROLE,
    Manifest,
    ManifestExists,
    ManifestMalformed,
    ManifestStore,
    SignedManifest,
    build_manifest,
    canonical_json,
    check_bundle,
)

T0 = 1_767_225_600


def _key(seed: int) -> tuple[Ed25519PrivateKey, bytes]:
    k = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    pub = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return k, pub


def _manifest(streamer: str, pub: bytes, start: int, seconds: int = 5, seed: int = 0) -> Manifest:
    rng = np.random.default_rng(seed)
    fps = [
        rng.integers(0, 256, FINGERPRINT_BYTES, dtype=np.uint8).tobytes() for _ in range(seconds)
    ]
    audio = [[-20 - i % 5] * 10 for i in range(seconds)]
    return build_manifest(streamer, pub, start, fps, audio)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[ManifestStore, MemoryRegistry, dict[str, Any]]:
    reg = MemoryRegistry()
    store = ManifestStore(Store.open(f"sqlite:///{tmp_path / 'm.sqlite'}"))
    for i, name in enumerate(["alice", "bob", "carol"]):
        k, pub = _key(i + 1)
        reg.register(name, pub, STREAMER_ROLE, T0 - 100)
        store.record(SignedManifest.sign(_manifest(name, pub, T0 + 10 * i, seed=i), k))
    store.anchor(reg)  # one anchor, three streams
    return store, reg, store.bundle(1)


def test_streamer_role_matches_the_contract() -> None:
    assert int(Role.STREAMER) == STREAMER_ROLE
    assert int(Role.FARM) == FARM_ROLE


def test_canonical_json_round_trip_and_signature() -> None:
    k, pub = _key(1)
    m = _manifest("alice", pub, T0)
    again = Manifest.from_json(json.loads(m.canonical))
    assert again == m and again.canonical == m.canonical
    assert m.canonical == canonical_json(m.to_json())
    signed = SignedManifest.sign(m, k)
    assert signed.signature_ok()
    other, _ = _key(2)
    with pytest.raises(ManifestMalformed):
        SignedManifest.sign(m, other)  # names another key
    assert not SignedManifest(m, signed.signature[:-1] + b"\0").signature_ok()


@pytest.mark.parametrize(
    "field,value",
    [
        ("format", "other/1"),
        ("start", -1),
        ("end", T0),
        ("key", "zz"),
        ("fingerprints", ["AAAA"] * 5),
        ("fingerprint", {"grid": [8, 8]}),
        ("audio", [[1] * 10] * 5),
        ("extra", 1),
    ],
)
def test_malformed_manifest_is_refused(field: str, value: Any) -> None:
    _, pub = _key(1)
    doc = _manifest("alice", pub, T0).to_json()
    doc[field] = value
    with pytest.raises(ManifestMalformed) as err:
        Manifest.from_json(doc)
    assert err.value.code == "manifest_malformed"


def test_store_anchor_export_and_offline_check(setup: Any) -> None:
    store, reg, bundle = setup
    assert [r["streamer"] for r in store.list()] == ["alice", "bob", "carol"]
    assert store.covering("bob", T0 + 12) is not None and store.covering("bob", T0 + 16) is None
    assert bundle["proof"]["tree_size"] == 3 and bundle["proof"]["path"]
    assert reg.count() == 1 and reg.by_index(0).log_id == CLIP_LOG_ID
    signed, findings, info = check_bundle(json.loads(canonical_json(bundle)), reg, reg)
    assert signed is not None and findings == []
    assert info["anchor_tx"] == bundle["anchor"]["tx_hash"]


def test_overlapping_manifest_is_refused(setup: Any) -> None:
    store, _, _ = setup
    k, pub = _key(1)
    with pytest.raises(ManifestExists):
        store.record(SignedManifest.sign(_manifest("alice", pub, T0 + 2), k))


def test_newer_manifest_is_not_anchored(setup: Any) -> None:
    store, reg, _ = setup
    k, pub = _key(1)
    late = store.record(SignedManifest.sign(_manifest("alice", pub, T0 + 100), k))
    _, findings, _ = check_bundle(store.bundle(late.seq), reg, reg)
    assert [f.code for f in findings] == ["not_anchored"]
    store.anchor(reg)
    assert check_bundle(store.bundle(late.seq), reg, reg)[1] == []


def _set(path: tuple[Any, ...], value: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        node: Any = doc
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value(node[path[-1]])

    return apply


def _flip_b64(s: str) -> str:
    return ("B" if s[0] != "B" else "C") + s[1:]


def _flip_hex(s: str) -> str:
    return ("1" if s[-1] != "1" else "2").join([s[:-1], ""])


def _shift_both(doc: dict[str, Any]) -> None:
    doc["manifest"]["start"] += 1
    doc["manifest"]["end"] += 1


TAMPER: dict[str, tuple[Callable[[dict[str, Any]], None], set[str]]] = {
    "format": (_set(("format",), lambda v: v + "x"), {"manifest_malformed"}),
    "log_id": (_set(("log_id",), lambda v: 1), {"manifest_malformed"}),
    "signature": (_set(("signature",), _flip_b64), {"signature_invalid"}),
    "manifest.format": (_set(("manifest", "format"), lambda v: v + "x"), {"manifest_malformed"}),
    "manifest.streamer": (_set(("manifest", "streamer"), lambda v: "carol"), {"signature_invalid"}),
    "manifest.key": (_set(("manifest", "key"), lambda v: "aa" * 32), {"signature_invalid"}),
    "manifest.start": (_set(("manifest", "start"), lambda v: v + 1), {"manifest_malformed"}),
    "manifest.start+end": (_shift_both, {"signature_invalid"}),
    "manifest.end": (_set(("manifest", "end"), lambda v: v + 1), {"manifest_malformed"}),
    "manifest.fingerprints": (
        _set(("manifest", "fingerprints"), lambda v: [_flip_b64(v[0]), *v[1:]]),
        {"signature_invalid"},
    ),
    "manifest.fingerprint": (
        _set(("manifest", "fingerprint"), lambda v: {**v, "version": 2}),
        {"manifest_malformed"},
    ),
    "manifest.audio": (
        _set(("manifest", "audio"), lambda v: [[-1] * 10, *v[1:]]),
        {"signature_invalid"},
    ),
    "proof.leaf_index": (
        _set(("proof", "leaf_index"), lambda v: v + 1),
        {"inclusion_proof_invalid"},
    ),
    "proof.tree_size": (_set(("proof", "tree_size"), lambda v: v + 1), {"inclusion_proof_invalid"}),
    "proof.path": (
        _set(("proof", "path"), lambda v: [_flip_hex(v[0]), *v[1:]]),
        {"inclusion_proof_invalid"},
    ),
    "tree_head.root": (_set(("tree_head", "root"), _flip_hex), {"inclusion_proof_invalid"}),
    "tree_head.tree_size": (
        _set(("tree_head", "tree_size"), lambda v: v + 1),
        {"inclusion_proof_invalid"},
    ),
    "anchor.index": (_set(("anchor", "index"), lambda v: v + 1), {"anchor_mismatch"}),
    "anchor.timestamp": (_set(("anchor", "timestamp"), lambda v: v - 1), {"anchor_mismatch"}),
    "anchor.tx_hash": (_set(("anchor", "tx_hash"), _flip_hex), {"anchor_mismatch"}),
}


@pytest.mark.parametrize("field", sorted(TAMPER))
def test_every_field_change_is_rejected_with_a_specific_finding(setup: Any, field: str) -> None:
    _, reg, bundle = setup
    doc = copy.deepcopy(bundle)
    change, expected = TAMPER[field]
    change(doc)
    assert doc != bundle
    _, findings, _ = check_bundle(doc, reg, reg)
    got = {f.code for f in findings}
    assert got, f"{field}: tampered bundle accepted"
    assert got & expected, f"{field}: expected one of {expected}, got {got}"


def test_unregistered_or_wrong_role_key_is_identity_mismatch(setup: Any) -> None:
    _store, _, bundle = setup
    reg = MemoryRegistry()
    _, pub = _key(2)
    reg.register("bob", pub, int(Role.FARM), T0 - 100)  # bob's key, but not as streamer
    _, findings, _ = check_bundle(bundle, reg, reg)
    assert "identity_mismatch" in {f.code for f in findings}
    _, findings, _ = check_bundle(bundle, None, None)
    assert {"identity_mismatch", "not_anchored"} <= {f.code for f in findings}


def test_anchor_on_the_embedded_chain(tmp_path: Path, compile_cache: Path) -> None:
    store = ManifestStore(Store.open(f"sqlite:///{tmp_path / 'c.sqlite'}"))
    k, pub = _key(7)
    with Chain.connect("embedded", tmp_path / "home", cache=compile_cache) as chain:
        chain.actors.register("dave", pub, Role.STREAMER, T0 - 100)
        store.record(SignedManifest.sign(_manifest("dave", pub, T0), k))
        result = store.anchor(chain.anchors)
        assert result.status == "anchored" and result.head is not None
        bundle = store.bundle(0)
        assert bundle["anchor"]["tx_hash"] == result.head.tx_hash
        _, findings, info = check_bundle(bundle, chain.actors, chain.anchors)
        assert findings == [] and info["root"] == bundle["tree_head"]["root"]
        assert store.anchor(chain.anchors).status == "up_to_date"
