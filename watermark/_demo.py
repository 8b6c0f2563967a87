"""The watermark part of ``make demo``: mark a generated clip, attack it, detect it.

Kept in the package (not in ``services.demo``) so the demo exercises exactly the public API;
``services.demo`` calls :func:`run_demo` after registering the streamer on chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np

from watermark._keys import KeyStore
from watermark._synth import scene_clip
from watermark._video import detect_file, embed_file, iter_luma

__all__ = ["reencode", "run_demo", "write_luma_clip"]

DEMO_SECONDS = 12.0  # three shots: the mark at half size + CRF 28 needs a few seconds of evidence
DEMO_SIZE = (1280, 720)


def write_luma_clip(path: Path, frames: Any, width: int, height: int, fps: int = 25) -> Path:
    """Write greyscale frames as an H.264 file (near-lossless, CRF 16)."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"crf": "16", "preset": "veryfast"}
        chroma = np.full((height // 2, width), 128, np.uint8)
        for y in frames:
            f = av.VideoFrame.from_ndarray(np.concatenate([y, chroma]), format="yuv420p")
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path


def reencode(src: Path, dst: Path, crf: int, scale: float) -> Path:
    """What a re-uploader does: scale and re-encode with x264 (preset veryfast)."""
    import cv2

    frames = iter_luma(str(src))
    _, first = next(frames)
    h, w = first.shape
    size = (int(w * scale) // 2 * 2, int(h * scale) // 2 * 2)

    def scaled() -> Any:
        yield cv2.resize(first, size, interpolation=cv2.INTER_AREA)
        for _, y in frames:
            yield cv2.resize(y, size, interpolation=cv2.INTER_AREA)

    with av.open(str(dst), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        chroma = np.full((size[1] // 2, size[0]), 128, np.uint8)
        for y in scaled():
            f = av.VideoFrame.from_ndarray(np.concatenate([y, chroma]), format="yuv420p")
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return dst


def run_demo(home: Path, streamer: str, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Mark a generated 720p clip for ``streamer`` (keys must exist in ``home``), re-encode
    it at CRF 28 and half size, detect, and say what was found."""
    work = Path(home) / "demo-watermark"
    work.mkdir(parents=True, exist_ok=True)
    key = KeyStore(home).load(streamer)
    w, h = DEMO_SIZE
    src = write_luma_clip(work / "broadcast.mp4", scene_clip(h, w, DEMO_SECONDS), w, h)
    start = int(time.time())
    embed_file(str(src), str(work / "marked.mp4"), key, start)
    say(f"watermarked {src.name} as {streamer}, broadcast start {start}")
    clip = reencode(work / "marked.mp4", work / "reupload.mp4", crf=28, scale=0.5)
    result = detect_file(str(clip), KeyStore(home).all())
    say(
        f"re-uploaded at CRF 28, half size -> detected={result.detected} streamer={result.streamer}"
    )
    for s in result.segments:
        say(
            f"  clip {s.clip_start:.1f}-{s.clip_end:.1f} s = broadcast "
            f"{s.broadcast_start - start:+d}..{s.broadcast_end - start:+d} s from start "
            f"(confidence {s.confidence:.3f})"
        )
    return result.to_json()
