"""Embed/detect on luma frames: quality, robustness slice, keys, false positives."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import START, detect_frames, x264_round_trip

from watermark import Detector, StreamerKey
from watermark._detect import _crop_periods


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255.0**2 / mse)


def assert_found(det, seconds: float) -> None:  # type: ignore[no-untyped-def]
    assert det.detected and det.streamer == "alice"
    seg = max(det.segments, key=lambda s: s.clip_end - s.clip_start)
    assert seg.clip_end - seg.clip_start >= seconds - 1.5
    assert abs(seg.broadcast_start - (START + round(seg.clip_start))) <= 1


def test_quality(clip720: list[np.ndarray], marked720: list[np.ndarray]) -> None:
    assert np.mean([psnr(a, b) for a, b in zip(clip720, marked720, strict=True)]) >= 42.0


def test_clean_detection(alice: StreamerKey, marked720: list[np.ndarray]) -> None:
    assert_found(detect_frames(alice, marked720), 4.0)


def test_crf28(alice: StreamerKey, marked720: list[np.ndarray]) -> None:
    assert_found(detect_frames(alice, x264_round_trip(marked720, 28)), 4.0)


@pytest.mark.parametrize("corner", [False, True])
def test_crop_10_percent_after_crf23(
    alice: StreamerKey, marked720: list[np.ndarray], corner: bool
) -> None:
    frames = x264_round_trip(marked720, 23)
    h, w = frames[0].shape
    dy, dx = int(h * 0.1), int(w * 0.1)
    cut = [
        f[:-dy, :-dx] if corner else f[dy // 2 : h - dy // 2, dx // 2 : w - dx // 2] for f in frames
    ]
    assert_found(detect_frames(alice, cut), 4.0)


def test_a_crop_whose_centre_shows_no_mark_is_searched_at_the_broadcasts_period(
    alice: StreamerKey, clip720: list[np.ndarray], marked720: list[np.ndarray]
) -> None:
    """A 1152x648 crop of a 720p broadcast keeps its 288-px period, 1/0.9 of what 648 rows
    suggest. Where the picture's centre, all the coarse search looks at, holds no mark (here
    replaced by unmarked pixels), only a fine search centred on the period of a usual
    broadcast height above the crop finds it (a genuine bench crop was judged unmarked)."""
    crop = [f[36:684, 64:1216].copy() for f in marked720[::4]]
    for f, plain in zip(crop, clip720[::4], strict=True):
        f[:, 220:932] = plain[36:684, 284:996]  # the coarse window: 712 centre columns
    [best, *_] = Detector(alice).geometry_candidates(crop)
    assert best.period == pytest.approx(288.0, rel=0.01) and best.z >= 6.0, best  # noise peaks ~4.8
    assert _crop_periods(648) == [288.0] and _crop_periods(720) == [] == _crop_periods(1080)


def test_brightness_contrast(alice: StreamerKey, marked720: list[np.ndarray]) -> None:
    frames = [np.clip(f.astype(np.float32) * 1.2 - 20, 0, 255).astype(np.uint8) for f in marked720]
    assert_found(detect_frames(alice, frames), 4.0)


def test_downscale_50_percent(alice: StreamerKey, marked720: list[np.ndarray]) -> None:
    assert_found(detect_frames(alice, x264_round_trip(marked720, 23, scale=0.5)), 4.0)


def test_wrong_key_and_unmarked_never_detect(
    alice: StreamerKey, mallory: StreamerKey, clip720: list[np.ndarray], marked720: list[np.ndarray]
) -> None:
    assert not detect_frames(mallory, marked720).detected
    assert not detect_frames(alice, clip720).detected
    bob = StreamerKey("bob", alice.secret)  # same secret, other name: other tag
    assert not detect_frames(bob, marked720).detected


def test_cut_is_segmented(alice: StreamerKey, clip720: list[np.ndarray]) -> None:
    from conftest import mark_frames

    marked = mark_frames(alice, clip720 + clip720)  # 8 s broadcast
    clip = marked[:75] + marked[150:]  # drop broadcast seconds 3-6
    det = detect_frames(alice, clip)
    assert det.detected
    starts = sorted((round(s.clip_start), s.broadcast_start - START) for s in det.segments)
    assert len(starts) >= 2
    assert abs(starts[0][1] - 0) <= 1 and abs(starts[-1][0] - 3) <= 1
    assert abs(starts[-1][1] - 6) <= 1
