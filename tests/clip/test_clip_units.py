"""Fingerprints, the HTML report and the public names of the clip modules."""

from __future__ import annotations

import re
from typing import Any

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import watermark._clip as clip_mod
import watermark._manifest as manifest_mod
from watermark._fingerprint import (
    FINGERPRINT_BYTES,
    GRID_COLS,
    GRID_ROWS,
    compare,
    features,
    fingerprint,
    thumbnail,
    unpack,
)
from watermark._report import STATUS_COLOURS, report_html
from watermark._synth import photographs


def _frame(h: int = 720, w: int = 1280) -> np.ndarray:
    return cv2.resize(photographs()[0], (w, h), interpolation=cv2.INTER_AREA)


def test_fingerprint_size_and_round_trip() -> None:
    th = thumbnail(_frame())
    fp = fingerprint(th)
    assert len(fp) == FINGERPRINT_BYTES == GRID_COLS * GRID_ROWS * 7
    f = features(th)
    assert np.allclose(unpack(fp)[..., 0], f[..., 0], atol=0.51)


def test_fingerprint_survives_scaling_and_noise_but_not_an_overlay() -> None:
    y = _frame()
    ref = fingerprint(thumbnail(y))
    small = cv2.resize(y, (640, 360), interpolation=cv2.INTER_AREA)
    noisy = np.clip(small + np.random.default_rng(0).normal(0, 2, small.shape), 0, 255)
    assert not compare(fingerprint(thumbnail(noisy.astype(np.uint8))), ref).altered
    edited = y.copy()
    cv2.rectangle(edited, (800, 500), (1200, 640), 245, -1)
    cv2.putText(edited, "$1.99", (820, 610), cv2.FONT_HERSHEY_DUPLEX, 2.4, 20, 3)
    c = compare(fingerprint(thumbnail(edited)), ref)
    assert c.altered and c.box is not None
    x0, y0, x1, y1 = c.box  # grid cells of 80x80 px at 720p
    assert x0 >= 9 and x1 <= 16 and y0 >= 5 and y1 <= 9


def test_report_is_self_contained_and_coloured() -> None:
    verdict = {
        "verdict": "altered",
        "streamer": "<alice>",
        "segments": [
            {"clip_start": 0, "clip_end": 5, "status": "original", "broadcast_start": 1767225600,
             "broadcast_end": 1767225605},
            {"clip_start": 5, "clip_end": 8, "status": "altered", "broadcast_start": 1767225605,
             "broadcast_end": 1767225608},
            {"clip_start": 8, "clip_end": 9, "status": "foreign", "broadcast_start": None,
             "broadcast_end": None},
        ],
        "findings": [{"code": "altered", "clip_time": 5.0, "detail": "price changed"}],
        "manifest": {"root": "ab" * 32, "anchor_tx": "0x" + "cd" * 32},
    }  # fmt: skip
    page = report_html(verdict)
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "<script" not in page and not re.search(r"(src|href)=\"https?://", page)
    assert "&lt;alice&gt;" in page and "<alice>" not in page
    for status in ("original", "altered", "foreign"):
        assert STATUS_COLOURS[status] in page
    assert "2026-01-01 00:00:05 UTC" in page


def test_public_names() -> None:
    assert set(clip_mod.FINDING_CODES) == {
        "cut", "reorder", "splice", "altered", "identity_mismatch", "not_anchored",
        "speed_changed",
    }  # fmt: skip
    assert clip_mod.VERDICTS == ("authentic", "edited", "altered", "forged", "unmarked")
    for mod in (clip_mod, manifest_mod):
        for name in mod.__all__:
            assert getattr(mod, name) is not None
    codes = [manifest_mod.ManifestMalformed.code, manifest_mod.ManifestExists.code,
             manifest_mod.ManifestNotFound.code, clip_mod.ClipTooLong.code]  # fmt: skip
    assert len(set(codes)) == len(codes)


def test_timeline_tiles_the_clip_and_marks_long_gaps_as_splices() -> None:
    from watermark._clip import ClipSegment, _timeline
    from watermark._manifest import Finding

    findings: list[Finding] = []
    pieces = [ClipSegment(0.2, 3, "original", 0, 3), ClipSegment(6, 9, "original", 6, 9)]
    t = _timeline(pieces, 9.3, findings)
    assert [(s.clip_start, s.clip_end, s.status) for s in t] == [
        (0.0, 3, "original"),
        (3, 6, "foreign"),
        (6, 9.3, "original"),
    ]
    assert [(f.code, f.clip_time) for f in findings] == [("splice", 3)]
    findings.clear()
    t = _timeline([ClipSegment(1.0, 3, "original", 0, 3)], 4.0, findings)
    assert [s.status for s in t] == ["unknown", "original", "unknown"] and not findings


def test_jumps_cut_reorder_and_speed() -> None:
    from watermark._clip import ClipSegment as C
    from watermark._clip import _jumps

    swap = [C(0, 2, "original", 0, 2), C(2, 5, "original", 7, 10), C(5, 7, "original", 5, 7),
            C(7, 10, "original", 2, 5), C(10, 14, "original", 10, 14)]  # fmt: skip
    assert [(f.code, f.clip_time) for f in _jumps(swap)] == [
        ("cut", 2), ("reorder", 5), ("reorder", 7), ("cut", 10),
    ]  # fmt: skip
    fast = [C(3.6, 4.6, "original", 6, 7), C(5.6, 7.6, "original", 9, 11),
            C(8.6, 9.4, "original", 13, 14)]  # fmt: skip
    assert [f.code for f in _jumps(fast)] == ["speed_changed"]


@settings(max_examples=40, deadline=None)
@given(
    env=st.lists(st.integers(-50, -3), min_size=10, max_size=10),
    gain=st.integers(-20, 20),
)
def test_audio_residuals_ignore_gain_but_not_other_sound(env: list[int], gain: int) -> None:
    """A re-upload that changes the level of every bin alike matches; a different envelope
    (each 0.5 s step 20 dB away) does not."""
    from watermark._fingerprint import AUDIO_TOL_DB, audio_residuals

    rows = [env, env[::-1], env]
    louder = [[v + gain for v in r] for r in rows]
    assert all(r == 0.0 for r in audio_residuals(list(zip(louder, rows, strict=True))))
    other = [[v + (20 if (i // 5) % 2 else -20) for i, v in enumerate(r)] for r in rows]
    res = audio_residuals(list(zip(other, rows, strict=True)))
    assert all(r is not None and r > AUDIO_TOL_DB for r in res)
    assert audio_residuals([([-90] * 10, [-90] * 10)]) == [None]  # silence is not compared


def _sec(t: float, b: int, cells: int = 0) -> Any:
    from watermark._clip import _Second
    from watermark._fingerprint import FINGERPRINT_BYTES
    from watermark._manifest import build_manifest

    m = build_manifest("a", b"\x01" * 32, 0, [bytes(FINGERPRINT_BYTES)] * 100)
    return _Second(t, b, m, "unknown", cells)


def test_seam_windows_are_transitions_but_phase_changes_excuse_nothing() -> None:
    from watermark._clip import _judge

    # a cut between clip 3 and 4 (+5 s): the changed window at the seam is a transition
    secs = [_sec(0.3, 10), _sec(1.3, 11), _sec(2.3, 12, 30), _sec(3.5, 18), _sec(4.5, 19)]
    secs += [_sec(5.5, 20), _sec(6.5, 21)]
    _judge(secs, 8.0)
    assert [s.status for s in secs] == ["original"] * 2 + ["unknown"] + ["original"] * 4
    # the same change where the offset only moves 0.2 s: altered
    secs = [_sec(0.3, 10), _sec(1.3, 11), _sec(2.3, 12, 30), _sec(3.1, 13), _sec(4.1, 14)]
    secs += [_sec(5.1, 15), _sec(6.1, 16)]
    _judge(secs, 8.0)
    assert secs[2].status == "altered"


def test_speed_from_a_climbing_path_but_not_from_one_cut() -> None:
    from watermark._clip import _speed

    fast = [_sec(t, 10 + round(1.25 * t)) for t in np.arange(0.4, 9.0, 1.0)]
    speed = _speed(fast)
    assert speed is not None and abs(speed[2] - 1.25) < 0.1
    cut = [_sec(t + 0.4, 10 + t + (3 if t >= 4 else 0)) for t in range(9)]
    assert _speed(cut) is None


def test_a_mark_dated_a_second_outside_its_manifest_is_still_covered() -> None:
    """The mark dates a segment to +-1 s: a genuine clip from a broadcast's first second,
    read one early, is the broadcast's, not an unanchored one; two seconds off is not."""
    start = 1_767_225_600
    m = manifest_mod.build_manifest(
        "alice", b"\x01" * 32, start, [bytes([i]) * FINGERPRINT_BYTES for i in range(14)]
    )
    book = clip_mod._Manifests(None, None, None, "alice")  # type: ignore[arg-type]
    book.manifests.append(m)
    assert book.covers_mark(start - 1) and book.covers_mark(start + 14)
    assert not book.covers(start - 1)
    assert not book.covers_mark(start - 2) and not book.covers_mark(start + 15)
