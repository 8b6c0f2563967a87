"""Clip verification: who said it, when, and whether the clip is still what was broadcast.

Steps of :func:`verify_clip` (one decode of the clip, plus the first seconds once more for
the watermark's geometry search):

(0) open: a readable video no longer than ``MAX_CLIP_SECONDS`` (bounded memory: the
    detector keeps soft bits per 0.2 s, this module 1-second window features per 0.04 s);
(1) geometry: for every known key, period and offset of its tile from frames sampled over
    the first ``SYNC_SECONDS`` (``Detector.geometry``);
(2) one pass over the clip: every frame into :class:`WindowFeatures` (fingerprints of every
    1-second window on the 0.04 s grid); every ``stride``-th frame into the watermark
    ``Evidence`` of each period (sampling keeps a 60 s 720p clip within 15 s on one core);
(3) marks: each key's detection; the key covering most of the clip is the claimed streamer,
    segments of other keys' marks are ``foreign`` (``splice``);
(4) manifests: the claimed streamer's manifest covering each segment's broadcast time,
    checked as a bundle (signature, registration, inclusion proof, anchor) -> findings
    ``identity_mismatch`` (forged) / ``not_anchored``;
(5) content: every clip second of a marked segment against the anchored fingerprint of its
    broadcast second (best of the 0.04 s phases around the mapping) -> ``altered`` pieces;
(6) timeline: gaps of ``SPLICE_MIN_S`` or more without the claimed mark are ``foreign``
    (``splice``); between consecutive marked segments the broadcast offset (broadcast time
    minus clip time) jumps forward (``cut``) or backward (``reorder``); a run of
    ``SPEED_RUN`` short segments (<= ``SPEED_SEGMENT_S``) that each jump by the same step
    is ``speed_changed`` (best effort: the engine decodes time assuming 1 s per second);
(7) verdict: unmarked (no mark) > forged (identity_mismatch, or no second of the clip
    matches its anchored fingerprint: a transplanted mark) > altered (altered or splice) >
    edited (cut, reorder, speed_changed) > authentic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import av
import av.error
import numpy as np

from provenance._registry import AnchorLedger, KeyDirectory
from watermark._detect import Detection, Detector, Geometry
from watermark._errors import VideoUnreadable, WatermarkError
from watermark._fingerprint import (
    GRID_COLS,
    GRID_ROWS,
    WINDOW_STEPS_PER_SECOND,
    Comparison,
    WindowFeatures,
    compare,
)
from watermark._keys import StreamerKey
from watermark._manifest import Finding, Manifest, ManifestStore, SignedManifest, check_bundle
from watermark._video import fan_out_evidence, iter_luma, sync_samples

__all__ = [
    "FINDING_CODES",
    "MAX_CLIP_SECONDS",
    "SEGMENT_STATUSES",
    "VERDICTS",
    "ClipSegment",
    "ClipTooLong",
    "ClipVerdict",
    "ManifestSource",
    "verify_clip",
]

VERDICTS = ("authentic", "edited", "altered", "forged", "unmarked")
SEGMENT_STATUSES = ("original", "altered", "foreign", "unknown")
FINDING_CODES = (
    "cut",
    "reorder",
    "splice",
    "altered",
    "identity_mismatch",
    "not_anchored",
    "speed_changed",
)
MAX_CLIP_SECONDS = 3600.0  # one hour: ~180 MB of window features + the detector's ~6 MB/key
SYNC_SECONDS = 10.0  # geometry from frames of the first 10 s (24 of them)
SYNC_FRAMES = 24  # as the engine's detect_file
DEFAULT_STRIDE = 2  # watermark evidence from every 2nd frame (bench: no accuracy lost at 25 fps)
SPLICE_MIN_S = 2.0  # unmarked stretch that is foreign material, not a weak second at a seam
SPEED_RUN = 2  # equal jumps between consecutive short segments: another playback speed
SPEED_SEGMENT_S = 2.5  # a segment this short between equal jumps is a speed-up, not an edit
SPEED_MAX_STEP = 2  # s per jump: 1.25-2x playback slips 1-2 s at a time; edits jump further
GAP_MERGE_S = 0.5  # shorter unmarked slivers (a partial last frame) join their neighbour
FOREIGN_CELLS = GRID_COLS * GRID_ROWS // 2  # half the picture changed: other footage
_PHASES = (0, -1, 1)  # 0.04 s steps tried around the mapped window
# The detector clamps a segment's start to 0 when the clip begins mid-second, which loses
# the sub-second phase; each segment's phase is re-found from content over these shifts.
_SEGMENT_SHIFTS = tuple(range(-WINDOW_STEPS_PER_SECOND + 1, 3))
_SHIFT_CAP = 20  # changed cells counted per second when choosing a shift (robust to edits)


class ClipTooLong(WatermarkError, ValueError):
    code = "clip_too_long"


class ManifestSource(Protocol):
    """Where manifests come from: the store (``ManifestStore``) or exported bundles."""

    def bundle_for(self, streamer: str, t: int) -> dict[str, Any] | None: ...


class StoreSource:
    """Manifest bundles from a :class:`ManifestStore` (anchored proofs included)."""

    def __init__(self, store: ManifestStore) -> None:
        self.store = store

    def bundle_for(self, streamer: str, t: int) -> dict[str, Any] | None:
        m = self.store.covering(streamer, t)
        return None if m is None else self.store.bundle(m.seq)


class BundleSource:
    """Manifest bundles given as JSON documents (offline verification)."""

    def __init__(self, bundles: Sequence[dict[str, Any]]) -> None:
        self.bundles = list(bundles)

    def bundle_for(self, streamer: str, t: int) -> dict[str, Any] | None:
        for b in self.bundles:
            m = b.get("manifest") if isinstance(b, dict) else None
            if (
                isinstance(m, dict)
                and m.get("streamer") == streamer
                and isinstance(m.get("start"), int)
                and isinstance(m.get("end"), int)
                and m["start"] <= t < m["end"]
            ):
                return b
        return None


@dataclass(frozen=True)
class ClipSegment:
    clip_start: float
    clip_end: float
    status: str
    broadcast_start: int | None = None
    broadcast_end: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "clip_start": round(self.clip_start, 2),
            "clip_end": round(self.clip_end, 2),
            "status": self.status,
            "broadcast_start": self.broadcast_start,
            "broadcast_end": self.broadcast_end,
        }


@dataclass(frozen=True)
class ClipVerdict:
    verdict: str
    streamer: str | None
    segments: tuple[ClipSegment, ...]
    findings: tuple[Finding, ...]
    manifest: dict[str, Any] = field(default_factory=lambda: {"root": None, "anchor_tx": None})
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "streamer": self.streamer,
            "segments": [s.to_json() for s in self.segments],
            "findings": [f.to_json() for f in self.findings],
            "manifest": dict(self.manifest),
        }


@dataclass
class _Pass:
    windows: dict[int, np.ndarray]
    detections: list[Detection]
    duration: float


def _probe(path: str) -> tuple[float, float]:
    """(duration or 0, fps) without decoding; unreadable input -> VideoUnreadable."""
    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise VideoUnreadable(f"{path}: no video stream")
            vs = c.streams.video[0]
            fps = float(vs.average_rate or 25)
            if vs.duration is not None and vs.time_base is not None:
                return float(vs.duration * vs.time_base), fps
            if c.duration is not None:
                return float(c.duration / av.time_base), fps
            return 0.0, fps
    except (av.error.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise VideoUnreadable(f"cannot open {path}: {exc}") from exc


def _analyse(
    path: str,
    keys: Sequence[StreamerKey],
    stride: int,
    progress: Callable[[float, float], None] | None,
) -> _Pass:
    total, fps = _probe(path)
    if total > MAX_CLIP_SECONDS:
        raise ClipTooLong(f"{path}: {total:.0f} s is longer than {MAX_CLIP_SECONDS:.0f} s")
    # (1) geometry
    detectors = [Detector(k) for k in keys]
    geos: list[Geometry] = []
    if detectors:
        span = min(SYNC_SECONDS, total or SYNC_SECONDS)
        samples = sync_samples(path, span, fps, SYNC_SECONDS, SYNC_FRAMES)
        geos = [d.geometry(samples) for d in detectors]
        del samples
    # (2) one pass
    series, evidence = fan_out_evidence(detectors, geos)
    windows = WindowFeatures()
    last = -1.0
    n = 0
    for i, (t, y) in enumerate(iter_luma(path)):
        if t > MAX_CLIP_SECONDS:
            raise ClipTooLong(f"{path}: longer than {MAX_CLIP_SECONDS:.0f} s")
        windows.add(t, y)
        if i % stride == 0:
            for fold in evidence.values():
                fold.add_frame(y, t)
        last = t
        n += 1
        if progress is not None and n % 25 == 0:
            progress(t, total)
    if n == 0:
        raise VideoUnreadable(f"{path}: no video frames")
    for ev in evidence.values():
        ev.flush()
    detections = [
        d.detect(evidence[round(g.period, 6)], g, s)
        for d, g, s in zip(detectors, geos, series, strict=True)
    ]
    return _Pass(windows.finish(), detections, last + 1.0 / fps)


def _window(
    windows: dict[int, np.ndarray], clip_t: float, anchored: bytes, shift: int = 0
) -> Comparison | None:
    """The clip second starting at ``clip_t`` against its anchored fingerprint, at the best
    of the 0.04 s phases around the mapping (None if the clip has no frames there)."""
    b0 = round(clip_t * WINDOW_STEPS_PER_SECOND) + shift
    best: Comparison | None = None
    for d in _PHASES:
        f = windows.get(b0 + d)
        if f is not None:
            c = compare(f.astype(np.float64), anchored)
            if best is None or (c.changed_cells, c.score) < (best.changed_cells, best.score):
                best = c
    return best


def verify_clip(
    path: str,
    keys: Sequence[StreamerKey],
    manifests: ManifestSource,
    directory: KeyDirectory | None,
    chain: AnchorLedger | None,
    *,
    stride: int = DEFAULT_STRIDE,
    progress: Callable[[float, float], None] | None = None,
) -> ClipVerdict:
    """Verify ``path`` (see the module docstring for the steps)."""
    a = _analyse(path, keys, max(1, stride), progress)
    dur = a.duration
    found = [d for d in a.detections if d.detected and d.segments]
    if not found:
        return ClipVerdict("unmarked", None, (ClipSegment(0.0, dur, "unknown"),), (), duration=dur)

    # (3) the claimed streamer: the mark covering most of the clip
    def cover(d: Detection) -> float:
        return sum(s.clip_end - s.clip_start for s in d.segments)

    main = max(found, key=cover)
    streamer = main.streamer or ""
    findings: list[Finding] = []
    pieces: list[ClipSegment] = []
    for other in found:
        if other is main:
            continue
        for s in other.segments:
            pieces.append(ClipSegment(s.clip_start, s.clip_end, "foreign"))
            findings.append(
                Finding(
                    "splice",
                    f"clip {s.clip_start:.1f}-{s.clip_end:.1f} s carries the mark of another "
                    f"streamer ({other.streamer}), not {streamer}'s",
                    s.clip_start,
                )
            )
    # (4) manifests, checked once each
    checked: dict[str, tuple[SignedManifest | None, list[Finding], dict[str, Any]]] = {}
    manifest_info: dict[str, Any] = {"root": None, "anchor_tx": None}
    seconds: list[_Second] = []
    for seg in main.segments:
        n_sec = max(1, round(seg.clip_end - seg.clip_start))
        bundle = manifests.bundle_for(streamer, seg.broadcast_start)
        signed: SignedManifest | None = None
        if bundle is None:
            findings.append(
                Finding(
                    "not_anchored",
                    f"no manifest of {streamer} covers broadcast time {seg.broadcast_start}: "
                    "the content of this segment cannot be checked",
                    seg.clip_start,
                )
            )
        else:
            mkey = str(bundle.get("signature"))
            if mkey not in checked:
                checked[mkey] = check_bundle(bundle, directory, chain)
                for p in checked[mkey][1]:
                    code = "not_anchored" if p.code in _ANCHOR_CODES else "identity_mismatch"
                    findings.append(Finding(code, f"manifest: {p.detail}", seg.clip_start))
                if manifest_info["root"] is None:
                    manifest_info = checked[mkey][2]
            signed = checked[mkey][0]
        m = None if signed is None else signed.manifest
        run = [_Second(seg.clip_start + i, seg.broadcast_start + i, m) for i in range(n_sec)]
        shift = _best_shift(a.windows, run)
        for sec in run:
            sec.shift = shift
        seconds.extend(run)
    # (5) content, second by second; a mismatching second next to matching ones is first
    # tried at its neighbours' mapping (a second straddling a cut can decode either side)
    for sec in seconds:
        sec.status = _judge(a.windows, sec)
    for k, sec in enumerate(seconds):
        if sec.status not in ("altered", "foreign"):
            continue
        for nb in seconds[max(0, k - 2) : k + 3]:
            if nb.status != "original" or nb is sec:
                continue
            bt = nb.broadcast_t + round(sec.clip_t - nb.clip_t)
            alt = _Second(sec.clip_t, bt, nb.manifest, shift=nb.shift)
            if alt.broadcast_t != sec.broadcast_t and _judge(a.windows, alt) == "original":
                sec.broadcast_t, sec.manifest, sec.status = (
                    alt.broadcast_t,
                    alt.manifest,
                    "original",
                )
                break
    compared = sum(sec.status != "unknown" for sec in seconds)
    matched = sum(sec.status == "original" for sec in seconds)
    pieces = _pieces(seconds, findings)
    for other in found:
        if other is main:
            continue
        for o in other.segments:
            pieces.append(ClipSegment(o.clip_start, o.clip_end, "foreign"))
            findings.append(
                Finding(
                    "splice",
                    f"clip {o.clip_start:.1f}-{o.clip_end:.1f} s carries the mark of another "
                    f"streamer ({other.streamer}), not {streamer}'s",
                    o.clip_start,
                )
            )
    # (6) timeline: gaps, cuts, re-orders, speed
    findings.extend(_jumps([p for p in pieces if p.broadcast_start is not None]))
    timeline = _timeline(pieces, dur, findings)
    # (7) verdict
    codes = {f.code for f in findings}
    if "identity_mismatch" in codes or (compared >= 2 and matched == 0):
        verdict = "forged"
        if compared >= 2 and matched == 0 and "identity_mismatch" not in codes:
            findings.append(
                Finding(
                    "identity_mismatch",
                    f"the mark of {streamer} sits on footage that matches none of the broadcast's "
                    "anchored fingerprints: a transplanted mark",
                    0.0,
                )
            )
    elif codes & {"altered", "splice"}:
        verdict = "altered"
    elif codes & {"cut", "reorder", "speed_changed"}:
        verdict = "edited"
    else:
        verdict = "authentic"
    findings.sort(key=lambda f: (f.clip_time if f.clip_time is not None else -1.0, f.code))
    return ClipVerdict(
        verdict, streamer, tuple(timeline), tuple(findings), manifest_info, duration=dur
    )


@dataclass
class _Second:
    """One clip second of the claimed mark: where it maps, and how its content compares."""

    clip_t: float
    broadcast_t: int
    manifest: Manifest | None
    status: str = "unknown"
    shift: int = 0  # sub-buckets between the segment's clip_start grid and the true second


def _best_shift(windows: dict[int, np.ndarray], run: list[_Second]) -> int:
    """The sub-second phase that best matches the segment's content (see _SEGMENT_SHIFTS)."""
    best, best_cost = 0, math.inf
    for shift in _SEGMENT_SHIFTS:
        cost = 0.0
        for sec in run:
            m = sec.manifest
            if m is None or not m.covers(sec.broadcast_t):
                continue
            f = windows.get(round(sec.clip_t * WINDOW_STEPS_PER_SECOND) + shift)
            if f is None:
                cost += _SHIFT_CAP
                continue
            c = compare(f.astype(np.float64), m.fingerprint_at(sec.broadcast_t))
            cost += min(c.changed_cells, _SHIFT_CAP) + min(c.score, 10.0) / 10.0
        if cost < best_cost:
            best, best_cost = shift, cost
    return best


_ANCHOR_CODES = ("not_anchored", "inclusion_proof_invalid", "root_not_on_chain", "anchor_mismatch")


def _judge(windows: dict[int, np.ndarray], s: _Second) -> str:
    m = s.manifest
    if m is None or not m.covers(s.broadcast_t):
        return "unknown"
    c = _window(windows, s.clip_t, m.fingerprint_at(s.broadcast_t), s.shift)
    if c is None:
        return "unknown"
    if c.changed_cells >= FOREIGN_CELLS:
        return "foreign"
    return "altered" if c.altered else "original"


def _pieces(seconds: list[_Second], findings: list[Finding]) -> list[ClipSegment]:
    """Runs of seconds with one status and continuous broadcast time, with their findings."""
    out: list[ClipSegment] = []
    i = 0
    while i < len(seconds):
        j = i
        while (
            j + 1 < len(seconds)
            and seconds[j + 1].status == seconds[i].status
            and seconds[j + 1].broadcast_t == seconds[j].broadcast_t + 1
            and abs(seconds[j + 1].clip_t - seconds[j].clip_t - 1.0) < 0.01
        ):
            j += 1
        first, last = seconds[i], seconds[j]
        c0, c1 = first.clip_t, last.clip_t + 1.0
        b0, b1 = first.broadcast_t, last.broadcast_t + 1
        status = first.status
        if status == "foreign":
            out.append(ClipSegment(c0, c1, "foreign"))
            findings.append(
                Finding(
                    "splice",
                    f"clip {c0:.1f}-{c1:.1f} s is other footage: nothing of it matches the "
                    f"anchored fingerprints of broadcast {b0}-{b1} its mark claims",
                    c0,
                )
            )
        else:
            out.append(ClipSegment(c0, c1, status, b0, b1))
        if status == "altered":
            findings.append(
                Finding(
                    "altered",
                    f"clip {c0:.1f}-{c1:.1f} s does not match the anchored fingerprint of "
                    f"broadcast {b0}-{b1}: the picture was changed",
                    c0,
                )
            )
        i = j + 1
    return out


def _timeline(pieces: list[ClipSegment], dur: float, findings: list[Finding]) -> list[ClipSegment]:
    """Pieces in clip order covering 0..dur; gaps become foreign (splice) or unknown."""
    out: list[ClipSegment] = []
    cursor = 0.0
    for p in sorted(pieces, key=lambda s: s.clip_start):
        if p.clip_end <= cursor + 1e-6:
            continue
        if p.clip_start - cursor > GAP_MERGE_S:
            out.extend(_gap(cursor, p.clip_start, findings))
            start = p.clip_start
        else:
            start = cursor  # a sliver before it (or an overlap) joins this piece
        out.append(
            ClipSegment(start, min(p.clip_end, dur), p.status, p.broadcast_start, p.broadcast_end)
        )
        cursor = min(p.clip_end, dur)
    if dur - cursor > GAP_MERGE_S:
        out.extend(_gap(cursor, dur, findings))
    elif out and dur > cursor:
        last = out[-1]
        out[-1] = ClipSegment(
            last.clip_start, dur, last.status, last.broadcast_start, last.broadcast_end
        )
    return out


def _gap(a: float, b: float, findings: list[Finding]) -> list[ClipSegment]:
    """A stretch without the claimed streamer's mark: foreign if long enough, else unknown."""
    if b - a >= SPLICE_MIN_S:
        findings.append(
            Finding(
                "splice",
                f"clip {a:.1f}-{b:.1f} s carries no mark of this broadcast: foreign footage",
                a,
            )
        )
        return [ClipSegment(a, b, "foreign")]
    return [ClipSegment(a, b, "unknown")]


def _jumps(segs: list[ClipSegment]) -> list[Finding]:
    """Cuts, re-orders and speed changes between consecutive segments of one mark."""
    segs = sorted(segs, key=lambda s: s.clip_start)
    out: list[Finding] = []
    steps: list[tuple[float, int, float]] = []  # (clip time, jump, previous segment length)
    for prev, nxt in itertools.pairwise(segs):
        off_prev = (prev.broadcast_end or 0) - prev.clip_end
        off_next = (nxt.broadcast_start or 0) - nxt.clip_start
        jump = round(off_next - off_prev)
        if jump != 0:
            steps.append((nxt.clip_start, jump, prev.clip_end - prev.clip_start))
    # a run of >= SPEED_RUN short segments stepping by the same amount: speed change
    speed: set[int] = set()
    k = 0
    while k < len(steps):
        j = k
        while (
            j + 1 < len(steps)
            and abs(steps[k][1]) <= SPEED_MAX_STEP
            and steps[j + 1][1] == steps[k][1]
            and steps[j + 1][2] <= SPEED_SEGMENT_S
            and steps[j + 1][0] - steps[j][0] <= 2 * SPEED_SEGMENT_S
        ):
            j += 1
        if j - k + 1 >= SPEED_RUN:
            out.append(
                Finding(
                    "speed_changed",
                    f"from clip {steps[k][0]:.1f} s the broadcast time advances "
                    f"{1 + steps[k][1]:+d} s per clip second: played at another speed",
                    steps[k][0],
                )
            )
            speed.update(range(k, j + 1))
        k = j + 1
    for idx, (t, jump, _) in enumerate(steps):
        if idx in speed:
            continue
        if jump > 0:
            out.append(
                Finding(
                    "cut",
                    f"at clip {t:.1f} s the broadcast time jumps forward {jump} s: "
                    f"{jump} s of the broadcast were cut out",
                    t,
                )
            )
        else:
            out.append(
                Finding(
                    "reorder",
                    f"at clip {t:.1f} s the broadcast time goes back {-jump} s: "
                    "segments are out of broadcast order",
                    t,
                )
            )
    return out
