"""Clip verification: who said it, when, and whether the clip is still what was broadcast.

Steps of :func:`verify_clip` (one decode of the clip, plus the first seconds once more for
the watermark's geometry search):

(0) open: a readable video no longer than ``MAX_CLIP_SECONDS`` (bounded memory: the
    detector keeps soft bits per 0.2 s, this module 1-second window features per 0.04 s);
(1) geometry: for every known key, period and offset of its tile from frames sampled over
    the first ``SYNC_SECONDS`` (``Detector.geometry``); the period against the nominal one
    says which fraction of the broadcast's height the clip shows (a crop: ``_find_framing``
    places it on the broadcast's picture once the manifests are known, step 5);
(2) one pass over the clip: every frame into :class:`WindowFeatures` (fingerprints of every
    1-second window on the 0.04 s grid); every ``stride``-th frame into the watermark
    ``Evidence`` of each period (sampling keeps a 60 s 720p clip within 15 s on one core);
(3) marks: each key's detection; the key covering most of the clip is the claimed streamer,
    segments of other keys' marks are ``foreign`` (``splice``);
(4) manifests: the claimed streamer's manifests around the segments' broadcast times
    (``ALIGN_MARGIN_S`` either side), each checked once as a bundle (signature,
    registration, inclusion proof, anchor) -> ``identity_mismatch`` / ``not_anchored``;
(5) content: the clip's mapping to broadcast time is found from the content itself (a
    Viterbi path over offsets on the 0.04 s grid, see :func:`_align`; the mark only breaks
    ties), so a second whose mark is weak is still placed; every window on the path is
    judged against its anchored second (``original`` / ``altered`` / ``foreign``); the one
    window straddling each cut or re-order seam is a transition (``unknown``), not an
    alteration; a clip the mark says plays at another rate (``Detection.rate``) is
    ``speed_changed`` and compared at that rate (windows of 1/rate clip seconds, a second
    decode); otherwise a clip whose path climbs steadily is ``speed_changed``; with sound,
    each second's loudness envelope is compared too (a dub is ``altered``);
(6) timeline: between consecutive pieces the broadcast offset (broadcast time minus clip
    time) jumps forward (``cut``) or backward (``reorder``), a clip end the content cannot
    place dated by the mark (``_edge_marks``); without any manifest, gaps of
    ``SPLICE_MIN_S`` or more in the mark, and as long stretches where the mark's identity is
    absent (``SecondMark.identity_z``), are ``foreign``, and a run of short segments
    stepping alike, or the mark's rate, is ``speed_changed``;
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
import cv2
import numpy as np

from provenance._registry import AnchorLedger, KeyDirectory
from watermark._detect import (
    SUB_BUCKETS_PER_SECOND,
    Detection,
    Detector,
    Geometry,
    KeptFrame,
    SoftSeries,
    refold,
)
from watermark._errors import VideoUnreadable, WatermarkError
from watermark._fingerprint import (
    AUDIO_TOL_DB,
    CROP_TOLERANCE,
    FEATURES,
    GRID_COLS,
    GRID_ROWS,
    MIN_CHANGED_CELLS,
    THUMB_H,
    THUMB_W,
    WINDOW_STEPS_PER_SECOND,
    Framing,
    WindowFeatures,
    audio_residuals,
    cell_ratios,
    changed_cells,
    features,
    unpack,
)
from watermark._keys import StreamerKey
from watermark._manifest import (
    AUDIO_PER_SECOND,
    CAMERA_ROLES,
    Finding,
    Manifest,
    ManifestStore,
    SignedManifest,
    audio_envelopes,
    check_bundle,
)
from watermark._motion import ANCHOR_SECONDS
from watermark._patterns import nominal_period
from watermark._payload import COUNTER_BITS, TIME_CODED_BITS
from watermark._video import (
    evidence_key,
    fan_out_evidence,
    find_geometries,
    iter_luma,
    sync_samples,
)

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
SPEED_MIN_WINDOWS = 5  # compared windows needed to call a speed change
SPEED_MIN_STEPS = 2  # offset steps of one sign (a single step is a cut)
_SPEED_STEP_S = 0.12  # an offset step: 3 grid steps (1.25x drifts 0.25 s per second)
SPEED_MIN_DEVIATION = 0.15  # |speed - 1|: 1.15x and faster, 0.85x and slower
SPEED_MAX_RESIDUAL_S = 0.75  # the steps follow a line this closely (a cut's step does not)
GAP_MERGE_S = 0.5  # shorter unmarked slivers (a partial last frame) join their neighbour
FOREIGN_CELLS = GRID_COLS * GRID_ROWS // 2  # half the picture changed: other footage
# alignment of clip windows to anchored seconds (step 5), costs in changed cells
ALIGN_CAP = 40  # a window costs at most this: other footage costs the same under any offset
ALIGN_SWITCH = 15  # a change of offset (cut, re-order): a 2-s re-ordered piece is worth it
ALIGN_FOREIGN = 34  # per second in the other-footage state: a window changed in more cells
# fits no offset better than other footage does
ALIGN_MARK_BONUS = 2  # a window whose mapping agrees with the mark's decoded time (tie-break)
ALIGN_MARGIN_S = 5  # broadcast seconds searched beyond the marked segments
ALIGN_CHUNK_S = 60.0  # clip seconds per alignment pass (bounds the path's memory)
SEAM_S = 1.0  # changed windows reaching this close to a switch of the path's offset: seam
BLIP_CELLS = 3  # an altered run's edge window changed in at most this many cells, apart
# from the run's changes: not part of the edit
EDGE_S = 1.5  # changed windows this close to a clip end, next to original ones: unknown
EDGE_MARK_MIN_S = 0.6  # a clip end this long without matched content is read from the mark
EDGE_JUMP_S = 1.5  # ... and a mark there this far off the content's offset is a cut / re-order
EDGE_SAME_S = 0.6  # ... against offsets this close to the content's (its phase tolerance)
EDGE_SEARCH_S = 30  # ... searched this far either side of the content's offset
EDGE_Z = 4.5  # its z over those 2 * 30 * 5 offsets (0.2-s grid): union bound 1e-3
EDGE_MARGIN_Z = 2.0  # ... and beats each offset near the content's by this pairwise z
EDGE_MARK_S = 3.0  # clip seconds at either end whose time soft bits are kept for that
EDGE_SHIFTS = 5  # 0.2-s steps the stretch is moved off the matched piece (a straddling window)
EDGE_NULL_S = 40  # seconds of offsets beyond the search, each side, that measure its noise
EDGE_FINE_ANCHORS = 25  # a moving mark's clip end is re-read anchored every 0.04 s of a second
EDGE_FINE_Z = 4.85  # ... its z over those 25 * 2 * 28.5 offsets: union bound 9e-4
_MARK_TOLERANCE_S = 0.6  # the mark's time is at 0.2-s phase resolution
CROP_MIN = 0.03  # the mark's period says the clip shows < 97 % of the broadcast's height
CROP_REFS = 5  # clip seconds the crop's place is searched on
CROP_MIN_CELLS = 24  # a place where the clip covers fewer whole cells is not compared
CROP_PHASE = 14  # 0.04-s buckets either side of the mark's phase searched for the place
CROP_MAX_RATIO = 0.6  # mean tolerance ratio (capped at 4) of a right place; genuine ~0.2
CROP_OUTLIER = 2 * CROP_MAX_RATIO  # a second this far off at the coarse place: misdated
COARSE_PHASES = (0, -6, 6, -12, 12)  # 0.04-s buckets: window phases for the coarse place
ID_ABSENT_Z = 2.0  # a second's identity z below this: the mark is absent (genuine >= 3.9 at
# 480p-720p CRF 28; a spliced second measured -1.2-1.9)
RATE_EPS = 0.01  # the mark's playback rate differs from 1 by more: a sped-up / slowed clip


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
    audio: list[int] | None = None  # the clip's loudness per 0.1 s, if it has sound
    path: str = ""  # the clip, for a second pass at the mark's playback rate
    size: tuple[int, int] = (0, 0)  # the clip's width, height
    # per streamer: fraction of the broadcast's height the clip shows (nominal / found mark
    # period: 0.9 for a 10 % crop, 1 for a whole picture at any resolution)
    shown: dict[str, float] = field(default_factory=dict)
    framing: Framing | None = None  # where a cropped clip sits in the broadcast's picture
    edges: dict[str, _EdgeTimes] = field(default_factory=dict)  # per streamer with a mark


@dataclass
class _EdgeTimes:
    """One key's time soft bits (0.2-s buckets) in the first and last ``EDGE_MARK_S`` of the
    clip: what the mark alone says of a short piece at a clip end (``_edge_marks``).

    A moving mark is re-anchored every ``ANCHOR_SECONDS`` broadcast seconds, and the evidence was
    stabilised on the schedule of the clip's main piece (``Geometry.phase``); a piece after
    a cut of a fraction of a second is re-anchored elsewhere, and on the main schedule its
    mark smears with the picture's motion (a 1.2-s tail taken 0.5 s into a second: no z at
    its own offset). For a moving mark the frames of the clip's ends are kept (``kept``)
    and the stretch is folded again at every anchor on a 0.04-s grid (``fine_rows``,
    ``jump_fine``): the 0.2-s phases the main pass folds at left a tail 0.1 s off any
    of them at z 3.1 (session 15), read at 5.1 on its own anchor."""

    detector: Detector
    base: int  # unix time of counter 0 in the clip's epoch
    rows: dict[int, np.ndarray]  # bucket index (clip time * 5) -> (128,) soft bits
    geo: Geometry | None = None  # the key's geometry, for a moving mark (else None)
    kept: list[KeptFrame] = field(default_factory=list)  # a moving mark's end frames

    @staticmethod
    def _edge_rows(series: SoftSeries, duration: float) -> dict[int, np.ndarray]:
        # straight from the series' buckets (its dense arrays() would copy the whole clip's
        # soft bits again); a bucket between the first and last without time bits is zeros,
        # as in arrays()
        buckets = set(series.const) | set(series.time)
        span = EDGE_MARK_S * SUB_BUCKETS_PER_SECOND
        last = duration * SUB_BUCKETS_PER_SECOND - span
        zeros = np.zeros(TIME_CODED_BITS, dtype=np.float32)
        return {
            b: series.time.get(b, zeros)
            for b in (range(min(buckets), max(buckets) + 1) if buckets else ())
            if b < span or b >= last
        }

    @classmethod
    def keep(
        cls,
        detector: Detector,
        d: Detection,
        series: SoftSeries,
        duration: float,
        geo: Geometry | None = None,
        kept: Sequence[KeptFrame] = (),
    ) -> _EdgeTimes:
        moving = geo is not None and geo.phase is not None
        return cls(
            detector,
            d.epochs[0] << COUNTER_BITS,
            cls._edge_rows(series, duration),
            geo if moving else None,
            list(kept) if moving else [],
        )

    def jump(self, x0: float, x1: float, ref: float) -> tuple[float, float, float]:
        """What the mark says of clip ``[x0, x1)`` as one continuous piece at normal speed,
        against ``ref`` (broadcast minus clip time of the content next to it): (offset and
        z of the best offset between ``EDGE_JUMP_S`` and ``EDGE_SEARCH_S`` away from ``ref``,
        and how clearly it beats every offset within ``EDGE_SAME_S`` of ``ref``). Only
        offsets near the content's are tried: a stretch of a second decodes at z ~ 5 at 480p
        CRF 28, under the threshold of a search over all 2**16 counters (6) but far over the
        ~3 that noise reaches over these few hypotheses.

        Offsets are tried on the 0.2-s grid, and each bucket is scored against the counter it
        shows under that offset (not buckets summed into seconds per phase: with the rolling
        time code a second that mixes two counters still fits either, so every phase scored
        alike and the best one was noise). The margin is a pairwise test,
        (S(A) - S(B)) / (sigma * |w(A) - w(B)|): codewords of counters less than 8 apart
        share groups, so a near offset scores most of a 2-s jump's correlation and a plain
        difference of the two z grows with only the differing groups' share of the
        evidence; the pairwise statistic is N(0, 1) under noise whatever the two share, and
        credits those groups in full. Zeros where no soft bits are kept."""
        per = SUB_BUCKETS_PER_SECOND
        b0, b1 = math.ceil(x0 * per - 1e-6), math.floor(x1 * per + 1e-6)
        if b1 <= b0 or not all(b in self.rows for b in range(b0, b1)):
            return 0.0, 0.0, 0.0
        rows = np.stack([self.rows[b] for b in range(b0, b1)]).astype(np.float32)
        # offsets in buckets: bucket b shows counter (b + o) // per - base under offset o
        o_ref = round(ref * per)
        grid = o_ref + np.arange(-(EDGE_SEARCH_S + 1) * per, (EDGE_SEARCH_S + 1) * per + 1)
        return self._best([(0.0, np.arange(b0, b1), rows, grid)], ref)

    def fine_rows(self, lo: float, hi: float) -> dict[float, dict[int, np.ndarray]]:
        """A moving mark's time soft bits of clip ``[lo, hi)`` folded again as if
        re-anchored at clip times ``origin + k * ANCHOR_SECONDS``, for ``EDGE_FINE_ANCHORS``
        origins a second: origin -> bucket on that origin's clock (``refold``) -> (128,).
        Empty for a frame-fixed mark or where no frames were kept."""
        frames = [f for f in self.kept if lo - 1e-6 <= f.t < hi]
        if self.geo is None or not frames:
            return {}
        geo = self.geo
        n = EDGE_FINE_ANCHORS * ANCHOR_SECONDS
        tiles = refold(frames, [k / EDGE_FINE_ANCHORS for k in range(n)])
        return {
            o: {b: self.detector.soft_bits(t, geo)[1].astype(np.float32) for b, t in at.items()}
            for o, at in tiles.items()
        }

    def jump_fine(
        self, x0: float, x1: float, ref: float, fine: dict[float, dict[int, np.ndarray]]
    ) -> tuple[float, float, float]:
        """``jump`` on ``fine_rows``: each offset is scored on the rows folded at the anchor
        it implies (broadcast seconds start at clip times ``origin + k``: offsets
        ``K - origin``, K divisible by ``ANCHOR_SECONDS`` since the anchors are the seconds
        that are), on that origin's clock, where no bucket straddles a second."""
        per = SUB_BUCKETS_PER_SECOND
        reads = []
        for o, rows in fine.items():
            b0, b1 = math.ceil((x0 - o) * per - 1e-6), math.floor((x1 - o) * per + 1e-6)
            if b1 <= b0 or not all(b in rows for b in range(b0, b1)):
                continue
            ks = np.arange(
                math.floor(ref + o) - EDGE_SEARCH_S - 1, math.ceil(ref + o) + EDGE_SEARCH_S + 2
            )
            ks = ks[ks % ANCHOR_SECONDS == 0]
            stack = np.stack([rows[b] for b in range(b0, b1)])
            reads.append((o, np.arange(b0, b1), stack, ks * per))
        return self._best(reads, ref) if reads else (0.0, 0.0, 0.0)

    def _best(
        self, reads: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]], ref: float
    ) -> tuple[float, float, float]:
        """The best offset of ``reads`` (origin, buckets on its clock, their rows, offsets
        in buckets: bucket b shows counter (b + o) // 5 - base) EDGE_JUMP_S to
        EDGE_SEARCH_S from ``ref``, its z and its margin (pairwise, ``jump``) over every
        offset on the 0.2-s grid within EDGE_SAME_S of ``ref``, both over the null spread of
        its rows (``_null_z``).

        The margin scores those near offsets on the best offset's own rows, whichever
        origin they imply: the two z then share all their noise and the pairwise statistic
        is exact. Scored on the rows of their own origins (session 15's five phases) they
        share part of it, an unknown part: the unrelated-rows bound (variance 2) left a
        1.2-s tail at margin 1.87 (bar 2.0; 3.5-3.8 on its own rows), and measuring the
        share from null codewords (0.36 to 0.99 for rows 0.04 s apart) only 2.0-2.2. Under
        a genuine stretch the near offsets still win on any rows: the best far one scores
        there only through the codeword groups it shares with them."""
        per = SUB_BUCKETS_PER_SECOND
        # (z / spread, offset, its codewords, spread, origin, buckets, rows, norm)
        best: tuple[float, int, np.ndarray, float, float, np.ndarray, np.ndarray, float] | None
        best = None
        for o, buckets, rows, grid in reads:
            norm = math.sqrt(float(np.sum(rows**2)))
            dist = np.abs(grid / per - o - ref)
            far = grid[(dist >= EDGE_JUMP_S) & (dist <= EDGE_SEARCH_S)]
            if norm == 0.0 or not far.size:
                continue
            z = np.einsum("kir,ir->k", self._words(far, buckets), rows) / norm
            g = int(far[np.argmax(z)])
            w = self._words(np.array([g]), buckets)[0]
            fit = float(np.sum(w * rows)) / float(w.size)
            null = self._null_z(rows - fit * w, buckets, round((ref + o) * per))
            spread = max(1.0, math.sqrt(float(np.mean(null**2)))) if null.size else 1.0
            if best is None or float(np.max(z)) / spread > best[0]:
                best = (float(np.max(z)) / spread, g, w, spread, o, buckets, rows, norm)
        if best is None:
            return 0.0, 0.0, 0.0
        z_a, g, w_a, spread, o, buckets, rows, norm = best
        o_ref = round((ref + o) * per)
        near = np.arange(o_ref - per, o_ref + per + 1)
        near = near[np.abs(near / per - o - ref) <= EDGE_SAME_S + 1e-9]
        w_near = self._words(near, buckets)
        z_near = np.einsum("kir,ir->k", w_near, rows) / norm
        # z is N(0, 1) under noise (codewords are +-1, and the norm includes the signal: errs
        # on the safe side); on the same rows z(A) - z(B) has variance |w(A) - w(B)|^2 / n
        apart = np.sqrt(np.sum((w_a - w_near) ** 2, axis=(1, 2)) / w_a.size)
        pair = (z_a * spread - z_near) / np.maximum(apart, 1e-9)
        margin = float(np.min(np.where(apart > 0, pair, 0.0)))
        return float(g / per - o), z_a, margin / spread

    def _words(self, grid: np.ndarray, buckets: np.ndarray) -> np.ndarray:
        """(offsets, buckets, 128) codewords: bucket b shows counter (b + o) // per - base
        under offset o (both in buckets)."""
        counters = (buckets[None, :] + grid[:, None]) // SUB_BUCKETS_PER_SECOND - self.base
        out: np.ndarray = self.detector.time_code.codebook[counters % (1 << COUNTER_BITS)]
        return out

    def _null_z(self, rows: np.ndarray, buckets: np.ndarray, o_ref: int) -> np.ndarray:
        """The z on ``rows`` of codewords the stretch cannot show, offsets 10 to 10 +
        ``EDGE_NULL_S`` s beyond either end of the search (their counters share no group
        with any searched one); empty for rows without energy. Their RMS, at least 1, is
        how far the z of a wrong offset spreads.

        z is N(0, 1) under noise only if the buckets' rows are independent; the buckets of
        one second score the same codeword, and where their rows share a component (a still
        picture's interference, the same smeared mark in every bucket before a clip's first
        anchor) it adds up coherently: a cropped genuine clip's first 0.64 s (moving mark)
        had rows 98 % alike, and an offset 28 s off reached z 4.66 with margin 3.8 over the
        content's, a cut that was not there. ``_best`` divides its z and margin by that
        spread, measured on the rows less the best hypothesis' own codeword (a real mark is
        the same in every bucket of a second too, and would otherwise count as noise), which
        keeps the bound of ``EDGE_Z`` (a constant false-alarm rate) whatever the rows share."""
        energy = float(np.sum(rows**2))
        if energy == 0.0:
            return np.zeros(0)
        per = SUB_BUCKETS_PER_SECOND
        lo, hi = (EDGE_SEARCH_S + 10) * per, (EDGE_SEARCH_S + 10 + EDGE_NULL_S) * per
        side = np.arange(lo, hi, dtype=np.int64)
        words = self._words(o_ref + np.concatenate([-side, side]), buckets)
        z: np.ndarray = np.einsum("kir,ir->k", words, rows) / math.sqrt(energy)
        return z


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
    size, shown = (0, 0), {}
    if detectors:
        span = min(SYNC_SECONDS, total or SYNC_SECONDS)
        samples, phases = sync_samples(path, span, SYNC_SECONDS, SYNC_FRAMES)
        geos = find_geometries(lambda: iter_luma(path), detectors, samples, phases)
        size = (samples[0].shape[1], samples[0].shape[0])
        nominal = nominal_period(size[1])
        shown = {k.name: nominal / g.period for k, g in zip(keys, geos, strict=True)}
        del samples
    # (2) one pass
    series, evidence = fan_out_evidence(detectors, geos, keep_s=EDGE_MARK_S + 0.2)
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
        d.detect(evidence[evidence_key(g)], g, s)
        for d, g, s in zip(detectors, geos, series, strict=True)
    ]
    dur = last + 1.0 / fps
    edges = {
        d.streamer: _EdgeTimes.keep(det, d, s, dur, g, evidence[evidence_key(g)].kept())
        for det, d, s, g in zip(detectors, detections, series, geos, strict=True)
        if d.detected and d.streamer is not None and d.epochs
    }
    env = audio_envelopes(path, max(1, math.ceil(dur)))
    audio = None if env is None else [v for row in env for v in row]
    return _Pass(windows.finish(), detections, dur, audio, path, size, shown, edges=edges)


def _windows_again(path: str, rate: float, framing: Framing | None) -> dict[int, np.ndarray]:
    """Window features of the clip on the broadcast's clock (clip time ``t`` at ``t * rate``)
    and picture (``framing``): a second decode, only for a clip the mark says plays at
    another speed or shows a crop, so each window compares one to one with the manifest."""
    windows = WindowFeatures(framing=framing)
    for t, y in iter_luma(path):
        windows.add(t * rate, y)
    return windows.finish()


def _find_framing(a: _Pass, main: Detection, book: _Manifests) -> Framing | None:
    """Where a cropped clip sits in the broadcast's picture, or None for a whole picture.

    The mark's period gives the crop's size (``a.shown``: the fraction of the broadcast's
    height shown; the clip's aspect gives its width); its place is found by content: the
    mean thumbnails of up to ``CROP_REFS`` clip seconds whose broadcast second the mark
    decodes are moved over the broadcast's thumbnail (2 px, then 0.5 px steps) and compared
    with the anchored fingerprints on the cells they cover wholly; the best place wins if
    its cells match as a re-encode does (mean tolerance ratio <= ``CROP_MAX_RATIO``). Seconds
    that match nowhere near the coarse place (``CROP_OUTLIER``) are left out of the
    refinement and the bar while most remain: a genuine crop whose mark read two of its five
    seconds one early scored 3.9 and 2.0 there, 0.27-0.36 on the others, and the mean over
    all five failed (issue 4, session 16; a median instead moved a well-dated crop's place
    0.8 px). That crop's window phase was also best ~0.4 s off the mark's, beyond the 0.32 s
    searched then (``CROP_PHASE`` 8 -> 14), and a coarse place that matches nowhere at the
    mark's phase is searched at other phases too (``COARSE_PHASES``)."""
    f = a.shown.get(main.streamer or "")
    w_c, h_c = a.size
    if f is None or abs(f - 1.0) < CROP_MIN or f > 1.0 or not h_c:
        return None
    h = f * THUMB_H
    w = w_c / h_c * h
    if w > THUMB_W + 1:
        return None
    refs: list[tuple[float, float, int]] = []  # (clip start, clip end, broadcast second)
    for seg in main.segments:
        for i in range(seg.broadcast_end - seg.broadcast_start):
            t0 = seg.clip_origin + i / seg.rate
            t1 = t0 + 1.0 / seg.rate
            b = seg.broadcast_start + i
            if t0 >= seg.clip_start and t1 <= seg.clip_end and book.covers(b):
                refs.append((t0, t1, b))
    if not refs:
        return None
    pick = np.linspace(0, len(refs) - 1, min(CROP_REFS, len(refs))).round().astype(int)
    refs = [refs[i] for i in sorted(set(pick.tolist()))]
    size = (max(1, round(w)), max(1, round(h)))
    # thumbnails per 0.04 s bucket from CROP_PHASE buckets before each reference second to
    # as many after it: the mark's sub-second origin is good to ~0.2 s, and a pan compared
    # 0.1 s out of phase already changes cells, so the window's phase is searched too
    step_s = WINDOW_STEPS_PER_SECOND
    n_b = step_s + 2 * CROP_PHASE
    sums = [np.zeros((n_b, size[1], size[0]), np.float32) for _ in refs]
    counts = [np.zeros(n_b) for _ in refs]
    end = max(r[1] for r in refs) + CROP_PHASE / step_s
    for t, y in iter_luma(a.path):
        if t >= end:
            break
        small: np.ndarray | None = None
        for k, (t0, _, _) in enumerate(refs):
            q = math.floor((t - t0) * step_s + 1e-6) + CROP_PHASE
            if 0 <= q < n_b:
                if small is None:
                    small = cv2.resize(y, size, interpolation=cv2.INTER_AREA).astype(np.float32)
                sums[k][q] += small
                counts[k][q] += 1
    anchored = [unpack(book.fp(b)) for _, _, b in refs]

    def means_at(shift: int) -> list[tuple[np.ndarray, np.ndarray]]:
        lo, hi = CROP_PHASE + shift, CROP_PHASE + shift + step_s
        return [
            (s_[lo:hi].sum(axis=0) / c[lo:hi].sum(), anc)
            for s_, c, anc in zip(sums, counts, anchored, strict=True)
            if c[lo:hi].sum()
        ]

    means = means_at(0)
    if not means:
        return None

    def per_second(x0: float, y0: float, k: float = 1.0) -> list[float]:
        fr = Framing(x0, y0, w * k, h * k)
        mask = fr.mask
        if mask.sum() < CROP_MIN_CELLS:
            return [math.inf]
        ratios = [cell_ratios(features(fr.place(m)), anc)[mask] for m, anc in means]
        return [float(np.minimum(r, 4.0).mean()) for r in ratios]

    def score(x0: float, y0: float, k: float = 1.0) -> float:
        return float(np.mean(per_second(x0, y0, k)))

    def place(px: float, py: float, scale: float, step: float) -> tuple[float, float]:
        d = [i * step for i in range(-2, 3)]
        _, x, y = min((score(px + dx, py + dy, scale), px + dx, py + dy) for dx in d for dy in d)
        return x, y

    def size_about_centre(px: float, py: float, scale: float, rel: float) -> tuple[float, ...]:
        # place and size are refined together: a size change about the corner would move
        # the centre by more than the place's own resolution
        cands = [
            (px - (q - 1) * w * scale / 2, py - (q - 1) * h * scale / 2, scale * q)
            for q in (1.0 + rel * i for i in range(-4, 5))
        ]
        return min(cands, key=lambda c: score(*c))

    # coarse place (2 px), then the window's phase, then place and size alternately in
    # finer steps: AC features need the cells aligned within ~0.3 thumbnail px. On a pan a
    # window 0.36 s out of phase matches nowhere (coarse ratio 1.65 against 0.85 in phase),
    # so where the mark's phase matches nowhere the coarse place is searched at other
    # phases too (``COARSE_PHASES``)
    xs = np.arange(min(0.0, THUMB_W - w), max(0.0, THUMB_W - w) + 1e-6, 2.0).tolist()
    ys = np.arange(min(0.0, THUMB_H - h), max(0.0, THUMB_H - h) + 1e-6, 2.0).tolist()
    coarse = (math.inf, 0.0, 0.0, means)
    for shift in COARSE_PHASES:
        if shift and coarse[0] <= CROP_OUTLIER:
            break
        at = means_at(shift)
        if len(at) != len(means):
            continue
        means = at
        for x in xs:
            for y in ys:
                sc = score(x, y)
                if sc < coarse[0]:
                    coarse = (sc, x, y, at)
    _, px, py, means = coarse
    scale = 1.0
    px, py = place(px, py, scale, 0.5)
    chosen, best = means, score(px, py, scale)
    for shift in range(-CROP_PHASE, CROP_PHASE + 1, 2):
        means = means_at(shift)
        if len(means) == len(chosen) and (sc := score(px, py, scale)) < best:
            chosen, best = means, sc
    means = chosen
    # a second the mark dated wrongly matches nowhere: left out of the refinement and the
    # bar while most of the seconds remain
    ratios = per_second(px, py, scale)
    if len(ratios) == len(means):  # else one inf: the place covers too few cells
        fits = [m for m, r in zip(means, ratios, strict=True) if r < CROP_OUTLIER]
        if len(fits) > len(means) // 2:
            means = fits
    for step, rel in ((0.5, 0.002), (0.25, 0.001), (0.125, 0.0005)):
        px, py, scale = size_about_centre(px, py, scale, rel)
        px, py = place(px, py, scale, step)
    if score(px, py, scale) > CROP_MAX_RATIO:
        return None
    return Framing(px, py, w * scale, h * scale)


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
    return _decide(_analyse(path, keys, max(1, stride), progress), manifests, directory, chain)


def _decide(
    a: _Pass, manifests: ManifestSource, directory: KeyDirectory | None, chain: AnchorLedger | None
) -> ClipVerdict:
    """Steps (3)-(7) on the decoded evidence of a clip."""
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
    # (4) manifests around the marked broadcast times, each bundle checked once
    book = _Manifests(manifests, directory, chain, streamer)
    for seg in main.segments:
        book.span(
            seg.broadcast_start - ALIGN_MARGIN_S,
            seg.broadcast_end + ALIGN_MARGIN_S,
            seg.clip_start,
        )
        if not book.covers_mark(seg.broadcast_start):
            findings.append(
                Finding(
                    "not_anchored",
                    f"no manifest of {streamer} covers broadcast time {seg.broadcast_start}: "
                    "the content of this segment cannot be checked",
                    seg.clip_start,
                )
            )
    findings.extend(book.findings)
    # (5) align clip windows to anchored seconds by content, judge each second
    if book.manifests:  # a cropped clip: compare on the broadcast's picture
        a.framing = _find_framing(a, main, book)
        if a.framing is not None:
            a.windows = _windows_again(a.path, 1.0, a.framing)
    speed: tuple[float, float, float] | None = None
    rate = main.rate if abs(main.rate - 1.0) > RATE_EPS and a.path else 1.0
    seconds: list[_Second] = []
    if book.manifests and rate != 1.0:
        # the mark's playback rate: compare each broadcast second's worth of clip with it;
        # the engine's rate probe can take edits for a speed change (seams break the time
        # code's continuity), so the content decides: a clip whose windows match more of it
        # at normal speed is compared at normal speed
        seconds = _align(a, main, book, rate)
        plain = _align(a, main, book)
        if _matched_s(plain) > _matched_s(seconds):
            rate, seconds = 1.0, plain
    if book.manifests and rate != 1.0:
        t0 = min(s.clip_start for s in main.segments)
        findings.append(
            Finding(
                "speed_changed",
                f"from clip {t0:.1f} s the clip plays {rate:.2f}x the broadcast's speed "
                "(the mark's playback rate); its content is compared at that rate",
                t0,
            )
        )
        # the sound of a sped-up clip is not compared (its envelope is time-compressed)
    elif book.manifests:
        seconds = seconds or _align(a, main, book)
        speed = _speed(seconds)
        if speed is not None:
            t0, t1, factor = speed
            findings.append(
                Finding(
                    "speed_changed",
                    f"clip {t0:.1f}-{t1:.1f} s advances {factor:.2f} s of broadcast per "
                    "second: played at another speed (its seconds cannot be compared one to one)",
                    t0,
                )
            )
        else:  # too fast for the 1-s windows to match: the mark's segments may still step
            marked = [
                ClipSegment(
                    s.clip_start, s.clip_end, "original", s.broadcast_start, s.broadcast_end
                )
                for s in main.segments
            ]
            stepped = [f for f in _jumps(marked) if f.code == "speed_changed"]
            if stepped:
                findings.extend(stepped)
                speed = (stepped[0].clip_time or 0.0, dur, 0.0)
        if speed is not None:
            for sec in seconds:
                if sec.status in ("altered", "foreign"):
                    sec.status = "unknown"
        _audio_check(a, seconds)
    else:  # nothing to compare with: the mark's own mapping, content unknown
        if rate == 1.0:
            seconds = [
                _Second(seg.clip_start + i, seg.broadcast_start + i, None)
                for seg in main.segments
                for i in range(max(1, round(seg.clip_end - seg.clip_start)))
            ]
        else:  # broadcast second i of a segment starts at clip_origin + i / rate
            seconds = [
                _Second(seg.clip_origin + i / rate, seg.broadcast_start + i, None, span=1 / rate)
                for seg in main.segments
                for i in range(seg.broadcast_end - seg.broadcast_start)
                if seg.clip_origin + i / rate >= seg.clip_start - 1e-6
            ]
            t0 = min(seg.clip_start for seg in main.segments)
            findings.append(
                Finding(
                    "speed_changed",
                    f"from clip {t0:.1f} s the clip plays {rate:.2f}x the broadcast's speed "
                    "(the mark's playback rate)",
                    t0,
                )
            )
        # seconds where this streamer's mark is absent (identity_z ~ N(0, 1)) for
        # SPLICE_MIN_S or more: foreign footage even where the time decode bridged them
        absent = _mark_absent(main)
        seconds = [
            sec
            for sec in seconds
            if not any(
                x0 < sec.clip_t + sec.span - 0.25 and sec.clip_t + 0.25 < x1 for x0, x1 in absent
            )
        ]
    compared = sum(sec.status != "unknown" for sec in seconds)
    matched = sum(  # the picture matched (a dubbed second is altered, not transplanted)
        sec.manifest is not None and sec.cells < MIN_CHANGED_CELLS for sec in seconds
    )
    pieces = _pieces(seconds, findings)
    if book.manifests and speed is None and rate == 1.0 and streamer in a.edges:
        pieces = _edge_marks(pieces, a.edges[streamer], dur)
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
    jumps = _jumps([p for p in pieces if p.broadcast_start is not None], rate)
    if book.manifests and speed is not None:  # the pieces of a speed change are not edits
        jumps = [f for f in jumps if f.code not in ("cut", "reorder")]
    findings.extend(jumps)
    timeline = _timeline(pieces, dur, findings, splice_gaps=not book.manifests)
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
    return ClipVerdict(verdict, streamer, tuple(timeline), tuple(findings), book.info, duration=dur)


_ANCHOR_CODES = ("not_anchored", "inclusion_proof_invalid", "root_not_on_chain", "anchor_mismatch")


class _Manifests:
    """The claimed streamer's manifests met so far, each bundle checked once (step 4)."""

    def __init__(
        self,
        source: ManifestSource,
        directory: KeyDirectory | None,
        chain: AnchorLedger | None,
        streamer: str,
    ) -> None:
        self.source, self.directory, self.chain, self.streamer = source, directory, chain, streamer
        self.checked: dict[str, SignedManifest | None] = {}
        self.manifests: list[Manifest] = []
        self.findings: list[Finding] = []
        self.info: dict[str, Any] = {"root": None, "anchor_tx": None}

    def at(self, t: int, clip_t: float) -> None:
        if self.covers(t):
            return
        bundle = self.source.bundle_for(self.streamer, t)
        if bundle is None:
            return
        key = str(bundle.get("signature"))
        if key in self.checked:
            return
        signed, problems, info = check_bundle(bundle, self.directory, self.chain, role=CAMERA_ROLES)
        self.checked[key] = signed
        for p in problems:
            code = "not_anchored" if p.code in _ANCHOR_CODES else "identity_mismatch"
            self.findings.append(Finding(code, f"manifest: {p.detail}", clip_t))
        if self.info["root"] is None:
            self.info = info
        if signed is not None:
            self.manifests.append(signed.manifest)

    def span(self, lo: int, hi: int, clip_t: float) -> None:
        """Every manifest (live parts: one a minute) covering a second of ``[lo, hi)``."""
        t = lo
        while t < hi:
            self.at(t, clip_t)
            m = self.manifest(t)
            t = t + 1 if m is None else m.end

    def covers(self, t: int) -> bool:
        return self.manifest(t) is not None

    def covers_mark(self, t: int) -> bool:
        """Whether a mark dated ``t`` can be this book's: the mark dates a segment to +-1 s,
        and a clip's first second read one early (genuine, from the broadcast's first
        seconds) was reported ``not_anchored`` (tests/clip, 1 run in ~10)."""
        return any(self.covers(t + d) for d in (0, -1, 1))

    def fp(self, t: int) -> bytes:
        m = self.manifest(t)
        if m is None:
            raise LookupError(f"no manifest covers {t}")
        return m.fingerprint_at(t)

    def manifest(self, t: int) -> Manifest | None:
        return next((m for m in self.manifests if m.covers(t)), None)


@dataclass
class _Second:
    """One clip window on the alignment path: where it maps, and how its content compares."""

    clip_t: float
    broadcast_t: int
    manifest: Manifest | None
    status: str = "unknown"
    cells: int = 0  # changed cells against the anchored second
    piece: int = 0  # index of the path's constant-offset piece
    mapped: bool = True  # False: the path's other-footage state (no broadcast time)
    audio: bool = False  # the sound does not match
    span: float = 1.0  # clip seconds the window covers (1 / playback rate)
    seam: bool = False  # the window is within SEAM_S of a cut / re-order seam of the path
    where: np.ndarray | None = None  # (GRID_ROWS, GRID_COLS) bool: its changed cells


def _matched_s(seconds: list[_Second]) -> float:
    """Clip seconds whose windows match their anchored seconds (judged ``original``)."""
    return sum(sec.span for sec in seconds if sec.status == "original")


def _mark_absent(main: Detection) -> list[tuple[float, float]]:
    """Clip spans of ``SPLICE_MIN_S`` or more whose seconds each correlate with the clip's
    identity codeword below ``ID_ABSENT_Z`` (the engine's ``SecondMark.identity_z``):
    another picture without this mark, whatever the time decode bridged over it."""
    out: list[tuple[float, float]] = []
    run: list[float] = []  # (start, end) of the current low run
    for m in [*main.seconds, None]:
        if m is not None and m.identity_z < ID_ABSENT_Z:
            run = [run[0] if run else m.clip_start, m.clip_end]
            continue
        if run and run[1] - run[0] >= SPLICE_MIN_S - 0.05:
            out.append((run[0], run[1]))
        run = []
    return out


def _mark_prior(main: Detection) -> Callable[[float], float | None]:
    """The broadcast time the mark decodes for clip time ``t`` (None where it is silent):
    ``broadcast_start + (t - clip_origin) * rate`` within each segment (the engine's
    sub-second origin, 0.2 s / rate resolution, and playback rate)."""
    spans = [
        (seg.clip_start, seg.clip_end, seg.broadcast_start, seg.clip_origin, seg.rate)
        for seg in main.segments
    ]

    def at(t: float) -> float | None:
        for c0, c1, b0, origin, rate in spans:
            if c0 <= t < c1:
                return b0 + (t - origin) * rate
        return None

    return at


def _align(a: _Pass, main: Detection, book: _Manifests, rate: float = 1.0) -> list[_Second]:
    """The clip's mapping to broadcast time, found from content (module docstring, step 5).

    A Viterbi path over clip windows on the 0.04 s grid whose states are offsets (broadcast
    minus clip time, in grid steps): a state is scored once per second, at the window that
    starts on a broadcast second, by min(changed cells, ``ALIGN_CAP``) less
    ``ALIGN_MARK_BONUS`` where the mark decodes the same second; changing state costs
    ``ALIGN_SWITCH``. Done per ``ALIGN_CHUNK_S`` of clip (memory), with candidate seconds
    those of the marked segments nearby, widened by ``ALIGN_MARGIN_S``.
    """
    step = WINDOW_STEPS_PER_SECOND
    windows = a.windows if rate == 1.0 else _windows_again(a.path, rate, a.framing)
    mask = None if a.framing is None else a.framing.mask
    total = math.floor(a.duration * rate * step + 1e-6)  # on the broadcast's clock
    mark = _mark_prior(main)

    def prior(u: float) -> float | None:
        return mark(u / rate)

    out: list[_Second] = []
    piece = 0
    chunk = round(ALIGN_CHUNK_S * step)
    for c0 in range(0, max(1, total - step + 1), chunk):
        c1 = min(total - step + 1, c0 + chunk)  # windows wholly inside the clip
        lo_t = c0 / step / rate - ALIGN_MARGIN_S
        hi_t = c1 / step / rate + ALIGN_MARGIN_S
        wanted: set[int] = set()
        for seg in main.segments:
            if seg.clip_end >= lo_t and seg.clip_start <= hi_t:
                wanted.update(
                    range(seg.broadcast_start - ALIGN_MARGIN_S, seg.broadcast_end + ALIGN_MARGIN_S)
                )
        cands = sorted(t for t in wanted if book.covers(t))
        if not cands or c1 <= c0:
            continue
        seconds = _viterbi(windows, c0, c1, cands, book, prior, piece, mask)
        if seconds:
            piece = seconds[-1].piece + 1
        out.extend(seconds)
    if rate != 1.0:  # back to clip time: each window covers 1 / rate clip seconds
        for sec in out:
            sec.clip_t /= rate
            sec.span = 1.0 / rate
    _judge(out, a.duration, FOREIGN_CELLS if mask is None else int(mask.sum()) // 2)
    return out


def _viterbi(
    windows: dict[int, np.ndarray],
    c0: int,
    c1: int,
    cands: list[int],
    book: _Manifests,
    prior: Callable[[float], float | None],
    piece0: int,
    mask: np.ndarray | None = None,
) -> list[_Second]:
    step = WINDOW_STEPS_PER_SECOND
    base = cands[0]
    n_sec = cands[-1] - base + 1
    have = [b for b in range(c0, c1) if b in windows]
    if not have:
        return []
    fps = np.zeros((n_sec, GRID_ROWS, GRID_COLS, FEATURES))
    known = np.zeros(n_sec, bool)
    for t in cands:
        m = book.manifest(t)
        if m is not None:
            fps[t - base] = unpack(m.fingerprint_at(t))
            known[t - base] = True
    clip = np.stack([windows[b] for b in have])
    if mask is not None:  # a cropped clip: cells it does not cover wholly are not compared
        fps[:, ~mask] = 0.0
        clip[:, ~mask] = 0.0
    tol = 1.0 if mask is None else CROP_TOLERANCE
    cells = changed_cells(clip, fps, threshold=tol)  # (windows, seconds)
    row = {b: i for i, b in enumerate(have)}
    # cost rates: every 0.04 s a state pays 1/25 of the cost of its window covering that
    # step (the window on its phase), so no state gains by hopping between phases
    rate = np.where(known, np.minimum(cells, ALIGN_CAP), ALIGN_CAP).astype(np.float64)
    for i, b in enumerate(have):
        mark = prior(b / step)
        if mark is not None:
            rate[i, np.abs(base + np.arange(n_sec) - mark) <= _MARK_TOLERANCE_S] -= ALIGN_MARK_BONUS
    n = c1 - c0
    padded = np.zeros((n + step - 1, n_sec))  # row step-1+i: window c0+i; before c0: free
    padded[[b - c0 + step - 1 for b in have]] = rate / step
    outside = (ALIGN_CAP + 1) / step  # a state mapping outside the candidates costs more
    # state index x: offset o = x + o_min, window b maps to broadcast bucket b + o
    o_min = -(c1 - 1)
    n_states = step * n_sec + n + 1  # the last state: other footage (no mapping)
    other = n_states - 1
    cost = np.zeros(n_states)
    back = np.zeros((n, n_states), bool)  # True: came by a switch from best[j]
    best = np.zeros(n, np.int64)
    for j in range(n):
        arg = int(np.argmin(cost))
        switch = cost[arg] + ALIGN_SWITCH
        moved = cost > switch
        back[j] = moved
        best[j] = arg
        cost = np.where(moved, switch, cost)
        # states x = start + step*k + r use window c0 + j - r against second k
        start = n - 1 - j
        cost += outside
        cost[start : start + step * n_sec] += padded[j : j + step][::-1].T.reshape(-1) - outside
        cost[other] += ALIGN_FOREIGN / step - outside
    state = int(np.argmin(cost))
    path = np.empty(n, np.int64)
    for j in range(n - 1, -1, -1):
        path[j] = state
        if back[j, state]:
            state = int(best[j])
    # pieces of constant offset; each judged at the windows centred in it (on its phase),
    # so every clip second is judged even where the path skipped a window while switching
    out: list[_Second] = []
    bounds = [0, *(j for j in range(1, n) if path[j] != path[j - 1]), n]
    half = step // 2
    # seams: where the path switches between two offsets half a second or more apart (a
    # cut or re-order); the switch lands up to about a window away from the true seam
    # (a window straddling it costs about as much under either offset)
    seams = [
        (c0 + j) / step
        for j in bounds[1:-1]
        if path[j] != other
        and path[j - 1] != other
        and abs(int(path[j]) - int(path[j - 1])) >= step / 2
    ]
    for p, (j0, j1) in enumerate(itertools.pairwise(bounds)):
        if path[j0] == other:
            for i in range(math.ceil((j1 - j0) / step)):
                out.append(_Second((c0 + j0) / step + i, i, None, "foreign", 0, piece0 + p, False))
            continue
        o = int(path[j0]) + o_min
        first = c0 + j0 - (half if j0 else 0)
        first += (-(first + o)) % step  # first window start on this piece's phase
        for b in range(first, c0 + j1 - (half if j1 < n else 0), step):
            k = (b + o) // step
            if b not in row or not 0 <= k < n_sec:
                continue
            t = base + k
            # judged at the best of the path's phase and one grid step (a frame) either
            # side: the phase is only good to a step, and a window a step off takes in a
            # frame of the broadcast's next shot (a genuine crop: 1-2 cells at every shot
            # change); an edit lasts longer than a frame and changes all three
            x = min((y for y in (b, b - 1, b + 1) if y in row), key=lambda y: cells[row[y], k])
            sec = _Second(
                b / step, t, book.manifest(t), "unknown", int(cells[row[x], k]), piece0 + p
            )
            sec.where = cell_ratios(clip[row[x]].astype(np.float64), fps[k]) > tol
            sec.seam = any(x - SEAM_S < sec.clip_t + 1.0 and sec.clip_t < x + SEAM_S for x in seams)
            out.append(sec)
    return out


def _judge(seconds: list[_Second], duration: float, foreign: int = FOREIGN_CELLS) -> None:
    """Status of each window on the path; seams and splice edges (see docs/clip.md)."""
    for sec in seconds:
        if not sec.mapped:
            sec.status = "foreign"
        elif sec.manifest is None:
            sec.status = "unknown"
        elif sec.cells >= foreign:
            sec.status = "foreign"
        elif sec.cells >= MIN_CHANGED_CELLS:
            sec.status = "altered"
        else:
            sec.status = "original"
    # a window next to a change of offset straddles the seam (two sources mixed): a
    # transition, not an alteration (it keeps its broadcast time, so the cut is still
    # seen); an altered window next to other footage is that footage's edge
    first = [sec.status for sec in seconds]
    last = len(seconds) - 1
    # altered windows of at most BLIP_CELLS changed cells leading into or out of other
    # footage: the encoder's rate control around the splice (bench: 2 cells in each of the
    # two original seconds before one, flagged altered and the splice 1.06 s early) or a
    # frame of it in the window: a transition (unknown), not an edit of their own
    for k in (k for k in range(last + 1) if first[k] == "foreign"):
        for d in (-1, 1):
            i = k + d
            while 0 <= i <= last and first[i] == "altered" and seconds[i].cells <= BLIP_CELLS:
                seconds[i].status = first[i] = "unknown"
                i += d
    for k, sec in enumerate(seconds):
        if first[k] not in ("altered", "foreign"):
            continue
        nbs = [i for i in (k - 1, k + 1) if 0 <= i <= last]
        if sec.seam or any(_seam(seconds[i], sec) for i in nbs):
            sec.status = "unknown"
        elif first[k] == "altered" and any(first[i] == "foreign" for i in nbs):
            sec.status = "foreign"
    # a lone changed window next to a seam's: the path skipped a piece shorter than its
    # switching cost (a re-ordered second), so the mixing reaches one window further
    second = [sec.status for sec in seconds]
    for k, sec in enumerate(seconds):
        nbs = [i for i in (k - 1, k + 1) if 0 <= i <= last]
        if (
            second[k] in ("altered", "foreign")
            and sec.mapped
            and not any(second[i] in ("altered", "foreign") for i in nbs)
            and any(first[i] in ("altered", "foreign") and second[i] == "unknown" for i in nbs)
        ):
            sec.status = "unknown"
    # an altered run's first or last window with only a few changed cells, none touching
    # the changes of the window next to it, is a re-encoding blip beside the edit (a
    # picture-in-picture's rate control reaching the second before it), not its start
    k = 0
    while k <= last:
        j = k
        while j + 1 <= last and seconds[j + 1].status == seconds[k].status == "altered":
            j += 1
        lo = k
        if j > lo and _blip(seconds[lo], seconds[lo + 1]):
            seconds[lo].status = "original"
            lo += 1
        if j > lo and _blip(seconds[j], seconds[j - 1]):
            seconds[j].status = "original"
        k = j + 1
    # changed windows only within EDGE_S of either clip end, next to original ones: a seam
    # there has no whole window on its far side, so it cannot be told from an
    # edit (unknown, not flagged)
    for run in (seconds, seconds[::-1]):
        edge = list(itertools.takewhile(lambda s: s.status in ("altered", "foreign"), run))
        rest = run[len(edge) :]
        near = all(min(s.clip_t, duration - s.span - s.clip_t) < EDGE_S for s in edge)
        if edge and near and rest and rest[0].status == "original":
            for sec in edge:
                sec.status = "unknown"


def _blip(edge: _Second, inner: _Second) -> bool:
    """``edge`` changed in at most ``BLIP_CELLS`` cells, none of them next to a changed cell
    of ``inner`` (an edit stays where it is from one second to the next)."""
    if edge.where is None or inner.where is None or edge.cells > BLIP_CELLS:
        return False
    near = cv2.dilate(inner.where.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return not bool((edge.where & near).any())


def _seam(a: _Second, b: _Second) -> bool:
    """A cut or re-order between two windows: their offsets differ by half a second or more
    (a smaller step is the path changing phase, which must not excuse a changed window)."""
    if not (a.mapped and b.mapped):
        return False
    return abs((a.broadcast_t - a.clip_t / a.span) - (b.broadcast_t - b.clip_t / b.span)) >= 0.5


def _speed(seconds: list[_Second]) -> tuple[float, float, float] | None:
    """(clip start, clip end, speed) when the whole clip plays at another speed.

    At speed k a clip second shows k broadcast seconds, so the path's offset (broadcast
    minus clip time) climbs by k - 1 per second in steps: several steps of one sign that a
    straight line follows within ``SPEED_MAX_RESIDUAL_S`` (a cut is one step, a line
    through it misses by more).
    """
    pts = [
        (s.clip_t, s.broadcast_t - s.clip_t)
        for s in seconds
        if s.mapped and s.manifest is not None and s.cells < FOREIGN_CELLS
    ]
    if len(pts) < SPEED_MIN_WINDOWS:
        return None
    t = np.array([p[0] for p in pts])
    off = np.array([p[1] for p in pts])
    steps = np.diff(off)
    up = int(np.sum(steps >= _SPEED_STEP_S))
    down = int(np.sum(steps <= -_SPEED_STEP_S))
    if min(up, down) > 0 or max(up, down) < SPEED_MIN_STEPS:
        return None
    slope, icpt = np.polyfit(t, off, 1)
    if abs(slope) < SPEED_MIN_DEVIATION or np.max(np.abs(off - (slope * t + icpt))) > (
        SPEED_MAX_RESIDUAL_S
    ):
        return None
    return float(t[0]), float(t[-1] + 1.0), float(1.0 + slope)


def _audio_check(a: _Pass, seconds: list[_Second]) -> None:
    """A second whose sound does not match its anchored loudness envelope is altered."""
    if a.audio is None:
        return
    idx: list[int] = []
    pairs: list[tuple[list[int], list[int]]] = []
    for k, sec in enumerate(seconds):
        m = sec.manifest
        if sec.status not in ("original", "altered") or m is None or m.audio is None:
            continue
        b = round(sec.clip_t * AUDIO_PER_SECOND)
        clip = a.audio[b : b + AUDIO_PER_SECOND]
        if len(clip) < AUDIO_PER_SECOND:
            continue
        idx.append(k)
        pairs.append((clip, list(m.audio[sec.broadcast_t - m.start])))
    res = audio_residuals(pairs)
    for k, r in zip(idx, res, strict=True):
        if r is not None and r > AUDIO_TOL_DB:
            seconds[k].status = "altered"
            seconds[k].audio = True


_WHAT = {
    "picture": "fingerprint",
    "sound": "loudness envelope",
    "both": "fingerprint and loudness envelope",
}


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
            and abs(seconds[j + 1].clip_t - seconds[j].clip_t - seconds[j].span) < 0.01
        ):
            j += 1
        first, last = seconds[i], seconds[j]
        c0, c1 = first.clip_t, last.clip_t + last.span
        b0, b1 = first.broadcast_t, last.broadcast_t + 1
        status = first.status
        if status == "foreign":
            out.append(ClipSegment(c0, c1, "foreign"))
            findings.append(
                Finding(
                    "splice",
                    f"clip {c0:.1f}-{c1:.1f} s is other footage: it matches none of the "
                    "anchored fingerprints of the broadcast around its marked time",
                    c0,
                )
            )
        else:
            out.append(ClipSegment(c0, c1, status, b0, b1))
        if status == "altered":
            run = seconds[i : j + 1]
            what = "picture"
            if any(sec.audio for sec in run):
                what = "sound" if all(sec.cells < MIN_CHANGED_CELLS for sec in run) else "both"
            findings.append(
                Finding(
                    "altered",
                    f"clip {c0:.1f}-{c1:.1f} s does not match the anchored {_WHAT[what]} of "
                    f"broadcast {b0}-{b1}: the {what if what != 'both' else 'picture and sound'} "
                    "changed",
                    c0,
                )
            )
        i = j + 1
    return out


def _edge_marks(pieces: list[ClipSegment], edges: _EdgeTimes, dur: float) -> list[ClipSegment]:
    """Pieces with the mark's broadcast time where a clip end has no matched content.

    Content is compared per broadcast second, so a piece shorter than about a second after a
    cut near a clip end (or before one near its start) has no whole window on its own
    offset: its windows are judged against the old offset, changed, and then ``unknown``
    (``_judge``'s edge rule) or not judged at all, and the cut went unreported (bench: a cut
    1.19 s before the end judged authentic). The mark reads that stretch on its own (the
    engine's per-second decode leans on the seconds before it): where its best offset
    ``EDGE_JUMP_S`` to ``EDGE_SEARCH_S`` off the last (first) matched piece's clears
    ``EDGE_Z`` and beats every offset near the matched piece's by ``EDGE_MARGIN_Z`` (a
    pairwise z, ``_EdgeTimes.jump``), the stretch becomes an ``unknown`` piece at the mark's
    time, so the timeline reports the cut or re-order. The window next to the matched piece
    may straddle the cut, so the stretch is also tried up to ``EDGE_SHIFTS`` 0.2-s steps
    further in. A smaller offset difference is within the mark's phase tolerance (genuine
    clips: the mark agrees with the content). A moving mark's stretch is read on its frames
    folded again at 25 anchors a second (``_EdgeTimes.fine_rows``), five times the offsets,
    so its bar is ``EDGE_FINE_Z``.
    """
    matched = [p for p in pieces if p.status == "original" and p.broadcast_start is not None]
    if not matched:
        return pieces
    out = list(pieces)
    step = 1.0 / SUB_BUCKETS_PER_SECOND
    for tail in (True, False):
        ref = matched[-1] if tail else matched[0]
        lo, hi = (ref.clip_end, dur) if tail else (0.0, ref.clip_start)
        inside = [p for p in out if p.clip_end > lo + 1e-6 and p.clip_start < hi - 1e-6]
        if any(p.status != "unknown" for p in inside):
            continue  # altered or foreign content there: judged by content, not the mark
        ref_t = (ref.broadcast_end if tail else ref.broadcast_start) or 0
        ref_off = ref_t - (ref.clip_end if tail else ref.clip_start)
        best: tuple[float, float, float, float] | None = None  # (z, offset, x0, x1)
        fine: dict[float, dict[int, np.ndarray]] | None = None
        for k in range(EDGE_SHIFTS):
            x0, x1 = (lo + k * step, hi) if tail else (lo, hi - k * step)
            if x1 - x0 < EDGE_MARK_MIN_S:
                break
            if fine is None:
                fine = edges.fine_rows(lo, hi)
            if fine:
                (off, z, margin), bar = edges.jump_fine(x0, x1, ref_off, fine), EDGE_FINE_Z
            else:
                (off, z, margin), bar = edges.jump(x0, x1, ref_off), EDGE_Z
            if z >= bar and margin >= EDGE_MARGIN_Z and (best is None or z > best[0]):
                best = (z, off, x0, x1)
        if best is None:
            continue
        _, off, x0, x1 = best
        out = [p for p in out if p not in inside]
        # whole broadcast seconds: the piece's offset is good to 0.5 s (the jump's size),
        # its start is where the mark's reading begins (the jump's place)
        out.append(
            ClipSegment(
                x0, x1, "unknown", round(off + x0), max(round(off + x1), round(off + x0) + 1)
            )
        )
    return sorted(out, key=lambda p: p.clip_start)


def _timeline(
    pieces: list[ClipSegment], dur: float, findings: list[Finding], splice_gaps: bool = True
) -> list[ClipSegment]:
    """Pieces in clip order covering 0..dur; gaps become foreign (splice) or unknown.

    With manifests every window was judged by content, so a gap is only a seam or a clip
    edge (unknown); without, a long gap in the mark is taken for foreign footage."""
    out: list[ClipSegment] = []
    cursor = 0.0
    for p in sorted(pieces, key=lambda s: s.clip_start):
        if p.clip_end <= cursor + 1e-6:
            continue
        if p.clip_start - cursor > GAP_MERGE_S:
            out.extend(_gap(cursor, p.clip_start, findings, splice_gaps))
            start = p.clip_start
        else:
            start = cursor  # a sliver before it (or an overlap) joins this piece
        out.append(
            ClipSegment(start, min(p.clip_end, dur), p.status, p.broadcast_start, p.broadcast_end)
        )
        cursor = min(p.clip_end, dur)
    if dur - cursor > GAP_MERGE_S:
        out.extend(_gap(cursor, dur, findings, splice_gaps))
    elif out and dur > cursor:
        last = out[-1]
        out[-1] = ClipSegment(
            last.clip_start, dur, last.status, last.broadcast_start, last.broadcast_end
        )
    return out


def _gap(a: float, b: float, findings: list[Finding], splice: bool = True) -> list[ClipSegment]:
    """A stretch without the claimed streamer's mark: foreign if long enough, else unknown."""
    if splice and b - a >= SPLICE_MIN_S:
        findings.append(
            Finding(
                "splice",
                f"clip {a:.1f}-{b:.1f} s carries no mark of this broadcast: foreign footage",
                a,
            )
        )
        return [ClipSegment(a, b, "foreign")]
    return [ClipSegment(a, b, "unknown")]


def _jumps(segs: list[ClipSegment], rate: float = 1.0) -> list[Finding]:
    """Cuts, re-orders and speed changes between consecutive segments of one mark (clip
    times are taken at the playback ``rate``: broadcast seconds per clip second)."""
    segs = sorted(segs, key=lambda s: s.clip_start)
    out: list[Finding] = []
    steps: list[tuple[float, int, float]] = []  # (clip time, jump, previous segment length)
    for prev, nxt in itertools.pairwise(segs):
        off_prev = (prev.broadcast_end or 0) - prev.clip_end * rate
        off_next = (nxt.broadcast_start or 0) - nxt.clip_start * rate
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
