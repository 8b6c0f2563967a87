"""The public surface and error codes are what we meant (STYLE.md habit 5)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import watermark
from watermark import Detector, Evidence, Geometry, StreamerKey, WatermarkError, fold_frame
from watermark._detect import _HP, _N, _R
from watermark._patterns import sandwich

EXPECTED = {
    "DEFAULT_PSNR_DB", "MAX_FRAME_PIXELS", "ConstPayload", "Detection", "Detector",
    "EmbedReport", "EmbedSettings", "Embedder", "Evidence", "FrameHook", "Geometry",
    "KeyExists", "KeyInvalid", "KeyMismatch", "KeyNotFound", "KeyStore", "PayloadInvalid",
    "SecondMark", "Segment", "StreamFailed", "StreamerKey", "TimeCode", "VideoTooLarge",
    "VideoTooSmall", "VideoUnreadable", "VideoWriteFailed", "WatermarkError", "conv_encode",
    "detect_file", "embed_file", "fold_frame", "iter_luma", "stream", "viterbi_decode",
}  # fmt: skip


def test_exported_members() -> None:
    assert set(watermark.__all__) == EXPECTED
    for name in watermark.__all__:
        assert getattr(watermark, name) is not None


def test_error_codes_are_unique_and_stable() -> None:
    errors = [getattr(watermark, n) for n in watermark.__all__]
    errors = [e for e in errors if isinstance(e, type) and issubclass(e, WatermarkError)]
    codes = [e.code for e in errors]
    assert len(codes) == len(set(codes))
    assert WatermarkError.code == "watermark_error"
    assert watermark.VideoUnreadable.code == "video_unreadable"
    assert issubclass(watermark.VideoUnreadable, ValueError)


def test_evidence_memory_is_bounded() -> None:
    seen: list[int] = []
    ev = Evidence(288.0, on_flush=lambda b, c, t: seen.append(b))
    frame = np.zeros((360, 640), np.uint8)
    for i in range(30 * 25):  # 30 s of frames
        ev.add_frame(frame, i / 25)
        assert len(ev.tiles) <= 11
    ev.flush()
    assert not ev.tiles and sorted(seen) == list(range(150))


def test_evidence_keeps_only_the_clip_ends_frames() -> None:
    """A moving mark's evidence keeps the resampled frames of the first and last ``keep_s``
    seconds (a clip end re-read at another anchor, watermark/_clip.py), each once, and
    nothing else however long the clip; a frame-fixed mark's keeps none."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (360, 640), dtype=np.uint8) for _ in range(4)]
    moving = Evidence(288.0, on_flush=lambda b, c, t: None, anchors=(1.0, 0.0), keep_s=1.0)
    fixed = Evidence(288.0, on_flush=lambda b, c, t: None, keep_s=1.0)
    for i in range(20 * 25):  # 20 s
        for ev in (moving, fixed):
            ev.add_frame(frames[i % 4], i / 25)
        assert len(moving.kept()) <= 2 * 25 + 2
    times = [f.t for f in moving.kept()]
    assert times == [i / 25 for i in range(25)] + [i / 25 for i in range(19 * 25 - 1, 20 * 25)]
    assert fixed.kept() == []
    # a clip shorter than both ends together: every frame once, in order
    short = Evidence(288.0, anchors=(1.0, 0.0), keep_s=1.0)
    for i in range(30):
        short.add_frame(frames[i % 4], i / 25)
    assert [f.t for f in short.kept()] == [i / 25 for i in range(30)]


def test_evidence_sums_a_buckets_frames_before_folding() -> None:
    """Folding is linear: a bucket folded once from its summed frames is the sum of the
    frames' folds (``Evidence`` folds per bucket, not per frame), the last bucket included
    once ``flush`` settles it."""
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (200, 330), dtype=np.uint8) for _ in range(12)]
    ev = Evidence(150.0)
    for i, y in enumerate(frames):
        ev.add_frame(y, i / 25)
    ev.settle()
    assert sorted(ev.tiles) == [0, 1, 2]  # 0.2-s buckets of 5, 5 and 2 frames
    for b, tile in ev.tiles.items():
        want = sum(fold_frame(y, 150.0) for y in frames[5 * b : 5 * b + 5])
        np.testing.assert_allclose(tile, want, rtol=1e-5, atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    oy=st.integers(-2 * _N, 2 * _N),
    ox=st.integers(-2 * _N, 2 * _N),
)
def test_soft_bits_read_the_high_passed_fold_at_the_tile_offset(
    seed: int, oy: int, ox: int
) -> None:
    """``Detector.soft_bits`` reads chips by two matrix products (``_chip_reader``): the same
    as rolling the fold to the tile offset, high-passing it by FFT and reading the chips."""
    det = Detector(StreamerKey("alice", bytes(range(32))))
    fold = np.random.default_rng(seed).normal(size=(_N, _N))
    aligned = np.roll(fold, (-oy, -ox), axis=(0, 1))
    high = np.fft.ifft2(np.fft.fft2(aligned) * _HP).real
    want = det.patterns.soft_bits(sandwich(_R, high, transposed=True))
    got = det.soft_bits(fold, Geometry(288.0, (oy, ox), 0.0))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-9 * float(np.abs(w).max()))
