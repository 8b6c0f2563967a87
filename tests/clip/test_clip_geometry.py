"""Cropped and half-size clips compare as original against the anchored fingerprints: a crop
is placed on the broadcast's picture (its size from the mark's period, its place by content,
``Framing``), a downscaled clip needs nothing (the thumbnail is an area average)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from services._clip_demo import Edit, apply_edits, decode_luma, encode_luma
from tests.clip.conftest import START, Broadcast
from tests.clip.test_clip_verify import codes, near
from watermark._fingerprint import MIN_CHANGED_CELLS, Framing, compare
from watermark._manifest import fingerprint_video

CROP = 0.9  # 10 % of each dimension removed


def _cropped(b: Broadcast, name: str, upscale: bool, edits: list[Edit]) -> Path:
    """10 % of each side cropped, off centre (the place must be found), maybe upscaled."""
    out = b.work / f"{name}.mp4"
    if not out.exists():
        frames = apply_edits(
            decode_luma(b.marked), [*edits, Edit("crop", factor=CROP, c=2 / 3, d=1 / 3)]
        )
        if upscale:
            h, w = b.foreign[0].shape
            frames = [cv2.resize(y, (w, h), interpolation=cv2.INTER_CUBIC) for y in frames]
        encode_luma(frames, out, crf=28)
    return out


@pytest.mark.parametrize("upscale", [False, True], ids=["cropped", "cropped-upscaled"])
def test_cropped_clip_is_authentic(broadcast: Broadcast, upscale: bool) -> None:
    v = broadcast.verify(_cropped(broadcast, f"crop-{upscale}", upscale, []))
    assert v.verdict == "authentic", v.to_json()
    original = [s for s in v.segments if s.status == "original"]
    assert original[0].broadcast_start is not None
    assert original[0].broadcast_start - START <= 1


def test_overlay_on_a_cropped_clip_is_still_altered(broadcast: Broadcast) -> None:
    clip = _cropped(broadcast, "crop-price", False, [Edit("price", 5.0, 8.0)])
    v = broadcast.verify(clip)
    assert v.verdict == "altered", v.to_json()
    assert near(codes(v)["altered"], 5.0)


def test_half_size_clip_fingerprints_match(broadcast: Broadcast) -> None:
    """50 % downscale (240p here: the mark is lost below ~360p, an engine limit, so the
    fingerprints are compared directly): every second within tolerance."""
    half = broadcast.clip("half-fp", [], scale=0.5)
    fps, _ = fingerprint_video(str(half))
    m = broadcast.stored.manifest
    worst = [compare(fp, m.fingerprint_at(START + s)).changed_cells for s, fp in enumerate(fps)]
    assert len(fps) == 14 and max(worst) < MIN_CHANGED_CELLS, worst


def test_framing_mask_covers_only_whole_cells() -> None:
    fr = Framing(12.8, 7.2, 230.4, 129.6)  # a centred 10 % crop
    assert fr.mask.shape == (9, 16)
    assert fr.mask.sum() == 14 * 7  # the outer ring of cells is partly outside
    full = Framing(0.0, 0.0, 256.0, 144.0)
    assert full.mask[1:-1, 1:-1].all()
