"""One watermarked broadcast with its anchored manifest, shared by the clip tests.

A 14-second 854x480 broadcast (camera moves over photographs, a cut every 4 s, a tone track
whose loudness changes every 0.5 s), marked for ``alice`` and fingerprinted into a manifest
signed with her registered key, anchored on an in-memory registry (the same rules as the
chain's; ``test_clip_backends`` anchors on every chain backend and store).
Clips are made from it by ``services._clip_demo.edit_clip`` and re-encoded at x264 CRF 28
(picture only: a clip without sound is not compared on sound).

Alice's watermark secret is fixed (``ALICE_SECRET``), as in tests/watermark: with a fresh
random key per session, how well a 1.2-s piece is dated moved with the key (over 34 keys the
short-piece cut test's margin ran 2.2-6.2 against its 2.0 bar, and one CI run in ~30 would
have failed on the key alone). Variation over keys is measured by the clip bench and noted
in docs/clip.md, not left to chance in CI. The clips still vary from run to run: the
wheel's x264 is not bit-exact between runs (the same frames and settings, encoded twice,
decode up to 33 grey levels apart, as heap layout changes), so every decision here has to
hold with some margin, not on one lucky encode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from provenance import MemoryRegistry, Store
from services._clip_demo import Edit, edit_clip, make_broadcast, mux_tone
from watermark import KeyStore, StreamerKey
from watermark._clip import ClipVerdict, StoreSource, verify_clip
from watermark._manifest import ManifestStore, StoredManifest, record_manifest
from watermark._synth import scene_clip

START = 1_767_225_600  # 2026-01-01T00:00:00Z
SIZE = (854, 480)
SECONDS = 14.0
STREAMER_ROLE = 6
ALICE_SECRET = hashlib.sha256(b"livetrust tests/clip alice").digest()


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
    with pytest.MonkeyPatch.context() as mp:  # her fixed secret, stored as register does
        mp.setattr(StreamerKey, "generate", classmethod(lambda cls, n: cls(n, ALICE_SECRET)))
        keys.register("alice")
    assert keys.load("alice").secret == ALICE_SECRET
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
