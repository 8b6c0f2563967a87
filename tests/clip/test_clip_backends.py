"""The clip flow on every backend it touches: the manifest store on SQLite and PostgreSQL
(the provenance suite's ``store`` fixture), and batch anchoring plus verification against
the chain on the embedded, served and anvil backends (``tests/conftest.py``'s ``chain``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contracts import Chain, Role
from provenance import MemoryRegistry, Store
from services._clip_demo import decode_luma
from tests.clip.conftest import START, Broadcast
from tests.clip.test_clip_manifest import T0, _key, _manifest
from tests.provenance.conftest import store  # noqa: F401  (the SQLite / PostgreSQL fixture)
from watermark._clip import BundleSource, StoreSource, verify_clip
from watermark._fingerprint import MIN_CHANGED_CELLS, compare
from watermark._live import LiveManifest
from watermark._manifest import ManifestExists, ManifestStore, SignedManifest, check_bundle

OTHERS = ("bob", "carol", "dave")  # other streams in the same anchor batch


def _record_batch(ms: ManifestStore, broadcast: Broadcast, register: Any) -> None:
    """alice's broadcast and three other streams' minutes, registered, not yet anchored."""
    signed = broadcast.stored.signed
    register("alice", signed.manifest.public_key)
    ms.record(signed)
    for i, name in enumerate(OTHERS):
        k, pub = _key(20 + i)
        register(name, pub)
        ms.record(SignedManifest.sign(_manifest(name, pub, T0 + 60 * i, seconds=60), k))


def test_manifest_store_and_clip_verify_on_each_store(
    store: Store,  # noqa: F811
    broadcast: Broadcast,
) -> None:
    ms = ManifestStore(store)
    reg = MemoryRegistry()
    _record_batch(ms, broadcast, lambda name, pub: reg.register(name, pub, Role.STREAMER, T0 - 100))
    with pytest.raises(ManifestExists):
        ms.record(broadcast.stored.signed)
    result = ms.anchor(reg)
    assert result.status == "anchored" and reg.count() == 1  # one anchor, four streams
    assert [r["streamer"] for r in ms.list()] == ["alice", *OTHERS]
    for row in ms.list():
        _, findings, info = check_bundle(ms.bundle(row["id"]), reg, reg)
        assert findings == [] and info["anchor_tx"] == result.head.tx_hash  # type: ignore[union-attr]
    covering = ms.covering("alice", START + 5)
    assert covering is not None and covering.manifest == broadcast.stored.manifest
    v = verify_clip(
        str(broadcast.clip("genuine", [])), broadcast.keys.all(), StoreSource(ms), reg, reg
    )
    assert v.verdict == "authentic", v.to_json()
    assert v.manifest["anchor_tx"] == result.head.tx_hash  # type: ignore[union-attr]


def test_batch_anchor_and_clip_verify_on_each_chain(
    chain: Chain, broadcast: Broadcast, tmp_path: Path
) -> None:
    """Four streams' manifests in one anchoring transaction on the chain; every bundle checks
    against the chain's registry and anchors, the genuine clip verifies authentic offline
    from its exported bundle, and a bundle naming another transaction is refused."""
    ms = ManifestStore(Store.open(f"sqlite:///{tmp_path / 'm.sqlite'}"))
    _record_batch(
        ms, broadcast, lambda name, pub: chain.actors.register(name, pub, Role.STREAMER, T0 - 100)
    )
    result = ms.anchor(chain.anchors)
    assert result.status == "anchored" and result.head is not None
    tx = result.head.tx_hash
    bundles = [ms.bundle(row["id"]) for row in ms.list()]
    for b in bundles:
        _, findings, info = check_bundle(b, chain.actors, chain.anchors)
        assert findings == [] and info["anchor_tx"] == tx
    assert ms.anchor(chain.anchors).status == "up_to_date"
    clip = str(broadcast.clip("genuine", []))
    v = verify_clip(clip, broadcast.keys.all(), BundleSource(bundles), chain.actors, chain.anchors)
    assert v.verdict == "authentic", v.to_json()
    assert v.manifest == {"root": bundles[0]["tree_head"]["root"], "anchor_tx": tx}
    forged = dict(bundles[0], anchor=dict(bundles[0]["anchor"], tx_hash="0x" + "ab" * 32))
    _, findings, _ = check_bundle(forged, chain.actors, chain.anchors)
    assert [f.code for f in findings] == ["anchor_mismatch"]


def test_live_parts_on_each_store(store: Store, broadcast: Broadcast) -> None:  # noqa: F811
    """A live stream's manifest parts (``LiveManifest``, a part per 2 s here) recorded on
    SQLite and PostgreSQL: a part while the frames pass, the rest at close, one anchor for
    all, every part's bundle checks; a stream that stops early keeps its full parts."""
    ms = ManifestStore(store)
    reg = MemoryRegistry()
    keys = broadcast.keys
    reg.register("alice", keys.public_key("alice"), Role.STREAMER, START - 100)
    live = LiveManifest(ms, "alice", START, keys.signing_key("alice"), part_seconds=2)
    frames = decode_luma(broadcast.marked)[: 5 * 25]
    for i, y in enumerate(frames):
        live.frame(i / 25, y)
    assert [p.manifest.end - START for p in live.parts] == [2, 4]  # before close
    parts = live.close()
    assert [(p.manifest.start - START, p.manifest.end - START) for p in parts] == [
        (0, 2),
        (2, 4),
        (4, 5),
    ]
    # the parts carry the fingerprints the file path records for the same seconds
    whole = broadcast.stored.manifest
    for p in parts:
        for t in range(p.manifest.start, p.manifest.end):
            changed = compare(p.manifest.fingerprint_at(t), whole.fingerprint_at(t)).changed_cells
            assert changed < MIN_CHANGED_CELLS, t
    assert ms.anchor(reg).status == "anchored" and reg.count() == 1
    for p in parts:
        _, findings, _ = check_bundle(ms.bundle(p.seq), reg, reg)
        assert findings == []
