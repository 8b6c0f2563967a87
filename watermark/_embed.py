"""The embedder: adds the keyed, masked pattern to the luma plane of each frame.

Per broadcast second the full-frame pattern (sync + constant payload + that second's time
codeword) is rendered once; per frame the work is a texture mask computed at quarter
resolution and one multiply-add at full resolution, so 1080p runs well above real time on
one core. The mask follows Watson-style contrast masking in its simplest form: local
standard deviation of luma, clipped, and normalised so each frame gets the same mark energy
(the PSNR target is then exact per frame, only its distribution over the frame changes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from watermark._errors import PayloadInvalid, VideoTooLarge, VideoTooSmall
from watermark._keys import StreamerKey
from watermark._patterns import TILE_CHIPS, KeyPatterns, chip_pixels
from watermark._payload import ConstPayload, TimeCode, conv_encode

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
        if start < 0:
            raise PayloadInvalid(f"broadcast start {start} must be unix seconds >= 0")
        self.key = key
        self.start = start
        self.height, self.width = height, width
        self.settings = settings or EmbedSettings()
        self.patterns = KeyPatterns(key)
        self.time_code = TimeCode(key)
        self.chip_px = chip_pixels(height)
        self.period = TILE_CHIPS * self.chip_px
        self.amplitude = 255.0 / 10.0 ** (self.settings.psnr_db / 20.0)  # RMS in grey levels
        self._epoch = -1
        self._const_coded = np.zeros(0, dtype=np.uint8)
        self._second = -1
        self._pattern = np.zeros((height, width), dtype=np.float32)

    def payload_at(self, second: int) -> tuple[ConstPayload, int]:
        """Constant payload and counter for broadcast second ``second`` (0-based)."""
        return ConstPayload.at(self.key, self.start + second)

    def _pattern_for(self, second: int) -> np.ndarray:
        if second == self._second:
            return self._pattern
        const, counter = self.payload_at(second)
        if const.epoch != self._epoch:
            self._epoch = const.epoch
            self._const_coded = conv_encode(const.bits())
        chips = self.patterns.chip_tile(self._const_coded, self.time_code.encode(counter))
        tile = self.patterns.pixel_tile(chips, self.chip_px) * np.float32(self.amplitude)
        reps_y = -(-self.height // self.period)
        reps_x = -(-self.width // self.period)
        full = np.tile(tile, (reps_y, reps_x))[: self.height, : self.width]
        self._pattern = np.ascontiguousarray(full)
        self._second = second
        return self._pattern

    def mask(self, y: np.ndarray) -> np.ndarray:
        """Texture mask at full resolution with mean square 1 (float32)."""
        h, w = y.shape
        small = cv2.resize(
            y, (max(1, w // _MASK_DOWN), max(1, h // _MASK_DOWN)), interpolation=cv2.INTER_AREA
        ).astype(np.float32)
        k = (_MASK_WINDOW, _MASK_WINDOW)
        mu = cv2.blur(small, k)
        var = cv2.blur(small * small, k) - mu * mu
        sd = np.sqrt(np.maximum(var, 0.0))
        m = np.clip(sd * (1.0 / _MASK_REF), _MASK_MIN, _MASK_MAX)
        m *= np.float32(1.0 / math.sqrt(float(np.mean(m * m))))
        return cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)

    def mark(self, y: np.ndarray, t: float, out: np.ndarray | None = None) -> np.ndarray:
        """Mark luma ``y`` (H, W uint8) shown ``t`` seconds after the broadcast start.

        Writes into ``out`` if given (may be ``y`` itself) and returns it.
        """
        if y.shape != (self.height, self.width):
            raise PayloadInvalid(
                f"frame is {y.shape}, embedder built for {self.height, self.width}"
            )
        pattern = self._pattern_for(max(0, math.floor(t)))
        delta = cv2.multiply(self.mask(y), pattern) if self.settings.masking else pattern
        if out is None:
            out = np.empty_like(y)
        cv2.add(y, delta, dst=out, dtype=cv2.CV_8U)  # rounds and saturates to 0..255
        return out
