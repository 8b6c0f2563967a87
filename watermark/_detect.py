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
    ``ID_Z_THRESHOLD`` (false accept <= 8.4e-8 per attempt).
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

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from watermark._keys import StreamerKey
from watermark._motion import EST_HEIGHT, MotionChain
from watermark._patterns import (
    CHIPS_PER_HEIGHT,
    SAMPLES_PER_CHIP,
    TILE_CHIPS,
    KeyPatterns,
    render_matrix,
    sandwich,
)
from watermark._payload import (
    CONST_CODED_BITS,
    COUNTER_BITS,
    EPOCH_SECONDS,
    ID_Z_THRESHOLD,
    TIME_CODED_BITS,
    TIME_Z_THRESHOLD,
    ConstPayload,
    IdentityCode,
    TimeCode,
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
    "SecondMark",
    "Segment",
    "SoftSeries",
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
_SYNC_FRAMES = 24  # frames sampled for the geometry search
# coarse scale search: frames spread over the whole sample (the first few frames can all
# come from one shot the mark does not survive in, e.g. a flat sky at half size)
_COARSE_FRAMES = 8
_OPEN_BUCKETS = 10  # tiles kept before handing over: 2 s, more than any B-frame reorder
_ACTIVITY_SIGMA = 3.0  # samples (one chip): a block that changed, not a pixel
_ACTIVITY_REF = 0.5  # grey levels of change that count as fully re-coded (camera grain ~0.7)
_TIME_HALF_WINDOWS = (1, 2, 4)  # whole-clip time decode: 3-, 5-, then 9-s windows
_SCORE_CHUNK = 256  # seconds scored against all 2**16 codewords at once (64 MB float32)
_SYNC_SPAN_S = 20.0  # ... from the first 20 s of the clip
# Playback rates tried besides normal speed (a re-upload played faster or slower);
# rate = broadcast seconds per clip second.
SPEED_RATES = (0.5, 0.75, 0.8, 1.25, 1.5, 2.0)
_SPEED_MIN_S = 3  # clips shorter than this (in seconds) are taken at normal speed
_SPEED_PROBE_S = 12  # clip seconds scored per (rate, phase) hypothesis (cost bound)
_SPEED_PROBE_WINDOW = 4  # broadcast seconds per continuity window of the probe
# a rate other than 1 must beat rate 1's probe z by both margins: normal-speed
# clips must never be re-timed by noise in the hypothesis scores
_SPEED_MARGIN_Z = 0.5
_SPEED_MARGIN_REL = 0.05


@dataclass(frozen=True)
class Geometry:
    """Where the tile sits in the clip: period in pixels and offset in detector samples."""

    period: float
    offset: tuple[int, int]
    z: float
    # 0.2 s buckets (clip time * 5) whose index is = phase (mod 5) start a broadcast second:
    # there the embedder re-anchors a moving mark to the frame (``pick_samples``); None: a
    # frame-fixed mark, nothing to stabilise
    phase: int | None = None


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
    h, wd = w.shape
    ph, pw = -(-h // _N) * _N, -(-wd // _N) * _N
    if (ph, pw) != (h, wd):
        w = np.pad(w, ((0, ph - h), (0, pw - wd)))
    out: np.ndarray = w.reshape(ph // _N, _N, pw // _N, _N).sum(axis=(0, 2), dtype=np.float64)
    return out


def _resample(y: np.ndarray, period: float) -> np.ndarray:
    f = _N / period
    h, w = y.shape
    size = (max(1, round(w * f)), max(1, round(h * f)))
    interp = cv2.INTER_AREA if f < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(y, size, fx=f, fy=f, interpolation=interp)


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


def pick_samples(
    frames: Iterable[tuple[float, np.ndarray]], span: float, max_frames: int
) -> tuple[list[np.ndarray], list[int]]:
    """Frames for the geometry search and the 0.2 s bucket (mod 5) each one starts.

    The embedder re-anchors the moving mark to the frame at every broadcast second, so a
    frame that starts a bucket which starts a second shows the mark where a still one
    would be; which residue that is, is not known yet. Samples are the first frames of
    every k-th bucket, k prime to 5 so all five residues take turns; the geometry search
    sums them per residue and the right residue is the one that adds up (``phase``)."""
    buckets = max(1, int(span * SUB_BUCKETS_PER_SECOND))
    k = max(1, buckets // max(1, max_frames))
    if k % 5 == 0:
        k += 1
    samples: list[np.ndarray] = []
    phases: list[int] = []
    last = None
    for t, y in frames:
        b = math.floor(t * SUB_BUCKETS_PER_SECOND + 1e-6)
        if t > span or len(samples) >= max_frames:
            break
        if b != last and b % k == 0:
            samples.append(y.copy())
            phases.append(b % SUB_BUCKETS_PER_SECOND)
        last = b
    return samples, phases


def fold_frame(y: np.ndarray, period: float) -> np.ndarray:
    """Resample so one period is 96 samples, whiten, fold: (96, 96) unaligned evidence."""
    return _fold(_whiten(_resample(y, period)))


def _hp_response() -> np.ndarray:
    k = np.fft.fftfreq(_N)
    g = np.exp(-2.0 * math.pi**2 * _HP_SIGMA**2 * (k[:, None] ** 2 + k[None, :] ** 2))
    return 1.0 - g


_HP = _hp_response()
_R = render_matrix(SAMPLES_PER_CHIP, _N)


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
        phase: int | None = None,
    ) -> None:
        """With ``on_flush``, tiles older than ``_OPEN_BUCKETS`` are handed over (and
        forgotten) as the clip goes on, so memory stays constant for any clip length.
        ``phase`` (``Geometry.phase``): which buckets start broadcast seconds; each frame is
        stabilised against the picture's motion since the start of its second, when the
        embedder last re-anchored the moving mark; None for a frame-fixed mark."""
        self.period = period
        self.tiles: dict[int, np.ndarray] = {}
        self.time_tiles: dict[int, np.ndarray] = {}
        self.frames = 0
        self.duration = 0.0
        self._prev: np.ndarray | None = None
        self._on_flush = on_flush
        self.phase = None if phase is None else phase % SUB_BUCKETS_PER_SECOND
        self.motion = None if phase is None else MotionChain()
        self._bucket = -(10**9)
        self._anchor = np.eye(3)  # motion at the start of the current second

    def flush(self, keep: int = 0) -> None:
        """Hand all but the newest ``keep`` buckets to ``on_flush``."""
        if self._on_flush is None:
            return
        for b in sorted(self.tiles)[: max(0, len(self.tiles) - keep)]:
            empty = np.zeros((_N, _N))
            self._on_flush(b, self.tiles.pop(b), self.time_tiles.pop(b, empty))

    def add_frame(self, y: np.ndarray, t: float) -> None:
        """Fold one luma frame shown at clip time ``t`` into the evidence (frames in
        display order: the picture's motion is followed from one to the next)."""
        b = math.floor(t * SUB_BUCKETS_PER_SECOND + 1e-6)
        small = _resample(y, self.period)
        if self.motion is not None and self.phase is not None:
            a = self.motion.update(y)
            if b != self._bucket:
                starts = (b - self.phase) % SUB_BUCKETS_PER_SECOND == 0
                if starts or b - self._bucket >= SUB_BUCKETS_PER_SECOND:
                    self._anchor = a.copy()
                self._bucket = b
            small = stabilise(small, a @ np.linalg.inv(self._anchor))
        w = _whiten(small)
        _accumulate(self.tiles, b, _fold(w))
        if self._prev is None or self._prev.shape != small.shape:
            active = w  # the first frame of a clip is intra-coded: all of it is current
        else:
            diff = cv2.absdiff(small, self._prev).astype(np.float32)
            act = cv2.GaussianBlur(diff, (0, 0), _ACTIVITY_SIGMA)
            active = w * np.minimum(act * np.float32(1.0 / _ACTIVITY_REF), np.float32(1.0))
        _accumulate(self.time_tiles, b, _fold(active))
        self._prev = small
        self.frames += 1
        self.duration = max(self.duration, t)
        if self._on_flush is not None and len(self.tiles) > _OPEN_BUCKETS:
            self.flush(keep=_OPEN_BUCKETS)


def _accumulate(tiles: dict[int, np.ndarray], b: int, tile: np.ndarray) -> None:
    acc = tiles.get(b)
    if acc is None:
        tiles[b] = tile
    else:
        acc += tile


class SoftSeries:
    """Soft bits per 0.2 s bucket (what is left of a clip once tiles are decoded): 338
    floats per bucket, ~6 MB per hour of clip and key."""

    def __init__(self) -> None:
        self.const: dict[int, np.ndarray] = {}
        self.time: dict[int, np.ndarray] = {}

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
        keys = set(self.const) | set(self.time)
        if not keys:
            return np.zeros((0, CONST_CODED_BITS)), np.zeros((0, TIME_CODED_BITS)), 0
        lo, hi = min(keys), max(keys)
        const = np.zeros((hi - lo + 1, CONST_CODED_BITS))
        time = np.zeros((hi - lo + 1, TIME_CODED_BITS))
        for b, v in self.const.items():
            const[b - lo] = v
        for b, v in self.time.items():
            time[b - lo] = v
        return const, time, lo


class Detector:
    """Detects one key's marks; see the module docstring for the steps."""

    def __init__(self, key: StreamerKey) -> None:
        self.key = key
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
        """Find period, offset and phase from a few luma frames of the clip (step 1):
        ``frames`` and ``phases`` as ``pick_samples`` gives them. Folds are summed per
        phase and over all frames (a still picture's mark adds up in every frame); the best
        of the six correlation peaks wins."""
        moving = phases is not None
        phases = list(phases) if phases is not None else [0] * len(frames)
        h, w = frames[0].shape
        nominal = h / CHIPS_PER_HEIGHT * TILE_CHIPS
        best = (-math.inf, nominal)
        # coarse: centre window of about two nominal periods, a few frames
        ch = min(h, int(2.2 * nominal * _SCALE_MAX))
        cw = min(w, int(2.2 * nominal * _SCALE_MAX))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        step = max(1, len(frames) // _COARSE_FRAMES)
        if step % SUB_BUCKETS_PER_SECOND == 0:
            step += 1  # keep all five phases among the coarse frames
        pick = list(range(0, len(frames), step))[:_COARSE_FRAMES]
        centre = [frames[i][y0 : y0 + ch, x0 : x0 + cw] for i in pick]
        r = _SCALE_MIN
        while r <= _SCALE_MAX:
            p = nominal * r
            z, _, _ = self._best_group(
                [fold_frame(f, p) for f in centre], [phases[i] for i in pick]
            )
            if z > best[0]:
                best = (z, p)
            r *= 1.0 + _COARSE_STEP
        # fine: whole frames, around the coarse peak and around the nominal period (an
        # unscaled or exactly halved copy sits there; a weak mark's coarse peak can be noise)
        best_g = Geometry(best[1], (0, 0), -math.inf)
        for centre in sorted({best[1], nominal}):
            for k in range(-6, 7):
                p = centre * (1.0 + k * _FINE_STEP)
                z, off, ph = self._best_group([fold_frame(f, p) for f in frames], phases)
                if z > best_g.z:
                    best_g = Geometry(p, off, z, ph if moving else None)
        return best_g

    def _best_group(
        self, folds: Sequence[np.ndarray], phases: Sequence[int]
    ) -> tuple[float, tuple[int, int], int]:
        """Best sync peak over the folds summed per phase and over all of them: (z, offset,
        phase); the all-frames sum reports the phase of its best single group."""
        groups: dict[int, np.ndarray] = {}
        for f, ph in zip(folds, phases, strict=True):
            groups[ph] = groups[ph] + f if ph in groups else f.copy()
        best = (-math.inf, (0, 0), 0)
        for ph, g in groups.items():
            z, off = self._sync_z(g)
            if z > best[0]:
                best = (z, off, ph)
        if len(groups) > 1:
            z, off = self._sync_z(sum(groups.values(), np.zeros((_N, _N))))
            if z > best[0]:
                best = (z, off, best[2])
        return best

    # (2) evidence -> soft bits ----------------------------------------------------------
    def soft_bits(self, folded: np.ndarray, geo: Geometry) -> tuple[np.ndarray, np.ndarray]:
        aligned = np.roll(folded, (-geo.offset[0], -geo.offset[1]), axis=(0, 1))
        g = np.fft.ifft2(np.fft.fft2(aligned) * _HP).real
        chips = sandwich(_R, g, transposed=True)
        return self.patterns.soft_bits(chips)

    def soft_series(
        self, ev: Evidence, geo: Geometry, series: SoftSeries | None = None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Per 0.2 s bucket soft bits: (n, 210), (n, 128), index of the first bucket.

        ``series`` holds buckets already handed over by the evidence (``sink``).
        """
        series = series if series is not None else SoftSeries()
        for b, tile in ev.tiles.items():
            series.add(b, self.soft_bits(tile, geo)[0], None)
        for b, tile in ev.time_tiles.items():
            series.add(b, None, self.soft_bits(tile, geo)[1])
        return series.arrays()

    def sink(
        self, geo: Geometry, series: SoftSeries
    ) -> Callable[[int, np.ndarray, np.ndarray], None]:
        """An ``Evidence.on_flush`` that turns tiles into this key's soft bits."""

        def take(b: int, const_tile: np.ndarray, time_tile: np.ndarray) -> None:
            series.add(b, self.soft_bits(const_tile, geo)[0], self.soft_bits(time_tile, geo)[1])

        return take

    # (3) identity ---------------------------------------------------------------------------
    def decode_identity(self, const_soft: np.ndarray) -> ConstPayload | None:
        """ML epoch for summed constant soft bits; the payload only if z clears the bar."""
        epoch, z = self.identity_code.decode(const_soft)
        if z < ID_Z_THRESHOLD:
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

    def _probe_z(self, time_sub: np.ndarray, rate: float, phase: int) -> float:
        """Mean z of the best counter run (c, c + 1, ...) over sliding windows of
        ``_SPEED_PROBE_WINDOW`` seconds in the first ``_SPEED_PROBE_S`` clip seconds
        re-bucketed at (rate, phase). A hypothesis that splits or merges broadcast seconds
        wrongly breaks the +1 continuity in every window; a cut breaks only the windows
        that straddle it (one run over the whole probe once took a 2-s cut for a 1.5x
        speed-up, since time then advances faster on average)."""
        probe = time_sub[: _SPEED_PROBE_S * SUB_BUCKETS_PER_SECOND]
        secs = self.rebucket(probe, rate, phase)
        m = secs.shape[0]
        if m == 0:
            return 0.0
        w = min(m, _SPEED_PROBE_WINDOW)
        rows = self.time_code.scores(secs).astype(np.float64)  # (m, 65536)
        # row i rolled by -i: hypothesis c of a window starting anywhere is column c + a
        runs = np.zeros((m + 1, rows.shape[1]))
        for i in range(m):
            runs[i + 1] = runs[i] + np.roll(rows[i], -i)
        energy = np.concatenate(([0.0], np.cumsum(np.sum(secs**2, axis=1))))
        zs = []
        for a in range(m - w + 1):
            norm = math.sqrt(max(0.0, float(energy[a + w] - energy[a])))
            zs.append(float(np.max(runs[a + w] - runs[a])) / norm if norm > 0 else 0.0)
        return float(np.mean(zs))

    def _rate_phase(self, time_sub: np.ndarray) -> tuple[float, int, list[tuple[int, float]]]:
        """(rate, phase, decoded seconds). Normal speed with the phase that best explains all
        seconds, unless a ``SPEED_RATES`` hypothesis (scored with continuity on the first
        ``_SPEED_PROBE_S`` seconds) explains them clearly better: a clip played at another
        speed mixes codewords in the 1-s buckets of rate 1."""
        best_phase, best_sum = 0, -math.inf
        per_phase: dict[int, np.ndarray] = {}
        for phase in range(SUB_BUCKETS_PER_SECOND):
            secs = self.seconds(time_sub, phase)
            per_phase[phase] = secs
            # raw (unnormalised) best correlations: a bucket straddling two broadcast
            # seconds, or a partial one at either end, scores less than an aligned one
            total = 0.0
            for k in range(0, secs.shape[0], _SCORE_CHUNK):
                total += float(np.sum(np.max(self.time_code.scores(secs[k : k + _SCORE_CHUNK]), 1)))
            if total > best_sum:
                best_phase, best_sum = phase, total
        rate, phase = 1.0, best_phase
        if per_phase[best_phase].shape[0] >= _SPEED_MIN_S:
            base = self._probe_z(time_sub, 1.0, best_phase)
            bar = max(base + _SPEED_MARGIN_Z, base * (1.0 + _SPEED_MARGIN_REL))
            for r in SPEED_RATES:
                for p in range(SUB_BUCKETS_PER_SECOND):
                    z = self._probe_z(time_sub, r, p)
                    if z > bar:
                        bar, rate, phase = z, r, p
        secs = per_phase[phase] if rate == 1.0 else self.rebucket(time_sub, rate, phase)
        return rate, phase, self._decode_seconds(secs)

    # (5) whole clip -----------------------------------------------------------------------
    def detect(self, ev: Evidence, geo: Geometry, series: SoftSeries | None = None) -> Detection:
        const_sub, time_sub, lo = self.soft_series(ev, geo, series)
        duration = ev.duration + (1.0 / 25.0 if ev.frames else 0.0)
        none = Detection(False, None, sync_z=geo.z, frames=ev.frames, duration=duration)
        if const_sub.shape[0] == 0:
            return none
        payloads = self._identities(const_sub)
        if not payloads:
            return none
        # playback rate and phase, then each second decoded with its neighbours
        # (continuity); segments cut where the broadcast offset jumps
        rate, phase, decoded = self._rate_phase(time_sub)
        epoch = payloads[0].epoch
        origin = self._origin(lo, rate, phase)
        segments = _segments(decoded, origin, duration, epoch, rate)
        # per-second strength of the identity mark (this second alone)
        const_secs = self.rebucket(const_sub, rate, phase)
        codeword = self.identity_code.codebook[epoch].astype(np.float64)
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

    def _decode_seconds(self, secs: np.ndarray) -> list[tuple[int, float]]:
        """Counter and z for every second, from a window around it that grows (3, 5, 9 s)
        until the decode clears ``TIME_Z_THRESHOLD``: short windows place cuts precisely,
        long ones rescue weak (heavily compressed) stretches. Rows of codeword scores are
        cached for the sliding window only, so memory does not grow with the clip."""
        n = secs.shape[0]
        rows: dict[int, np.ndarray] = {}
        out: list[tuple[int, float]] = []
        for j in range(n):
            best = (0, -math.inf)
            for hw in _TIME_HALF_WINDOWS:
                a, b = max(0, j - hw), min(n, j + hw + 1)
                norm = math.sqrt(float(np.sum(secs[a:b] ** 2)))
                if norm == 0.0:
                    break
                total = np.zeros(EPOCH_SECONDS, dtype=np.float64)
                for i in range(a, b):
                    if i not in rows:
                        rows[i] = self.time_code.scores(secs[i])
                    total += np.roll(rows[i], -(i - a))  # hypothesis c: row i shows c + i - a
                c = int(np.argmax(total))
                best = (c + (j - a), float(total[c]) / norm)
                if best[1] >= TIME_Z_THRESHOLD:
                    break
            out.append(best)
            for i in [i for i in rows if i < j - _TIME_HALF_WINDOWS[-1]]:
                del rows[i]
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
