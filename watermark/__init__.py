"""Watermark engine: streamer identity and broadcast time, invisibly, in every frame.

Usage::

    from watermark import KeyStore, embed_file, detect_file

    store = KeyStore(home)
    key, public_key = store.register("alice")          # once per streamer
    embed_file("in.mp4", "out.mp4", key, start=1767225600)
    result = detect_file("clip.mp4", store.all())
    result.to_json()  # {"detected": True, "streamer": "alice", "segments": [...]}

Frame-level API (for a media pipeline that already has luma planes): ``Embedder`` and
``Detector`` with ``Evidence`` / ``fold_frame``; ``Detection.to_json(detail=True)`` adds each
segment's sub-second origin, playback rate and per-second mark strength (``SecondMark``);
``embed_file(..., on_frame=hook)`` sees every marked frame. See ``docs/watermark.md``.
"""

from __future__ import annotations

from watermark._detect import (
    Detection,
    Detector,
    Evidence,
    Geometry,
    SecondMark,
    Segment,
    fold_frame,
)
from watermark._embed import DEFAULT_PSNR_DB, MAX_FRAME_PIXELS, Embedder, EmbedSettings
from watermark._errors import (
    KeyExists,
    KeyInvalid,
    KeyMismatch,
    KeyNotFound,
    PayloadInvalid,
    StreamFailed,
    VideoTooLarge,
    VideoTooSmall,
    VideoUnreadable,
    VideoWriteFailed,
    WatermarkError,
)
from watermark._keys import KeyStore, StreamerKey
from watermark._payload import ConstPayload, TimeCode, conv_encode, viterbi_decode
from watermark._video import EmbedReport, FrameHook, detect_file, embed_file, iter_luma, stream

__all__ = [
    "DEFAULT_PSNR_DB",
    "MAX_FRAME_PIXELS",
    "ConstPayload",
    "Detection",
    "Detector",
    "EmbedReport",
    "EmbedSettings",
    "Embedder",
    "Evidence",
    "FrameHook",
    "Geometry",
    "KeyExists",
    "KeyInvalid",
    "KeyMismatch",
    "KeyNotFound",
    "KeyStore",
    "PayloadInvalid",
    "SecondMark",
    "Segment",
    "StreamFailed",
    "StreamerKey",
    "TimeCode",
    "VideoTooLarge",
    "VideoTooSmall",
    "VideoUnreadable",
    "VideoWriteFailed",
    "WatermarkError",
    "conv_encode",
    "detect_file",
    "embed_file",
    "fold_frame",
    "iter_luma",
    "stream",
    "viterbi_decode",
]
