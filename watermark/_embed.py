"""The embedder: adds the keyed, masked pattern to the luma plane of each frame.

Per broadcast second two half-resolution patterns are rendered once: the constant part
(sync + identity) and the time part (that second's codeword). Per frame, at quarter
resolution, a texture mask (Watson-style contrast masking in its simplest form: local
standard deviation of luma, clipped, normalised so each frame gets the same mark energy)
and a temporal-activity map; at half resolution the masked sum; at full resolution only an
upsampling and one saturating add, so 1080p runs well above real time on one core.

The time part is weighted by temporal activity (how much the picture changed since the
previous frame): a re-encoder skips unchanged blocks, so in static areas the time codeword
of its last intra frame stays on screen for seconds and carries no current time (the
detector ignores those samples for the same reason). The time part's energy is moved from
static areas into moving ones (``TIME_FLOOR``, ``TIME_BOOST_MAX``), keeping the frame's
total energy: on a talking head after CRF 28 at half size this took 2-s time windows from
13 % to 35 % correct at the same PSNR and bitrate, identity still 100 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from watermark._errors import PayloadInvalid, VideoTooLarge, VideoTooSmall
from watermark._keys import StreamerKey
from watermark._motion import ANCHOR_SECONDS, EST_HEIGHT, MotionChain, area_resize
from watermark._patterns import (
    TILE_CHIPS,
    KeyPatterns,
    broadcast_period,
    chip_pixels,
    render_matrix,
    sandwich,
)
from watermark._payload import ConstPayload, TimeCode, check_mark_time, conv_encode

__all__ = [
    "DEFAULT_PSNR_DB",
    "MAX_FRAME_PIXELS",
    "MIN_FRAME_SIDE",
    "EmbedSettings",
    "Embedder",
    "check_frame_size",
]

DEFAULT_PSNR_DB = 42.2  # measured mean PSNR 42.0 after rounding; see docs/watermark.md
MAX_FRAME_PIXELS = 8192 * 4320  # 8K UHD: beyond that a frame is an attack on memory
MIN_FRAME_SIDE = 64  # below this a frame holds < 1 pattern period even with 2-px chips
_MASK_DOWN = 4  # the mask is computed at 1/4 resolution (16x fewer pixels)
_MASK_WINDOW = 5  # 5x5 at 1/4 resolution = 20x20 px neighbourhood, about two chips at 720p
_MASK_REF = 8.0  # local std (grey levels) that counts as "ordinary texture"
_MASK_MIN = 0.35  # flat areas keep a third of the mark: less visible banding, still some signal
_MASK_MAX = 2.0  # cap in strong texture, where the mark would be wasted on clipping
# Temporal activity: mean absolute frame difference over 5x5 quarter-resolution pixels.
# Camera grain (sigma 1.5) gives ~0.4-0.5 there; real motion gives several grey levels.
_ACT_LO, _ACT_HI = 0.6, 1.6  # ramp from "static" to "moving" (grey levels)
# time-part weight in static areas: a static area that changes every second is re-coded
# every second, which also refreshes the identity there (talking head, CRF 28 + 50 %, 20 s:
# floor 1.0 -> id 100 % / time 13 %, 0.8 -> 100 / 22, 0.7 -> 100 / 35, 0.6 -> 60 / 61)
TIME_FLOOR = 0.7
TIME_BOOST_MAX = 3.0  # cap on the time part's gain in moving areas (swept 1.5-3 on a talking head)


def check_frame_size(height: int, width: int) -> None:
    if height * width > MAX_FRAME_PIXELS:
        raise VideoTooLarge(f"{width}x{height} exceeds the limit of {MAX_FRAME_PIXELS} pixels")
    if min(height, width) < MIN_FRAME_SIDE:
        raise VideoTooSmall(
            f"{width}x{height} is too small to carry a mark (min side {MIN_FRAME_SIDE})"
        )


@dataclass(frozen=True)
class EmbedSettings:
    """Operating point: target PSNR of the mark alone (before masking redistribution)."""

    psnr_db: float = DEFAULT_PSNR_DB
    masking: bool = True
    # True: the mark moves with the picture and is re-anchored to the frame at every
    # ``ANCHOR_SECONDS``-th broadcast second (watermark/_motion.py, docs/watermark.md): CRF 23
    # cost on pans +79 % -> +30 %, CRF 28 + 50 % scene 88 / 83 % -> 95 / 93 %; the detector
    # finds where a sped-up or slowed re-upload re-anchored it (``find_anchors``); the file
    # and clip detectors follow this default. Opt-in: on this machine's clip bench set
    # (session 20) it was not found at all in a few clips (a re-ordered one, a genuine crop:
    # `unmarked`; the period estimated 1.5 % off); the frame-fixed mark reads the first at z 12
    follow: bool = False


class Embedder:
    """Marks frames of one broadcast: ``mark(y, t)`` for luma ``y`` at ``t`` s into it."""

    def __init__(
        self,
        key: StreamerKey,
        start: int,
        height: int,
        width: int,
        settings: EmbedSettings | None = None,
    ) -> None:
        check_frame_size(height, width)
        check_mark_time(start)
        self.key = key
        self.start = start
        self.height, self.width = height, width
        self.settings = settings or EmbedSettings()
        self.patterns = KeyPatterns(key)
        self.time_code = TimeCode(key)
        self.chip_px = chip_pixels(height)
        self.period = broadcast_period(height)
        self.amplitude = 255.0 / 10.0 ** (self.settings.psnr_db / 20.0)  # RMS in grey levels
        self._half = (-(-width // 2), -(-height // 2))  # (w, h) of the half-res delta
        self._quarter = (max(1, width // _MASK_DOWN), max(1, height // _MASK_DOWN))
        self._epoch = -1
        self._const_coded = np.zeros(0, dtype=np.uint8)
        self._second = -1
        self._const_pat = np.zeros(self._half[::-1], dtype=np.float32)
        self._time_pat = np.zeros(self._half[::-1], dtype=np.float32)
        self._prev: np.ndarray | None = None
        self.motion = MotionChain() if self.settings.follow else None
        self._to_half = self._half[1] / EST_HEIGHT  # estimation pixels -> half-res pixels
        self._tiles = (np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32))
        self._canvas: tuple[np.ndarray, np.ndarray] | None = None
        self._anchored = -1  # anchor period (``ANCHOR_SECONDS``) the moving mark is in

    def payload_at(self, second: int) -> tuple[ConstPayload, int]:
        """Constant payload and counter for broadcast second ``second`` (0-based)."""
        return ConstPayload.at(self.key, self.start + second)

    def _patterns_for(self, second: int) -> tuple[np.ndarray, np.ndarray]:
        """(constant, time) patterns at half resolution, jointly unit RMS x amplitude."""
        if second == self._second:
            return self._const_pat, self._time_pat
        const, counter = self.payload_at(second)
        if const.epoch != self._epoch:
            self._epoch = const.epoch
            self._const_coded = conv_encode(const.bits())
        time_coded = self.time_code.encode(counter)
        whole = self.patterns.chip_tile(self._const_coded, time_coded)
        const_only = self.patterns.chip_tile(self._const_coded, np.full(time_coded.shape, 0.5))
        r = _half_render(self.chip_px)
        c_tile = sandwich(r, const_only)
        t_tile = sandwich(r, whole - const_only)
        gain = self.amplitude / _upsampled_rms(c_tile + t_tile)
        self._tiles = ((c_tile * gain).astype(np.float32), (t_tile * gain).astype(np.float32))
        self._const_pat = self._tile(self._tiles[0])
        self._time_pat = self._tile(self._tiles[1])
        self._canvas = None
        self._second = second
        return self._const_pat, self._time_pat

    def _tile(self, tile: np.ndarray) -> np.ndarray:
        w, h = self._half
        p = tile.shape[0]
        full = np.tile(tile.astype(np.float32), (-(-h // p), -(-w // p)))[:h, :w]
        return np.ascontiguousarray(full)

    def _moved(
        self, y: np.ndarray, second: int, cp: np.ndarray, tp: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The half-resolution patterns moved with the picture's accumulated motion.

        Pattern point ``q`` is shown at ``A q``; the warp reads the periodic pattern at
        ``A^-1 p`` from a canvas of whole periods (OpenCV's wrap-around border is ten times
        slower), with the translation reduced modulo the period.

        At the first frame of every ``ANCHOR_SECONDS``-th broadcast second (unix seconds
        divisible by it) the mark jumps back to where a still mark would be: a re-encoder
        must then code it afresh (a mark it can predict from the previous frame is one it
        never refreshes, and sub-pixel motion compensation blurs it away over a GOP: CRF 28
        time 100 % -> 86 % on pans without this), and the detector knows where it is at
        each anchor (``Geometry.phase``)."""
        if self.motion is None:
            return cp, tp
        a = self.motion.update(y)
        period = (self.start + second) // ANCHOR_SECONDS
        if period != self._anchored:
            self._anchored = period
            self.motion.A = a = np.eye(3)
        if np.array_equal(a, np.eye(3)):
            return cp, tp  # nothing has moved since the anchor: the plain tiling is exact
        return self._warped(a)

    def _warped(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The half-resolution patterns with pattern point ``q`` shown at ``A q`` (``a``:
        motion in estimation pixels)."""
        inv = np.linalg.inv(MotionChain.rescaled(a, self._to_half))[:2]
        w, h = self._half
        corners = inv @ np.array([[0, w, 0, w], [0, 0, h, h], [1, 1, 1, 1]], dtype=np.float64)
        p = self._tiles[0].shape[0]
        inv[:, 2] -= np.floor(corners.min(axis=1) / p) * p  # bounding box starts in [0, p)
        need = math.ceil(float(np.ptp(corners, axis=1).max()) / p) + 2
        if self._canvas is None or self._canvas[0].shape[0] < need * p:
            side = max(need, -(-max(w, h) // p) + 2)
            self._canvas = (
                np.ascontiguousarray(np.tile(self._tiles[0], (side, side))),
                np.ascontiguousarray(np.tile(self._tiles[1], (side, side))),
            )
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        return (
            cv2.warpAffine(self._canvas[0], inv, (w, h), flags=flags),
            cv2.warpAffine(self._canvas[1], inv, (w, h), flags=flags),
        )

    def mask(self, small: np.ndarray) -> np.ndarray:
        """Texture mask of a quarter-resolution frame (float32), mean square 1."""
        k = (_MASK_WINDOW, _MASK_WINDOW)
        mu = cv2.blur(small, k)
        var = cv2.blur(small * small, k) - mu * mu
        sd = np.sqrt(np.maximum(var, 0.0))
        m = np.clip(sd * (1.0 / _MASK_REF), _MASK_MIN, _MASK_MAX)
        m *= np.float32(1.0 / math.sqrt(float(np.mean(m * m))))
        out: np.ndarray = m
        return out

    def activity(self, small: np.ndarray) -> np.ndarray:
        """Time-part weight per quarter-resolution pixel: ``TIME_FLOOR`` where the picture
        is static, up to 1 where it moves (the first frame counts as moving: intra)."""
        prev, self._prev = self._prev, small
        if prev is None or prev.shape != small.shape:
            return np.ones_like(small)
        d = cv2.blur(cv2.absdiff(small, prev), (5, 5))
        ramp = (d - np.float32(_ACT_LO)) * np.float32(1.0 / (_ACT_HI - _ACT_LO))
        out: np.ndarray = np.clip(ramp, TIME_FLOOR, 1.0)
        return out

    def mark(self, y: np.ndarray, t: float, out: np.ndarray | None = None) -> np.ndarray:
        """Mark luma ``y`` (H, W uint8) shown ``t`` seconds after the broadcast start.

        Writes into ``out`` if given (may be ``y`` itself) and returns it. Frames must come
        in display order (the time part's weight depends on the previous frame).
        """
        if y.shape != (self.height, self.width):
            raise PayloadInvalid(
                f"frame is {y.shape}, embedder built for {self.height, self.width}"
            )
        second = max(0, math.floor(t))
        small8 = area_resize(y, self._quarter)
        cp, tp = self._moved(small8, second, *self._patterns_for(second))
        small = small8.astype(np.float32)
        act = self.activity(small)
        m = self.mask(small) if self.settings.masking else np.ones_like(small)
        # the time part keeps its energy: what static areas lose goes to moving ones
        ma = m * act
        rms = math.sqrt(float(np.mean(ma * ma)))
        ma *= np.float32(min(TIME_BOOST_MAX, 1.0 / max(rms, 1e-6)))
        half = self._half
        delta = cv2.add(
            cv2.multiply(cv2.resize(m, half, interpolation=cv2.INTER_LINEAR), cp),
            cv2.multiply(cv2.resize(ma, half, interpolation=cv2.INTER_LINEAR), tp),
        )
        full = cv2.resize(delta, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        if out is None:
            out = np.empty_like(y)
        cv2.add(y, full, dst=out, dtype=cv2.CV_8U)  # rounds and saturates to 0..255
        return out


def _upsampled_rms(tile: np.ndarray) -> float:
    """RMS of a periodic half-resolution tile once upsampled to full resolution (linear
    interpolation cuts the corners of the bilinear chips: ~0.2 dB less energy)."""
    p = tile.shape[0]
    up = cv2.resize(np.tile(tile, (3, 3)), (6 * p, 6 * p), interpolation=cv2.INTER_LINEAR)
    return math.sqrt(float(np.mean(up[2 * p : 4 * p, 2 * p : 4 * p] ** 2)))


@lru_cache(maxsize=8)
def _half_render(chip_px: int) -> np.ndarray:
    """Bilinear chip rendering at half resolution (chips of ``chip_px / 2`` pixels); the
    upsampling to full resolution smooths it a little more (cheaper for H.264)."""
    return render_matrix(chip_px / 2.0, TILE_CHIPS * chip_px // 2)
