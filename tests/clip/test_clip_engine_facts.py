"""The verifier uses the engine's per-segment facts: the playback rate (a sped-up clip is
``speed_changed`` and its content is still compared, at the right broadcast seconds), the
per-second identity strength (foreign footage the time decode bridged is a splice even with
no manifest), the sub-second origin (the mark's prior for the alignment)."""

from __future__ import annotations

import pytest

from services._clip_demo import Edit
from tests.clip.conftest import START, Broadcast
from tests.clip.test_clip_verify import codes, near
from watermark._clip import BundleSource, _mark_absent, _mark_prior, verify_clip
from watermark._detect import Detection, SecondMark, Segment


def test_sped_up_clip_is_edited_and_compared_at_the_marks_rate(broadcast: Broadcast) -> None:
    v = broadcast.verify(broadcast.clip("fast", [Edit("speed", factor=1.5)]))
    assert v.verdict == "edited", v.to_json()
    c = codes(v)
    assert "speed_changed" in c and "altered" not in c and "splice" not in c, c
    original = [s for s in v.segments if s.status == "original"]
    # compared one to one: most of the clip's 9.3 s is original, and covers ~14 broadcast s
    assert sum(s.clip_end - s.clip_start for s in original) >= 6.0, v.to_json()
    assert max(s.broadcast_end or 0 for s in original) - START >= 12


def test_overlay_on_a_sped_up_clip_is_altered_not_just_edited(broadcast: Broadcast) -> None:
    # a price overlay on broadcast 5-8 s, then played at 1.5x: clip 3.3-5.3 s
    clip = broadcast.clip("fast-price", [Edit("price", 5.0, 8.0), Edit("speed", factor=1.5)])
    v = broadcast.verify(clip)
    assert v.verdict == "altered", v.to_json()
    c = codes(v)
    assert "speed_changed" in c and near(c["altered"], 5.0 / 1.5), c
    altered = [s for s in v.segments if s.status == "altered"]
    assert altered and all(5 <= (s.broadcast_start or 0) - START <= 8 for s in altered)


def test_without_manifests_a_splice_is_found_from_the_identity_strength(
    broadcast: Broadcast,
) -> None:
    clip = broadcast.clip("splice", [Edit("splice", 4.0, 7.0)])
    v = verify_clip(str(clip), broadcast.keys.all(), BundleSource([]), None, None)
    c = codes(v)
    assert "not_anchored" in c and "splice" in c and near(c["splice"], 4.0), v.to_json()
    assert v.verdict == "altered"
    genuine = verify_clip(
        str(broadcast.clip("genuine", [])), broadcast.keys.all(), BundleSource([]), None, None
    )
    assert "splice" not in codes(genuine), genuine.to_json()


def _mark(zs: list[float]) -> Detection:
    seconds = tuple(SecondMark(i, i + 1, START + i, 8.0, z, 1.0) for i, z in enumerate(zs))
    seg = Segment(0.0, len(zs), START, START + len(zs), 1.0, clip_origin=-0.4, rate=1.0)
    return Detection(True, "alice", (seg,), seconds=seconds)


def test_mark_absent_needs_two_seconds_below_the_threshold() -> None:
    assert _mark_absent(_mark([6, 5, 0.1, 1.9, -1.2, 6])) == [(2, 5)]
    assert _mark_absent(_mark([6, 0.5, 6, 0.5, 6])) == []  # isolated weak seconds


@pytest.mark.parametrize(("origin", "rate"), [(-0.4, 1.0), (0.2, 1.5)])
def test_mark_prior_uses_origin_and_rate(origin: float, rate: float) -> None:
    seg = Segment(0.0, 8.0, START, START + 12, 1.0, clip_origin=origin, rate=rate)
    prior = _mark_prior(Detection(True, "alice", (seg,)))
    assert prior(2.0) == pytest.approx(START + (2.0 - origin) * rate)
    assert prior(9.0) is None


def test_jumps_are_measured_at_the_playback_rate() -> None:
    from watermark._clip import ClipSegment, _jumps

    # at 1.5x, clip 0-2 s shows broadcast 0-3 s and, after a 2-s unknown gap, clip 4-6 s
    # broadcast 6-9 s: nothing was cut (the gap showed broadcast 3-6 s)
    gap = [ClipSegment(0.0, 2.0, "original", 0, 3), ClipSegment(4.0, 6.0, "original", 6, 9)]
    assert _jumps(gap, 1.5) == []
    assert [f.code for f in _jumps(gap)] == ["cut"]  # at normal speed it would be a cut
    cut = [ClipSegment(0.0, 2.0, "original", 0, 3), ClipSegment(2.0, 4.0, "original", 8, 11)]
    assert [(f.code, f.clip_time) for f in _jumps(cut, 1.5)] == [("cut", 2.0)]
