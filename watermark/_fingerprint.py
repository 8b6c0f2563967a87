"""Per-second perceptual fingerprints of a broadcast: block-DCT features of the mean luma.

Construction (one fingerprint per second of broadcast, 1,008 bytes):

1. every frame's luma is reduced to a ``THUMB_W x THUMB_H`` thumbnail (area average, so any
   resolution of the same picture gives the same thumbnail: robust to downscaling);
   thumbnails are summed per 0.04 s of time (``WINDOW_STEPS_PER_SECOND``) and averaged over
   each second (robust to frame-rate changes and to where a re-encoder put its I-frames);
2. the mean thumbnail is split into a ``GRID_COLS x GRID_ROWS`` grid of 16x16 cells (80x80 px
   at 720p: a price tag or a face covers several cells); per cell, the 8x8 DCT-II of the
   cell pooled 2x2 gives the DC (mean) and the ``AC_COEFFS`` lowest AC coefficients in
   zig-zag order (the coarse shape of the cell, as in block-DCT perceptual hashes such as
   pHash), and a detail energy: the mean absolute difference-of-Gaussians response in the
   cell, log-scaled (what a blur of a face removes and a text overlay adds);
3. features are quantised to bytes: DC in grey levels, AC in steps of ``AC_STEP``, detail
   in ``DETAIL_STEP`` of log2 units.

Comparison (:func:`compare`): per cell, the DC difference, the AC difference (Euclidean) and
the detail difference, each divided by its tolerance (set from genuine clips re-encoded at
x264 CRF 28 and downscaled to 50 %, see ``benchmarks/bench_clip.py``); a cell whose worst
ratio exceeds 1 is changed, and a second is altered when ``MIN_CHANGED_CELLS`` cells are.

The audio envelope (when there is audio) is the loudness of each 0.1 s in dBFS, 10 values per
second; it is recorded in the manifest and compared per second after removing the clip's
overall gain (a re-upload may normalise loudness): a second whose median residual exceeds
``AUDIO_TOL_DB`` has other sound (:func:`audio_residuals`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "AC_COEFFS",
    "AUDIO_TOL_DB",
    "CROP_TOLERANCE",
    "FEATURES",
    "FINGERPRINT_BYTES",
    "GRID_COLS",
    "GRID_ROWS",
    "MIN_CHANGED_CELLS",
    "THUMB_H",
    "THUMB_W",
    "WINDOW_STEPS_PER_SECOND",
    "Comparison",
    "Framing",
    "WindowFeatures",
    "audio_envelope",
    "audio_residuals",
    "changed_cells",
    "compare",
    "fingerprint",
    "quantise",
    "second_fingerprints",
    "thumbnail",
    "unpack",
]

THUMB_W, THUMB_H = 256, 144  # 1/5 of 720p: detail at 5-10 px survives CRF 28 and 50 % scaling
CELL = 16  # thumbnail pixels per grid cell
GRID_COLS, GRID_ROWS = THUMB_W // CELL, THUMB_H // CELL  # 16 x 9 cells
AC_COEFFS = 5  # zig-zag AC coefficients kept per cell (pHash keeps the low 8x8 band)
FEATURES = 1 + AC_COEFFS + 1  # DC, AC..., detail
FINGERPRINT_BYTES = GRID_COLS * GRID_ROWS * FEATURES
WINDOW_STEPS_PER_SECOND = 25  # 0.04 s: at 720p a pan misaligned by 0.1 s already changes cells
AC_STEP = 8.0  # orthonormal DCT units per AC step: +-1016 fits an 8x8 block of full swing
DETAIL_STEP = 1.0 / 16.0  # log2 units per detail step
# Tolerances per cell; a genuine re-encode stays well inside them (measured maxima on
# CRF 28 + 50 % downscale: see docs/clip.md), a price overlay or a blurred face exceeds them.
DC_TOL = 8.0  # grey levels of cell mean
AC_TOL = 24.0  # grey levels, Euclidean over the AC coefficients
DETAIL_TOL = 0.9  # log2 units: a blur more than halves the detail, re-encoding does not
AUDIO_TOL_DB = 6.0  # median loudness residual of a second (dB) beyond which the sound differs
AUDIO_FLOOR_DB = -60.0  # 0.1-s bins quieter than this on both sides are silence: not compared
# a cropped clip is resampled onto the broadcast's grid from a place found to ~0.25 thumbnail
# px: its cells get this much more room (a face-sized blur is still 1.5x the tolerance)
CROP_TOLERANCE = 1.2
MIN_CHANGED_CELLS = 2  # one cell alone can be a re-encoder's bad block; two are a change
_DOG_SIGMAS = (0.8, 2.0)  # thumbnail pixels: 4-10 px at 720p
_DETAIL_FLOOR = 0.5  # grey levels: below this a cell is flat, log of noise is meaningless
_ZIGZAG = [(0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0)][:AC_COEFFS]


def thumbnail(y: np.ndarray) -> np.ndarray:
    """The frame's luma as a THUMB_W x THUMB_H float32 area average."""
    return cv2.resize(y, (THUMB_W, THUMB_H), interpolation=cv2.INTER_AREA).astype(np.float32)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m.astype(np.float64)


_D8 = _dct_matrix(CELL // 2)


def _dct2(blocks: np.ndarray) -> np.ndarray:
    """``D @ block @ D.T`` for every (r, c) block of ``blocks`` (R, C, n, n), as two
    OpenCV products over all blocks at once: ``np.einsum`` looped over every index (1 ms
    per window, a tenth of a clip verification), and numpy's ``@`` would hand the products
    to OpenBLAS threads (``watermark._patterns.sandwich`` says why not)."""
    r, c, n, _ = blocks.shape
    no: Any = None  # no third operand (beta = 0)
    rows = cv2.gemm(
        np.ascontiguousarray(blocks).reshape(-1, n), _D8, 1.0, no, 0.0, flags=cv2.GEMM_2_T
    )
    turned = rows.reshape(r, c, n, n).transpose(0, 1, 3, 2).reshape(-1, n)
    cols = cv2.gemm(np.ascontiguousarray(turned), _D8, 1.0, no, 0.0, flags=cv2.GEMM_2_T)
    out: np.ndarray = cols.reshape(r, c, n, n).transpose(0, 1, 3, 2)
    return out


def features(thumb: np.ndarray) -> np.ndarray:
    """(GRID_ROWS, GRID_COLS, FEATURES) float features of a mean thumbnail."""
    t = thumb.astype(np.float32)
    pooled = cv2.resize(t, (THUMB_W // 2, THUMB_H // 2), interpolation=cv2.INTER_AREA)
    c = CELL // 2
    blocks = pooled.reshape(GRID_ROWS, c, GRID_COLS, c).transpose(0, 2, 1, 3).astype(np.float64)
    coeffs = _dct2(blocks)
    out = np.zeros((GRID_ROWS, GRID_COLS, FEATURES))
    out[..., 0] = coeffs[..., 0, 0] / c  # the cell's mean grey level
    for n, (u, v) in enumerate(_ZIGZAG):
        out[..., 1 + n] = coeffs[..., u, v]
    dog = np.abs(
        cv2.GaussianBlur(t, (0, 0), _DOG_SIGMAS[0]) - cv2.GaussianBlur(t, (0, 0), _DOG_SIGMAS[1])
    )
    detail = dog.reshape(GRID_ROWS, CELL, GRID_COLS, CELL).mean(axis=(1, 3))
    out[..., -1] = np.log2(np.maximum(detail, _DETAIL_FLOOR))
    return out


def fingerprint(thumb: np.ndarray) -> bytes:
    """Quantised features of one second's mean thumbnail: ``FINGERPRINT_BYTES`` bytes."""
    return quantise(features(thumb))


def quantise(f: np.ndarray) -> bytes:
    q = np.empty(f.shape, dtype=np.uint8)
    q[..., 0] = np.clip(np.round(f[..., 0]), 0, 255)
    q[..., 1:-1] = (np.clip(np.round(f[..., 1:-1] / AC_STEP), -127, 127).astype(np.int16)) & 0xFF
    q[..., -1] = np.clip(np.round((f[..., -1] + 1.0) / DETAIL_STEP), 0, 255)
    return q.tobytes()


def unpack(fp: bytes) -> np.ndarray:
    """Dequantised (GRID_ROWS, GRID_COLS, FEATURES) features of a stored fingerprint."""
    if len(fp) != FINGERPRINT_BYTES:
        raise ValueError(f"expected a {FINGERPRINT_BYTES}-byte fingerprint, got {len(fp)}")
    q = np.frombuffer(fp, dtype=np.uint8).reshape(GRID_ROWS, GRID_COLS, FEATURES)
    out = np.empty(q.shape)
    out[..., 0] = q[..., 0]
    out[..., 1:-1] = q[..., 1:-1].view(np.int8) * AC_STEP
    out[..., -1] = q[..., -1] * DETAIL_STEP - 1.0
    return out


@dataclass(frozen=True)
class Framing:
    """Where a clip's picture sits in the broadcast's picture, in broadcast thumbnail pixels
    (``THUMB_W x THUMB_H``): a cropped clip shows the region ``x0, y0, w, h`` of it.

    :meth:`canvas` renders a clip frame into the broadcast's thumbnail at that place, so its
    grid cells line up with the anchored fingerprint's; :attr:`mask` lists the cells the
    clip covers wholly (only those are compared). ``None`` framing is the full frame.
    """

    x0: float
    y0: float
    w: float
    h: float

    def canvas(self, y: np.ndarray) -> np.ndarray:
        small = cv2.resize(
            y, (max(1, round(self.w)), max(1, round(self.h))), interpolation=cv2.INTER_AREA
        ).astype(np.float32)
        return self.place(small)

    def place(self, small: np.ndarray) -> np.ndarray:
        """A thumbnail of the clip at region size, moved to ``x0, y0`` (sub-pixel, the
        uncovered rest replicating the edge so the detail filter sees no false edge)."""
        sx = self.w / small.shape[1]
        sy = self.h / small.shape[0]
        m = np.array([[sx, 0.0, self.x0], [0.0, sy, self.y0]], np.float32)
        out: np.ndarray = cv2.warpAffine(  # type: ignore[assignment]
            small,
            m,
            (THUMB_W, THUMB_H),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return out

    @property
    def mask(self) -> np.ndarray:
        """(GRID_ROWS, GRID_COLS) bool: cells wholly inside the clip's region (1 px margin:
        the detail filter reaches a few pixels past the region's edge)."""
        xs = np.arange(GRID_COLS) * CELL
        ys = np.arange(GRID_ROWS) * CELL
        cols = (xs >= self.x0 + 1) & (xs + CELL <= self.x0 + self.w - 1)
        rows = (ys >= self.y0 + 1) & (ys + CELL <= self.y0 + self.h - 1)
        out: np.ndarray = rows[:, None] & cols[None, :]
        return out


@dataclass(frozen=True)
class Comparison:
    """How one second of a clip compares with the anchored fingerprint of its broadcast second."""

    changed_cells: int
    score: float  # worst cell's ratio to its tolerance (<= 1: within what re-encoding does)
    box: tuple[int, int, int, int] | None  # changed region in grid cells (x0, y0, x1, y1)

    @property
    def altered(self) -> bool:
        return self.changed_cells >= MIN_CHANGED_CELLS


def cell_ratios(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-cell worst ratio of difference to tolerance between two feature arrays."""
    dc = np.abs(a[..., 0] - b[..., 0]) / DC_TOL
    ac = np.sqrt(np.sum((a[..., 1:-1] - b[..., 1:-1]) ** 2, axis=-1)) / AC_TOL
    det = np.abs(a[..., -1] - b[..., -1]) / DETAIL_TOL
    out: np.ndarray = np.maximum(np.maximum(dc, ac), det)
    return out


def changed_cells(
    clip: np.ndarray, anchored: np.ndarray, chunk: int = 64, threshold: float = 1.0
) -> np.ndarray:
    """Changed cells of every clip window (n, rows, cols, features) against every anchored
    second (k, rows, cols, features): an (n, k) int array (computed ``chunk`` windows at a
    time, so memory stays at ``chunk * k`` cells). A cell is changed above ``threshold``
    times its tolerances (1; a cropped clip's resampling allows ``CROP_TOLERANCE``)."""
    out = np.empty((clip.shape[0], anchored.shape[0]), dtype=np.int32)
    b = anchored[None].astype(np.float32)
    for i in range(0, clip.shape[0], chunk):
        a = clip[i : i + chunk, None].astype(np.float32)
        out[i : i + chunk] = (cell_ratios(a, b) > threshold).sum(axis=(-2, -1))
    return out


def compare(clip: bytes | np.ndarray, anchored: bytes) -> Comparison:
    """Compare a clip second (fingerprint bytes or features) with an anchored fingerprint."""
    a = unpack(clip) if isinstance(clip, bytes) else clip
    r = cell_ratios(a, unpack(anchored))
    changed = r > 1.0
    n = int(changed.sum())
    box = None
    if n:
        ys, xs = np.nonzero(changed)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return Comparison(n, float(r.max()), box)


class WindowFeatures:
    """Features of every 1-second window that starts on the 0.04 s grid, computed as frames
    arrive: thumbnails of the last second only are kept, and per window start the features
    (1,008 float16, 50 KB per second of clip), so memory is small and bounded by the clip's
    length at that rate, never by its resolution or frame count.

    ``framing`` places a cropped clip's frames where they sit in the broadcast's picture.
    ``every`` computes only the windows whose start is a multiple of it: 25 gives the
    whole-second windows a manifest needs (1/25 of the work, what the live path can afford).
    """

    def __init__(self, every: int = 1, framing: Framing | None = None) -> None:
        self.every = max(1, every)
        self.framing = framing
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}
        self.windows: dict[int, np.ndarray] = {}
        self._done = -1  # newest window start already computed

    def add(self, t: float, y: np.ndarray) -> None:
        b = math.floor(t * WINDOW_STEPS_PER_SECOND + 1e-6)
        th = thumbnail(y) if self.framing is None else self.framing.canvas(y)
        acc = self.sums.get(b)
        if acc is None:
            self.sums[b] = th
            self.counts[b] = 1
            self._emit(before=b - WINDOW_STEPS_PER_SECOND + 1)
        else:
            acc += th
            self.counts[b] += 1

    @property
    def ready(self) -> int:
        """Every window starting below this bucket is computed (its frames have passed)."""
        return self._done + 1

    def finish(self) -> dict[int, np.ndarray]:
        if self.sums:
            self._emit(before=max(self.sums) + 1)
        return self.windows

    def _emit(self, before: int) -> None:
        """Compute every window that starts before ``before`` (its buckets are complete)."""
        if not self.sums:
            return
        first = max(self._done + 1, min(self.sums) - WINDOW_STEPS_PER_SECOND + 1)
        for start in range(first, before):
            if start % self.every:
                self._done = start
                continue
            total = np.zeros((THUMB_H, THUMB_W), np.float32)
            n = 0
            for b in range(start, start + WINDOW_STEPS_PER_SECOND):
                if b in self.sums:
                    total += self.sums[b]
                    n += self.counts[b]
            if n:
                self.windows[start] = features(total / n).astype(np.float16)
            self._done = start
        for b in [b for b in self.sums if b < before]:
            del self.sums[b]
            del self.counts[b]


def second_fingerprints(windows: dict[int, np.ndarray], seconds: int) -> list[bytes]:
    """Fingerprints of seconds ``0 .. seconds - 1`` (a missing second repeats the last)."""
    out: list[bytes] = []
    last: np.ndarray | None = None
    for s in range(seconds):
        f = windows.get(s * WINDOW_STEPS_PER_SECOND)
        if f is None:
            f = last if last is not None else np.zeros((GRID_ROWS, GRID_COLS, FEATURES))
        last = f
        out.append(quantise(f.astype(np.float64)))
    return out


def audio_envelope(samples: np.ndarray, rate: int) -> list[int]:
    """Loudness per 0.1 s in whole dBFS (clipped to -90..0) of mono float samples in [-1, 1]."""
    step = max(1, rate // 10)
    n = len(samples) // step
    if n == 0:
        return []
    blocks = samples[: n * step].reshape(n, step).astype(np.float64)
    rms = np.sqrt(np.mean(blocks**2, axis=1))
    db = 20.0 * np.log10(np.maximum(rms, 1e-9))
    return [int(v) for v in np.clip(np.round(db), -90, 0)]


def audio_residuals(pairs: list[tuple[list[int], list[int]]]) -> list[float | None]:
    """Per second, the median |loudness difference - the clip's overall gain| in dB between a
    clip second's envelope and its anchored second's, from (clip bins, anchored bins) pairs;
    None where both are silent (below ``AUDIO_FLOOR_DB``) or a side has no bins.

    The gain is the median difference over every compared bin of the clip: a re-upload that
    normalises loudness shifts every bin alike, a dub changes them independently.
    """
    diffs: list[np.ndarray | None] = []
    for clip, anchored in pairs:
        n = min(len(clip), len(anchored))
        if n == 0:
            diffs.append(None)
            continue
        a = np.asarray(clip[:n], np.float64)
        b = np.asarray(anchored[:n], np.float64)
        loud = np.maximum(a, b) > AUDIO_FLOOR_DB
        diffs.append((a - b)[loud] if loud.any() else None)
    every = [d for d in diffs if d is not None]
    if not every:
        return [None] * len(pairs)
    gain = float(np.median(np.concatenate(every)))
    return [None if d is None else float(np.median(np.abs(d - gain))) for d in diffs]
