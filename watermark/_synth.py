"""Synthetic test material: camera moves over real photographs, and a talking-head scene.

Used by the tests, the benchmark and ``make demo``. Photographs come from scikit-image's
bundled images when it is installed (the ``dev`` extra), else from a procedural texture, so
the runtime never needs it. Moves are sub-pixel (bilinear warps) with a little sensor
grain, because integer pans of a clean image are unrealistically cheap for H.264.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

__all__ = ["GRAIN_SIGMA", "photographs", "scene_clip", "talking_head_clip"]

GRAIN_SIGMA = 1.5  # grey levels: mild camera noise, as in compressed phone/webcam footage
_SHOT_SECONDS = 4.0  # a cut every 4 s: several cuts in a 20 s clip


def photographs() -> list[np.ndarray]:
    """Greyscale photographs (uint8): scikit-image's bundled set, or procedural texture."""
    try:
        from skimage import data
    except ImportError:
        rng = np.random.default_rng(7)
        out = []
        for s in range(3):
            noise = rng.normal(0, 1, (512, 768)).astype(np.float32)
            img = np.zeros_like(noise)
            for k in range(6):
                img += cv2.GaussianBlur(noise, (0, 0), 2.0**k) * np.float32(1.6**k)
            img = (img - img.min()) * (255.0 / max(1e-6, float(img.max() - img.min())))
            out.append(np.roll(img.astype(np.uint8), s * 100, axis=1))
        return out
    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "cat"]
    imgs: list[np.ndarray] = []
    for n in names:
        if not hasattr(data, n):
            continue
        a = getattr(data, n)()
        imgs.append(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY) if a.ndim == 3 else a)
    return imgs


def scene_clip(
    height: int, width: int, seconds: float, fps: float = 25.0, seed: int = 0
) -> Iterator[np.ndarray]:
    """Luma frames: a pan/zoom over one photograph per shot, a hard cut every 4 s."""
    rng = np.random.default_rng(seed)
    photos = photographs()
    n = round(seconds * fps)
    shot_len = round(_SHOT_SECONDS * fps)
    for i in range(n):
        shot, k = divmod(i, shot_len)
        if k == 0:
            src = photos[(shot + seed) % len(photos)]
            base = cv2.resize(
                src, (int(width * 1.5), int(width * 1.5 * src.shape[0] / src.shape[1]))
            )
            if base.shape[0] < height * 1.5:
                base = cv2.resize(
                    src, (int(height * 1.5 * src.shape[1] / src.shape[0]), int(height * 1.5))
                )
            vx, vy = rng.uniform(-1.5, 1.5, 2)
            zoom_rate = rng.uniform(-0.002, 0.002)
        cx = base.shape[1] / 2 + vx * k
        cy = base.shape[0] / 2 + vy * k
        z = 1.0 + zoom_rate * k
        m = np.array([[z, 0, width / 2 - z * cx], [0, z, height / 2 - z * cy]], dtype=np.float64)
        frame = cv2.warpAffine(
            base, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        yield _grain(frame, rng)


def talking_head_clip(
    height: int, width: int, seconds: float, fps: float = 25.0, seed: int = 0
) -> Iterator[np.ndarray]:
    """A flat studio wall and desk, a moving head and hands: large flat areas, little texture."""
    rng = np.random.default_rng(seed)
    wall = np.tile(np.linspace(150, 175, width, dtype=np.float32), (height, 1))
    wall[int(height * 0.75) :] = 95.0  # desk
    photos = photographs()
    poster = cv2.resize(photos[0], (width // 5, height // 4))
    n = round(seconds * fps)
    for i in range(n):
        f = wall.copy()
        f[
            height // 10 : height // 10 + poster.shape[0],
            width // 20 : width // 20 + poster.shape[1],
        ] = poster
        t = i / fps
        cx = width / 2 + width * 0.02 * math.sin(2 * math.pi * 0.3 * t)
        cy = height * 0.45 + height * 0.01 * math.sin(2 * math.pi * 0.7 * t)
        axes = (int(width * 0.08), int(height * 0.17))
        cv2.ellipse(f, (int(cx), int(cy)), axes, 0, 0, 360, 200.0, -1)  # face
        cv2.ellipse(
            f, (int(cx), int(cy + height * 0.35)), (axes[0] * 2, axes[1]), 0, 180, 360, 60.0, -1
        )
        mouth = int(height * 0.01 * (1 + math.sin(2 * math.pi * 4 * t)))
        cv2.ellipse(
            f, (int(cx), int(cy + axes[1] * 0.5)), (axes[0] // 3, mouth + 1), 0, 0, 360, 120.0, -1
        )
        hand_x = int(width * 0.7 + width * 0.05 * math.sin(2 * math.pi * 0.5 * t))
        cv2.circle(f, (hand_x, int(height * 0.72)), int(height * 0.04), 190.0, -1)
        frame = cv2.GaussianBlur(f, (0, 0), 1.0).astype(np.uint8)
        yield _grain(frame, rng)


def _grain(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, GRAIN_SIGMA, frame.shape).astype(np.float32)
    return cv2.convertScaleAbs(cv2.add(frame, noise, dtype=cv2.CV_32F))
