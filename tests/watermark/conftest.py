from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterable, Sequence

import av
import cv2
import numpy as np
import pytest

from watermark import Detection, Detector, Embedder, Evidence, Geometry, StreamerKey
from watermark._detect import AnchorProbe, pick_samples
from watermark._synth import scene_clip
from watermark._video import frame_geometries

START = 1_767_225_600  # 2026-01-01T00:00:00Z


def x264_round_trip(
    frames: Iterable[np.ndarray], crf: int, scale: float = 1.0, fps: int = 25
) -> list[np.ndarray]:
    """Encode luma frames with libx264 (preset veryfast) in memory and decode them again."""
    frames = list(frames)
    h, w = frames[0].shape
    oh, ow = int(h * scale) // 2 * 2, int(w * scale) // 2 * 2
    buf = io.BytesIO()
    out = av.open(buf, "w", format="mp4")
    s = out.add_stream("libx264", rate=fps)
    s.width, s.height, s.pix_fmt = ow, oh, "yuv420p"
    s.options = {"crf": str(crf), "preset": "veryfast"}
    for f in frames:
        if (oh, ow) != (h, w):
            f = cv2.resize(f, (ow, oh), interpolation=cv2.INTER_AREA)
        yuv = np.concatenate([f, np.full((oh // 2, ow), 128, np.uint8)])
        for p in s.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")):
            out.mux(p)
    for p in s.encode():
        out.mux(p)
    out.close()
    buf.seek(0)
    with av.open(buf) as inp:
        return [fr.to_ndarray(format="gray") for fr in inp.decode(video=0)]


def detect_frames(
    key: StreamerKey,
    frames: Sequence[np.ndarray],
    fps: float = 25.0,
    moving: bool | None = None,
    anchors: tuple[float, float] | None = None,
) -> Detection:
    """Detect as ``detect_file`` does; ``moving``: the mark moves with the picture (by
    default as ``EmbedSettings().follow``, which the embedder used);
    ``anchors``: told where it was re-anchored (``Geometry.anchors``) instead of finding
    it (``find_anchors``)."""
    det = Detector(key)
    if anchors is None:  # found blind, as detect_file does
        [geo] = frame_geometries(frames, fps, [det], moving)
    else:
        # as find_anchors, but the schedule is told: each candidate is scored on the probe
        # at that schedule only, which also gives the tile offset the anchors imply
        span = min(20.0, len(frames) / fps)  # as frame_geometries
        samples, phases = pick_samples(((i / fps, y) for i, y in enumerate(frames)), span, 24)
        candidates = [g for g in det.geometry_candidates(samples, phases) if g.phase is not None]
        probe = AnchorProbe.read(
            {round(g.period, 6) for g in candidates}, ((i / fps, y) for i, y in enumerate(frames))
        )
        rate, origin = anchors
        _, geo = max(
            (
                (a.score, dataclasses.replace(g, offset=a.offset))
                for g in candidates
                for a in det.anchor_scores(g, probe, rates=(rate,))
                if abs(a.origin - origin) < 1e-6
            ),
            key=lambda sg: sg[0],
        )
        geo = dataclasses.replace(geo, anchor_rate=rate, anchor_origin=origin)
    return detect_at(det, frames, geo, fps)


def detect_at(
    det: Detector, frames: Sequence[np.ndarray], geo: Geometry, fps: float = 25.0
) -> Detection:
    """Fold and decode ``frames`` at a given geometry (and its re-anchoring schedule)."""
    ev = Evidence(geo.period, anchors=geo.anchors())
    for i, y in enumerate(frames):
        ev.add_frame(y, i / fps)
    return det.detect(ev, geo)


def mark_frames(
    key: StreamerKey, frames: Sequence[np.ndarray], start: int = START
) -> list[np.ndarray]:
    h, w = frames[0].shape
    emb = Embedder(key, start, h, w)
    return [emb.mark(f, i / 25.0) for i, f in enumerate(frames)]


@pytest.fixture(scope="session")
def alice() -> StreamerKey:
    return StreamerKey("alice", b"\x11" * 32)


@pytest.fixture(scope="session")
def mallory() -> StreamerKey:
    return StreamerKey("alice", b"\x22" * 32)  # same name, another secret


@pytest.fixture(scope="session")
def clip720() -> list[np.ndarray]:
    return list(scene_clip(720, 1280, 4.0, seed=3))


@pytest.fixture(scope="session")
def marked720(alice: StreamerKey, clip720: list[np.ndarray]) -> list[np.ndarray]:
    return mark_frames(alice, clip720)


MakeClip = Callable[..., list[np.ndarray]]
