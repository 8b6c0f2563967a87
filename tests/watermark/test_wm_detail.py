"""What detection says beyond the issue's JSON: sub-second origin, playback rate, per-second
mark strength; and the per-frame hook of embedding (both asked for by clip verification)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import START, detect_frames, mark_frames
from test_wm_video import write_clip

from watermark import Segment, StreamerKey, embed_file, iter_luma

ISSUE_KEYS = {"clip_start", "clip_end", "broadcast_start", "broadcast_end", "confidence"}


@pytest.fixture(scope="module")
def marked8(alice: StreamerKey, clip720: list[np.ndarray]) -> tuple[list, list]:  # type: ignore[type-arg]
    clip = clip720 + clip720  # 8 s broadcast
    return clip, mark_frames(alice, clip)


def longest(segments: tuple[Segment, ...]) -> Segment:
    return max(segments, key=lambda s: s.clip_end - s.clip_start)


def test_clip_origin_gives_the_sub_second_phase(alice: StreamerKey, marked8: tuple) -> None:  # type: ignore[type-arg]
    _, marked = marked8
    det = detect_frames(alice, marked[10:])  # the clip starts 0.4 s into a broadcast second
    assert det.detected and det.rate == 1.0
    for seg in det.segments:
        # broadcast second `broadcast_start` began at clip time clip_origin
        assert abs((seg.broadcast_start - START) - (seg.clip_origin + 0.4)) <= 0.11
        assert seg.phase == pytest.approx(seg.clip_origin % 1.0)
    seg = longest(det.segments)
    assert seg.clip_origin == pytest.approx(-0.4, abs=0.11) and seg.clip_start == 0.0
    assert len(seg.strengths) == seg.broadcast_end - seg.broadcast_start
    assert min(seg.strengths) >= 6.0
    # the issue's JSON keeps its five keys; the detail form adds ours
    assert set(det.to_json()["segments"][0]) == ISSUE_KEYS
    detail = det.to_json(detail=True)
    assert {"clip_origin", "phase", "rate", "strengths"} <= set(detail["segments"][0])
    assert len(detail["seconds"]) == len(det.seconds)


@pytest.mark.parametrize("rate", [1.25, 0.75, 1.5, 2.0, 0.5])
def test_speed_changed_clip_is_timed_at_its_rate(
    alice: StreamerKey,
    marked8: tuple,
    rate: float,  # type: ignore[type-arg]
) -> None:
    _, marked = marked8
    played = [marked[int(i * rate)] for i in range(int(len(marked) / rate))]
    det = detect_frames(alice, played)
    assert det.detected and det.rate == rate
    seg = longest(det.segments)
    assert seg.rate == rate
    assert abs(seg.broadcast_start - START) <= 1
    assert seg.broadcast_end - seg.broadcast_start >= 7  # one segment, no false cuts
    # clip time maps to broadcast time through origin and rate
    t = seg.clip_start + 2.0
    assert abs(seg.broadcast_start + (t - seg.clip_origin) * rate - (START + t * rate)) <= 0.3


def test_normal_speed_is_not_retimed(alice: StreamerKey, marked8: tuple) -> None:  # type: ignore[type-arg]
    _, marked = marked8
    det = detect_frames(alice, marked)
    assert det.rate == 1.0 and len(det.segments) == 1


def test_per_second_identity_strength_drops_on_foreign_footage(
    alice: StreamerKey,
    marked8: tuple,  # type: ignore[type-arg]
) -> None:
    clip, marked = marked8
    spliced = marked[:50] + clip[50:100] + marked[100:]  # clip seconds 2-3 unmarked
    det = detect_frames(alice, spliced)
    by_second = {round(m.clip_start): m for m in det.seconds}
    assert all(by_second[s].identity_z >= 6.0 for s in (0, 1, 4, 5, 6))
    assert all(abs(by_second[s].identity_z) < 4.0 for s in (2, 3))
    assert all(0.0 <= m.confidence <= 1.0 for m in det.seconds)


def test_embed_calls_the_frame_hook_with_marked_frames(tmp_path: Path, alice: StreamerKey) -> None:
    src = write_clip(tmp_path / "in.mp4", 144, 256, 1.2, audio=False)
    seen: list[tuple[float, np.ndarray]] = []
    embed_file(
        str(src),
        str(tmp_path / "out.mp4"),
        alice,
        START,
        crf=0,  # lossless: the output is exactly what the hook saw
        on_frame=lambda t, y: seen.append((t, y.copy())),
    )
    assert [round(t * 25) for t, _ in seen] == list(range(30))
    source = [y.copy() for _, y in iter_luma(str(src))]
    sent = [y.copy() for _, y in iter_luma(str(tmp_path / "out.mp4"))]
    for (_, hooked), y0, y1 in zip(seen, source, sent, strict=True):
        assert np.array_equal(hooked, y1)  # the frame that went to the encoder
        assert not np.array_equal(hooked, y0)  # ... marked, not the source


@pytest.mark.parametrize("cut", [(75, 125), (50, 75), (100, 150)])
def test_a_cut_is_not_taken_for_a_speed_change(
    alice: StreamerKey,
    marked8: tuple,  # type: ignore[type-arg]
    cut: tuple[int, int],
) -> None:
    """A cut makes broadcast time advance faster on average, as a sped-up clip does; only
    the rate hypothesis that explains the seconds on either side of it may win (a clip with
    2 s cut out was once timed at 1.5x and its first second read 1 s early)."""
    _, marked = marked8
    a, b = cut
    det = detect_frames(alice, marked[:a] + marked[b:])
    assert det.rate == 1.0
    first = min(det.segments, key=lambda s: s.clip_start)
    assert first.clip_start == 0.0 and first.broadcast_start == START
    after = [s for s in det.segments if abs(s.clip_start - a / 25) <= 0.2]
    assert after and after[0].broadcast_start == START + b // 25
