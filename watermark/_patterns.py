"""Keyed pattern tiles: where each payload bit lives, and how a tile becomes pixels.

A tile is ``TILE_CHIPS x TILE_CHIPS`` chips. Every chip carries the keyed sync chip
(power ``SYNC_POWER``) plus one payload bit times a keyed sign (the rest of the power);
a keyed permutation spreads each bit over chips all across the tile. The tile repeats over
the whole frame, so any crop still holds whole periods; the detector folds the frame modulo
the period and finds the offset by FFT phase correlation with the sync chips (Kutter 1998,
"Watermarking resisting to translation, rotation, and scaling"; Kalker et al. 1999 for
the folding of periodic marks).

Chips are rendered by circular bilinear interpolation (a smooth pattern: cheap for H.264
and survives downscaling); chip size in pixels is ``round(height / CHIPS_PER_HEIGHT)``,
so a downscaled clip keeps the same chips per height and the detector's first scale guess is
right before any search.
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache
from typing import Any

import cv2
import numpy as np

from watermark._keys import StreamerKey
from watermark._payload import CONST_CODED_BITS, TIME_CODED_BITS

__all__ = [
    "CHIPS_PER_HEIGHT",
    "SAMPLES_PER_CHIP",
    "SYNC_POWER",
    "TILE_CHIPS",
    "KeyPatterns",
    "broadcast_period",
    "chip_pixels",
    "nominal_period",
    "render_matrix",
    "sandwich",
]

TILE_CHIPS = 32  # 1024 chips: 2.5 per constant coded bit (525), ~3.9 per time coded bit (499)
CHIPS_PER_HEIGHT = 80  # 9-px chips at 720p; 16-px chips cost 30% less bitrate (issue 4)
SYNC_POWER = 0.2  # share of mark power for sync: found over many frames, needs little
SAMPLES_PER_CHIP = 3  # detector resolution: 1/3-chip offsets; 3 beat 2 by ~1.5 dB at 360p
_CONST_CHIPS = 5 * CONST_CODED_BITS // 2  # 525 chips; the other 499 carry the time code (swept)


def chip_pixels(height: int) -> int:
    """Chip size (pixels) at the embedder for a frame ``height`` pixels tall."""
    return max(2, round(height / CHIPS_PER_HEIGHT))


def broadcast_period(height: int) -> int:
    """The tile's period (pixels) the embedder draws in a frame ``height`` pixels tall: whole
    chips (``chip_pixels``), so 4.5 % under ``nominal_period`` at 360p, 3.7 % over at 1080p."""
    return TILE_CHIPS * chip_pixels(height)


def nominal_period(height: float) -> float:
    """The tile's period (pixels) ``height`` pixels tall with chips of any size: what a
    broadcast of whole-pixel chips (480p, 720p, 1440p, 2160p: ``broadcast_period``) shows
    scaled to that height, where the detector's scale search centres, and what a
    re-upload's period is measured against."""
    return height / CHIPS_PER_HEIGHT * TILE_CHIPS


def render_matrix(samples_per_chip: float, length: int, chips: int = TILE_CHIPS) -> np.ndarray:
    """(length, chips) matrix of circular bilinear weights: pixel row ``x`` of the tile.

    Chip ``i`` is centred at pixel ``(i + 0.5) * c - 0.5`` (pixel-centre convention, the
    same as OpenCV's area resampling), so resampling by ``s / c`` maps a rendered pattern
    onto ``render_matrix(s, ...)`` of the same chips.
    """
    x = np.arange(length, dtype=np.float64)
    u = (x + 0.5) / samples_per_chip - 0.5
    i0 = np.floor(u).astype(np.int64)
    w = u - i0
    m = np.zeros((length, chips), dtype=np.float64)
    m[np.arange(length), i0 % chips] += 1.0 - w
    m[np.arange(length), (i0 + 1) % chips] += w
    return m


@lru_cache(maxsize=8)
def _render_matrix_cached(chip_px: int) -> np.ndarray:
    return render_matrix(chip_px, TILE_CHIPS * chip_px)


class KeyPatterns:
    """All keyed spatial quantities of one key: sync chips, chip signs, chip -> bit map."""

    def __init__(self, key: StreamerKey) -> None:
        n = TILE_CHIPS * TILE_CHIPS
        self.sync = key.signs("sync-tile", n).reshape(TILE_CHIPS, TILE_CHIPS)
        self.signs = key.signs("chip-signs", n)
        perm = key.permutation("chip-order", n)
        # chip perm[i] carries constant bit i % 210 for the first 525, then time bits
        self.const_bit = np.full(n, -1, dtype=np.int64)
        self.time_bit = np.full(n, -1, dtype=np.int64)
        idx = np.arange(n)
        const = idx < _CONST_CHIPS
        self.const_bit[perm[const]] = idx[const] % CONST_CODED_BITS
        self.time_bit[perm[~const]] = (idx[~const] - _CONST_CHIPS) % TIME_CODED_BITS
        self._a_sync = math.sqrt(SYNC_POWER)
        self._a_data = math.sqrt(1.0 - SYNC_POWER)

    def chip_tile(self, const_coded: np.ndarray, time_coded: np.ndarray) -> np.ndarray:
        """Chip values (TILE_CHIPS, TILE_CHIPS) for coded bits in {0, 1}."""
        c = np.asarray(const_coded, dtype=np.float32) * 2.0 - 1.0
        t = np.asarray(time_coded, dtype=np.float32) * 2.0 - 1.0
        data = np.where(self.const_bit >= 0, c[self.const_bit], t[self.time_bit])
        tile = self._a_sync * self.sync.ravel() + self._a_data * self.signs * data
        return tile.reshape(TILE_CHIPS, TILE_CHIPS).astype(np.float32)

    def pixel_tile(self, chips: np.ndarray, chip_px: int) -> np.ndarray:
        """One period (P x P, P = 32 * chip_px) of the smooth pattern, unit RMS."""
        r = _render_matrix_cached(chip_px)
        tile = sandwich(r, chips)
        tile /= math.sqrt(float(np.mean(tile**2)))
        out: np.ndarray = tile.astype(np.float32)
        return out

    def soft_bits(self, chip_evidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-chip evidence (TILE_CHIPS, TILE_CHIPS) -> soft constant and time code bits."""
        v = chip_evidence.ravel().astype(np.float64) * self.signs
        const = np.bincount(
            self.const_bit[self.const_bit >= 0],
            weights=v[self.const_bit >= 0],
            minlength=CONST_CODED_BITS,
        )
        time = np.bincount(
            self.time_bit[self.time_bit >= 0],
            weights=v[self.time_bit >= 0],
            minlength=TIME_CODED_BITS,
        )
        return const, time

    @cached_property
    def sync_samples(self) -> np.ndarray:
        """The sync chips rendered at the detector's resolution (one period)."""
        r = render_matrix(SAMPLES_PER_CHIP, TILE_CHIPS * SAMPLES_PER_CHIP)
        out: np.ndarray = sandwich(r, self.sync).astype(np.float32)
        return out


def gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for float64 contiguous operands, through OpenCV (why: ``sandwich``)."""
    no: Any = None  # no third operand (beta = 0); OpenCV's stubs do not admit None
    out: np.ndarray = cv2.gemm(a, b, 1.0, no, 0.0)
    return out


def sandwich(r: np.ndarray, x: np.ndarray, *, transposed: bool = False) -> np.ndarray:
    """``r @ x @ r.T`` (``r.T @ x @ r`` if ``transposed``) in float64, through OpenCV.

    Not numpy's ``@``: numpy hands even these small products to OpenBLAS, whose worker
    threads, on a busy 2-core machine, turned a ~1 ms render into a 35-70 ms stall once per
    broadcast second (a live 25 fps embedder has 40 ms per frame) and billed their spinning
    to the process's CPU time. OpenCV's gemm follows ``cv2.setNumThreads``."""
    r = np.ascontiguousarray(r, dtype=np.float64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    no: Any = None  # no third operand (beta = 0); OpenCV's stubs do not admit None
    if transposed:
        inner = cv2.gemm(r, x, 1.0, no, 0.0, flags=cv2.GEMM_1_T)
        out: np.ndarray = cv2.gemm(inner, r, 1.0, no, 0.0)
    else:
        inner = cv2.gemm(r, x, 1.0, no, 0.0)
        out = cv2.gemm(inner, r, 1.0, no, 0.0, flags=cv2.GEMM_2_T)
    return out
