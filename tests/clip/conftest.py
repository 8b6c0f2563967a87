"""One watermarked broadcast with its anchored manifest, shared by the clip tests.

A 14-second 854x480 broadcast (camera moves over photographs, a cut every 4 s, a tone track
whose loudness changes every 0.5 s), marked for ``alice`` and fingerprinted into a manifest
signed with her registered key, anchored on an in-memory registry (the same rules as the
chain's; ``test_clip_backends`` anchors on every chain backend and store).
Clips are made from it by ``services._clip_demo.edit_clip`` and re-encoded at x264 CRF 28
(picture only: a clip without sound is not compared on sound).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from provenance import MemoryRegistry, Store
from services._clip_demo import Edit, edit_clip, make_broadcast, mux_tone
from watermark import KeyStore
from watermark._clip import ClipVerdict, StoreSource, verify_clip
from watermark._manifest import ManifestStore, StoredManifest, record_manifest
from watermark._synth import scene_clip

START = 1_767_225_600  # 2026-01-01T00:00:00Z
SIZE = (854, 480)
SECONDS = 14.0
STREAMER_ROLE = 6


@dataclass
class Broadcast:
    home: Path
    work: Path
    marked: Path
    keys: KeyStore
    registry: MemoryRegistry
    store: ManifestStore
    stored: StoredManifest
    foreign: list[np.ndarray]

    def clip(self, name: str, edits: list[Edit], crf: int = 28, scale: float = 1.0) -> Path:
        out = self.work / f"{name}.mp4"
        if out.exists():  # made once per session
            return out
        return edit_clip(
            self.marked,
            self.work / f"{name}.mp4",
            edits,
            crf=crf,
            scale=scale,
            foreign=self.foreign,
        )

    def verify(self, clip: Path) -> ClipVerdict:
        return verify_clip(
            str(clip), self.keys.all(), StoreSource(self.store), self.registry, self.registry
        )


@pytest.fixture(scope="session")
def broadcast(tmp_path_factory: pytest.TempPathFactory) -> Broadcast:
    work = tmp_path_factory.mktemp("clip")
    home = work / "home"
    keys = KeyStore(home)
    keys.register("alice")
    registry = MemoryRegistry()
    registry.register("alice", keys.public_key("alice"), STREAMER_ROLE, START - 60)
    video = make_broadcast(work, home, "alice", START, SECONDS, SIZE, seed=1)
    marked = mux_tone(video, work / "broadcast-audio.mp4", SECONDS, seed=1)
    store = ManifestStore(Store.open(f"sqlite:///{work / 'db.sqlite'}"))
    stored = record_manifest(store, str(marked), "alice", START, keys.signing_key("alice"))
    store.anchor(registry)
    foreign = list(scene_clip(SIZE[1], SIZE[0], 4.0, seed=5))
    return Broadcast(home, work, marked, keys, registry, store, stored, foreign)


Verify = Callable[[str, list[Edit]], ClipVerdict]
