"""Live broadcast manifests: fingerprints built from the marking pass, a signed part a minute.

A broadcast's manifest used to be recorded after the broadcast, from the marked file (a
second decode; nothing at all for a live stream). :class:`LiveManifest` is fed by the
marking pass itself (``embed_file`` / ``stream``'s ``on_frame`` and ``on_audio`` hooks):

- every marked frame's luma goes into a ``WindowFeatures`` that computes only the
  whole-second windows (``every`` = 25: the manifest's fingerprints, ~1 ms per frame for
  the thumbnail, one feature extraction per second), every audio frame into a loudness
  envelope (the same 8 kHz mono resampling and 0.1 s bins as ``audio_envelopes``);
- every ``part_seconds`` (60) of broadcast, as soon as the frames (and the sound, up to
  ``AUDIO_WAIT_S`` behind) of that minute have passed, a manifest part covering it is
  built, signed with the streamer's key and recorded in the store: it enters the manifest
  Merkle log like any manifest, and ``ManifestStore.anchor`` anchors it with the rest. A
  stream that crashes keeps manifests for everything up to its last full minute;
- :meth:`LiveManifest.close` records the rest (the last, partial minute).

Parts are ordinary manifests (``Manifest``: the stored format does not change) of one
streamer whose ``[start, end)`` ranges follow each other; the verifier fetches every part
a clip's broadcast times touch.
"""

from __future__ import annotations

import math
from typing import Any

import av
import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from watermark._errors import VideoUnreadable
from watermark._fingerprint import (
    FEATURES,
    GRID_COLS,
    GRID_ROWS,
    WINDOW_STEPS_PER_SECOND,
    WindowFeatures,
    audio_envelope,
    quantise,
)
from watermark._manifest import (
    AUDIO_PER_SECOND,
    AUDIO_RATE,
    ManifestStore,
    SignedManifest,
    StoredManifest,
    build_manifest,
)

__all__ = ["AUDIO_WAIT_S", "PART_SECONDS", "LiveManifest"]

PART_SECONDS = 60  # one signed, stored manifest part per minute of broadcast
AUDIO_WAIT_S = 5.0  # a part waits this long (broadcast time) for its sound to arrive
_BIN = AUDIO_RATE // AUDIO_PER_SECOND  # samples per 0.1 s loudness bin


class LiveManifest:
    """Builds, signs and records a broadcast's manifest in parts while it is marked.

    Use ``embed_file(..., on_frame=live.frame, on_audio=live.audio)`` (or ``stream``), then
    ``live.close()``; ``live.parts`` lists what was recorded so far.
    """

    def __init__(
        self,
        store: ManifestStore,
        streamer: str,
        start: int,
        signing_key: Ed25519PrivateKey,
        part_seconds: int = PART_SECONDS,
    ) -> None:
        if part_seconds < 1:
            raise ValueError(f"part_seconds must be >= 1, got {part_seconds}")
        self.store, self.streamer, self.start = store, streamer, start
        self.key = signing_key
        self.public = signing_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.part_seconds = part_seconds
        self.parts: list[StoredManifest] = []
        self._windows = WindowFeatures(every=WINDOW_STEPS_PER_SECOND)
        self._recorded = 0  # broadcast seconds already in a part
        self._last_t = -1.0
        self._last_fp: np.ndarray | None = None
        self._resampler: Any = None
        self._pending = np.zeros(0, np.float32)  # samples of the unfinished 0.1 s bin
        self._bins: list[int] = []  # loudness bins from self._bin0 on
        self._bin0 = 0
        self._audio_seen = False
        self._closed = False

    # -- hooks -----------------------------------------------------------------------------
    def frame(self, t: float, luma: np.ndarray) -> None:
        """``on_frame``: one marked frame at ``t`` seconds since the broadcast start."""
        self._windows.add(t, luma)
        self._last_t = max(self._last_t, t)
        self._flush(final=False)

    def audio(self, frame: Any) -> None:
        """``on_audio``: one decoded audio frame (any layout / rate)."""
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        self._audio_seen = True
        for out in self._resampler.resample(frame):
            a = out.to_ndarray().reshape(-1).astype(np.float32)
            self._pending = np.concatenate([self._pending, a])
        n = len(self._pending) // _BIN * _BIN
        if n:
            self._bins.extend(audio_envelope(self._pending[:n], AUDIO_RATE))
            self._pending = self._pending[n:]

    def close(self) -> list[StoredManifest]:
        """Record the rest of the broadcast (the last, partial part); every part recorded."""
        if not self._closed:
            self._closed = True
            self._windows.finish()
            self._flush(final=True)
        return list(self.parts)

    # -- parts -----------------------------------------------------------------------------
    def _seconds_ready(self) -> int:
        """Broadcast seconds whose whole-second window is computed (s * 25 < ready)."""
        return -(-self._windows.ready // WINDOW_STEPS_PER_SECOND)

    def _flush(self, final: bool) -> None:
        while True:
            s0 = self._recorded
            if final:
                total = max(0, math.floor(self._last_t + 1e-6) + 1) if self._last_t >= 0 else 0
                s1 = min(total, s0 + self.part_seconds)
                if s1 <= s0:
                    return
            else:
                s1 = s0 + self.part_seconds
                if self._seconds_ready() < s1:
                    return
                sound_behind = self._bin0 + len(self._bins) < s1 * AUDIO_PER_SECOND
                if self._audio_seen and sound_behind and self._last_t < s1 + AUDIO_WAIT_S:
                    return
            self._record(s0, s1)

    def _record(self, s0: int, s1: int) -> None:
        fps: list[bytes] = []
        for s in range(s0, s1):
            f = self._windows.windows.pop(s * WINDOW_STEPS_PER_SECOND, None)
            if f is None:  # no frame in that second: repeat the last (as second_fingerprints)
                f = self._last_fp
            if f is None:
                f = np.zeros((GRID_ROWS, GRID_COLS, FEATURES), np.float16)
            self._last_fp = f
            fps.append(quantise(f.astype(np.float64)))
        audio: list[list[int]] | None = None
        if self._audio_seen:
            audio = []
            for s in range(s0, s1):
                a = s * AUDIO_PER_SECOND - self._bin0
                row = self._bins[max(0, a) : max(0, a + AUDIO_PER_SECOND)]
                audio.append(row if row else [-90])
            drop = max(0, s1 * AUDIO_PER_SECOND - self._bin0)
            del self._bins[:drop]
            self._bin0 += drop
        if not fps:
            raise VideoUnreadable("no video frames for a manifest part")
        manifest = build_manifest(self.streamer, self.public, self.start + s0, fps, audio)
        self.parts.append(self.store.record(SignedManifest.sign(manifest, self.key)))
        self._recorded = s1
