"""Clip verification on generated clips: every verdict and finding of issue 5, at the right
time (+-1 s), and bad input as typed errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts import Role
from provenance import MemoryRegistry, Store
from services._clip_demo import Edit, encode_luma, mux_audio, tone_track
from tests.clip.conftest import SECONDS, START, Broadcast
from watermark import StreamerKey, VideoTooSmall, VideoUnreadable
from watermark._clip import ClipTooLong, ClipVerdict, StoreSource, verify_clip
from watermark._manifest import FARM_ROLE, ManifestStore, SignedManifest, build_manifest


def codes(v: ClipVerdict) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for f in v.findings:
        out.setdefault(f.code, []).append(-1.0 if f.clip_time is None else f.clip_time)
    return out


def near(times: list[float], t: float) -> bool:
    return any(abs(x - t) <= 1.0 for x in times)


def test_genuine_reencode_is_authentic(broadcast: Broadcast) -> None:
    v = broadcast.verify(broadcast.clip("genuine", []))
    assert v.verdict == "authentic", v.to_json()
    assert v.streamer == "alice"
    assert not v.findings
    assert [s.status for s in v.segments] == ["original"]
    seg = v.segments[0]
    assert seg.broadcast_start == START and seg.clip_end == pytest.approx(14.0, abs=0.1)
    doc = v.to_json()
    assert set(doc) == {"verdict", "streamer", "segments", "findings", "manifest"}
    assert doc["manifest"]["root"] and doc["manifest"]["anchor_tx"].startswith("0x")
    assert set(doc["segments"][0]) == {
        "clip_start",
        "clip_end",
        "status",
        "broadcast_start",
        "broadcast_end",
    }


def test_cut_is_edited(broadcast: Broadcast) -> None:
    v = broadcast.verify(broadcast.clip("cut", [Edit("cut", 3.0, 6.0)]))
    assert v.verdict == "edited", v.to_json()
    c = codes(v)
    assert set(c) == {"cut"} and near(c["cut"], 3.0)
    later = [s for s in v.segments if s.clip_start >= 2.5]
    assert later[0].broadcast_start is not None and later[0].broadcast_start - START == 6


def test_swapped_segments_are_reordered(broadcast: Broadcast) -> None:
    v = broadcast.verify(broadcast.clip("swap", [Edit("swap", 2.0, 5.0, 7.0, 10.0)]))
    assert v.verdict == "edited", v.to_json()
    c = codes(v)
    assert "reorder" in c and (near(c["reorder"], 5.0) or near(c["reorder"], 7.0))
    assert set(c) <= {"cut", "reorder"}


def test_foreign_footage_is_a_splice(broadcast: Broadcast) -> None:
    v = broadcast.verify(broadcast.clip("splice", [Edit("splice", 4.0, 7.0)]))
    assert v.verdict == "altered", v.to_json()
    c = codes(v)
    assert "splice" in c and near(c["splice"], 4.0)
    foreign = [s for s in v.segments if s.status == "foreign"]
    assert foreign and abs(foreign[0].clip_start - 4.0) <= 1.0
    assert foreign[0].broadcast_start is None


@pytest.mark.parametrize("kind", ["price", "blur"])
def test_overlay_or_blur_is_altered_at_the_right_time(broadcast: Broadcast, kind: str) -> None:
    v = broadcast.verify(broadcast.clip(kind, [Edit(kind, 5.0, 8.0)]))
    assert v.verdict == "altered", v.to_json()
    c = codes(v)
    assert set(c) == {"altered"} and near(c["altered"], 5.0)
    altered = [s for s in v.segments if s.status == "altered"]
    assert abs(altered[0].clip_start - 5.0) <= 1.0 and abs(altered[-1].clip_end - 8.0) <= 1.0
    assert (
        altered[0].broadcast_start is not None and abs(altered[0].broadcast_start - START - 5) <= 1
    )


def test_unmarked_clip(broadcast: Broadcast, tmp_path: Path) -> None:
    clip = encode_luma(broadcast.foreign[:75], tmp_path / "plain.mp4")
    v = broadcast.verify(clip)
    assert v.verdict == "unmarked" and v.streamer is None
    assert [s.status for s in v.segments] == ["unknown"]


def test_other_key_is_unmarked(broadcast: Broadcast) -> None:
    clip = broadcast.clip("genuine-other-key", [])
    mallory = StreamerKey("alice", b"\x22" * 32)  # same name, another secret
    v = verify_clip(str(clip), [mallory], StoreSource(broadcast.store), None, None)
    assert v.verdict == "unmarked"


def test_manifest_signed_by_unregistered_key_is_forged(
    broadcast: Broadcast, tmp_path: Path
) -> None:
    """The mark says alice, but the manifest is signed by a key the registry does not hold
    for her (someone with her watermark secret but not her registered identity)."""
    fps, audio = broadcast.stored.manifest.fingerprints, broadcast.stored.manifest.audio
    rogue = Ed25519PrivateKey.generate()
    public = rogue.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    store = ManifestStore(Store.open(f"sqlite:///{tmp_path / 'rogue.sqlite'}"))
    store.record(SignedManifest.sign(build_manifest("alice", public, START, fps, audio), rogue))
    store.anchor(broadcast.registry)
    clip = broadcast.clip("genuine", [])
    v = verify_clip(
        str(clip), broadcast.keys.all(), StoreSource(store), broadcast.registry, broadcast.registry
    )
    assert v.verdict == "forged", v.to_json()
    assert "identity_mismatch" in codes(v)


def test_unanchored_manifest_is_reported(broadcast: Broadcast, tmp_path: Path) -> None:
    store = ManifestStore(Store.open(f"sqlite:///{tmp_path / 'late.sqlite'}"))
    fps, audio = broadcast.stored.manifest.fingerprints, broadcast.stored.manifest.audio
    key = broadcast.keys.signing_key("alice")
    pub = broadcast.keys.public_key("alice")
    store.record(SignedManifest.sign(build_manifest("alice", pub, START, fps, audio), key))
    clip = broadcast.clip("genuine", [])
    v = verify_clip(
        str(clip), broadcast.keys.all(), StoreSource(store), broadcast.registry, broadcast.registry
    )
    assert "not_anchored" in codes(v)
    assert v.manifest["anchor_tx"] is None


def test_bad_input_is_a_typed_error(broadcast: Broadcast, tmp_path: Path) -> None:
    keys = broadcast.keys.all()
    src = StoreSource(broadcast.store)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for bad in (text, empty, tmp_path / "missing.mp4"):
        with pytest.raises(VideoUnreadable) as err:
            verify_clip(str(bad), keys, src, None, None)
        assert err.value.code == "video_unreadable"
    tiny = encode_luma([np.full((32, 32), 128, np.uint8)] * 10, tmp_path / "tiny.mp4")
    with pytest.raises(VideoTooSmall):
        verify_clip(str(tiny), keys, src, None, None)


def test_too_long_clip_is_refused(broadcast: Broadcast, monkeypatch: pytest.MonkeyPatch) -> None:
    import watermark._clip as clip_mod

    monkeypatch.setattr(clip_mod, "MAX_CLIP_SECONDS", 5.0)
    with pytest.raises(ClipTooLong) as err:
        broadcast.verify(broadcast.marked)
    assert err.value.code == "clip_too_long"


def test_dubbed_sound_is_altered_and_a_louder_reupload_is_not(
    broadcast: Broadcast, tmp_path: Path
) -> None:
    """The manifest holds the broadcast's loudness envelope: the original picture with the
    original sound (even 6 dB louder, as a re-upload may normalise) is authentic; with
    other sound (a dub) the clip is altered, and the finding says it is the sound."""
    picture = broadcast.clip("genuine", [])
    own = tone_track(SECONDS, seed=1)
    v = broadcast.verify(mux_audio(picture, tmp_path / "own.mp4", own))
    assert v.verdict == "authentic", v.to_json()
    v = broadcast.verify(mux_audio(picture, tmp_path / "louder.mp4", own * 2.0))
    assert v.verdict == "authentic", v.to_json()
    v = broadcast.verify(mux_audio(picture, tmp_path / "dub.mp4", tone_track(SECONDS, seed=2)))
    assert v.verdict == "altered", v.to_json()
    altered = [f for f in v.findings if f.code == "altered"]
    assert altered and all("sound" in f.detail for f in altered)
    assert set(codes(v)) == {"altered"}
    covered = sum(s.clip_end - s.clip_start for s in v.segments if s.status == "altered")
    assert covered >= SECONDS / 2


@pytest.mark.parametrize(("role", "verdict"), [(FARM_ROLE, "authentic"), (Role.RETAILER, "forged")])
def test_farm_origin_camera_verifies_other_roles_do_not(
    broadcast: Broadcast, tmp_path: Path, role: int, verdict: str
) -> None:
    """Issue 8: a farm's origin camera is marked and recorded like a broadcast, its manifest
    signed by the farm's registered key, so a clip of it verifies to the farm; a key that is
    registered only for another role (a retailer) makes no camera record."""
    registry = MemoryRegistry()
    registry.register("alice", broadcast.keys.public_key("alice"), int(role), START - 60)
    m = broadcast.stored.manifest
    store = ManifestStore(Store.open(f"sqlite:///{tmp_path / 'farm.sqlite'}"))
    manifest = build_manifest("alice", m.public_key, START, m.fingerprints, m.audio)
    store.record(SignedManifest.sign(manifest, broadcast.keys.signing_key("alice")))
    store.anchor(registry)
    clip = broadcast.clip("genuine", [])
    v = verify_clip(str(clip), broadcast.keys.all(), StoreSource(store), registry, registry)
    assert v.verdict == verdict, v.to_json()
    assert ("identity_mismatch" in codes(v)) is (verdict == "forged")
