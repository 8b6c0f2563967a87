"""Errors of the watermark engine.

::

    WatermarkError (code="watermark_error")
    ├── VideoUnreadable    code="video_unreadable"   not a video FFmpeg can decode, or no frames
    ├── VideoTooLarge      code="video_too_large"    more pixels per frame than MAX_FRAME_PIXELS
    ├── VideoTooSmall      code="video_too_small"    too small to carry one pattern tile
    ├── VideoWriteFailed   code="video_write_failed" the output cannot be encoded or written
    ├── KeyNotFound        code="key_not_found"      no key file for that streamer
    ├── KeyExists          code="key_exists"         registering a streamer twice
    ├── KeyInvalid         code="key_invalid"        a key file that does not parse
    ├── KeyMismatch        code="key_mismatch"       a payload checked against the wrong key
    ├── PayloadInvalid     code="payload_invalid"    a field out of range (time, name)
    └── StreamFailed       code="stream_failed"      a live input/output failed mid-stream

PyAV exceptions are translated once, in ``watermark._video``.
"""

from __future__ import annotations

__all__ = [
    "KeyExists",
    "KeyInvalid",
    "KeyMismatch",
    "KeyNotFound",
    "PayloadInvalid",
    "StreamFailed",
    "VideoTooLarge",
    "VideoTooSmall",
    "VideoUnreadable",
    "VideoWriteFailed",
    "WatermarkError",
]


class WatermarkError(Exception):
    """Root of every watermark error; ``code`` is stable, the message is for people."""

    code = "watermark_error"


class VideoUnreadable(WatermarkError, ValueError):
    code = "video_unreadable"


class VideoTooLarge(WatermarkError, ValueError):
    code = "video_too_large"


class VideoTooSmall(WatermarkError, ValueError):
    code = "video_too_small"


class VideoWriteFailed(WatermarkError, OSError):
    code = "video_write_failed"


class KeyNotFound(WatermarkError, LookupError):
    code = "key_not_found"


class KeyExists(WatermarkError, FileExistsError):
    code = "key_exists"


class KeyInvalid(WatermarkError, ValueError):
    code = "key_invalid"


class KeyMismatch(WatermarkError, ValueError):
    code = "key_mismatch"


class PayloadInvalid(WatermarkError, ValueError):
    code = "payload_invalid"


class StreamFailed(WatermarkError, OSError):
    code = "stream_failed"
