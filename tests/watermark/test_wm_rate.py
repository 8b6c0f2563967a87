"""The playback-rate estimate's two parts on synthetic input: the slope of the counters
decoded second by second at normal speed (``counter_slope``), and the margin a rate needs
over normal speed in the probe (``choose_rate``); and the path of broadcast offsets through
the seconds (``track_offsets``), which the rolling time code needs. Whole clips:
``test_wm_detail``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from watermark import StreamerKey
from watermark._detect import (
    _JUMP_Z,
    _NEAR_JUMP_Z,
    _SLOPE_MIN_Z,
    _SPEED_MARGIN,
    _SPEED_NEAR_MARGIN,
    SPEED_RATES,
    AnchorHypothesis,
    AnchorProbe,
    Detector,
    Geometry,
    _slope_agrees,
    choose_rate,
    counter_slope,
    track_offsets,
)
from watermark._payload import EPOCH_SECONDS

Z = _SLOPE_MIN_Z + 3.0  # a confident second


def rates_agreeing(counters: list[int], zs: list[float] | None = None) -> set[float]:
    slope = counter_slope(counters, zs if zs is not None else [Z] * len(counters))
    assert slope is not None
    return {r for r in (1.0, *SPEED_RATES) if _slope_agrees(slope, r)}


@pytest.mark.parametrize(
    ("rate", "counters"),
    [
        # what the rolling code decodes per clip second of a sped-up / slowed clip (measured
        # on 720p and CRF 28 clips): one of the broadcast seconds each clip second mixes
        (1.5, [0, 1, 3, 4, 5, 7, 8, 10, 11, 13, 14]),
        (2.0, [0, 2, 4, 6, 8, 10, 12, 13, 16, 18]),
        (1.25, [0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12]),
        (0.75, [0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7]),
        (0.5, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
    ],
)
def test_the_counters_slope_follows_the_playback_rate(rate: float, counters: list[int]) -> None:
    agree = rates_agreeing(counters)
    assert rate in agree
    # normal speed does not fit a clip 1.25x or more away from it
    if abs(rate - 1.0) >= 0.5:
        assert 1.0 not in agree


def test_normal_speed_with_decoding_jitter_and_a_cut_keeps_slope_one() -> None:
    """A counter one second off here and there (neighbouring codewords of the rolling code
    share 7 of 8 groups), and a 2-s cut in 12 s: one jump moves the median little."""
    jitter = [-1, 0, 1, 3, 4, 4, 5, 6, 7, 8, 9, 10, 12]
    assert rates_agreeing(jitter) & set(SPEED_RATES) <= {1.25}
    assert counter_slope(jitter, [Z] * len(jitter)) == 1.0
    cut = [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]
    assert counter_slope(cut, [Z] * len(cut)) == 1.0
    # two 2-s pieces swapped 5 s apart: slope 1, no other rate (0.75 was once let through)
    swap = [0, 1, 2, 8, 9, 5, 6, 7, 3, 4, 10, 11, 12, 13]
    assert rates_agreeing(swap) & {0.5, 0.75, 0.8} == set()


def test_wrong_decodes_weak_seconds_and_the_epoch_wrap() -> None:
    counters = [65533, 65534, 65535, 0, 1, 40000, 3, 4, 5]
    zs = [Z] * len(counters)
    assert counter_slope(counters, zs) == 1.0  # 40000 is wildly apart: its pairs are dropped
    zs[5] = _SLOPE_MIN_Z - 1.0
    assert counter_slope(counters, zs) == 1.0
    assert counter_slope([0, 1, 2], [Z, 1.0, 1.0]) is None  # too few confident pairs


def test_a_rate_needs_the_margin_over_normal_speed() -> None:
    base = {1.0: (5.0, 2)}
    assert choose_rate(base) == (1.0, 2)
    # a little better than normal speed is noise: normal-speed clips are never re-timed
    assert choose_rate({**base, 1.5: (5.0 + _SPEED_MARGIN * 0.9, 1)}) == (1.0, 2)
    # clearly better: the best such rate, with its own phase
    probe = {**base, 1.25: (5.0 + _SPEED_MARGIN * 1.5, 3), 1.5: (5.0 + _SPEED_MARGIN * 2, 1)}
    assert choose_rate(probe) == (1.5, 1)
    assert choose_rate({1.0: (-math.inf, 0), 0.5: (0.0, 4)}) == (0.5, 4)
    # of several rates over the margin, the one read as one continuous run wins, even with
    # a slightly lower probe score (1.5x read as 1.25x needs jumps to follow the broadcast)
    runs = {1.25: 3, 1.5: 1}
    assert choose_rate(probe, lambda r, ph: runs[r]) == (1.5, 1)
    swapped = {**base, 1.25: probe[1.5], 1.5: probe[1.25]}
    assert choose_rate(swapped, lambda r, ph: runs[r]) == (1.5, 3)
    # a rate alone over the margin needs no path
    assert choose_rate({**base, 2.0: (9.0, 0)}, lambda r, ph: 1 / 0) == (2.0, 0)


def test_a_rate_just_ahead_of_normal_speed_needs_a_path_with_fewer_runs() -> None:
    base = {1.0: (5.0, 2)}
    ahead = {**base, 1.5: (5.0 + _SPEED_MARGIN * 0.5, 1)}  # under the margin, over the near one
    assert choose_rate(ahead, lambda r, ph: {1.0: 3, 1.5: 1}[r]) == (1.5, 1)
    # as many runs at normal speed (a cut clip that the rate explains no better): not re-timed
    assert choose_rate(ahead, lambda r, ph: {1.0: 2, 1.5: 2}[r]) == (1.0, 2)
    # fewer runs do not help a rate the probe does not put ahead (two 1-s cuts look like 1.25x
    # to the counters, not to the sub-second boundaries the probe scores)
    behind = {**base, 1.25: (5.0 + _SPEED_NEAR_MARGIN * 0.5, 0), 0.5: (3.0, 4)}
    assert choose_rate(behind, lambda r, ph: {1.0: 3, 1.25: 1, 0.5: 1}[r]) == (1.0, 2)
    # near and over the margin together: the fewest runs wins, as among rates over the margin
    both = {**ahead, 0.5: (5.0 + _SPEED_MARGIN * 1.2, 4)}
    assert choose_rate(both, lambda r, ph: {1.0: 3, 1.5: 1, 0.5: 3}[r]) == (1.5, 1)
    assert choose_rate(both, lambda r, ph: {1.0: 1, 1.5: 1, 0.5: 3}[r]) == (0.5, 4)


def rows_showing(offsets: list[int | None], z: float) -> list[np.ndarray]:
    """Codeword z-score rows of a clip whose second j shows counter offsets[j] + j with
    per-second z ``z`` (None: no mark), over noise of a fixed seed."""
    rng = np.random.default_rng(7)
    rows = []
    for j, o in enumerate(offsets):
        row = rng.standard_normal(EPOCH_SECONDS)
        if o is not None:
            row[(o + j) % EPOCH_SECONDS] += z
        rows.append(row)
    return rows


def test_the_offset_path_ignores_a_lone_wrong_second_and_keeps_cuts() -> None:
    # a second whose best codeword is 2 s off (noise beats a weak mark once): one path
    rows = rows_showing([0] * 12, 3.0)
    rows[5][(5 - 2) % EPOCH_SECONDS] += 4.0
    assert track_offsets(rows, _JUMP_Z) == [0] * 12
    # a cut, a re-order's 2-s piece, and a piece that ends the clip: kept where they are
    for offsets in ([0] * 5 + [9] * 6, [0] * 4 + [7] * 2 + [2] * 5, [0] * 8 + [40] * 2):
        assert track_offsets(rows_showing(offsets, 6.0), _JUMP_Z) == offsets
        # decided with a short lag, the path is the same
        assert track_offsets(rows_showing(offsets, 6.0), _JUMP_Z, lag=3) == offsets
    # seconds without mark (a splice) do not break the run or move the offset
    spliced = [0] * 4 + [None] * 3 + [0] * 4
    assert track_offsets(rows_showing(spliced, 6.0), _JUMP_Z)[7:] == [0] * 4
    assert track_offsets([], _JUMP_Z) == []


def near_rows(offsets: list[int], z: float) -> list[np.ndarray]:
    """Rows as the rolling code gives them: codeword c + d (|d| < 8) correlates (8 - |d|) / 8
    as well as the second's own, plus a little noise."""
    rng = np.random.default_rng(3)
    rows = []
    for j, o in enumerate(offsets):
        row = 0.1 * rng.standard_normal(EPOCH_SECONDS)
        for d in range(-7, 8):
            row[(o + j + d) % EPOCH_SECONDS] += z * (8 - abs(d)) / 8
        rows.append(row)
    return rows


def test_a_1s_cut_near_the_clip_start_is_found_by_the_near_price() -> None:
    """2 s then a 1-s cut (offset 0 -> 1) at z 10 per second: the far price alone kept one
    run and read the first 2 s 1 s late; the near price finds the cut."""
    offsets = [0, 0] + [1] * 5
    assert track_offsets(near_rows(offsets, 10.0), _JUMP_Z) == [1] * 7
    assert track_offsets(near_rows(offsets, 10.0), _JUMP_Z, _NEAR_JUMP_Z) == offsets


@pytest.mark.parametrize(
    ("first", "second", "taken"),
    [
        (3.9, 4.7, False),  # a normal-speed piece after a cut at 2.92 s (clip bench, slow pan)
        (11.7, 13.9, True),  # the weakest halves of the clip bench's 1.25x / 1.5x re-uploads
        (30.0, 0.0, False),  # a cut clip: one side keeps the normal schedule
    ],
)
def test_a_faster_schedule_must_clear_half_the_margin_in_each_half(
    alice: StreamerKey, first: float, second: float, taken: bool
) -> None:
    """``_faster_throughout`` takes a faster schedule only if it beats normal speed by half
    the whole probe's margin in each half of the probe on its own (winning is not enough:
    on a slow pan a 2x schedule gathers frames that normal speed fades out)."""
    det = Detector(alice)
    probe = AnchorProbe([])
    probe.times = [i / 25.0 for i in range(200)]
    mid = probe.times[100]
    fast = Geometry(100.0, (0, 0), 9.0, 0, anchor_rate=2.0, anchor_origin=0.48)

    def scores(
        geo: Geometry, probe: AnchorProbe, window: tuple[float, float], rates: tuple[float, ...]
    ) -> list[AnchorHypothesis]:
        lead = first if window[1] <= mid else second
        s = 40.0 + (lead if rates == (2.0,) else 0.0)
        return [AnchorHypothesis(s, rates[0], 0.48, (0, 0))]

    det.anchor_scores = scores  # type: ignore[method-assign]
    assert det._faster_throughout(fast, [fast], probe) is taken
