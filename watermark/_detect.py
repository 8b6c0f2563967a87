"""The detector: resynchronise, fold, gather soft evidence over time, decode, segment.

Steps for one key (the ``Detector`` runs them in this order):

(1) geometry: for candidate periods around ``height / CHIPS_PER_HEIGHT * TILE_CHIPS``,
    resample sample frames so one period is ``TILE_CHIPS * SAMPLES_PER_CHIP`` samples,
    whiten, fold modulo the period, and phase-correlate with the keyed sync tile; the
    period and offset with the highest correlation peak (z-score) win. Coarse then fine.
(2) evidence: every frame is resampled, whitened (high-pass, divided by the local standard
    deviation: the "whitened detector" of issue 4) and folded; folded tiles are summed per
    0.2 s of clip time (``SUB_BUCKETS_PER_SECOND``), then aligned and turned into soft bits
    with the matched filter. Memory is O(clip seconds * 434 floats), never frames.
(3) identity: constant soft bits summed over the whole clip (or 3-second pieces when the
    clip mixes broadcasts) -> soft ML over the key's 2**16 epoch codewords, accepted above
    ``id_threshold`` for the epochs a mark can carry (``plausible_epochs``; false accept
    <= 8.4e-8 per attempt).
(4) time: per second, ML over all 2**16 keyed codewords, with continuity over the
    neighbouring seconds (counter + 1 per second), and the best of 5 sub-second phases.
    Playback-rate hypotheses (``SPEED_RATES``: slowed down or sped up clips) re-bucket the
    0.2 s evidence onto broadcast seconds; one wins only if it clearly beats normal speed.
(5) segments: runs of seconds whose decoded broadcast time advances with clip time; a jump
    (cut, re-order, splice) starts a new segment. Each segment says where its broadcast
    seconds begin in clip time (``clip_origin``, 0.2 s / rate resolution), its playback
    rate and its per-second mark strength; ``Detection.seconds`` lists every second.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from watermark._keys import StreamerKey
from watermark._motion import ANCHOR_SECONDS, EST_HEIGHT, MotionChain, area_resize
from watermark._patterns import (
    SAMPLES_PER_CHIP,
    TILE_CHIPS,
    KeyPatterns,
    broadcast_period,
    gemm,
    nominal_period,
    render_matrix,
)
from watermark._payload import (
    CONST_CODED_BITS,
    COUNTER_BITS,
    EPOCH_SECONDS,
    TIME_CODED_BITS,
    TIME_GROUPS,
    TIME_Z_THRESHOLD,
    ConstPayload,
    IdentityCode,
    TimeCode,
    id_threshold,
    plausible_epochs,
    time_false_alarm,
)

__all__ = [
    "IDENTITY_WINDOW_S",
    "SPEED_RATES",
    "SUB_BUCKETS_PER_SECOND",
    "Detection",
    "Detector",
    "Evidence",
    "Geometry",
    "KeptFrame",
    "SecondMark",
    "Segment",
    "SoftSeries",
    "refold",
]

SUB_BUCKETS_PER_SECOND = 5  # 0.2 s: finest sub-second phase the time decoder tries
IDENTITY_WINDOW_S = 3  # issue 4: identity from any 3-second piece
_N = TILE_CHIPS * SAMPLES_PER_CHIP  # samples per period at the detector (96)
_HP_SIGMA = 1.5  # high-pass: remove what a half-chip Gaussian keeps (image more than mark)
_LOCAL_SIGMA = 3.0  # local std over ~1 chip for whitening (swept: 2-8 samples)
_WHITE_CLIP = 3.0  # clip whitened samples at 3 sigma: edges must not dominate the fold
_SCALE_MIN, _SCALE_MAX = 0.72, 1.25  # period / nominal: crops to ~20%, letterbox to 28%
_COARSE_STEP = 0.01  # 1 %: drift <= half a chip across the 2-period centre window
_FINE_STEP = 0.0025  # 0.25 %: drift <= 1/3 chip across a 1080p frame (6.7 periods)
# re-anchoring schedule of a moving mark (``AnchorProbe``): every frame of the clip's first
# seconds; hypotheses' origins every 0.08 s (two frames at 25 fps); a hypothesis scores the sum
# over its anchors of (the anchor's z - _ANCHOR_COST) at the tile offset that suits it best,
# and another rate is taken when it scores at least _ANCHOR_MIN_SCORE and beats normal speed
# by _ANCHOR_MARGIN. Measured (session 20, ``python -m benchmarks.probe_anchor_scores 480 4``,
# run twice: 14-s 480p scene clips at CRF 28, four seeds): the best other rate scored 7.3-11.3
# where another key's mark or no mark was read; 37-91 on clips played at 0.75-2x; on
# normal-speed clips the best other rate (0.5x or 2x: half their anchors are normal
# speed's) came within -9.2 to +2.6 of normal. The minimum was 50 (noise of 15-37 measured
# before frames just before an anchor counted against it): 0.75x / 0.8x clips at 37-49
# were read at normal speed, and a clip test scoring 49.9 at 1.5x flipped with the
# encoder's run-to-run noise. At 30: 15 of 24 sped-up or slowed clips read at their rate
# (12 at 50), no normal-speed clip took another; 0.5x beats normal speed by only 4-12 and
# stays there, and one 0.5x clip (seed 3) reads as 2x at either minimum (by 38: likely the
# per-anchor z sums, which favour many short anchors where the picture barely moves)
ANCHOR_SPAN_S = 8.0
# 0.2-s phases an anchor schedule can have at normal speed (anchors ANCHOR_SECONDS apart)
_PHASES = SUB_BUCKETS_PER_SECOND * ANCHOR_SECONDS
_ANCHOR_STEP_S = 0.08
_ANCHOR_MARGIN = 12.0
_ANCHOR_MIN_SCORE = 30.0
# normal speed needs less to take the probe's candidate and phase over the geometry's (a
# choice among candidates, not a re-timing): the best normal-speed score on unmarked clips
# and other keys' marks was 2.2-6.3 (6 keys each on a 2-s 480p and an 8-s 720p scene clip),
# a marked 2-s zooming clip's right one 26 (the geometry's own pick, 3.7 % zoomed, 14.9)
_ANCHOR_NORMAL_MIN_SCORE = 15.0
# ... and takes a candidate at a period a re-upload shows exactly (``_prior_periods``) unless
# another scores this fraction more: where the clip bench's normal-speed clips were anchored
# 0.25-0.5 % off, that period scored 0.4-4.6 % over the true one (a re-ordered clip 14 %);
# 5 % and 10 % both gave 39 of 40 true periods (without: 30; benchmarks.probe_periods' clips)
_PRIOR_MARGIN = 0.05
# keys probed: geometry sync z at least this (a moving mark in a slowed clip shows in few
# samples: 4.7-5.3 measured where the probe then scored 78-86), at most the best two
ANCHOR_MIN_Z = 4.0
ANCHOR_MAX_KEYS = 2
# after a re-encode the moving mark is seen only shortly after each anchor (measured at
# CRF 28: per-frame sync z 4.5 at the anchor, 3.1 after 0.24 s, 1.2 after 0.4 s, ~0 after
# 0.5 s): hypotheses are matched against that fade, so one that puts anchors where
# the mark is not seen loses (otherwise extra anchors cost nothing)
_ANCHOR_FADE_S = 0.5
# a frame zoomed this much since its anchor no longer counts (a fold at the anchor's period
# drifts by ~1.4 chips at a 720p frame's edges at 1 %); linearly less from no zoom on
_ANCHOR_ZOOM_TOL = 0.01
_ANCHOR_COST = 1.5
# ``Detector.refine_period`` looks this many ``_FINE_STEP``s either side of the anchored
# period (2 %: the probe kept candidates up to 1.5 % off on the clip bench set)
_REFINE_STEPS = 8
# ... and takes another period only where the stabilised sum's sync z gains this much there:
# the bench set's 1.25-1.5 % misses gained 3.7-4.9, periods within 0.5 % of the true one
# 0.06-0.7 (the sum's own noise: taking those moved two exact periods 0.25-0.75 % off)
_REFINE_MIN_GAIN = 2.0
# coarse scale search: frames spread over the whole sample (the first few frames can all
# come from one shot the mark does not survive in, e.g. a flat sky at half size)
_COARSE_FRAMES = 12
# a moving mark's phases' own peaks count as period extremes within this much sync z of the
# best (``_period_extremes``): on a 360p CRF 23 clip the five were within 0.4
_PHASE_CANDIDATE_MARGIN = 4.0
# a lead's own sync peak (``Detector.place_lead``) must stand out this far: the best of
# the tile's 9216 offsets is z ~3.9 on pure noise
_LEAD_MIN_Z = 5.0
# a piece after a cut is read at another re-anchoring phase when that phase's per-bucket
# identity z beats the current one's by this much over the piece (``Detector._piece_rows``)
_PHASE_SWITCH_Z = 4.0
# ... and per bucket by this much: without the mark a picture's fold correlates with the
# codeword for as long as the picture lasts, so one phase's noise can lead another's by
# ~1.7 per bucket for seconds (a 3-s foreign splice; genuine pieces after a cut led by
# 2.3-7 per bucket at 480p CRF 28)
_PHASE_OFF_MAIN_Z = 1.5
# the other phases' folds are the main fold shifted while their relative zoom moves no point
# of the frame by more than this (samples) beyond the shift at its centre (``_fold_shift``)
_FOLD_ZOOM_SAMPLES = 0.5
_OPEN_BUCKETS = 10  # tiles kept before handing over: 2 s, more than any B-frame reorder
_ACTIVITY_SIGMA = 3.0  # samples (one chip): a block that changed, not a pixel
_ACTIVITY_REF = 0.5  # grey levels of change that count as fully re-coded (camera grain ~0.7)
_TIME_HALF_WINDOWS = (1, 2, 4)  # a second's z: 3-, 5-, then 9-s windows within its run
# Path penalty per change of broadcast offset, in per-second z units: a lone second read
# at a wrong offset and back costs 2x this, more than the best of 2**16 noise codewords
# (~4.5) beats the right one by in a second without mark
_JUMP_Z = 3.5
# ... and per change by at most 7 s (codewords sharing groups, see ``track_offsets``): a
# lone second 1 s off and back costs 3.0, six times the noise of the one group that tells
# them apart
_NEAR_JUMP_Z = 1.5
_TRACK_LAG = 60  # seconds: the offset path is decided this far behind the newest second
_SCORE_CHUNK = 256  # seconds scored against all 2**16 codewords at once (64 MB float32)
_SYNC_SPAN_S = 20.0  # ... from the first 20 s of the clip
# Playback rates tried besides normal speed (a re-upload played faster or slower);
# rate = broadcast seconds per clip second.
SPEED_RATES = (0.5, 0.75, 0.8, 1.25, 1.5, 2.0)
_SPEED_MIN_S = 3  # clips shorter than this (in seconds) are taken at normal speed
_SPEED_PROBE_S = 12  # clip seconds scored per (rate, phase) hypothesis (cost bound)
_PHASE_SPAN_S = 60  # clip seconds the normal-speed phase is checked on (cost bound)
# Probe windows span this many clip seconds for every hypothesis, so a cut or a re-order
# breaks as many windows at any rate (windows of broadcast seconds favoured fast rates,
# which fit more windows between two seams: a cut once read as 1.5x)
_SPEED_WINDOW_S = 3
# A rate other than 1 must beat rate 1's probe score by this much, in units of the chip
# noise of one 0.2-s bucket: normal-speed clips must never be re-timed by noise. Measured
# on 26 synthetic clips (720p clean, 480p CRF 28, CRF 28 + half size; 0.5-2x, cuts,
# re-orders, a splice): the best wrong rate of a normal-speed clip scored <= +0.2 over
# rate 1 once the slope check below had ruled out what contradicts the decoded counters;
# the true rate of a sped-up or slowed clip >= +1.49, except 1.5x at CRF 28 + half size
# (+0.24: too weak, read at normal speed)
_SPEED_MARGIN = 0.75
# ... or beat it at all (by more than _SPEED_NEAR_MARGIN) with an offset path of fewer runs
# than normal speed's: the clip verifier folds every second frame, which leaves the probe
# ~1/sqrt(2) of its contrast, and 1.5x clips at CRF 28-30 scored +0.22 to +0.70 over
# rate 1 (read at normal speed, then judged other footage), while their rate-1 path
# needed 2-3 runs and the 1.5x path one. Normal-speed clips whose counters a wrong rate
# explains in fewer runs (two 1-s cuts in 10 s look like 1.25x) scored 0.7-1.5 below
# rate 1 in the probe, which sees the sub-second boundaries the counters do not
_SPEED_NEAR_MARGIN = 0.1
# ... and agree with the slope of the counters decoded second by second at rate 1 (median
# of pairwise slopes over gaps of 1 to _SLOPE_MAX_GAP seconds, seconds with z >=
# _SLOPE_MIN_Z): within _SLOPE_TOLERANCE * max(rate, 1). Seams bias the probe towards slow
# rates (a slow hypothesis spans fewer broadcast seconds per window), cuts bias the slope
# upwards (each adds a jump): requiring both to agree keeps either bias from re-timing
_SLOPE_MAX_GAP = 6
_SLOPE_MIN_Z = 5.0  # below TIME_Z_THRESHOLD: a wrong counter is a wild slope, ignored anyway
_SLOPE_MIN_PAIRS = 3  # fewer confident pairs: no slope, so normal speed
_SLOPE_TOLERANCE = 0.25


@dataclass(frozen=True)
class Geometry:
    """Where the tile sits in the clip: period in pixels and offset in detector samples."""

    period: float
    offset: tuple[int, int]
    z: float
    # 0.2 s buckets (clip time * 5) whose index is = phase (mod ``_PHASES``) start a broadcast
    # second divisible by ``ANCHOR_SECONDS``: there the embedder re-anchors a moving mark to
    # the frame (``pick_samples``); None: a frame-fixed mark, nothing to stabilise
    phase: int | None = None
    # playback rate: a re-upload played at another speed was re-anchored every
    # ANCHOR_SECONDS / anchor_rate clip seconds, at anchor_origin + k * ANCHOR_SECONDS /
    # anchor_rate; at rate 1 ``phase`` says where
    anchor_rate: float = 1.0
    anchor_origin: float = 0.0
    # at rate 1: clip seconds from the start of the phase's buckets to the anchors (|x| <=
    # 0.1), as the anchoring probe places them (``Detector._exact_anchors``, 0.08-s steps)
    anchor_shift: float = 0.0

    def anchors(self) -> tuple[float, float] | None:
        """(playback rate, origin) of the clip times where the moving mark was re-anchored
        (origin + k * ANCHOR_SECONDS / rate, each a broadcast-second boundary), None for a
        frame-fixed mark."""
        if self.phase is None:
            return None
        if self.anchor_rate == 1.0:
            return 1.0, self.phase / SUB_BUCKETS_PER_SECOND + self.anchor_shift
        return self.anchor_rate, self.anchor_origin


@dataclass(frozen=True)
class Segment:
    """A run of clip time whose broadcast time advances steadily.

    ``clip_origin`` is the clip time at which broadcast second ``broadcast_start`` begins
    (before ``clip_start`` when the clip starts mid-second): clip time ``t`` in the segment
    shows broadcast time ``broadcast_start + (t - clip_origin) * rate``. ``strengths`` are
    the time decode z-scores of its seconds (mark strength, threshold ``TIME_Z_THRESHOLD``).
    """

    clip_start: float
    clip_end: float
    broadcast_start: int
    broadcast_end: int
    confidence: float
    clip_origin: float = 0.0
    rate: float = 1.0
    strengths: tuple[float, ...] = ()

    @property
    def phase(self) -> float:
        """Clip time of the broadcast-second boundaries modulo one broadcast second."""
        return self.clip_origin % (1.0 / self.rate)

    def to_json(self, detail: bool = False) -> dict[str, Any]:
        """The issue's five keys; ``detail`` adds origin, phase, rate and strengths."""
        out: dict[str, Any] = {
            "clip_start": round(self.clip_start, 2),
            "clip_end": round(self.clip_end, 2),
            "broadcast_start": self.broadcast_start,
            "broadcast_end": self.broadcast_end,
            "confidence": round(self.confidence, 4),
        }
        if detail:
            out["clip_origin"] = round(self.clip_origin, 3)
            out["phase"] = round(self.phase, 3)
            out["rate"] = self.rate
            out["strengths"] = [round(z, 2) for z in self.strengths]
        return out


@dataclass(frozen=True)
class SecondMark:
    """The mark in one broadcast-second slot of the clip (decoded or not).

    ``time_z`` is the time decode's z-score (``broadcast`` is None below
    ``TIME_Z_THRESHOLD``); ``identity_z`` is this second alone correlated with the clip's
    decoded identity codeword (about N(0, 1) where the mark is absent, e.g. a splice);
    ``confidence`` is 1 - the time decode's union-bound false-alarm probability.
    """

    clip_start: float
    clip_end: float
    broadcast: int | None
    time_z: float
    identity_z: float
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {
            "clip_start": round(self.clip_start, 3),
            "clip_end": round(self.clip_end, 3),
            "broadcast": self.broadcast,
            "time_z": round(self.time_z, 2),
            "identity_z": round(self.identity_z, 2),
            "confidence": round(self.confidence, 4),
        }


@dataclass(frozen=True)
class Detection:
    detected: bool
    streamer: str | None
    segments: tuple[Segment, ...] = ()
    epochs: tuple[int, ...] = ()
    sync_z: float = 0.0
    frames: int = 0
    duration: float = 0.0
    rate: float = 1.0
    seconds: tuple[SecondMark, ...] = ()

    def to_json(self, detail: bool = False) -> dict[str, Any]:
        """``{"detected", "streamer", "segments"}`` (issue 4); ``detail`` adds the rate,
        per-segment origin/phase/strengths and the per-second marks."""
        out: dict[str, Any] = {
            "detected": self.detected,
            "streamer": self.streamer,
            "segments": [s.to_json(detail) for s in self.segments],
        }
        if detail:
            out["rate"] = self.rate
            out["seconds"] = [m.to_json() for m in self.seconds]
        return out


def _whiten(small: np.ndarray) -> np.ndarray:
    f = small.astype(np.float32)
    hp = f - cv2.GaussianBlur(f, (0, 0), _HP_SIGMA)
    local = cv2.GaussianBlur(hp * hp, (0, 0), _LOCAL_SIGMA)
    w = hp / (np.sqrt(local) + np.float32(1.0))
    return np.clip(w, -_WHITE_CLIP, _WHITE_CLIP)


def _fold(w: np.ndarray) -> np.ndarray:
    """Sum of the frame's (_N, _N) blocks, the last row and column of blocks partial (a
    moving mark folds ~9 times per 0.2-s bucket: block sums take half the time of padding
    the frame to whole blocks first)."""
    h, wd = w.shape
    out = np.zeros((_N, _N), np.float64)
    for y in range(0, h, _N):
        rows = w[y : y + _N]
        for x in range(0, wd, _N):
            block = rows[:, x : x + _N]
            out[: block.shape[0], : block.shape[1]] += block
    return out


def _resample(y: np.ndarray, period: float) -> np.ndarray:
    f = _N / period
    h, w = y.shape
    return area_resize(y, (max(1, round(w * f)), max(1, round(h * f))), f)


def stabilise(y: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """``y`` (a frame, possibly resampled) with ``motion`` (3x3, estimation pixels: where a
    point of the reference frame is now) undone, so a mark that moved with the picture
    since the reference stands still. Edges read from outside the frame repeat the border
    (the whitening's high-pass makes them ~0)."""
    if np.array_equal(motion, np.eye(3)):
        return y
    a = MotionChain.rescaled(motion, y.shape[0] / EST_HEIGHT)
    out: np.ndarray = cv2.warpAffine(
        y,
        a[:2],
        (y.shape[1], y.shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out


def _fold_shift(motion: np.ndarray, shape: tuple[int, ...]) -> tuple[float, float] | None:
    """The (x, y) shift in samples by which ``stabilise(w, motion)`` moves a frame of
    ``shape``, if its zoom moves no point of the frame by more than ``_FOLD_ZOOM_SAMPLES``
    beyond that shift (else None): then folding first and shifting the fold cyclically is
    the same as warping the frame and folding it, for 1/100 of the cost."""
    m = MotionChain.rescaled(motion, shape[0] / EST_HEIGHT)
    s = math.sqrt(abs(float(np.linalg.det(m[:2, :2]))))
    h, w = shape[0], shape[1]
    if abs(s - 1.0) * math.hypot(w, h) / 2.0 > _FOLD_ZOOM_SAMPLES:
        return None
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    x, y, _ = m @ np.array([cx, cy, 1.0])
    return float(x - cx), float(y - cy)


def _shift_fold(folded: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """``folded`` read at ``u + shift``, cyclically (a translated frame's fold)."""
    if shift == (0.0, 0.0):
        return folded.copy()
    m = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
    out: np.ndarray = cv2.warpAffine(
        folded,
        m,
        (_N, _N),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_WRAP,
    )
    return out


def _every_phase_step(k: int) -> int:
    """The least step from ``k`` up that is prime to ``_PHASES``: taking every step-th of a
    run of phases then visits each of them in turn."""
    while math.gcd(k, _PHASES) != 1:
        k += 1
    return k


def pick_samples(
    frames: Iterable[tuple[float, np.ndarray]], span: float, max_frames: int
) -> tuple[list[np.ndarray], list[int]]:
    """Frames for the geometry search and the 0.2 s bucket (mod ``_PHASES``) each one starts.

    The embedder re-anchors the moving mark to the frame at every ``ANCHOR_SECONDS``-th
    broadcast second, so a frame that starts a bucket which starts such a second shows the
    mark where a still one would be; which residue that is, is not known yet. Samples are
    the first frames of every k-th bucket, k prime to ``_PHASES`` so all residues take
    turns; the geometry search sums them per residue and the right residue is the one that
    adds up (``phase``)."""
    buckets = max(1, int(span * SUB_BUCKETS_PER_SECOND))
    k = _every_phase_step(max(1, buckets // max(1, max_frames)))
    samples: list[np.ndarray] = []
    phases: list[int] = []
    last = None
    for t, y in frames:
        b = math.floor(t * SUB_BUCKETS_PER_SECOND + 1e-6)
        if t > span or len(samples) >= max_frames:
            break
        if b != last and b % k == 0:
            samples.append(y.copy())
            phases.append(b % _PHASES)
        last = b
    return samples, phases


def _fade(dt: float, rate: float) -> float:
    """Weight of a frame ``dt`` clip seconds from a moving mark's anchor, at playback
    ``rate`` (``_ANCHOR_FADE_S``; <= 0: the frame does not count)."""
    return 1.0 - dt * min(1.0, rate) / _ANCHOR_FADE_S


def anchor_period(t: float, rate: float, origin: float) -> int:
    """Index of the anchor period that clip time ``t`` shows when the anchors are at clip
    times ``origin + k * ANCHOR_SECONDS / rate`` (at rate 1 and a 0.2 s origin they are
    bucket starts)."""
    return math.floor((t - origin) * rate / ANCHOR_SECONDS + 1e-6)


def fold_frame(y: np.ndarray, period: float) -> np.ndarray:
    """Resample so one period is 96 samples, whiten, fold: (96, 96) unaligned evidence."""
    return _fold(_whiten(_resample(y, period)))


def _lowpass_1d() -> np.ndarray:
    """The Gaussian (sigma ``_HP_SIGMA`` samples) the high-pass removes, per frequency along
    one axis of a tile (it is separable)."""
    k = np.fft.fftfreq(_N)
    out: np.ndarray = np.exp(-2.0 * math.pi**2 * _HP_SIGMA**2 * k**2)
    return out


def _hp_response() -> np.ndarray:
    g = _lowpass_1d()
    out: np.ndarray = 1.0 - g[:, None] * g[None, :]
    return out


_HP = _hp_response()
_R = render_matrix(SAMPLES_PER_CHIP, _N)


def _smoothed_render() -> np.ndarray:
    """``_R`` low-passed as ``_HP`` takes away: (C @ _R) with C the circulant matrix of the
    Gaussian ``1 - _HP`` is made of (separable, symmetric), so that high-passing a tile and
    reading its chips is ``_R.T @ x @ _R - (C _R).T @ x @ (C _R)``."""
    kernel = np.fft.ifft(_lowpass_1d()).real
    idx = np.arange(_N)
    circulant = kernel[(idx[:, None] - idx[None, :]) % _N]
    out: np.ndarray = circulant @ _R
    return out


_R_LOW = _smoothed_render()


@functools.lru_cache(maxsize=256)
def _chip_reader(offset: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) with ``chips = left @ stack(x @ right)``: a fold's chip evidence at
    tile ``offset`` (rolled, high-passed by ``_HP``, read by ``_R``) as two small matrix
    products, a third of the time of the FFTs it replaces (``Detector.soft_bits`` runs
    per 0.2 s bucket and phase: 1,500 times in a 60-s moving-mark clip)."""
    oy, ox = offset
    left = np.vstack([np.roll(_R, oy, axis=0), -np.roll(_R_LOW, oy, axis=0)]).T
    right = np.hstack([np.roll(_R, ox, axis=0), np.roll(_R_LOW, ox, axis=0)])
    return np.ascontiguousarray(left), np.ascontiguousarray(right)


class Evidence:
    """Folded, whitened tiles summed per 0.2 s of clip time (the detector's whole memory).

    Two sums: all samples (for the sync tile and the constant part) and samples weighted by
    temporal activity (for the time part). A re-encoder skips unchanged blocks, so in a
    static area its output keeps showing the time codeword of its last intra frame for
    seconds; counting those samples would read a confidently wrong, frozen time. Samples
    that changed since the previous frame were coded afresh and carry the current second.
    """

    def __init__(
        self,
        period: float,
        on_flush: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
        anchors: tuple[float, float] | None = None,
        on_phase_flush: Callable[[int, int, np.ndarray, np.ndarray], None] | None = None,
        keep_s: float = 0.0,
        other_phases: bool = True,
    ) -> None:
        """With ``on_flush``, tiles older than ``_OPEN_BUCKETS`` are handed over (and
        forgotten) as the clip goes on, so memory stays constant for any clip length.
        ``anchors`` (``Geometry.anchors()``): the (playback rate, origin) of the clip times
        where the embedder re-anchored a moving mark, origin + k * ANCHOR_SECONDS / rate
        (every ``ANCHOR_SECONDS``-th broadcast second, so every ANCHOR_SECONDS / rate clip
        seconds in a re-upload played at another speed); each frame is stabilised against
        the picture's motion since then. None for a frame-fixed mark.

        A cut of a fraction of a second moves that schedule: the piece after it was
        re-anchored at another 0.2 s phase, and on the first piece's schedule its mark smears
        with the picture's motion (a 6.7-s piece after a cut 0.3 s into a second read as
        unmarked). So at rate 1 the frames are also folded as if re-anchored at each of
        the other ``_PHASES - 1`` phases (``phase_tiles``, handed to
        ``on_phase_flush(phase, b, ...)``); the detector picks each piece's
        (``Detector.detect``). Those folds warp the whitened frame instead of whitening a
        warped one (one whitening per frame), and are the main fold shifted while the picture
        only panned between the two anchors (``_fold_shift``). ``other_phases`` False: the
        main phase only (measurements of what the other phases cost or give).

        Folding is linear, and between two re-anchorings the warp from the main phase's
        stabilisation to another phase's is one matrix, so a bucket's whitened frames are
        summed and folded (and warped) once per bucket and pair of anchors instead of once
        per frame (with ``_chip_reader``, a 60-s moving-mark clip verifies in 11.5-12.4 s on
        one core against 13.3-14.3 s; issue 4, session 19). A bucket is folded when the
        next begins; ``settle`` (or ``flush``) folds the last.

        ``keep_s`` > 0 (a moving mark at rate 1): the resampled frames of the clip's first and
        last ``keep_s`` seconds, with their motion, are kept (``kept``; ~8 MB a 3-s end at any
        resolution) so a short piece at a clip end can be folded again at an anchor off the
        0.2-s grid (``refold``)."""
        self.period = period
        self.tiles: dict[int, np.ndarray] = {}
        self.time_tiles: dict[int, np.ndarray] = {}
        self.frames = 0
        self.duration = 0.0
        self._prev: np.ndarray | None = None
        self._on_flush = on_flush
        self._on_phase_flush = on_phase_flush
        self.motion = None if anchors is None else MotionChain()
        self.anchor_rate, self.anchor_origin = anchors or (1.0, 0.0)
        self._clock = _AnchorClock(self.anchor_rate, self.anchor_origin)
        # other phase -> (tiles, time tiles), and its anchors
        self.phase_tiles: dict[int, tuple[dict[int, np.ndarray], dict[int, np.ndarray]]] = {}
        self._phase_clock: dict[int, _AnchorClock] = {}
        if anchors is not None and self.anchor_rate == 1.0 and other_phases:
            main = round(self.anchor_origin * SUB_BUCKETS_PER_SECOND) % _PHASES
            for p in range(_PHASES):
                if p != main:
                    self.phase_tiles[p] = ({}, {})
                    self._phase_clock[p] = _AnchorClock(1.0, p / SUB_BUCKETS_PER_SECOND)
        self.keep_s = keep_s if self.phase_tiles else 0.0
        self._head: list[KeptFrame] = []
        self._tail: collections.deque[KeptFrame] = collections.deque()
        self._pending: _Pending | None = None

    def settle(self) -> None:
        """Fold the frames still summed for the newest bucket into the tiles."""
        pend, self._pending = self._pending, None
        if pend is None:
            return
        folded = _fold(pend.w)
        _accumulate(self.tiles, pend.bucket, folded)
        folded_active = _fold(pend.active)
        _accumulate(self.time_tiles, pend.bucket, folded_active)
        for p, (tiles, time_tiles) in self.phase_tiles.items():
            to_p = pend.to_phase[p]
            _accumulate(tiles, pend.bucket, _refold(pend.w, folded, to_p))
            _accumulate(time_tiles, pend.bucket, _refold(pend.active, folded_active, to_p))

    def flush(self, keep: int = 0) -> None:
        """Hand all but the newest ``keep`` buckets to ``on_flush`` (``on_phase_flush``)."""
        if keep == 0:
            self.settle()
        if self._on_flush is not None:
            for b in sorted(self.tiles)[: max(0, len(self.tiles) - keep)]:
                empty = np.zeros((_N, _N))
                self._on_flush(b, self.tiles.pop(b), self.time_tiles.pop(b, empty))
        if self._on_phase_flush is not None:
            for p, (tiles, time_tiles) in self.phase_tiles.items():
                for b in sorted(tiles)[: max(0, len(tiles) - keep)]:
                    empty = np.zeros((_N, _N))
                    self._on_phase_flush(p, b, tiles.pop(b), time_tiles.pop(b, empty))

    def add_frame(self, y: np.ndarray, t: float) -> None:
        """Fold one luma frame shown at clip time ``t`` into the evidence (frames in
        display order: the picture's motion is followed from one to the next)."""
        b = math.floor(t * SUB_BUCKETS_PER_SECOND + 1e-6)
        small = _resample(y, self.period)
        a = rel = np.eye(3)
        if self.motion is not None:
            a = self.motion.update(y)
            if self.keep_s > 0.0:
                self._keep(KeptFrame(t, small, a.copy()))
            rel = self._clock.since(t, a)
            small = stabilise(small, rel)
        w = _whiten(small)
        active = _active(w, small, self._prev)
        # stabilised at phase p = the main stabilisation, warped from its anchor's motion to
        # phase p's: one matrix until either re-anchors
        to_phase = {p: self._phase_clock[p].since(t, a) for p in self.phase_tiles}
        key = (b, self._clock.anchored, tuple(c.anchored for c in self._phase_clock.values()))
        pend = self._pending
        if pend is None or pend.key != key or pend.w.shape != w.shape:
            self.settle()
            back = np.linalg.inv(rel)
            self._pending = _Pending(
                key, w, active.copy(), {p: back @ m for p, m in to_phase.items()}
            )
        else:
            pend.w += w
            pend.active += active
        self._prev = small
        self.frames += 1
        self.duration = max(self.duration, t)
        if self._on_flush is not None and len(self.tiles) > _OPEN_BUCKETS:
            self.flush(keep=_OPEN_BUCKETS)

    def _keep(self, frame: KeptFrame) -> None:
        if frame.t < self.keep_s:
            self._head.append(frame)
        self._tail.append(frame)
        while self._tail and self._tail[0].t < frame.t - self.keep_s:
            self._tail.popleft()

    def kept(self) -> list[KeptFrame]:
        """The frames kept at the clip's ends (``keep_s``), in clip order, each once."""
        head = {f.t: f for f in self._head}
        head.update((f.t, f) for f in self._tail)
        return [head[t] for t in sorted(head)]


@dataclass
class _Pending:
    """The newest bucket's frames, whitened and summed, awaiting their fold (``Evidence``)."""

    key: tuple[int, int | None, tuple[int | None, ...]]  # bucket, every schedule's anchor
    w: np.ndarray
    active: np.ndarray  # activity-weighted (``_active``)
    to_phase: dict[int, np.ndarray]  # main stabilisation -> each other phase's

    @property
    def bucket(self) -> int:
        return self.key[0]


class _AnchorClock:
    """Where a moving mark was last re-anchored on one schedule (anchors at clip times
    ``origin + k * ANCHOR_SECONDS / rate``): ``Evidence`` keeps one for its main schedule and
    one per other 0.2-s phase, ``refold`` one per origin."""

    def __init__(self, rate: float, origin: float) -> None:
        self.rate, self.origin = rate, origin
        self._period: int | None = None
        self._inverse = np.eye(3)  # inverse of the picture's motion at the anchor

    def since(self, t: float, motion: np.ndarray) -> np.ndarray:
        """The picture's motion from the anchor of clip time ``t``'s anchor period to ``t``
        (``motion``: since the clip's first frame, ``MotionChain``); a frame that starts an
        anchor period becomes the anchor."""
        period = anchor_period(t, self.rate, self.origin)
        if period != self._period:
            self._period, self._inverse = period, np.linalg.inv(motion)
        out: np.ndarray = motion @ self._inverse
        return out

    @property
    def anchored(self) -> int | None:
        """The anchor period of the current anchor (None before the first frame)."""
        return self._period


@dataclass(frozen=True)
class KeptFrame:
    """A frame near a clip end as the fold received it: resampled, not yet stabilised."""

    t: float  # clip time
    small: np.ndarray  # ``_resample``d luma (uint8)
    motion: np.ndarray  # the picture's motion since the clip's first frame (``MotionChain``)


def _active(w: np.ndarray, small: np.ndarray, prev: np.ndarray | None) -> np.ndarray:
    """``w`` weighted by how much each sample changed since the previous frame (``Evidence``:
    the time part counts only what the encoder coded afresh)."""
    if prev is None or prev.shape != small.shape:
        return w  # the first frame of a clip is intra-coded: all of it is current
    diff = cv2.absdiff(small, prev).astype(np.float32)
    act = cv2.GaussianBlur(diff, (0, 0), _ACTIVITY_SIGMA)
    out: np.ndarray = w * np.minimum(act * np.float32(1.0 / _ACTIVITY_REF), np.float32(1.0))
    return out


def _refold(src: np.ndarray, folded: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The fold of ``src`` stabilised by ``m`` (``folded``: its fold unstabilised), the fold
    shifted where ``m`` is a pan (``_fold_shift``)."""
    shift = _fold_shift(m, src.shape)
    if shift is not None:
        return _shift_fold(folded, shift)
    return _fold(stabilise(src, m))


def refold(
    frames: Sequence[KeptFrame], origins: Sequence[float]
) -> dict[float, dict[int, np.ndarray]]:
    """Activity-weighted folds (``Evidence.time_tiles``) of ``frames`` as if a moving mark
    was re-anchored at clip times ``origin + k * ANCHOR_SECONDS``, for each origin (in
    ``[0, ANCHOR_SECONDS)``; broadcast seconds then start at ``origin + k``): origin -> bucket ->
    tile, bucket b covering clip times ``origin + b / 5`` to ``origin + (b + 1) / 5`` (so no
    bucket straddles an anchor). Frames before an origin's first anchor among ``frames``
    are stabilised against the first frame, as ``Evidence`` does.

    ``Evidence`` re-anchors at the 0.2-s phases; a piece a cut leaves at a clip end was
    re-anchored anywhere on the frame clock, and a 1.2-s tail 0.1 s off the nearest phase
    decoded at z 3.1 against 5.1 at its own anchor (issue 4, session 15). Each frame is
    whitened and folded once; an origin only warps its fold. Activity is the difference to
    the previous frame moved along the picture's motion (session 17; the plain difference
    counted a pan's texture as fresh: a 1.2-s cut tail at CRF 28 read z 5.7-6.0, now
    6.6-7.0, in three paired runs; 5.45-6.97 over six more on a loaded machine)."""
    out: dict[float, dict[int, np.ndarray]] = {o: {} for o in origins}
    clocks = {o: _AnchorClock(1.0, o) for o in origins}
    prev: np.ndarray | None = None
    for i, f in enumerate(frames):
        w = _whiten(f.small)
        if prev is not None:
            # the previous frame moved along the picture's motion onto this one, as
            # ``Evidence`` compares frames stabilised alike: what a re-encoder predicted
            # along the pan is not fresh
            step = f.motion @ np.linalg.inv(frames[i - 1].motion)
            prev = stabilise(prev, np.linalg.inv(step))
        active = _active(w, f.small, prev)
        folded_active = _fold(active)
        for o in origins:
            tile = _refold(active, folded_active, clocks[o].since(f.t, f.motion))
            _accumulate(out[o], math.floor((f.t - o) * SUB_BUCKETS_PER_SECOND + 1e-6), tile)
        prev = f.small
    return out


BROADCAST_HEIGHTS = (360, 480, 540, 720, 1080, 1440, 2160)  # usual picture heights


def _crop_periods(h: int) -> list[float]:
    """The mark's period in ``h`` rows cropped from an unscaled broadcast of a usual height
    (``BROADCAST_HEIGHTS``) within the scale search: a fine-search centre of its own.

    A crop keeps the broadcast's period, 1/0.9 of the nominal one for a 10 % crop of each
    side. The fine search looked only around the coarse peak, found in the picture's centre,
    and the nominal period; where the centre holds little mark the coarse peak is noise: a
    genuine 1152x648 crop of a 720p moving-mark broadcast peaked at z 4.8 at 264 px and was
    judged unmarked, its true 288 px showing z 6.4 over the whole frame (issue 4, session 16)."""
    return [float(broadcast_period(b)) for b in BROADCAST_HEIGHTS if h < b <= h * _SCALE_MAX]


def _prior_periods(h: int) -> list[float]:
    """The periods a moving mark shows at its anchors in ``h`` rows of a re-upload at its
    broadcast's size (``broadcast_period``: whole-pixel chips), scaled down from a usual
    broadcast height (``BROADCAST_HEIGHTS``: 1080p at 720p shows 298.67 px) or cropped from
    one (``_crop_periods``); the nominal period (what a height of whole-pixel chips scales
    to) as well. The mark is re-anchored to its frame-fixed place, so whatever the picture
    zoomed since, such a re-upload shows exactly one of these at its anchors
    (``Detector.anchoring``)."""
    scaled = [broadcast_period(b) * h / b for b in BROADCAST_HEIGHTS if b > h]
    out = [nominal_period(h), broadcast_period(h), *scaled, *_crop_periods(h)]
    lo, hi = nominal_period(h) * _SCALE_MIN, nominal_period(h) * _SCALE_MAX
    return sorted({float(round(p, 6)) for p in out if lo <= p <= hi})


def _period_extremes(per: dict[int, Geometry], best_z: float) -> list[Geometry]:
    """The phases' own peaks (``Detector._best_group``) with the smallest and the largest
    period among those within ``_PHASE_CANDIDATE_MARGIN`` of ``best_z``."""
    near = [g for g in per.values() if g.z >= best_z - _PHASE_CANDIDATE_MARGIN]
    if not near:
        return []
    return [min(near, key=lambda g: g.period), max(near, key=lambda g: g.period)]


def _wrapped(dt: float) -> float:
    """Clip seconds ``dt`` between two normal-speed anchors, wrapped to within half an anchor
    period."""
    half = ANCHOR_SECONDS / 2.0
    return (dt + half) % ANCHOR_SECONDS - half


def _other_phase(geo: Geometry, phase: int) -> Geometry:
    """``geo`` re-anchored at the start of another phase's buckets, where ``Evidence``
    folds the other phases (``phase_tiles``): the anchoring probe's sub-bucket shift is the
    main piece's, not a piece's after a cut."""
    return dataclasses.replace(geo, phase=phase, anchor_shift=0.0)


def _lead_buckets(geo: Geometry) -> int:
    """How many of the clip's first 0.2 s buckets lie wholly before a moving mark's first
    re-anchoring (0 for a frame-fixed mark)."""
    a = geo.anchors()
    if a is None:
        return 0
    return math.floor(a[1] * SUB_BUCKETS_PER_SECOND + 1e-6)


def _accumulate(tiles: dict[int, np.ndarray], b: int, tile: np.ndarray) -> None:
    acc = tiles.get(b)
    if acc is None:
        tiles[b] = tile
    else:
        acc += tile


class SoftSeries:
    """Soft bits per 0.2 s bucket (what is left of a clip once tiles are decoded): 338
    floats per bucket, ~6 MB per hour of clip and key (``_PHASES`` times that for a moving
    mark at normal speed: one series per re-anchoring phase, ``phases``)."""

    def __init__(self) -> None:
        self.const: dict[int, np.ndarray] = {}
        self.time: dict[int, np.ndarray] = {}
        # tiles of the buckets before a moving mark's first anchor in the clip, until the
        # detector places them (``Detector.soft_series``)
        self.lead: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # a moving mark's soft bits as if re-anchored at each other 0.2 s phase
        # (``Evidence.phase_tiles``), for pieces after a cut (``Detector.detect``)
        self.phases: dict[int, SoftSeries] = {}

    def add(self, b: int, const: np.ndarray | None, time: np.ndarray | None) -> None:
        """Soft bits are linear in the tiles, so partial buckets simply add up."""
        for store, v in ((self.const, const), (self.time, time)):
            if v is None:
                continue
            if b in store:
                store[b] = store[b] + v
            else:
                store[b] = np.asarray(v, dtype=np.float32)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Dense (const, time) rows from the first bucket to the last, and that first one."""
        keys = set(self.const) | set(self.time)
        if not keys:
            return np.zeros((0, CONST_CODED_BITS)), np.zeros((0, TIME_CODED_BITS)), 0
        lo, hi = min(keys), max(keys)
        return (*self.span(lo, hi - lo + 1), lo)

    def span(self, lo: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Dense (const, time) rows for buckets ``lo .. lo + n - 1``, zeros where none (the
        other phases' series are read on the main one's buckets)."""
        const = np.zeros((n, CONST_CODED_BITS))
        time = np.zeros((n, TIME_CODED_BITS))
        for store, out in ((self.const, const), (self.time, time)):
            for b, v in store.items():
                if lo <= b < lo + n:
                    out[b - lo] = v
        return const, time


@dataclass(frozen=True)
class AnchorHypothesis:
    """A re-anchoring schedule (boundaries at origin + k / rate clip seconds), its score
    (``Detector.anchor_scores``) and the tile offset that gave it."""

    score: float
    rate: float
    origin: float
    offset: tuple[int, int]


class AnchorProbe:
    """Every frame's unstabilised folds and accumulated motion over a clip's first seconds:
    what ``Detector.anchoring`` needs to tell when a moving mark was re-anchored.

    A re-upload played at rate r re-anchors the mark every 1 / r clip seconds, and the
    evidence pass has to know where (``Geometry.anchors``). 24 geometry samples are too
    few to tell (per frame the right anchor scores sync z 2-3 after CRF 28, the others
    0 +- 1), so this looks at every frame of ``ANCHOR_SPAN_S``: the motion and one
    (96, 96) fold per frame and period (float32, ~7 MB for 8 s at 30 fps), and each frame
    resampled at the nominal period for ``Detector.refine_period`` (uint8, ~25 MB for 8 s
    at 30 fps at any resolution: 240 rows)."""

    def __init__(self, periods: Iterable[float]) -> None:
        self.times: list[float] = []
        self.motion: list[np.ndarray] = []
        self.folds: dict[float, list[np.ndarray]] = {round(p, 6): [] for p in periods}
        # per detector (id) and period: the folds' sync z-maps (``Detector._zmaps``)
        self.zmaps: dict[int, dict[float, list[np.ndarray]]] = {}
        # per detector (id): ``Detector.anchor_scores`` by (period, offset, window, rates),
        # so ``_faster_throughout`` and ``_exact_anchors`` score a half of the probe once
        self.scores: dict[int, dict[tuple[Any, ...], list[AnchorHypothesis]]] = {}
        # every frame resampled at the nominal period (uint8, ~100 KB a frame at any
        # resolution), and per anchor schedule their sum stabilised at its anchors
        # (``still_sum``, what ``Detector.refine_period`` re-measures the period on)
        self.small: list[np.ndarray] = []
        self._still: dict[tuple[float, float], np.ndarray] = {}
        self.shape = (0, 0)
        self._chain = MotionChain()

    @classmethod
    def read(
        cls, periods: Iterable[float], frames: Iterable[tuple[float, np.ndarray]]
    ) -> AnchorProbe:
        """The probe of ``frames`` (clip time, luma) up to ``ANCHOR_SPAN_S``."""
        probe = cls(periods)
        for t, y in frames:
            if t > ANCHOR_SPAN_S:
                break
            probe.add_frame(y, t)
        return probe

    def add_frame(self, y: np.ndarray, t: float) -> None:
        self.shape = y.shape
        self.times.append(t)
        self.motion.append(self._chain.update(y).copy())
        for p, folds in self.folds.items():
            folds.append(fold_frame(y, p).astype(np.float32))
        self.small.append(_resample(y, self.nominal))

    @property
    def nominal(self) -> float:
        """The nominal period at this height (pixels, ``nominal_period``): the sampling
        ``still_sum`` keeps frames at."""
        return nominal_period(self.shape[0])

    def still_sum(self, anchors: tuple[float, float]) -> np.ndarray:
        """The whitened frames (at the nominal period's sampling) stabilised at the anchors
        of ``anchors`` (``Geometry.anchors``: playback rate, origin), each weighted as the
        probe's fade weights it (``_ANCHOR_FADE_S``), summed: the still mark at the
        broadcast's own period, however the picture zoomed since each anchor."""
        out = self._still.get(anchors)
        if out is None:
            rate, origin = anchors
            clock = _AnchorClock(rate, origin)
            out = np.zeros(self.small[0].shape, np.float32)
            for t, small, a in zip(self.times, self.small, self.motion, strict=True):
                rel = clock.since(t, a)  # every frame: the clock re-anchors in order
                assert clock.anchored is not None
                start = origin + clock.anchored * ANCHOR_SECONDS / rate
                wt = _fade(t - start, rate)
                if wt > 0.0:
                    out += stabilise(_whiten(small), rel) * np.float32(wt)
            self._still[anchors] = out
        return out

    @property
    def moved(self) -> bool:
        """Whether the picture moved at all (a still one reads the same at any schedule)."""
        return self._chain.steps > 0

    def halves(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """The clip-time windows of the probe's two halves (a schedule that holds before
        and after any point is the clip's, not a compromise between two pieces'), or None
        when a half would be under two seconds."""
        if len(self.times) < 4 * SUB_BUCKETS_PER_SECOND:
            return None
        mid = self.times[len(self.times) // 2]
        return (-math.inf, mid), (mid, math.inf)


class Detector:
    """Detects one key's marks; see the module docstring for the steps."""

    def __init__(self, key: StreamerKey, now: float | None = None) -> None:
        """``now``: the verifier's clock (unix s; the system clock by default), which bounds
        the epochs searched for the identity and so its bar (``id_z``)."""
        self.key = key
        self.epochs = plausible_epochs(now)
        self.id_z = id_threshold(len(self.epochs))
        self.patterns = KeyPatterns(key)
        self.time_code = TimeCode(key)
        self._sync_f = np.conj(
            np.fft.fft2(np.fft.ifft2(np.fft.fft2(self.patterns.sync_samples) * _HP).real)
        )
        self.identity_code = IdentityCode(key)

    # (1) geometry ---------------------------------------------------------------------------
    def _sync_z(self, folded: np.ndarray) -> tuple[float, tuple[int, int]]:
        corr = np.fft.ifft2(np.fft.fft2(folded) * self._sync_f).real
        idx = int(np.argmax(corr))
        dy, dx = divmod(idx, _N)
        sd = float(np.std(corr))
        z = float((corr.flat[idx] - float(np.mean(corr))) / sd) if sd > 0 else 0.0
        return z, (dy, dx)

    def geometry(
        self, frames: Sequence[np.ndarray], phases: Sequence[int] | None = None
    ) -> Geometry:
        """Find period, offset and phase from a few luma frames of the clip (step 1): the
        best of ``geometry_candidates``."""
        return self.geometry_candidates(frames, phases)[0]

    def geometry_candidates(
        self, frames: Sequence[np.ndarray], phases: Sequence[int] | None = None
    ) -> list[Geometry]:
        """Period, offset and phase candidates from a few luma frames of the clip, best
        first: ``frames`` and ``phases`` as ``pick_samples`` gives them. Folds are summed
        per phase and over all frames (a still picture's mark adds up in every frame); the
        best of the six correlation peaks wins. The others are the best per fine-search
        centre (coarse peak, nominal period, a crop's ``_crop_periods``) and, for a moving
        mark, the nominal period
        itself and the phases' period extremes: a moving mark in a re-upload at another
        speed or on a zoom is seen in few samples, so the anchoring probe, which sees every
        frame, has the last word (``Detector.anchoring``)."""
        moving = phases is not None
        phases = list(phases) if phases is not None else [0] * len(frames)
        h, w = frames[0].shape
        nominal = nominal_period(h)
        best = (-math.inf, nominal)
        # coarse: centre window of about two nominal periods, a few frames
        ch = min(h, int(2.2 * nominal * _SCALE_MAX))
        cw = min(w, int(2.2 * nominal * _SCALE_MAX))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        # keep every phase among the coarse frames
        step = _every_phase_step(max(1, len(frames) // _COARSE_FRAMES))
        pick = list(range(0, len(frames), step))[:_COARSE_FRAMES]
        middle = [frames[i][y0 : y0 + ch, x0 : x0 + cw] for i in pick]
        coarse: dict[int, Geometry] = {}  # each phase's own best
        r = _SCALE_MIN
        while r <= _SCALE_MAX:
            p = nominal * r
            z, _, _ = self._best_group(
                [fold_frame(f, p) for f in middle], [phases[i] for i in pick], coarse, p
            )
            if z > best[0]:
                best = (z, p)
            r *= 1.0 + _COARSE_STEP
        # fine: whole frames, around the coarse peak and around the nominal period (an
        # unscaled or exactly halved copy sits there; a weak mark's coarse peak can be noise)
        centres = {best[1], nominal, *_crop_periods(h)}
        if moving:
            # on a steady zoom every phase's samples add up, each at the period the picture
            # had zoomed to by then (a 360p clip zooming 4.6 %/s: the samples 0.4 s after
            # the anchors peaked at z 11.3 at 1.7 % under the anchors' 128 px). The
            # anchor's phase shows the mark unzoomed, the others zoomed one way as the
            # second goes on, so it is the phase with the largest or the smallest period:
            # both are searched and offered to the probe (``Detector.anchoring``)
            for g in _period_extremes(coarse, best[0]):
                if all(abs(g.period / c - 1.0) > 6 * _FINE_STEP for c in centres):
                    centres.add(g.period)
        found = []
        per: dict[int, Geometry] = {}
        for centre in sorted(centres):
            best_g = Geometry(best[1], (0, 0), -math.inf)
            for k in range(-6, 7):
                p = centre * (1.0 + k * _FINE_STEP)
                folds = [fold_frame(f, p) for f in frames]
                z, off, ph = self._best_group(folds, phases, per, p)
                if z > best_g.z:
                    best_g = Geometry(p, off, z, ph if moving else None)
            found.append(best_g)
        best_g = max(found, key=lambda g: g.z)
        exact = _prior_periods(h) if moving else []
        if moving:
            # a copy at its broadcast's size sits exactly at the period drawn at this
            # height or at the nominal one, a scaled copy or a crop at one of the others
            # near what the search found, whatever few samples made the peak: the probe
            # prefers these (``anchoring``; the others are not worth a fold of every probe
            # frame: a 360p zoom cut mid-second was found 3.6 % off its drawn 128 px)
            drawn = (nominal, broadcast_period(h))
            for p in exact:
                always = any(abs(p / q - 1.0) < 1e-6 for q in drawn)
                near = any(abs(g.period / p - 1.0) <= 6 * _FINE_STEP for g in found)
                if (always or near) and all(g.period != p for g in found):
                    z, off, ph = self._best_group([fold_frame(f, p) for f in frames], phases)
                    found.append(Geometry(p, off, z, ph))
            found += _period_extremes(per, best_g.z)
        out = [best_g]
        for g in sorted(found, key=lambda g: -g.z):  # two searches can meet at one peak
            if all(abs(g.period / c.period - 1.0) > _FINE_STEP / 2 for c in out) or (
                g.period in exact and all(c.period != g.period for c in out)
            ):
                out.append(g)
        return out

    def _best_group(
        self,
        folds: Sequence[np.ndarray],
        phases: Sequence[int],
        per: dict[int, Geometry] | None = None,
        period: float = 0.0,
    ) -> tuple[float, tuple[int, int], int]:
        """Best sync peak over the folds summed per phase and over all of them: (z, offset,
        phase); the all-frames sum reports the phase of its best single group. ``per``
        keeps each phase's best peak over the calls (folds made at ``period``)."""
        groups: dict[int, np.ndarray] = {}
        for f, ph in zip(folds, phases, strict=True):
            groups[ph] = groups[ph] + f if ph in groups else f.copy()
        best = (-math.inf, (0, 0), 0)
        for ph, g in groups.items():
            z, off = self._sync_z(g)
            if z > best[0]:
                best = (z, off, ph)
            if per is not None and (ph not in per or z > per[ph].z):
                per[ph] = Geometry(period, off, z, ph)
        if len(groups) > 1:
            z, off = self._sync_z(sum(groups.values(), np.zeros((_N, _N))))
            if z > best[0]:
                best = (z, off, best[2])
        return best

    # (1b) re-anchoring schedule ------------------------------------------------------------
    def anchoring(
        self, geo: Geometry, candidates: Sequence[Geometry], probe: AnchorProbe
    ) -> Geometry:
        """``geo`` with the re-anchoring schedule of a moving mark played at another speed,
        if the clip's first frames say so; else normal speed: the candidate and phase the
        probe scores best if that clears ``_ANCHOR_NORMAL_MIN_SCORE``, or ``geo`` as it is.

        A frame shows the mark moved by the picture's motion since its last anchor, so its
        sync peak sits at the tile offset plus that motion (at the frame's centre, in
        detector samples). Each (rate, origin) hypothesis names every frame's anchor and is
        scored per anchor from the frames just after it (``anchor_scores``), on each of the
        geometry search's ``candidates`` (all with a phase: a moving mark; seen in few
        samples, it can put the best one off). The best other rate must score
        ``_ANCHOR_MIN_SCORE`` and beat the best normal-speed hypothesis on any candidate by
        ``_ANCHOR_MARGIN``: on a still picture every hypothesis predicts the same peaks, and
        normal speed stays.

        At normal speed a candidate at a period a re-upload at its size, scaled down or
        cropped shows exactly (``_prior_periods``) is taken unless another beats it by
        ``_PRIOR_MARGIN``: a period one fine step off folds the mark nearly as well and
        scores within the probe's noise (``python -m benchmarks.probe_periods``'s clips:
        30 of 40 anchored at their true period without this, 39 with; a sub-second cut
        read at 192.45 px for 192 had its second piece split between two phases, issue 4
        session 22)."""
        if len(probe.times) < 2 * SUB_BUCKETS_PER_SECOND or not probe.moved:
            return geo
        normal: tuple[float, Geometry] = (-math.inf, geo)
        best: tuple[float, Geometry] = (-math.inf, geo)
        normal_at: tuple[Geometry, AnchorHypothesis] | None = None
        exact = _prior_periods(probe.shape[0])
        prior: tuple[float, Geometry, Geometry, AnchorHypothesis] | None = None
        for g in candidates:
            ranked = self.anchor_scores(g, probe)
            one = next(a for a in ranked if a.rate == 1.0)
            if one.score > normal[0]:
                normal = (one.score, self._at_phase(g, one))
                normal_at = (g, one)
            if g.period in exact and (prior is None or one.score > prior[0]):
                prior = (one.score, self._at_phase(g, one), g, one)
            other = next(a for a in ranked if a.rate != 1.0)
            if other.score > best[0]:
                moved = dataclasses.replace(
                    g, offset=other.offset, anchor_rate=other.rate, anchor_origin=other.origin
                )
                best = (other.score, moved)
        if (
            best[0] < _ANCHOR_MIN_SCORE
            or best[0] - normal[0] < _ANCHOR_MARGIN
            or (
                best[1].anchor_rate > 1.0
                and not self._faster_throughout(best[1], candidates, probe)
            )
        ):
            if normal[0] < _ANCHOR_NORMAL_MIN_SCORE or normal_at is None:
                return geo
            if prior is not None and prior[0] >= normal[0] * (1.0 - _PRIOR_MARGIN):
                normal, normal_at = (prior[0], prior[1]), (prior[2], prior[3])
            return self._exact_anchors(normal[1], *normal_at, probe)
        return best[1]

    def _exact_anchors(
        self, at: Geometry, g: Geometry, one: AnchorHypothesis, probe: AnchorProbe
    ) -> Geometry:
        """``at`` (normal speed, at the probe's phase) stabilised at the probe's own origin
        (``anchor_shift``) if both halves of the probe put the anchors there on their own.

        A clip starts on any frame, so its anchors fall anywhere within a 0.2-s bucket, and
        on a pan the phases either side of them each misplace the mark by a few frames'
        motion: a genuine 10-s crop of the moving-mark clip bench whose anchors sat 0.08 s
        before its phase had its middle 4 s read at the neighbouring phase (that phase's
        identity z led there by up to 5 per bucket), dated 0.2 s off, and its windows
        judged ``altered`` (session 18). But where the probe spans a cut of a fraction of a
        second, its best origin is a compromise between the pieces' (0.08 s for anchors at
        0 and 0.12 s), which stabilises both a little off and moved the second piece onto
        the first one's phase; there each half of the probe finds its own piece's origin,
        and the phase's start is kept."""
        halves = probe.halves()
        if halves is None:
            return at  # too short to tell
        for window in halves:
            half = self.anchor_scores(g, probe, window, rates=(1.0,))[0]
            if abs(_wrapped(half.origin - one.origin)) > _ANCHOR_STEP_S / 2:
                return at
        assert at.phase is not None
        shift = _wrapped(one.origin - at.phase / SUB_BUCKETS_PER_SECOND)
        return dataclasses.replace(at, anchor_shift=shift)

    def _faster_throughout(
        self, fast: Geometry, candidates: Sequence[Geometry], probe: AnchorProbe
    ) -> bool:
        """Whether the faster schedule of ``fast`` also beats normal speed in each half of
        the probe on its own.

        A cut of a fraction of a second moves the normal-speed schedule: before it the
        mark was re-anchored at whole seconds from one origin, after it from another, and
        a faster schedule (2x: every 0.5 s) holds both within a step of the search. So a
        normal-speed clip cut 2.4 s, 1.4 s or 2.88 s within its first 8 s read as 2x and
        was stabilised on anchors half of which were never there, and its pieces could
        not be read at their own phases (``SoftSeries.phases`` are folded at normal speed
        only). A clip that really was sped up shows the faster schedule before and after
        any point; a cut clip shows one piece's normal schedule on at least one side.

        Each half must clear half the whole probe's margin (``_ANCHOR_MARGIN``), not just
        win: on a slow pan a 2x schedule gathers every frame where normal speed fades out
        half-way through each second, and the spurious anchors' peaks land near the true
        ones. A normal-speed piece after a 3.4-s cut at 2.92 s won 2x by 3.9 and 4.7 in the
        two halves and read as `speed_changed`; the clip bench's 20 re-uploads at 1.25x and
        1.5x won each half by 11.7-47.1 (moving-mark bench, session 15)."""
        halves = probe.halves()
        if halves is None:
            return True  # halves too short to tell: the whole probe decides
        for window in halves:
            normal = max(
                a.score
                for g in candidates
                for a in self.anchor_scores(g, probe, window, rates=(1.0,))
            )
            faster = min(
                self.anchor_scores(fast, probe, window, rates=(fast.anchor_rate,)),
                key=lambda a: abs(a.origin - fast.anchor_origin),
            )
            if faster.score - normal < _ANCHOR_MARGIN / 2:
                return False
        return True

    @staticmethod
    def _at_phase(geo: Geometry, a: AnchorHypothesis) -> Geometry:
        """``geo`` at normal speed re-anchored where ``a`` says: the geometry search tells
        the phase only by which samples' folds add up best, which on a steady zoom is a
        near tie (an 8-s scene clip cut 0.2 / 0.4 / 0.6 s into a second was anchored
        0.2-0.6 s off, and a second's first frames then folded away from the mark); the
        probe scores every frame against each origin (``_exact_anchors``: and where
        within the phase's first bucket)."""
        phase = round(a.origin * SUB_BUCKETS_PER_SECOND) % _PHASES
        return dataclasses.replace(geo, offset=a.offset, phase=phase)

    def refine_period(self, geo: Geometry, probe: AnchorProbe) -> Geometry:
        """``geo`` (a moving mark's, its anchors placed: ``anchoring``) with the period and
        offset at which the probe's frames, stabilised at those anchors, show the sync tile
        best, within ``_REFINE_STEPS`` fine steps (``_FINE_STEP``) either way.

        The geometry search folds frames at a fixed period, and on a zoom the mark in a
        frame has zoomed with the picture since its anchor: samples 0.2-0.5 s after the
        anchors, where the re-encoded mark was strongest, add up 0.5-1.5 % off the
        broadcast's period, and the probe, which folds at the candidates' periods only,
        can keep such a candidate: two genuine crops of the clip bench's clips were read
        at 292.3 and 291.6 px for the true 288 (a crop judged unmarked in session 20 was
        such a case); stabilised at their anchors the same frames peak at 287.2 and 288.0,
        sync z 4.7 -> 9.6 and 5.3 -> 9.0 (issue 4, session 21: ``python -m
        benchmarks.probe_periods``). Another period is taken only where it gains
        ``_REFINE_MIN_GAIN`` over the anchored one in the same sum."""
        anchors = geo.anchors()
        if anchors is None or len(probe.times) < 2 * SUB_BUCKETS_PER_SECOND:
            return geo
        still = probe.still_sum(anchors)
        best = (-math.inf, geo.period, geo.offset)
        at_geo = -math.inf
        for k in range(-_REFINE_STEPS, _REFINE_STEPS + 1):
            p = geo.period * (1.0 + k * _FINE_STEP)
            z, off = self._sync_z(_fold(_resample(still, _N * p / probe.nominal)))
            if k == 0:
                at_geo = z
            if z > best[0]:
                best = (z, p, off)
        if best[0] - at_geo < _REFINE_MIN_GAIN:
            return geo  # the probe's period and offset stand (scored on every frame's fold)
        return dataclasses.replace(geo, period=best[1], offset=best[2])

    def _zmaps(self, probe: AnchorProbe, period: float) -> list[np.ndarray]:
        """Every probe frame's sync z-map at ``period``, kept on the probe (it goes with it):
        ``anchoring`` and ``_faster_throughout`` score many hypotheses on the same frames."""
        key = round(period, 6)
        cache = probe.zmaps.setdefault(id(self), {})
        if key not in cache:
            zmaps = []
            for fold in probe.folds[key]:
                corr = np.fft.ifft2(np.fft.fft2(fold) * self._sync_f).real
                sd = float(np.std(corr))
                z = (corr - float(np.mean(corr))) / sd if sd > 0 else np.zeros_like(corr)
                zmaps.append(z.astype(np.float32))
            cache[key] = zmaps
        return cache[key]

    def anchor_scores(
        self,
        geo: Geometry,
        probe: AnchorProbe,
        window: tuple[float, float] = (-math.inf, math.inf),
        rates: Sequence[float] = (1.0, *SPEED_RATES),
    ) -> list[AnchorHypothesis]:
        """Every (rate, origin) hypothesis scored on the probe at ``geo.period``, with the
        tile offset that scores it best (the geometry's own offset can be a few samples
        off when the mark was seen in few samples), best first; on the frames of clip
        times in ``window`` only, if given."""
        key = (round(geo.period, 6), geo.offset, window, tuple(rates))
        cache = probe.scores.setdefault(id(self), {})
        if key not in cache:
            cache[key] = self._anchor_scores(geo, probe, window, rates)
        return list(cache[key])

    def _anchor_scores(
        self,
        geo: Geometry,
        probe: AnchorProbe,
        window: tuple[float, float],
        rates: Sequence[float],
    ) -> list[AnchorHypothesis]:
        # estimation pixels -> detector samples; the frame's centre in estimation pixels
        h, w = probe.shape
        to_samples = h / EST_HEIGHT * _N / geo.period
        centre = np.array([(EST_HEIGHT * w / h - 1) / 2, (EST_HEIGHT - 1) / 2, 1.0])
        # each frame's z-map tiled 2 x 2: a moved copy is then a view (np.roll copied twice)
        zmaps = [np.tile(z, (2, 2)) for z in self._zmaps(probe, geo.period)]
        clock = np.asarray(probe.times)
        inside = (clock >= window[0]) & (clock < window[1])
        inv = [np.linalg.inv(a) for a in probe.motion]
        shifts: dict[tuple[int, int], tuple[int, int, float]] = {}

        def shift(i: int, j: int) -> tuple[int, int, float]:
            """Where frame i's peak sits relative to the still mark's, anchored at j, and
            how much of it a fold at the anchor's period still sees: a zoom since the
            anchor puts the frame's mark at another period, which a fixed-period fold
            smears (without this, a clip that zooms 5 %/s was best explained by a period
            1.25 % off, the mid-second zoom, anchored 0.6 s off)."""
            v = shifts.get((i, j))
            if v is None:
                m = probe.motion[i] @ inv[j]
                d = (m @ centre - centre)[:2] * to_samples  # (x, y)
                zoom = math.sqrt(abs(float(np.linalg.det(m[:2, :2]))))
                keep = max(0.0, 1.0 - abs(zoom - 1.0) / _ANCHOR_ZOOM_TOL)
                v = shifts[i, j] = (round(float(d[1])), round(float(d[0])), keep)
            return v

        def add(
            acc: dict[int, np.ndarray], ww: dict[int, float], i: int, j: int, wt: float
        ) -> None:
            """Frame i's z-map moved to anchor j's still mark, weighted ``wt`` (< 0: it
            must not show that mark)."""
            dy, dx, keep = shift(i, j)
            wt *= keep
            if wt == 0.0:
                return
            dy, dx = dy % _N, dx % _N
            moved = zmaps[i][dy : dy + _N, dx : dx + _N]  # np.roll(z, (-dy, -dx))
            if j in acc:
                cv2.scaleAdd(moved, wt, acc[j], dst=acc[j])
            else:
                acc[j] = moved * np.float32(wt)
            ww[j] = ww.get(j, 0.0) + wt * wt

        def score(rate: float, origin: float) -> AnchorHypothesis:
            acc: dict[int, np.ndarray] = {}
            ww: dict[int, float] = {}
            anchors: set[int] = set()  # those seen after: each costs _ANCHOR_COST
            # per frame: the start of the anchor period it shows (anchor_period), the frame
            # that anchored it and the next anchor's frame
            periods = np.floor((clock - origin) * rate / ANCHOR_SECONDS + 1e-6)
            starts = origin + periods * ANCHOR_SECONDS / rate
            firsts = np.minimum(np.arange(len(clock)), np.searchsorted(clock, starts - 1e-6))
            nexts = np.searchsorted(clock, starts + ANCHOR_SECONDS / rate - 1e-6)
            # frames before the first anchor in the clip show the mark as the picture had
            # moved it by the clip's first frame, the same lead for every origin after it:
            # no evidence of where the anchors are, and on a zoom evidence for the period
            # zoomed to by then (a cut clip bench clip starting 0.56 s after an anchor
            # scored 29.4 there for 292.3 px, 4.5 for the true 288, and took 292.3)
            lead = starts < clock[0] - 1e-6
            for i in np.flatnonzero(inside).tolist():
                t = probe.times[i]
                j = int(firsts[i])
                wt = 0.0 if lead[i] else _fade(t - probe.times[j], rate)
                if wt > 0.0:
                    add(acc, ww, i, j, wt)
                    anchors.add(j)
                # the mark jumps at an anchor: the frames just before it show the previous
                # second's, moved away; a hypothesis whose anchors come late finds its own
                # mark there (on a steady zoom it is otherwise as good as the right one)
                nxt = int(nexts[i])
                if nxt < len(clock):
                    wb = _fade(probe.times[nxt] - t, rate)
                    if wb > 0.0:
                        add(acc, ww, i, nxt, -wb)
            if not acc:
                return AnchorHypothesis(-math.inf, rate, origin, geo.offset)
            total = np.zeros((_N, _N), np.float32)
            for j, a in acc.items():
                total += a * np.float32(1.0 / math.sqrt(ww[j]))
            k = int(np.argmax(total))
            value = float(total.flat[k]) - _ANCHOR_COST * len(anchors)
            return AnchorHypothesis(value, rate, origin, divmod(k, _N))

        out = [
            score(rate, float(o))
            for rate in rates
            for o in np.arange(0.0, ANCHOR_SECONDS / rate - 1e-9, _ANCHOR_STEP_S)
        ]
        return sorted(out, key=lambda a: -a.score)

    # (2) evidence -> soft bits ----------------------------------------------------------
    def soft_bits(self, folded: np.ndarray, geo: Geometry) -> tuple[np.ndarray, np.ndarray]:
        left, right = _chip_reader((geo.offset[0] % _N, geo.offset[1] % _N))
        half = gemm(np.ascontiguousarray(folded, dtype=np.float64), right)
        chips = gemm(left, np.vstack([half[:, :TILE_CHIPS], half[:, TILE_CHIPS:]]))
        return self.patterns.soft_bits(chips)

    def soft_series(
        self, ev: Evidence, geo: Geometry, series: SoftSeries | None = None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Per 0.2 s bucket soft bits: (n, 210), (n, 128), index of the first bucket.

        ``series`` holds buckets already handed over by the evidence (``sink``).
        """
        series = series if series is not None else SoftSeries()
        take = self.sink(geo, series)
        empty = np.zeros((_N, _N))
        for b, tile in ev.tiles.items():
            take(b, tile, ev.time_tiles.get(b, empty))
        self.place_lead(geo, series)
        take_phase = self.phase_sink(geo, series)
        for p, (tiles, time_tiles) in ev.phase_tiles.items():
            for b, tile in tiles.items():
                take_phase(p, b, tile, time_tiles.get(b, empty))
        for p, s in series.phases.items():
            self.place_lead(_other_phase(geo, p), s)
        return series.arrays()

    def phase_sink(
        self, geo: Geometry, series: SoftSeries
    ) -> Callable[[int, int, np.ndarray, np.ndarray], None]:
        """An ``Evidence.on_phase_flush``: ``sink`` for the tiles folded at another
        phase, into ``series.phases``."""
        takers: dict[int, Callable[[int, np.ndarray, np.ndarray], None]] = {}

        def take(p: int, b: int, const_tile: np.ndarray, time_tile: np.ndarray) -> None:
            if p not in takers:
                at = series.phases.setdefault(p, SoftSeries())
                takers[p] = self.sink(_other_phase(geo, p), at)
            takers[p](b, const_tile, time_tile)

        return take

    def sink(
        self, geo: Geometry, series: SoftSeries
    ) -> Callable[[int, np.ndarray, np.ndarray], None]:
        """An ``Evidence.on_flush`` that turns tiles into this key's soft bits (the lead
        buckets before a moving mark's first anchor wait in ``series.lead``)."""
        lead = _lead_buckets(geo)

        def take(b: int, const_tile: np.ndarray, time_tile: np.ndarray) -> None:
            if b < lead:
                held = series.lead.get(b)
                if held is None:
                    series.lead[b] = (const_tile.copy(), time_tile.copy())
                else:
                    held[0][...] += const_tile
                    held[1][...] += time_tile
                return
            series.add(b, *self._bucket_bits(const_tile, time_tile, geo))

        return take

    def _bucket_bits(
        self, const_tile: np.ndarray, time_tile: np.ndarray, geo: Geometry
    ) -> tuple[np.ndarray, np.ndarray]:
        """A bucket's constant soft bits (from all samples) and time soft bits (from the
        activity-weighted ones, ``Evidence``)."""
        return self.soft_bits(const_tile, geo)[0], self.soft_bits(time_tile, geo)[1]

    def place_lead(self, geo: Geometry, series: SoftSeries) -> None:
        """Decode the buckets before a moving mark's first anchor in the clip.

        Their second was anchored before the clip began, so the evidence stabilised them
        against the clip's first frame, where the mark had already moved with the picture
        (a clip cut 0.4 s into a second of a panning scene lost its first 0.6 s): their own
        sync peak says where it sits, if it stands out (``_LEAD_MIN_Z``), else the tile's."""
        if not series.lead:
            return
        total = sum((c for c, _ in series.lead.values()), np.zeros((_N, _N)))
        z, off = self._sync_z(total)
        placed = geo if z < _LEAD_MIN_Z else dataclasses.replace(geo, offset=off)
        for b, (const_tile, time_tile) in sorted(series.lead.items()):
            series.add(b, *self._bucket_bits(const_tile, time_tile, placed))
        series.lead.clear()

    # (3) identity ---------------------------------------------------------------------------
    def decode_identity(self, const_soft: np.ndarray) -> ConstPayload | None:
        """ML epoch (among ``epochs``) for summed constant soft bits; the payload only if z
        clears the bar ``id_z``."""
        epoch, z = self.identity_code.decode(const_soft, self.epochs)
        if z < self.id_z:
            return None
        return ConstPayload.at(self.key, epoch << COUNTER_BITS)[0]

    # (4) time --------------------------------------------------------------------------------
    def decode_time(self, time_soft: np.ndarray) -> tuple[int, float]:
        """ML counter for the first row of consecutive 1-s sums ``time_soft`` (m, 128).

        Score(c) = sum_i <codeword(c + i), T_i> / sqrt(sum_i |T_i|^2): the z-score of
        hypothesis c under Gaussian noise. Returns (counter, z).
        """
        m = time_soft.shape[0]
        norm = math.sqrt(float(np.sum(time_soft**2)))
        if norm == 0.0:
            return 0, 0.0
        scores = self.time_code.scores(time_soft)  # (m, 65536)
        total = np.zeros(scores.shape[1], dtype=np.float64)
        for i in range(m):
            total += np.roll(scores[i], -i)  # hypothesis c: row i shows counter c + i
        c = int(np.argmax(total))
        return c, float(total[c] / norm)

    @staticmethod
    def seconds(time_sub: np.ndarray, phase: int) -> np.ndarray:
        """Sum 0.2 s buckets into 1-s buckets starting ``phase`` sub-buckets early."""
        n = time_sub.shape[0] + phase
        k = -(-n // SUB_BUCKETS_PER_SECOND)
        padded = np.zeros((k * SUB_BUCKETS_PER_SECOND, time_sub.shape[1]))
        padded[phase : phase + time_sub.shape[0]] = time_sub
        out: np.ndarray = padded.reshape(k, SUB_BUCKETS_PER_SECOND, -1).sum(axis=1)
        return out

    def decode_window_time(self, time_sub: np.ndarray) -> tuple[int, float, int]:
        """Counter at the window's first whole second; best phase. Returns (c, z, phase)."""
        best = (0, -math.inf, 0)
        for phase in range(SUB_BUCKETS_PER_SECOND):
            c, z = self.decode_time(self.seconds(time_sub, phase))
            if z > best[1]:
                best = (c, z, phase)
        return best

    @staticmethod
    def rebucket(sub: np.ndarray, rate: float, phase: int) -> np.ndarray:
        """Sum 0.2 s clip buckets into broadcast seconds for playback ``rate`` (broadcast
        seconds per clip second): bucket i goes to second floor(((i + 0.5) * rate + phase)
        / 5). At rate 1 this is ``seconds(sub, phase)``."""
        n = sub.shape[0]
        if n == 0:
            return np.zeros((0, sub.shape[1]))
        k = np.floor(((np.arange(n) + 0.5) * rate + phase) / SUB_BUCKETS_PER_SECOND)
        k = k.astype(np.int64)
        out = np.zeros((int(k[-1]) + 1, sub.shape[1]))
        np.add.at(out, k, sub)
        return out

    @staticmethod
    def _origin(lo: int, rate: float, phase: int) -> Callable[[int], float]:
        """Clip time at which broadcast second k (of ``rebucket``) begins."""

        def at(k: int) -> float:
            return (lo + (SUB_BUCKETS_PER_SECOND * k - phase) / rate) / SUB_BUCKETS_PER_SECOND

        return at

    def _probe(
        self, time_sub: np.ndarray, sig: float, rates: Sequence[float]
    ) -> dict[float, tuple[float, int]]:
        """Per rate of ``rates``: (score, phase) of its best phase on the first
        ``_SPEED_PROBE_S`` clip seconds (``_hypothesis``), in units of ``sig`` (chip noise
        of one 0.2-s bucket) per bucket."""
        full, edge = self._edge_rows(time_sub[: _SPEED_PROBE_S * SUB_BUCKETS_PER_SECOND])
        out: dict[float, tuple[float, int]] = {}
        for rate in rates:
            for phase in range(SUB_BUCKETS_PER_SECOND):
                total, buckets = _hypothesis(full, edge, rate, phase)
                score = total / (max(buckets, 1) * sig)
                if rate not in out or score > out[rate][0]:
                    out[rate] = (score, phase)
        return out

    def _edge_rows(self, sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Codeword correlations S of 0.2-s buckets, (n, 2**16) float32, and their second
        difference 2 S(c) - S(c - 1) - S(c + 1) (see ``_hypothesis``)."""
        full = self.time_code.scores(sub)
        return full, 2.0 * full - np.roll(full, 1, axis=1) - np.roll(full, -1, axis=1)

    def _phase(self, time_sub: np.ndarray) -> int:
        """The normal-speed phase: the one whose ``_hypothesis`` score, summed over the whole
        clip in pieces of ``_SPEED_PROBE_S`` seconds, is highest, then checked against the
        counters the offset path reads at that phase (``_phase_on_path``). The summed best
        correlations of the 1-s buckets did this with a random code; with the rolling one a
        bucket half in one second and half in the next keeps 15/16 of it, and a phase
        0.2-0.8 s off was picked (cropped CRF 28 clips: 6 of 14 keys; origin then too far
        off for the clip verifier to place the crop, and seconds read 1 s early)."""
        totals = np.zeros(SUB_BUCKETS_PER_SECOND)
        piece = _SPEED_PROBE_S * SUB_BUCKETS_PER_SECOND  # a multiple of 5: phases align
        for a in range(0, time_sub.shape[0], piece):
            full, edge = self._edge_rows(time_sub[a : a + piece])
            for phase in range(SUB_BUCKETS_PER_SECOND):
                totals[phase] += _hypothesis(full, edge, 1.0, phase)[0]
        return self._phase_on_path(time_sub, int(np.argmax(totals)))

    def _phase_on_path(self, time_sub: np.ndarray, p0: int) -> int:
        """Phase ``p0`` moved by the boundary shift that best fits the counters read on the
        offset path at ``p0`` (first ``_PHASE_SPAN_S`` seconds).

        Why: ``_hypothesis`` picks each 3-s window's counter by plain correlation, which
        with the rolling code barely tells c from c + 1, and a counter 1 off fits a phase
        0.4 s off as well as the truth: a cropped, upscaled CRF 28 clip was read 0.4 s off
        and the clip verifier judged it other footage. The path (``track_offsets``) settles
        the counters over the whole run; with them fixed, bucket b at boundary shift s
        shows counter floor((b + p0 + s) / 5) + o (o its p0 second's offset), and the
        second difference 2 S(c) - S(c-1) - S(c+1) scores +2 groups at the bucket's own
        second and 0 one second either side, so the score falls linearly with the number
        of misplaced buckets (that clip: true shift 313, 0.2 s off 254, 0.4 s off 218)."""
        per = SUB_BUCKETS_PER_SECOND
        sub = time_sub[: _PHASE_SPAN_S * per]
        secs = self.seconds(sub, p0)
        if secs.shape[0] < 2:
            return p0
        norms = np.linalg.norm(secs, axis=1)
        scores = self.time_code.scores(secs)
        offsets = track_offsets(
            (
                scores[j] / norms[j] if norms[j] > 0 else np.zeros_like(scores[j])
                for j in range(secs.shape[0])
            ),
            _JUMP_Z,
            _NEAR_JUMP_Z,
        )
        book = self.time_code.codebook
        b = np.arange(sub.shape[0])
        o = np.asarray(offsets, dtype=np.int64)[(b + p0) // per]
        best = (-math.inf, 0)
        for shift in range(-(per - 1), per):
            c = (b + p0 + shift) // per + o
            w = (
                2.0 * book[c % EPOCH_SECONDS]
                - book[(c - 1) % EPOCH_SECONDS]
                - book[(c + 1) % EPOCH_SECONDS]
            )
            score = float(np.einsum("br,br->", w, sub))
            if score > best[0]:
                best = (score, shift)
        return (p0 + best[1]) % per

    def _runs(self, sub: np.ndarray, rate: float, phase: int) -> int:
        """Runs of equal offset on the path through ``sub`` read at (rate, phase)."""
        secs = self.rebucket(sub, rate, phase)
        norms = np.linalg.norm(secs, axis=1)
        scores = self.time_code.scores(secs)
        rows = (
            scores[j] / norms[j] if norms[j] > 0 else np.zeros_like(scores[j])
            for j in range(secs.shape[0])
        )
        return len(_run_bounds(track_offsets(rows, _JUMP_Z, _NEAR_JUMP_Z)))

    def _rate_phase(
        self, time_sub: np.ndarray, anchored: tuple[float, int] | None = None
    ) -> tuple[float, int, list[tuple[int, float]]]:
        """(rate, phase, decoded seconds). Normal speed with the phase that best explains all
        seconds (``_phase``), unless a ``SPEED_RATES`` hypothesis beats it in the probe
        (``_probe``) by ``_SPEED_MARGIN`` and agrees with the slope of the counters decoded
        at normal speed (``counter_slope``): a clip played at another speed shows
        broadcast-second boundaries at another pace than one per clip second.

        ``anchored``: (rate, phase) of a moving mark's re-anchoring at another speed
        (``Detector.anchoring``), taken if the counters' slope agrees with its rate. The
        anchors are where the mark jumped, seen in every frame of the first seconds, and
        the evidence was stabilised on them; the counters see a 0.67-s second in 3-4
        buckets of 0.2 s, and on a 1.5x clip after CRF 28 with a price overlay on three of
        its seconds the counters' ``_probe`` read normal speed in one encode and the
        boundaries 0.27 s off in another (the clip verifier then compared the wrong
        seconds). The slope still has the last word: on a 4-s 720p CRF 28 clip at normal
        speed (tests/watermark ``test_crf28``) the anchoring once took 2x, whose anchors
        include every normal-speed one."""
        if time_sub.shape[0] == 0:
            return 1.0, 0, []
        rate, phase = 1.0, self._phase(time_sub)
        secs = self.seconds(time_sub, phase)
        if secs.shape[0] >= _SPEED_MIN_S:
            head = secs[:_SPEED_PROBE_S]
            scores = self.time_code.scores(head)
            norms = np.linalg.norm(head, axis=1)
            zs = np.where(norms > 0, np.max(scores, 1) / np.maximum(norms, 1e-12), 0.0)
            slope = counter_slope(np.argmax(scores, 1), zs)
            probe = time_sub[: _SPEED_PROBE_S * SUB_BUCKETS_PER_SECOND]
            sig = math.sqrt(float(np.mean(np.sum(probe**2, axis=1))) / TIME_CODED_BITS)
            rates = [r for r in SPEED_RATES if slope is not None and _slope_agrees(slope, r)]
            if anchored is not None and anchored[0] in rates:
                rate, phase = anchored
                secs = self.rebucket(time_sub, rate, phase)
            elif rates and sig > 0.0:
                scored = self._probe(time_sub, sig, [1.0, *rates])
                rate, p = choose_rate(scored, lambda r, ph: self._runs(probe, r, ph))
                if rate != 1.0:
                    phase, secs = p, self.rebucket(time_sub, rate, p)
        return rate, phase, self._decode_seconds(secs)

    # (5) whole clip -----------------------------------------------------------------------
    def detect(self, ev: Evidence, geo: Geometry, series: SoftSeries | None = None) -> Detection:
        series = series if series is not None else SoftSeries()
        const_sub, time_sub, lo = self.soft_series(ev, geo, series)
        duration = ev.duration + (1.0 / 25.0 if ev.frames else 0.0)
        none = Detection(False, None, sync_z=geo.z, frames=ev.frames, duration=duration)
        if const_sub.shape[0] == 0:
            return none
        payloads = self._identities(const_sub)
        pieces = None  # each bucket's re-anchoring phase, where a cut moved it
        if series.phases:
            for p_series in series.phases.values():
                if payloads:
                    break
                payloads = self._identities(p_series.span(lo, const_sub.shape[0])[0])
            if payloads and geo.phase is not None:
                const_sub, time_sub, pieces = self._piece_rows(
                    const_sub, time_sub, lo, series, payloads[0].epoch, geo.phase
                )
        if not payloads:
            return none
        # playback rate and phase, then each second decoded with its neighbours
        # (continuity); segments cut where the broadcast offset jumps
        anchors = geo.anchors()
        anchored = None
        if anchors is not None and anchors[0] != 1.0:
            # boundaries at clip times origin + k / rate: (lo - phase / rate) / 5 = origin
            r, o = anchors
            anchored = (r, round(r * (lo - SUB_BUCKETS_PER_SECOND * o)) % SUB_BUCKETS_PER_SECOND)
        rate, phase, decoded = self._rate_phase(time_sub, anchored)
        epoch = payloads[0].epoch
        origin = self._origin(lo, rate, phase)
        segments = _segments(decoded, origin, duration, epoch, rate)
        if pieces is not None and rate == 1.0:
            segments = _place_pieces(segments, pieces, lo, duration)
        # per-second strength of the identity mark (this second alone)
        const_secs = self.rebucket(const_sub, rate, phase)
        codeword = self.identity_code.codeword(epoch).astype(np.float64)
        norms = np.linalg.norm(const_secs, axis=1)
        id_z = np.where(norms > 0, const_secs @ codeword / np.maximum(norms, 1e-12), 0.0)
        base = epoch << COUNTER_BITS
        marks = tuple(
            SecondMark(
                clip_start=max(0.0, origin(j)),
                clip_end=min(duration, origin(j + 1)),
                broadcast=base + c if z >= TIME_Z_THRESHOLD else None,
                time_z=z,
                identity_z=float(id_z[j]) if j < len(id_z) else 0.0,
                confidence=1.0 - time_false_alarm(z) if z > 0 else 0.0,
            )
            for j, (c, z) in enumerate(decoded)
        )
        return Detection(
            True,
            self.key.name,
            tuple(segments),
            tuple(p.epoch for p in payloads),
            geo.z,
            ev.frames,
            duration,
            rate,
            marks,
        )

    def _piece_rows(
        self,
        const_sub: np.ndarray,
        time_sub: np.ndarray,
        lo: int,
        series: SoftSeries,
        epoch: int,
        main: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Each bucket's soft bits from the re-anchoring phase its piece was marked at, and
        that phase per bucket (None: all at the ``main`` one).

        Every bucket was folded at every phase (``Evidence.phase_tiles``); the one that
        stabilised the mark right shows the identity codeword strongest. The per-bucket
        identity z of each phase is followed as a path that pays ``_PHASE_SWITCH_Z`` per
        change (a change is a cut, a piece lasts seconds; the phases share their frames,
        so their noise mostly cancels in the comparison); a still picture scores every
        phase alike, and the path stays on the main one."""
        n = const_sub.shape[0]
        order = [-1, *sorted(series.phases)]
        rows = [(const_sub, time_sub)] + [series.phases[p].span(lo, n) for p in order[1:]]
        codeword = self.identity_code.codeword(epoch).astype(np.float64)
        z = np.zeros((len(order), n))
        for k, (c, _) in enumerate(rows):
            norms = np.linalg.norm(c, axis=1)
            z[k] = np.where(norms > 0, c @ codeword / np.maximum(norms, 1e-12), 0.0)
        z[1:] -= _PHASE_OFF_MAIN_Z  # ties and picture noise: the main phase
        path = best_states(z, _PHASE_SWITCH_Z)
        if not np.any(path):
            return const_sub, time_sub, None
        const = np.stack([rows[k][0][b] for b, k in enumerate(path)])
        time = np.stack([rows[k][1][b] for b, k in enumerate(path)])
        return const, time, np.array([main, *order[1:]])[path]

    def _decode_seconds(self, secs: np.ndarray) -> list[tuple[int, float]]:
        """Counter and z for every second: the offsets (counter - second) come from the
        best path through all seconds (``track_offsets``), each second's z from a window
        around it within its run that grows (3, 5, 9 s) until the decode clears
        ``TIME_Z_THRESHOLD`` (short windows where the mark is strong, long ones rescue weak,
        heavily compressed stretches).

        Why a path and not a window decode per second: codewords of the rolling code
        (``TimeCode``) c and c + k share 8 - k of their 8 groups, so a window of a few
        seconds tells c from c +- 1 by one group per second only, and weak clips had
        isolated seconds read 1-2 s off (1 in 3 of 10 keys' CRF 28 clips); a window
        straddling a cut also fit best between the two sides. The path gathers that
        one-group evidence over the whole run and pays ``_JUMP_Z`` per change of offset."""
        n = secs.shape[0]
        norms = np.linalg.norm(secs, axis=1)
        rows = (self.time_code.scores(secs[j]) for j in range(n))
        offsets = track_offsets(
            (row / norms[j] if norms[j] > 0 else np.zeros_like(row) for j, row in enumerate(rows)),
            _JUMP_Z,
            _NEAR_JUMP_Z,
        )
        counters = [(o + j) % EPOCH_SECONDS for j, o in enumerate(offsets)]
        book = self.time_code.codebook
        corr = np.array(
            [float(book[c].astype(np.float64) @ secs[j]) for j, c in enumerate(counters)]
        )
        out: list[tuple[int, float]] = []
        for first, last in _run_bounds(offsets):
            for j in range(first, last + 1):
                z = 0.0
                for hw in _TIME_HALF_WINDOWS:
                    a, b = max(first, j - hw), min(last, j + hw) + 1
                    norm = math.sqrt(float(np.sum(norms[a:b] ** 2)))
                    z = float(np.sum(corr[a:b])) / norm if norm > 0 else 0.0
                    if z >= TIME_Z_THRESHOLD:
                        break
                out.append((counters[j], z))
        return out

    def _identities(self, const_sub: np.ndarray) -> list[ConstPayload]:
        whole = self.decode_identity(const_sub.sum(axis=0))
        if whole is not None:
            return [whole]
        found: dict[int, ConstPayload] = {}
        step = IDENTITY_WINDOW_S * SUB_BUCKETS_PER_SECOND
        for a in range(0, const_sub.shape[0], step):
            p = self.decode_identity(const_sub[a : a + step].sum(axis=0))
            if p is not None:
                found.setdefault(p.epoch, p)
        return list(found.values())


def best_states(score: np.ndarray, switch: float) -> np.ndarray:
    """The state per step (``score``: states x steps) maximising the summed score less
    ``switch`` per change of state (Viterbi)."""
    k, n = score.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    back = np.zeros((n, k), dtype=np.int64)
    total = score[:, 0].copy()
    for j in range(1, n):
        stay = total
        best = int(np.argmax(total))
        move = total[best] - switch
        back[j] = np.where(stay >= move, np.arange(k), best)
        total = np.maximum(stay, move) + score[:, j]
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for j in range(n - 1, 0, -1):
        path[j - 1] = back[j, path[j]]
    return path


def counter_slope(
    counters: Sequence[int] | np.ndarray, zs: Sequence[float] | np.ndarray
) -> float | None:
    """Broadcast seconds per clip second from counters decoded one clip second at a time at
    normal speed: the median of the slopes of all pairs of seconds 1 to ``_SLOPE_MAX_GAP``
    apart that both decode with z >= ``_SLOPE_MIN_Z`` (Theil 1950, Sen 1968), pairs whose
    counters are wildly apart (a wrong decode, a re-order) left out. None with fewer than
    ``_SLOPE_MIN_PAIRS`` pairs. At another playback rate the rolling code still decodes
    to one of the broadcast seconds a clip second mixes (1.5x: 0, 1, 3, 4, 6, ...), so the
    median follows the rate; a cut adds one jump, which moves it less than a rate does."""
    keep = [i for i, z in enumerate(zs) if z >= _SLOPE_MIN_Z]
    slopes: list[float] = []
    for n, i in enumerate(keep):
        for j in keep[n + 1 :]:
            gap = j - i
            if gap > _SLOPE_MAX_GAP:
                break
            d = (int(counters[j]) - int(counters[i]) + EPOCH_SECONDS // 2) % EPOCH_SECONDS
            d -= EPOCH_SECONDS // 2
            if abs(d) <= (max(SPEED_RATES) + 1) * gap + 2:
                slopes.append(d / gap)
    if len(slopes) < _SLOPE_MIN_PAIRS:
        return None
    return float(np.median(slopes))


def _hypothesis(full: np.ndarray, edge: np.ndarray, rate: float, phase: int) -> tuple[float, int]:
    """Score of the hypothesis (rate, phase) on 0.2-s buckets with codeword correlations
    ``full`` and their second differences ``edge`` (``Detector._edge_rows``): (sum, buckets
    summed). The hypothesis says which broadcast second every bucket shows (as
    ``Detector.rebucket``), up to one counter per window of ``_SPEED_WINDOW_S`` clip
    seconds, found by ML with the full codewords; the score is the second difference at
    the counter it gives each bucket.

    Why the second difference: codewords of nearby seconds share groups of the rolling code
    (``TimeCode``), so a bucket's correlation with codeword c + 1 is 7/8 of that with c, and
    a line of the wrong slope through a clip's counters (or a phase 0.4 s off) scores nearly
    as well as the right one. The second difference correlates +2 groups with its own
    second, 0 with the 7 seconds on either side (-1 group 8 seconds away): it scores the
    group that changes at each broadcast-second boundary, which is what tells rates and
    phases apart. Windows of clip time, not broadcast seconds: a seam then breaks as many
    windows at every rate (windows of broadcast seconds favoured fast rates on cut clips).
    """
    n = full.shape[0]
    width = min(n, _SPEED_WINDOW_S * SUB_BUCKETS_PER_SECOND)
    starts = range(0, n - width + 1, SUB_BUCKETS_PER_SECOND)
    k = np.floor(((np.arange(n) + 0.5) * rate + phase) / SUB_BUCKETS_PER_SECOND).astype(int)
    # row b rolled by -k[b]: column c is the hypothesis "bucket b shows c + k[b]"
    f_cum = np.zeros((n + 1, EPOCH_SECONDS), dtype=np.float32)
    e_cum = np.zeros((n + 1, EPOCH_SECONDS), dtype=np.float32)
    for b in range(n):
        f_cum[b + 1] = f_cum[b] + np.roll(full[b], -int(k[b]))
        e_cum[b + 1] = e_cum[b] + np.roll(edge[b], -int(k[b]))
    total = 0.0
    for a in starts:
        c = int(np.argmax(f_cum[a + width] - f_cum[a]))
        total += float(e_cum[a + width, c] - e_cum[a, c])
    return total, len(starts) * width


def _slope_agrees(slope: float, rate: float) -> bool:
    """Within the tolerance; a slowed-down rate also only if the slope is closer to it
    than to normal speed. Why the asymmetry: seams bias the probe towards slow rates, and a
    slope of exactly 1 (two swapped 2-s pieces) let 0.75x through at the tolerance's edge
    and the clip was re-timed; a sped-up rate keeps the full tolerance, since the median
    of a short clip's slopes at 1.25x can be exactly 1 (steps of 1, 1, 1, 2)."""
    off = abs(slope - rate)
    return off <= _SLOPE_TOLERANCE * max(rate, 1.0) and (rate >= 1.0 or off < abs(slope - 1.0))


def choose_rate(
    probe: dict[float, tuple[float, int]], runs: Callable[[float, int], int] | None = None
) -> tuple[float, int]:
    """(rate, phase) from ``Detector._probe`` scores (rate 1 among them): a rate other than 1
    only if it beats normal speed by ``_SPEED_MARGIN``, or by ``_SPEED_NEAR_MARGIN`` with
    an offset path of fewer runs than normal speed's (``runs(rate, phase)``,
    ``Detector._runs``); of several such rates, the one whose path has the fewest runs,
    then the best score; else (1.0, phase of rate 1).

    Why runs: at 1.5x after CRF 28 the probe scored 1.25x and 1.5x within 0.1 of each
    other (the second difference sees one group in eight) and took 1.25x; the wrong rate
    needs the path to jump to follow the broadcast (3 runs on 12 s), the right one reads
    one run."""
    base, base_phase = probe[1.0]
    others = [(score, rate, phase) for rate, (score, phase) in probe.items() if rate != 1.0]
    over = [c for c in others if c[0] > base + _SPEED_MARGIN]
    near = [c for c in others if base + _SPEED_NEAR_MARGIN < c[0] <= base + _SPEED_MARGIN]
    if runs is not None:
        runs = functools.cache(runs)  # a path costs a codebook product per second
        if near:
            base_runs = runs(1.0, base_phase)
            over += [c for c in near if runs(c[1], c[2]) < base_runs]
    if not over:
        return 1.0, base_phase
    if runs is not None and len(over) > 1:
        _, _, rate, phase = min((runs(r, ph), -sc, r, ph) for sc, r, ph in over)
        return rate, phase
    _, rate, phase = max(over)
    return rate, phase


def track_offsets(
    rows: Iterable[np.ndarray], jump: float, near_jump: float | None = None, lag: int = _TRACK_LAG
) -> list[int]:
    """The best path of offsets o_j (row j shows codeword o_j + j) through ``rows`` of
    codeword z-scores, one per second: the sum of row j's z at counter o_j + j, minus
    ``jump`` per change of offset, or ``near_jump`` (default ``jump``) per change by at
    most ``TIME_GROUPS - 1``.

    Why two prices: codewords of the rolling code c and c + d (|d| < 8) differ in d of 8
    groups, so a change to a near offset gains only what those groups say (per second
    about z / 8, with noise ~0.5 per group rather than the ~4.5 the best of 2**16 wrong
    codewords reaches), and a 1-s cut with 2 s of clip before it (z 10 per second) gained
    2.5, less than a far jump's price.

    Viterbi, decided with a fixed lag: the offset of second j is fixed once ``lag`` more
    seconds are in (by tracing back from the best offset then), so the back-pointers kept
    (one byte per offset and second) do not grow with the clip; at one minute the decision
    almost never differs from the whole clip's best path. O(2**16 * 16) per second."""
    near_jump = jump if near_jump is None else near_jump
    deltas = [d for d in range(-(TIME_GROUPS - 1), TIME_GROUPS) if d != 0]
    far = len(deltas) + 1  # pointer codes: 0 stay, 1.. near delta deltas[code - 1], far
    score: np.ndarray | None = None
    pointers: list[tuple[np.ndarray, int]] = []  # (codes, previous best), last ``lag`` rows
    out: list[int] = []
    j = -1

    def trace(o: int, steps: int) -> int:
        """The offset ``steps`` rows back from offset ``o`` at the newest row."""
        for codes, best in reversed(pointers[len(pointers) - steps :]):
            code = int(codes[o])
            if code == far:
                o = best
            elif code:
                o = (o + deltas[code - 1]) % EPOCH_SECONDS
        return o

    for j, row in enumerate(rows):
        emit = np.roll(np.asarray(row, dtype=np.float64), -j)
        if score is None:
            score = emit
            continue
        best = int(np.argmax(score))
        cand = np.stack([score] + [np.roll(score, -d) - near_jump for d in deltas])
        codes = np.argmax(cand, axis=0).astype(np.int8)
        top = np.take_along_axis(cand, codes[None, :].astype(np.int64), axis=0)[0]
        alt = float(score[best]) - jump
        moved = top < alt
        codes[moved] = far
        score = np.where(moved, alt, top) + emit
        pointers.append((codes, best))
        if len(pointers) >= lag:  # decide row j - lag; its pointer is then not needed
            out.append(trace(int(np.argmax(score)), lag))
            pointers.pop(0)
    if score is None:
        return []
    o = int(np.argmax(score))
    tail = [o]
    for k in range(1, len(pointers) + 1):
        tail.append(trace(o, k))
    return out + tail[::-1]


def _run_bounds(offsets: Sequence[int]) -> list[tuple[int, int]]:
    """(first, last) index of each run of equal offsets."""
    out: list[tuple[int, int]] = []
    for j, o in enumerate(offsets):
        if out and offsets[out[-1][0]] == o:
            out[-1] = (out[-1][0], j)
        else:
            out.append((j, j))
    return out


def _place_pieces(
    segments: list[Segment], pieces: np.ndarray, lo: int, duration: float
) -> list[Segment]:
    """Segments put on the second boundaries of the piece each second was re-anchored in
    (``pieces``: that phase per bucket from ``lo``, ``Detector._piece_rows``), split and
    ended where the phase changes: there is the cut, to 0.2 s.

    The time decode sums buckets into seconds on one grid; a piece after a cut of a
    fraction of a second has its own, ``d`` buckets off (|d| <= 2 by taking the nearer
    way). Each grid second holds 5 - |d| buckets of the piece's second that starts ``d``
    buckets later, so that second is the one decoded and only the clip times move. A cut
    of 1.4 s reads at 1-s resolution as one offset either side (one segment) and still
    shows as a change of phase, and a grid second straddling a cut belongs to the piece
    holding most of it."""
    per = SUB_BUCKETS_PER_SECOND
    n = pieces.shape[0]
    runs: list[list[int]] = []  # [first bucket, end bucket, phase]
    for r, p in enumerate(pieces.tolist()):
        if runs and runs[-1][2] == p:
            runs[-1][1] = lo + r + 1
        else:
            runs.append([lo + r, lo + r + 1, int(p)])
    while len(runs) > 1:  # a run under 1 s is not a piece: it joins its longer neighbour
        i = min(range(len(runs)), key=lambda i: runs[i][1] - runs[i][0])
        if runs[i][1] - runs[i][0] >= per:
            break
        left = i > 0 and (
            i == len(runs) - 1 or runs[i - 1][1] - runs[i - 1][0] >= runs[i + 1][1] - runs[i + 1][0]
        )
        j = i - 1 if left else i + 1
        runs[j] = [min(runs[i][0], runs[j][0]), max(runs[i][1], runs[j][1]), runs[j][2]]
        del runs[i]
        k = min(i, j)  # the merged run may now meet a neighbour of its own phase
        for a in (k - 1, k):
            if 0 <= a < len(runs) - 1 and runs[a][2] == runs[a + 1][2]:
                runs[a] = [runs[a][0], runs[a + 1][1], runs[a][2]]
                del runs[a + 1]
                break

    def run_at(t: float) -> int:
        b = math.floor(t * per)
        return next((i for i, (b0, b1, _) in enumerate(runs) if b < b1), len(runs) - 1)

    out: list[Segment] = []
    for seg in segments:
        o = seg.clip_origin
        seconds = seg.broadcast_end - seg.broadcast_start
        owner = [run_at(max(seg.clip_start, o + j + 0.5 / seg.rate)) for j in range(seconds)]
        j = 0
        while j < seconds:
            k = j
            while k + 1 < seconds and owner[k + 1] == owner[j]:
                k += 1
            b0, b1, p = runs[owner[j]]
            d = (p - round(o * per)) % per
            grid = o + ((d + 2) % per - 2) / per
            start = 0.0 if j == 0 and seg.clip_start == 0.0 else max(0.0, grid + j)
            if b0 > lo and abs(b0 / per - start) <= 1.0:
                start = b0 / per  # the cut
            end = min(duration, grid + k + 1)
            if b1 < lo + n and abs(b1 / per - end) <= 1.0:
                end = b1 / per
            if end - start < 1e-6:  # a clip-end second moved out of the clip: nothing left
                j = k + 1
                continue
            first, last = j, k  # seconds moved wholly out of the piece's span are not in it
            while first < last and grid + first + 1 <= start + 1e-6:
                first += 1
            while last > first and grid + last >= end - 1e-6:
                last -= 1
            out.append(
                dataclasses.replace(
                    seg,
                    clip_start=start,
                    clip_end=end,
                    broadcast_start=seg.broadcast_start + first,
                    broadcast_end=seg.broadcast_start + last + 1,
                    clip_origin=grid + first,
                    strengths=seg.strengths[first : last + 1]
                    if len(seg.strengths) == seconds
                    else seg.strengths,
                )
            )
            j = k + 1
    for i in range(len(out) - 1):
        before, after = out[i], out[i + 1]
        if before.clip_end > after.clip_start:  # moved into each other, no cut seen between
            t = 0.5 * (before.clip_end + after.clip_start)
            out[i] = dataclasses.replace(before, clip_end=t)
            out[i + 1] = dataclasses.replace(after, clip_start=t)
    return out


def _segments(
    decoded: Iterable[tuple[int, float]],
    origin: Callable[[int], float],
    duration: float,
    epoch: int,
    rate: float = 1.0,
) -> list[Segment]:
    """Runs of seconds with the same broadcast offset (counter - second index)."""
    base = epoch << COUNTER_BITS
    runs: list[list[Any]] = []  # [offset, first_j, last_j, [z...]]
    for j, (c, z) in enumerate(decoded):
        if z < TIME_Z_THRESHOLD:
            continue
        offset = c - j
        if runs and runs[-1][0] == offset:
            runs[-1][2] = j
            runs[-1][3].append(z)
        else:
            runs.append([offset, j, j, [z]])
    out: list[Segment] = []
    for offset, j0, j1, zs in runs:
        conf = float(np.mean([1.0 - time_false_alarm(z) for z in zs]))
        out.append(
            Segment(
                clip_start=max(0.0, origin(j0)),
                clip_end=min(duration, origin(j1 + 1)),
                broadcast_start=base + offset + j0,
                broadcast_end=base + offset + j1 + 1,
                confidence=conf,
                clip_origin=origin(j0),
                rate=rate,
                strengths=tuple(float(z) for z in zs),
            )
        )
    return out
