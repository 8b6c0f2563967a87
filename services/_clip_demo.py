"""Clip authenticity for ``make demo``, and the clip edits the tests and benchmark make.

:func:`clip_demo` records a watermarked broadcast with its signed manifest, anchors it, and
verifies one genuine re-upload (authentic) and one edited clip (a cut and a price overlay).
The edit helpers (:func:`edit_clip` with :class:`Edit` operations) stand for what a
re-uploader does: cut, swap, splice in other footage, overlay a price, blur a face,
change the speed, re-encode (x264 CRF 28) and scale.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

__all__ = [
    "FPS",
    "TONE_RATE",
    "Edit",
    "clip_demo",
    "decode_luma",
    "edit_clip",
    "encode_luma",
    "make_broadcast",
    "mux_audio",
    "mux_tone",
    "publish_broadcast",
    "tone_track",
]

FPS = 25
DEMO_SECONDS = 10.0  # a cut of 3 s and a 3-s price overlay fit, verification stays quick
DEMO_SIZE = (854, 480)
_PRICE_FONT = cv2.FONT_HERSHEY_DUPLEX


@dataclass(frozen=True)
class Edit:
    """One edit on a decoded clip (times in seconds of the clip being edited).

    kinds: ``cut`` (drop a..b), ``swap`` (exchange a..b with c..d), ``splice`` (replace
    a..b with foreign footage), ``price`` (text overlay a..b), ``blur`` (face-sized region
    a..b), ``composite`` (another clip inset a..b), ``speed`` (play at ``factor``).
    """

    kind: str
    a: float = 0.0
    b: float = 0.0
    c: float = 0.0
    d: float = 0.0
    text: str = "$9.99"
    factor: float = 1.0


def decode_luma(path: Path) -> list[np.ndarray]:
    """Every frame's luma (small test clips only: this holds the whole clip)."""
    from watermark import iter_luma

    return [y.copy() for _, y in iter_luma(str(path))]


def encode_luma(
    frames: Iterable[np.ndarray], dst: Path, crf: int = 28, scale: float = 1.0, fps: int = FPS
) -> Path:
    """x264 (preset veryfast) at ``crf``, scaled by ``scale``: a re-upload."""
    out = av.open(str(dst), "w")
    vs: Any = None
    try:
        for y in frames:
            if vs is None:
                h, w = y.shape
                size = (max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2))
                vs = out.add_stream("libx264", rate=fps)
                vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
                vs.options = {"crf": str(crf), "preset": "veryfast"}
                chroma = np.full((size[1] // 2, size[0]), 128, np.uint8)
            if y.shape[::-1] != size:
                y = cv2.resize(y, size, interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(np.concatenate([y, chroma]), format="yuv420p")
            for p in vs.encode(frame):
                out.mux(p)
        if vs is not None:
            for p in vs.encode():
                out.mux(p)
    finally:
        out.close()
    return dst


TONE_RATE = 16_000  # Hz: a tone track for tests of the loudness envelope
_TONE_STEP_S = 0.5  # the tone's loudness changes every 0.5 s (speech-like syllable rate)


def tone_track(seconds: float, seed: int = 0, rate: int = TONE_RATE) -> np.ndarray:
    """A mono test sound: a 440 Hz tone whose loudness jumps every 0.5 s between -40 and
    -6 dBFS (seeded), so a sound track's loudness envelope identifies it."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    steps = rng.uniform(-40.0, -6.0, int(seconds / _TONE_STEP_S) + 2)
    gain = 10.0 ** (steps[(np.arange(n) / (rate * _TONE_STEP_S)).astype(int)] / 20.0)
    t = np.arange(n) / rate
    out: np.ndarray = (np.sqrt(2.0) * gain * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    return out


def mux_audio(video: Path, dst: Path, samples: np.ndarray, rate: int = TONE_RATE) -> Path:
    """``video``'s picture (packets copied, not re-encoded) with ``samples`` as AAC sound."""
    with av.open(str(video)) as src, av.open(str(dst), "w") as out:
        ivs = src.streams.video[0]
        ovs = out.add_stream_from_template(ivs)
        oas: Any = out.add_stream("aac", rate=rate)
        oas.layout = "mono"
        for packet in src.demux(ivs):
            if packet.dts is None:
                continue
            packet.stream = ovs
            out.mux(packet)
        step = 1024
        for i in range(0, len(samples), step):
            chunk = samples[i : i + step].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = i
            for p in oas.encode(frame):
                out.mux(p)
        for p in oas.encode():
            out.mux(p)
    return dst


def mux_tone(video: Path, dst: Path, seconds: float, seed: int = 0) -> Path:
    """``video`` with a :func:`tone_track` of ``seconds`` (see there)."""
    return mux_audio(video, dst, tone_track(seconds, seed))


def _span(a: float, b: float, fps: int = FPS) -> slice:
    return slice(round(a * fps), round(b * fps))


def _price(y: np.ndarray, text: str) -> np.ndarray:
    h, w = y.shape
    out = y.copy()
    x0, y0 = int(w * 0.62), int(h * 0.70)
    cv2.rectangle(out, (x0, y0), (int(w * 0.95), int(h * 0.88)), 245, -1)
    scale = h / 300.0
    cv2.putText(out, text, (x0 + int(w * 0.02), int(h * 0.84)), _PRICE_FONT, scale, 20, 2)
    return out


def _blur(y: np.ndarray) -> np.ndarray:
    h, w = y.shape
    out = y.copy()
    x0, y0, x1, y1 = int(w * 0.40), int(h * 0.20), int(w * 0.58), int(h * 0.55)  # a face
    out[y0:y1, x0:x1] = cv2.GaussianBlur(out[y0:y1, x0:x1], (0, 0), max(2.0, h / 50.0))
    return out


def _composite(y: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Another clip inset (picture in picture) over a third of the width."""
    h, w = y.shape
    out = y.copy()
    pw, ph = w // 3, h // 3
    out[h // 10 : h // 10 + ph, w // 20 : w // 20 + pw] = cv2.resize(other, (pw, ph))
    return out


def apply_edits(
    frames: list[np.ndarray], edits: Sequence[Edit], foreign: Sequence[np.ndarray] = ()
) -> list[np.ndarray]:
    out = list(frames)
    for e in edits:
        s = _span(e.a, e.b)
        if e.kind == "cut":
            del out[s]
        elif e.kind == "swap":
            t = _span(e.c, e.d)
            first, second = out[s], out[t]
            out = out[: s.start] + second + out[s.stop : t.start] + first + out[t.stop :]
        elif e.kind == "splice":
            n = s.stop - s.start
            h, w = out[0].shape
            other = [cv2.resize(f, (w, h)) for f in foreign[:n]]
            out[s] = other
        elif e.kind == "price":
            out[s] = [_price(y, e.text) for y in out[s]]
        elif e.kind == "composite":
            h, w = out[0].shape
            inset = list(foreign[: s.stop - s.start])
            out[s] = [_composite(y, f) for y, f in zip(out[s], inset, strict=False)]
        elif e.kind == "blur":
            out[s] = [_blur(y) for y in out[s]]
        elif e.kind == "crop":  # keep ``factor`` of each side, placed at (c, d) of the rest
            h, w = out[0].shape
            ch, cw = round(h * e.factor) // 2 * 2, round(w * e.factor) // 2 * 2
            y0, x0 = round((h - ch) * e.d), round((w - cw) * e.c)
            out = [y[y0 : y0 + ch, x0 : x0 + cw] for y in out]
        elif e.kind == "speed":
            idx = np.arange(0, len(out), e.factor).astype(int)
            out = [out[i] for i in idx if i < len(out)]
        else:
            raise ValueError(f"unknown edit {e.kind!r}")
    return out


def edit_clip(
    src: Path,
    dst: Path,
    edits: Sequence[Edit] = (),
    *,
    crf: int = 28,
    scale: float = 1.0,
    foreign: Sequence[np.ndarray] = (),
) -> Path:
    """Decode ``src``, apply ``edits``, re-encode at ``crf`` and ``scale``."""
    return encode_luma(apply_edits(decode_luma(src), edits, foreign), dst, crf, scale)


def make_broadcast(
    work: Path,
    home: Path,
    streamer: str,
    start: int,
    seconds: float,
    size: tuple[int, int] = (1280, 720),
    seed: int = 0,
) -> Path:
    """A watermarked broadcast (camera moves over photographs) with its manifest recorded.

    The streamer's keys must exist in ``home``; the manifest goes to the store at
    ``home``'s default database. Returns the marked broadcast file.
    """
    from watermark import KeyStore, embed_file
    from watermark._synth import scene_clip

    work.mkdir(parents=True, exist_ok=True)
    w, h = size
    src = encode_luma(scene_clip(h, w, seconds, seed=seed), work / f"camera-{seed}.mp4", crf=16)
    marked = work / f"broadcast-{seed}.mp4"
    embed_file(str(src), str(marked), KeyStore(home).load(streamer), start)
    return marked


def publish_broadcast(
    work: Path,
    home: Path,
    streamer: str,
    start: int,
    actors: Any,
    anchors: Any,
    store: Any,
    seconds: float = DEMO_SECONDS,
    size: tuple[int, int] = DEMO_SIZE,
    seed: int = 0,
) -> tuple[Path, Any, Any]:
    """What a streamer's pipeline does for one broadcast: keys (created if missing), the
    persona registered on chain (``actors``, role streamer, valid from an hour before), the
    marked broadcast, its signed manifest recorded in ``store`` (a ``ManifestStore``) and
    anchored through ``anchors``. Returns (marked file, stored manifest, anchor result)."""
    from contracts import Role
    from watermark import KeyStore
    from watermark._manifest import record_manifest

    keys = KeyStore(home)
    if streamer not in keys.names():
        keys.register(streamer)
    actors.register(streamer, keys.public_key(streamer), Role.STREAMER, start - 3600)
    marked = make_broadcast(work, home, streamer, start, seconds, size, seed)
    stored = record_manifest(store, str(marked), streamer, start, keys.signing_key(streamer))
    return marked, stored, store.anchor(anchors)


def clip_demo(settings: Any, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The clip section of ``make demo``: register, broadcast, record, anchor, verify twice.

    ``settings`` is ``services.config.Settings``; ``say`` prints rich markup (default: a rich
    console). Returns both verdicts as JSON documents.
    """
    if say is None:
        from rich.console import Console

        say = Console().print
    from contracts import Chain
    from provenance import Store
    from watermark import KeyStore
    from watermark._clip import StoreSource, verify_clip
    from watermark._manifest import ManifestStore

    home = Path(settings.home)
    work = home / "demo-clip"
    streamer = "demo-clip-streamer"
    keys = KeyStore(home)
    start = int(time.time()) - 60
    with Chain.connect(settings.rpc, home, cache=settings.cache) as chain:
        store = ManifestStore(Store.open(settings.db_url))
        marked, stored, anchored = publish_broadcast(
            work, home, streamer, start, chain.actors, chain.anchors, store, seed=2
        )
        say(
            f"broadcast {start}-{stored.manifest.end} by {streamer}: manifest #{stored.seq} "
            f"signed, anchored in tx {anchored.head.tx_hash if anchored.head else None}"
        )
        genuine = edit_clip(marked, work / "genuine.mp4", crf=28)
        edited = edit_clip(
            marked,
            work / "edited.mp4",
            [Edit("cut", 2.0, 5.0), Edit("price", 4.0, 7.0, text="$1.99")],
            crf=28,
        )
        results: dict[str, Any] = {}
        for name, clip in (("genuine re-upload (x264 CRF 28)", genuine), ("edited", edited)):
            v = verify_clip(str(clip), keys.all(), StoreSource(store), chain.actors, chain.anchors)
            results[name] = v.to_json()
            say(f"{name}: verdict [bold]{v.verdict}[/] streamer {v.streamer}")
            for s in v.segments:
                b = ""
                if s.broadcast_start is not None and s.broadcast_end is not None:
                    b0, b1 = s.broadcast_start - start, s.broadcast_end - start
                    b = f" <- broadcast +{b0}..+{b1} s"
                say(f"   clip {s.clip_start:5.1f}-{s.clip_end:5.1f} s {s.status:9s}{b}")
            for f in v.findings:
                say(f"   \\[{f.code}] at {f.clip_time} s: {f.detail}")
    return results
