"""Global motion of the picture, shared by the embedder and the detector.

The mark follows the picture (issue 4's "a pattern that moves with the picture"): H.264
predicts each block from the previous frame along the picture's motion, so a frame-fixed
mark on a pan or zoom leaves the residual ``mark - moved mark`` in every predicted block;
that was ~95 % of the bitrate cost on moving material. The embedder therefore warps the
pattern with the picture's accumulated motion (pan and zoom; cameras rarely roll), and
the detector estimates the same motion on the clip it reads and undoes it, so the folded
mark stays still for it ("stabilised" evidence).

Both sides run this same estimator on a frame scaled to ``EST_HEIGHT`` rows, so an embedder
at 1080p and a detector reading a 360p re-upload see the same picture: KLT features
(Shi-Tomasi + pyramidal Lucas-Kanade) and a RANSAC similarity. A step is trusted only if
enough features agree and they cover the picture; otherwise (a cut, a flat or noisy frame,
a moving subject over a still background) the step is the identity, on both sides alike, so
their accumulated motions differ only by where the clip started. The chain is never reset
at cuts (the detector must not have to know where the embedder reset); only an extreme
accumulated zoom (beyond ``MAX_SCALE``) resets it, which a long one-way zoom can trigger.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["ANCHOR_SECONDS", "EST_HEIGHT", "MAX_SCALE", "MotionChain", "area_resize", "scaled"]

EST_HEIGHT = 180  # rows the motion is estimated at (a quarter of 720p)
# the moving mark jumps back to where a still mark would be ("re-anchors") at the broadcast
# seconds (unix) divisible by this: the embedder's schedule, which the detector models
# (``Geometry.phase``, ``Evidence``, ``AnchorProbe``, ``refold``). Each jump makes the encoder
# code the whole mark afresh; every other second cost half as much on pans in the anchoring
# probe (720p +15.5 % against +29.9 %, read as well; docs/watermark.md, session 18)
ANCHOR_SECONDS = 1
MAX_SCALE = 1.5  # accumulated zoom beyond which the chain restarts
_FEATURES = 80
_MIN_POINTS = 16
_KEEP_POINTS = 40  # track the previous step's inliers on while this many are left
_MIN_INLIER_SHARE = 0.6
_MIN_SPREAD = 0.35  # inliers must span this share of the picture's width and height
_RANSAC_PX = 0.25
# a step whose median feature moves less than this (estimation pixels; 0.4 px at 720p) is a
# still camera: what moves is a subject over a still background, or estimation noise, and
# following it would walk the mark over the background, which costs bits every frame
_STILL_PX = 0.1
_LK = {
    "winSize": (11, 11),
    "maxLevel": 2,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01),
}


def scaled(y: np.ndarray) -> np.ndarray:
    """The frame at the estimation size (area-averaged, uint8)."""
    h, w = y.shape
    return area_resize(y, (max(8, round(w * EST_HEIGHT / h)), EST_HEIGHT))


def area_resize(y: np.ndarray, size: tuple[int, int], scale: float | None = None) -> np.ndarray:
    """``cv2.resize(y, size, fx=scale, fy=scale, interpolation=INTER_AREA)``, reached by
    exact halvings while the picture is still at least twice too big.

    OpenCV halves an image by area averaging ten to twenty times faster than it averages
    by any other factor (720p: 0.03 ms to halve, 0.38 ms to quarter, 1.2 ms to a third).
    A power-of-two shrink of even sizes is the direct average up to the halves' rounding;
    otherwise a box of boxes is close to it, not equal (on noise blurred at 2 px, sd 10,
    1-4 grey levels apart on average, more where odd sizes are cut to halve). The
    embedder's quarter-resolution frame, the motion estimate's and the detector's
    resampling all take this road, so both sides see the same pictures."""
    w, h = size
    src = y
    while src.shape[0] >= 2 * h and src.shape[1] >= 2 * w and (scale is None or scale <= 0.5):
        hh, ww = src.shape[0] // 2, src.shape[1] // 2
        src = cv2.resize(src[: 2 * hh, : 2 * ww], (ww, hh), interpolation=cv2.INTER_AREA)
        if scale is not None:
            scale *= 2.0
    if src is not y and src.shape == (h, w) and scale in (None, 1.0):
        return src  # halved to the size (never ``y`` itself: callers keep what they get)
    if scale is None:
        out: np.ndarray = cv2.resize(src, size, interpolation=cv2.INTER_AREA)
    else:
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        out = cv2.resize(src, size, fx=scale, fy=scale, interpolation=interp)
    return out


def _step(
    prev: np.ndarray, cur: np.ndarray, pts: np.ndarray | None = None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Zoom + shift prev -> cur (2x3, estimation pixels) or None if not trustworthy, and
    the inlier features where they are in ``cur`` (tracked on next time instead of
    detecting new ones, which costs a third of a step) or None to detect afresh."""
    if pts is None:
        pts = cv2.goodFeaturesToTrack(prev, _FEATURES, 0.05, 8, blockSize=7)
    if pts is None or len(pts) < _MIN_POINTS:
        return None, None
    nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, **_LK)  # type: ignore[call-overload]
    ok = status.ravel() == 1
    if int(ok.sum()) < _MIN_POINTS:
        return None, None
    if float(np.median(np.abs(nxt[ok] - pts[ok]).max(axis=-1))) < _STILL_PX:
        return None, nxt[ok] if int(ok.sum()) >= _KEEP_POINTS else None
    m, inliers = cv2.estimateAffinePartial2D(
        pts[ok], nxt[ok], method=cv2.RANSAC, ransacReprojThreshold=_RANSAC_PX
    )
    if m is None:
        return None, None
    good = inliers.ravel() == 1
    if int(good.sum()) < max(_MIN_POINTS, _MIN_INLIER_SHARE * int(ok.sum())):
        return None, None
    p = pts[ok][good].reshape(-1, 2).astype(np.float64)
    q = nxt[ok][good].reshape(-1, 2).astype(np.float64)
    h, w = prev.shape
    if np.ptp(p[:, 0]) < _MIN_SPREAD * w or np.ptp(p[:, 1]) < _MIN_SPREAD * h:
        return None, None
    # zoom + shift only, refitted by least squares on the inliers: livestream cameras pan
    # and zoom but rarely roll, and a free rotation picks up a bias (~1e-4 rad per frame
    # on grain) that grows into pixels at the corners over a few seconds
    pc, qc = p - p.mean(axis=0), q - q.mean(axis=0)
    zoom = float((pc * qc).sum() / max(1e-9, float((pc * pc).sum())))
    shift = q.mean(axis=0) - zoom * p.mean(axis=0)
    keep = nxt[ok][good] if int(good.sum()) >= _KEEP_POINTS else None
    return np.array([[zoom, 0.0, shift[0]], [0.0, zoom, shift[1]]]), keep


class MotionChain:
    """Accumulated picture motion since the chain started, as a 3x3 similarity in
    estimation pixels: a picture point at ``x`` in the first frame is at ``A @ x`` now."""

    def __init__(self) -> None:
        self.A = np.eye(3)
        self.steps = 0  # trusted steps
        self.restarts = 0
        self._prev: np.ndarray | None = None
        self._pts: np.ndarray | None = None

    def update(self, y: np.ndarray) -> np.ndarray:
        """Feed the next frame (luma at any size of the same aspect, uint8; a frame already
        ``EST_HEIGHT`` rows tall is used as it is); returns the accumulated ``A``."""
        cur = y if y.shape[0] == EST_HEIGHT else scaled(y)
        prev, self._prev = self._prev, cur
        if prev is None or prev.shape != cur.shape:
            self._pts = None
            return self.A
        m, self._pts = _step(prev, cur, self._pts)
        if m is None:
            return self.A
        step = np.eye(3)
        step[:2] = m
        a = step @ self.A
        s = math.sqrt(abs(float(np.linalg.det(a[:2, :2]))))
        if not 1.0 / MAX_SCALE < s < MAX_SCALE:
            self.A = np.eye(3)
            self.restarts += 1
        else:
            self.A = a
            self.steps += 1
        return self.A

    @staticmethod
    def rescaled(a: np.ndarray, factor: float) -> np.ndarray:
        """``a`` expressed in pixels ``factor`` times finer than estimation pixels (pixel
        centres kept: x' = (x + 0.5) * factor - 0.5)."""
        s = np.array([[factor, 0.0, 0.5 * factor - 0.5], [0.0, factor, 0.5 * factor - 0.5]])
        s3 = np.vstack([s, [0.0, 0.0, 1.0]])
        out: np.ndarray = s3 @ a @ np.linalg.inv(s3)
        return out
