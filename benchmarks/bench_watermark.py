"""Watermark benchmark (issue 4): speed, quality, bitrate, robustness, false positives, peer.

``python -m benchmarks watermark``. Material is generated from real photographs
(scikit-image's bundled images: pans, zooms, a cut every 4 s) plus a talking-head scene
with large flat areas, 720p and 1080p, 25 fps, 20 s. Every attack re-encodes with libx264
(preset veryfast) through PyAV. The peer, ``invisible-watermark`` 0.2.0, runs in its own
venv (created here on first use, ``--no-deps`` so torch never comes in) on the same frames.

Robustness windows: every 3-s piece (identity) and 2-s piece (time) starting at each 0.4 s
step of the attacked clip, decoded independently; the tile geometry (period, offset) is
estimated once per attacked clip, as ``detect_file`` does.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from benchmarks._common import Report
from watermark import Detector, Embedder, EmbedSettings, Evidence, Geometry, StreamerKey
from watermark._detect import SUB_BUCKETS_PER_SECOND
from watermark._embed import DEFAULT_PSNR_DB
from watermark._payload import (
    COUNTER_BITS,
    EPOCH_SECONDS,
    TIME_Z_THRESHOLD,
    false_alarm,
)
from watermark._synth import scene_clip, talking_head_clip
from watermark._video import frame_geometries

SECONDS = float(os.environ.get("WM_BENCH_SECONDS", "20"))  # issue 4: >= 20 s
FPS = 25
START = 1_767_225_600
FP_WINDOWS_TARGET = 10_000  # issue 4: zero detections on >= 10,000 windows
PEER_FRAMES = 50  # the peer runs ~3-12 fps at 720p: 2 s of frames keeps the run short
PEER_VENV = Path(os.environ.get("WM_PEER_VENV", Path.home() / ".cache/livetrust/peer-venv"))
STEP = 2  # window start every 2 sub-buckets = 0.4 s
SPEED_FRAMES = 100  # speed: 4 s of frames (4 pattern re-renders), best of 3 runs
CURVE_PSNR = (38.0, 40.0, 42.2, 44.0, 46.0, 48.0)
KEY = StreamerKey("alice", b"\xa1" * 32)


# --- material and codecs ------------------------------------------------------------------
def x264(
    frames: Sequence[np.ndarray], crf: int, size: tuple[int, int] | None = None, fps: float = FPS
) -> tuple[list[np.ndarray], int, float, float]:
    """Encode luma with libx264 veryfast, decode again: (frames, bytes, enc s, dec s)."""
    h, w = frames[0].shape
    ow, oh = size if size is not None else (w, h)
    buf = io.BytesIO()
    out = av.open(buf, "w", format="mp4")
    s = out.add_stream("libx264", rate=int(fps))
    s.width, s.height, s.pix_fmt = ow, oh, "yuv420p"
    s.options = {"crf": str(crf), "preset": "veryfast"}
    s.codec_context.thread_count = 1
    chroma = np.full((oh // 2, ow), 128, np.uint8)
    t0 = time.perf_counter()
    for f in frames:
        if (ow, oh) != (w, h):
            f = cv2.resize(f, (ow, oh), interpolation=cv2.INTER_AREA)
        for p in s.encode(av.VideoFrame.from_ndarray(np.concatenate([f, chroma]), "yuv420p")):
            out.mux(p)
    for p in s.encode():
        out.mux(p)
    out.close()
    enc = time.perf_counter() - t0
    size_bytes = buf.tell()
    buf.seek(0)
    t0 = time.perf_counter()
    with av.open(buf) as inp:
        inp.streams.video[0].thread_count = 1
        ys = [fr.to_ndarray(format="gray") for fr in inp.decode(video=0)]
    return ys, size_bytes, enc, time.perf_counter() - t0


def x264_bgr(
    frames: Sequence[np.ndarray], crf: int, size: tuple[int, int] | None = None
) -> tuple[list[np.ndarray], int]:
    """Colour round trip for the peer, which marks chroma: (BGR frames, bytes)."""
    h, w = frames[0].shape[:2]
    ow, oh = size if size is not None else (w, h)
    buf = io.BytesIO()
    out = av.open(buf, "w", format="mp4")
    s = out.add_stream("libx264", rate=FPS)
    s.width, s.height, s.pix_fmt = ow, oh, "yuv420p"
    s.options = {"crf": str(crf), "preset": "veryfast"}
    for f in frames:
        if (ow, oh) != (w, h):
            f = cv2.resize(f, (ow, oh), interpolation=cv2.INTER_AREA)
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="bgr24")
        for p in s.encode(vf.reformat(format="yuv420p")):
            out.mux(p)
    for p in s.encode():
        out.mux(p)
    out.close()
    size_bytes = buf.tell()
    buf.seek(0)
    with av.open(buf) as inp:
        return [fr.to_ndarray(format="bgr24") for fr in inp.decode(video=0)], size_bytes


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004): Gaussian window sigma 1.5, K1 0.01, K2 0.03, on luma."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def g(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = g(x), g(y)
    sxx, syy, sxy = g(x * x) - mx * mx, g(y * y) - my * my, g(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m.mean())


# --- attacks ------------------------------------------------------------------------------
Attack = Callable[[list[np.ndarray]], tuple[list[np.ndarray], float]]  # frames -> (frames, fps)


def _crop(frames: list[np.ndarray], corner: bool) -> list[np.ndarray]:
    h, w = frames[0].shape
    dy, dx = int(h * 0.1), int(w * 0.1)
    if corner:
        return [f[dy:, dx:] for f in frames]
    return [f[dy // 2 : h - dy // 2, dx // 2 : w - dx // 2] for f in frames]


def _pix(frames: list[np.ndarray], gain: float, bias: float) -> list[np.ndarray]:
    return [cv2.convertScaleAbs(f, alpha=gain, beta=bias) for f in frames]


def _fps30(frames: list[np.ndarray]) -> list[np.ndarray]:
    n = int(len(frames) * 30 / FPS)
    return [frames[min(len(frames) - 1, int(i * FPS / 30))] for i in range(n)]


def _screen(frames: list[np.ndarray]) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    out = []
    for f in frames:
        b = cv2.GaussianBlur(f.astype(np.float32), (0, 0), 1.0)
        out.append(cv2.convertScaleAbs(b + rng.normal(0, 3.0, f.shape).astype(np.float32)))
    return out


def _half(frames: list[np.ndarray]) -> tuple[int, int]:
    h, w = frames[0].shape
    return (w // 2) // 2 * 2, (h // 2) // 2 * 2


def attacks() -> dict[str, Attack]:
    def c(crf: int) -> Attack:
        return lambda fr: (x264(fr, crf)[0], FPS)

    return {
        "x264 CRF 23": c(23),
        "x264 CRF 28": c(28),
        "downscale 50% (CRF 23)": lambda fr: (x264(fr, 23, _half(fr))[0], FPS),
        "360p and back (CRF 23)": lambda fr: (
            [
                cv2.resize(y, fr[0].shape[::-1], interpolation=cv2.INTER_LINEAR)
                for y in x264(fr, 23, (640, 360))[0]
            ],
            FPS,
        ),
        "crop 10% centre (CRF 23)": lambda fr: (_crop(x264(fr, 23)[0], False), FPS),
        "crop 10% corner (CRF 23)": lambda fr: (_crop(x264(fr, 23)[0], True), FPS),
        "brightness +20 (CRF 23)": lambda fr: (x264(_pix(fr, 1.0, 20), 23)[0], FPS),
        "brightness -20 (CRF 23)": lambda fr: (x264(_pix(fr, 1.0, -20), 23)[0], FPS),
        "contrast 0.8 (CRF 23)": lambda fr: (x264(_pix(fr, 0.8, 25.6), 23)[0], FPS),
        "contrast 1.2 (CRF 23)": lambda fr: (x264(_pix(fr, 1.2, -25.6), 23)[0], FPS),
        "25 -> 30 fps (CRF 23)": lambda fr: (x264(_fps30(fr), 23, fps=30)[0], 30.0),
        "two re-encodes (CRF 23, 23)": lambda fr: (x264(x264(fr, 23)[0], 23)[0], FPS),
        "CRF 28 + downscale 50%": lambda fr: (x264(fr, 28, _half(fr))[0], FPS),
        "blur + noise (screen rec.)": lambda fr: (x264(_screen(fr), 23)[0], FPS),
    }


# --- our detector on windows ------------------------------------------------------------
# the embedder's default mark (frame-fixed or moving with the picture) is the one measured;
# the other one's bitrate is reported beside it
MOVING = EmbedSettings().follow


def geometry(det: Detector, frames: list[np.ndarray], fps: float) -> Geometry:
    """The key's geometry as ``detect_file`` finds it (``frame_geometries``)."""
    return frame_geometries(frames, fps, [det])[0]


def evidence(
    det: Detector, frames: list[np.ndarray], fps: float
) -> tuple[Geometry, Evidence, float]:
    geo = geometry(det, frames, fps)
    ev = Evidence(geo.period, anchors=geo.anchors())
    t0 = time.perf_counter()
    for i, y in enumerate(frames):
        ev.add_frame(y, i / fps)
    return geo, ev, time.perf_counter() - t0


def window_rates(det: Detector, geo: Geometry, ev: Evidence) -> dict[str, Any]:
    const, tsoft, lo = det.soft_series(ev, geo)
    n = const.shape[0]
    id_win = IDENTITY_SUB = 3 * SUB_BUCKETS_PER_SECOND
    t_win = 2 * SUB_BUCKETS_PER_SECOND
    id_ok = id_n = t_ok = t_n = 0
    want_epoch = START >> COUNTER_BITS
    for a in range(0, n - IDENTITY_SUB + 1, STEP):
        id_n += 1
        p = det.decode_identity(const[a : a + id_win].sum(axis=0))
        id_ok += p is not None and p.epoch == want_epoch
    for a in range(0, n - t_win + 1, STEP):
        t_n += 1
        c, z, ph = det.decode_window_time(tsoft[a : a + t_win])
        first = (lo + a - ph) / SUB_BUCKETS_PER_SECOND  # clip time of the first bucket
        truth = (START + round(first)) % EPOCH_SECONDS
        err = min(abs(c - truth), EPOCH_SECONDS - abs(c - truth))
        t_ok += z >= TIME_Z_THRESHOLD and err <= 1
    return {
        "identity_3s": id_ok / max(1, id_n),
        "identity_windows": id_n,
        "time_2s": t_ok / max(1, t_n),
        "time_windows": t_n,
        "sync_z": round(geo.z, 2),
        "period_px": round(geo.period, 2),
    }


def best_fps(fn: Callable[[], object], frames: int = 0, repeats: int = 3) -> float:
    """Frames per CPU-second of ``fn`` over SPEED_FRAMES frames, best of ``repeats``.

    Everything runs on one thread (``cv2.setNumThreads(1)``, no BLAS in the per-frame
    path), so process CPU time is one core's time; the machine is shared, and wall time
    would also count the time other jobs held the core."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = max(best, (frames or SPEED_FRAMES) / max(1e-9, time.process_time() - t0))
    return best


def mark(
    frames: Sequence[np.ndarray], psnr_db: float = DEFAULT_PSNR_DB, follow: bool = MOVING
) -> tuple[list[np.ndarray], float]:
    h, w = frames[0].shape
    emb = Embedder(KEY, START, h, w, EmbedSettings(psnr_db=psnr_db, follow=follow))
    out = []
    t0 = time.perf_counter()
    for i, f in enumerate(frames):
        out.append(emb.mark(f, i / FPS))
    return out, time.perf_counter() - t0


# --- peer -----------------------------------------------------------------------------------
PEER_SCRIPT = r"""
import sys, types, json, time
for m in ("torch", "onnxruntime"):
    sys.modules.setdefault(m, types.ModuleType(m))  # rivaGan imports them; we never use it
import numpy as np, cv2
cv2.setNumThreads(1)  # one core, as for ours
from imwatermark import WatermarkEncoder, WatermarkDecoder
mode, method, path = sys.argv[1], sys.argv[2], sys.argv[3]
payload = b"livetrus"  # 64 bits
frames = np.load(path)
if mode == "embed":
    enc = WatermarkEncoder()
    enc.set_watermark("bytes", payload)
    out = []
    t0 = time.perf_counter()
    for bgr in frames:
        out.append(enc.encode(bgr, method))
    dt = time.perf_counter() - t0
    np.save(sys.argv[4], np.stack(out))
    print(json.dumps({"fps": len(frames) / dt}))
else:
    dec = WatermarkDecoder("bytes", 64)
    ok = sum(dec.decode(bgr, method) == payload for bgr in frames)
    print(json.dumps({"exact": ok / len(frames)}))
"""


def peer_python() -> Path | None:
    py = PEER_VENV / "bin" / "python"
    if not py.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
            subprocess.run(
                [
                    str(py),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--no-deps",
                    "invisible-watermark==0.2.0",
                    "PyWavelets",
                    "opencv-python-headless",
                    "numpy",
                ],
                check=True,
            )
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"   peer venv unavailable: {exc}", flush=True)
            return None
    return py


def run_peer(frames: list[np.ndarray], tmp: Path) -> dict[str, Any]:
    py = peer_python()
    if py is None:
        return {}
    script = tmp / "peer.py"
    script.write_text(PEER_SCRIPT)
    src = tmp / "peer-src.npy"
    frames = [cv2.cvtColor(y, cv2.COLOR_GRAY2BGR) for y in frames]  # the peer marks chroma
    np.save(src, np.stack(frames))
    res: dict[str, Any] = {}
    for method in ("dwtDct", "dwtDctSvd"):
        dst = tmp / f"peer-{method}.npy"
        out = subprocess.run(
            [str(py), str(script), "embed", method, str(src), str(dst)],
            check=True,
            capture_output=True,
            text=True,
        )
        r: dict[str, Any] = {"embed_fps": json.loads(out.stdout)["fps"]}
        marked = list(np.load(dst))
        r["psnr"] = float(np.mean([psnr(a, b) for a, b in zip(frames, marked, strict=True)]))
        _, s0 = x264_bgr(frames, 23)
        crf23, s1 = x264_bgr(marked, 23)
        r["bitrate_overhead"] = s1 / s0 - 1
        h, w = frames[0].shape[:2]
        for name, attacked in (
            ("none", marked),
            ("x264 CRF 23", crf23),
            ("downscale 50% (CRF 23)", x264_bgr(marked, 23, (w // 2, h // 2))[0]),
            (
                "crop 10% centre (CRF 23)",
                [f[h // 20 : h - h // 20, w // 20 : w - w // 20] for f in crf23],
            ),
        ):
            p = tmp / "peer-attacked.npy"
            np.save(p, np.stack(attacked))
            out = subprocess.run(
                [str(py), str(script), "decode", method, str(p)],
                check=True,
                capture_output=True,
                text=True,
            )
            r[f"exact_{name}"] = json.loads(out.stdout)["exact"]
        res[method] = r
    return res


# --- the run --------------------------------------------------------------------------------
def run() -> Report:
    cv2.setNumThreads(1)  # one core: the figures are per core
    rep = Report("watermark")
    data = rep.data
    data["settings"] = {
        "psnr_target_db": DEFAULT_PSNR_DB,
        "seconds": SECONDS,
        "fps": FPS,
        "moving_mark": MOVING,
    }
    clips = {
        "scene720": list(scene_clip(720, 1280, SECONDS, FPS, seed=1)),
        "talking720": list(talking_head_clip(720, 1280, SECONDS, FPS, seed=2)),
    }
    # (1) speed and quality -------------------------------------------------------------
    speed: dict[str, Any] = {}
    quality: dict[str, Any] = {}
    bitrate: dict[str, Any] = {}
    marked: dict[str, list[np.ndarray]] = {}
    for name, frames in [
        *clips.items(),
        ("scene1080", list(scene_clip(1080, 1920, SECONDS, FPS, seed=1))),
    ]:
        m, _ = mark(frames)
        marked[name] = m
        speed[f"embed_fps_{name}"] = best_fps(lambda fr=frames: mark(fr[:SPEED_FRAMES]))
        sample = range(0, len(frames), 10)
        quality[name] = {
            "psnr_db": float(np.mean([psnr(frames[i], m[i]) for i in sample])),
            "ssim": float(np.mean([ssim(frames[i], m[i]) for i in sample])),
        }
        _, s0, enc0, dec0 = x264(frames, 23)
        _, s1, _, _ = x264(m, 23)
        _, s2, _, _ = x264(mark(frames, follow=not MOVING)[0], 23)  # the other mark, beside
        bitrate[name] = {
            "unmarked_kbps": s0 * 8 / SECONDS / 1000,
            "marked_kbps": s1 * 8 / SECONDS / 1000,
            "overhead": s1 / s0 - 1,
            "overhead_other_mark": s2 / s0 - 1,
        }
        speed[f"x264_encode_fps_{name}"] = len(frames) / enc0
        speed[f"h264_decode_fps_{name}"] = len(frames) / dec0
        print(
            f"   {name}: embed {speed[f'embed_fps_{name}']:.0f} fps, {quality[name]}, "
            f"overhead {bitrate[name]['overhead']:.1%}",
            flush=True,
        )
        if name == "scene1080":
            del marked[name]
    det = Detector(KEY)
    geo, ev, _ = evidence(det, marked["scene720"], FPS)

    def fold_all(frames: list[np.ndarray] = marked["scene720"][:SPEED_FRAMES]) -> None:
        e = Evidence(geo.period, anchors=geo.anchors())
        for i, y in enumerate(frames):
            e.add_frame(y, i / FPS)
        e.settle()

    speed["detect_fps_scene720"] = best_fps(fold_all)
    t0 = time.perf_counter()
    geometry(det, marked["scene720"], FPS)
    speed["detect_geometry_search_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    det.detect(ev, geo)
    speed["detect_decode_s_per_clip_second"] = (time.perf_counter() - t0) / SECONDS
    data.update(speed=speed, quality=quality, bitrate=bitrate)

    # (2) robustness at the operating point -------------------------------------------------
    robust: dict[str, dict[str, Any]] = {}
    for aname, attack in attacks().items():
        row: dict[str, Any] = {}
        for cname in ("scene720", "talking720"):
            frames, fps = attack(marked[cname])
            g, e, _ = evidence(det, frames, fps)
            row[cname] = window_rates(det, g, e)
        robust[aname] = row
        print(f"   {aname}: {row}", flush=True)
    data["robustness"] = robust

    # (3) false positives -------------------------------------------------------------------
    data["false_positives"] = false_positives(clips, marked)

    # (4) trade-off curve -------------------------------------------------------------------
    data["tradeoff"] = tradeoff(clips["scene720"][: 10 * FPS])

    # (5) peer ---------------------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        peer = run_peer(clips["scene720"][:PEER_FRAMES], Path(tmp))
    data["peer"] = peer
    ours_small = {
        "none": 1.0,
        "x264 CRF 23": robust["x264 CRF 23"]["scene720"]["identity_3s"],
        "downscale 50% (CRF 23)": robust["downscale 50% (CRF 23)"]["scene720"]["identity_3s"],
        "crop 10% centre (CRF 23)": robust["crop 10% centre (CRF 23)"]["scene720"]["identity_3s"],
    }
    table(rep, speed, quality, bitrate, robust, data["false_positives"], peer, ours_small)
    return rep


def false_positives(
    clips: dict[str, list[np.ndarray]], marked: dict[str, list[np.ndarray]]
) -> dict[str, Any]:
    """Unmarked clips and clips marked with KEY, checked against many other keys."""
    sources = {
        "unmarked scene": clips["scene720"],
        "unmarked talking": clips["talking720"],
        "unmarked scene CRF 28": x264(clips["scene720"], 28)[0],
        "marked, other key": marked["scene720"],
        "marked, other key, CRF 23": x264(marked["talking720"], 23)[0],
    }
    series = []
    probe = Detector(KEY)
    for frames in sources.values():
        g = geometry(probe, frames, FPS)
        ev = Evidence(g.period, anchors=g.anchors())
        for i, y in enumerate(frames):
            ev.add_frame(y, i / FPS)
        series.append((ev, g))
    windows = detections = 0
    max_z = 0.0
    k = 0
    while windows < FP_WINDOWS_TARGET:
        other = Detector(StreamerKey(f"other{k}", bytes([k % 256, k // 256]) * 16))
        k += 1
        for ev, g in series:
            const, _, _ = other.soft_series(ev, g)
            for a in range(0, const.shape[0] - 15 + 1, 1):
                _, z = other.identity_code.decode(const[a : a + 15].sum(axis=0), other.epochs)
                windows += 1
                max_z = max(max_z, z)
                detections += z >= other.id_z
    return {
        "windows": windows,
        "keys": k,
        "detections": detections,
        "max_z": round(max_z, 2),
        "threshold_z": round(probe.id_z, 2),
        "epochs_searched": len(probe.epochs),
        "theoretical_fp_per_window": false_alarm(probe.id_z, len(probe.epochs)),
        "expected_fp_in_run": false_alarm(probe.id_z, len(probe.epochs)) * windows,
    }


def tradeoff(frames: list[np.ndarray]) -> list[dict[str, Any]]:
    """PSNR vs bitrate overhead vs robustness (CRF 28; CRF 28 + 50%) on 10 s of 720p."""
    rows = []
    _, s0, _, _ = x264(frames, 23)
    det = Detector(KEY)
    for target in CURVE_PSNR:
        m, _ = mark(frames, target)
        _, s1, _, _ = x264(m, 23)
        row: dict[str, Any] = {
            "psnr_target_db": target,
            "psnr_db": float(
                np.mean([psnr(a, b) for a, b in zip(frames[::10], m[::10], strict=True)])
            ),
            "bitrate_overhead": s1 / s0 - 1,
        }
        for name, size, crf in (("crf28", None, 28), ("crf28_half", _half(m), 28)):
            g, e, _ = evidence(det, x264(m, crf, size)[0], FPS)
            row[name] = window_rates(det, g, e)
        rows.append(row)
        print(f"   tradeoff {row}", flush=True)
    return rows


def table(
    rep: Report,
    speed: dict[str, Any],
    quality: dict[str, Any],
    bitrate: dict[str, Any],
    robust: dict[str, Any],
    fp: dict[str, Any],
    peer: dict[str, Any],
    ours_peer: dict[str, float],
) -> None:
    pct = "{:.1%}".format
    rep.row(
        "embed fps 720p (1 core)",
        f"{speed['embed_fps_scene720']:.0f}",
        ">= 200",
        f"x264 encode alone {speed['x264_encode_fps_scene720']:.0f} fps",
    )
    rep.row(
        "embed fps 1080p (1 core)",
        f"{speed['embed_fps_scene1080']:.0f}",
        ">= 90",
        f"x264 encode alone {speed['x264_encode_fps_scene1080']:.0f} fps",
    )
    rep.row(
        "detect fps 720p (1 core)",
        f"{speed['detect_fps_scene720']:.0f}",
        ">= 100",
        f"H.264 decode alone {speed['h264_decode_fps_scene720']:.0f} fps",
    )
    for name, q in quality.items():
        rep.row(
            f"PSNR / SSIM {name}", f"{q['psnr_db']:.2f} dB / {q['ssim']:.4f}", ">= 42 / >= 0.99"
        )
    for name, b in bitrate.items():
        rep.row(
            f"x264 CRF 23 overhead {name}",
            pct(b["overhead"]),
            "<= 25%",
            f"{b['unmarked_kbps']:.0f} -> {b['marked_kbps']:.0f} kbit/s; "
            f"{'frame-fixed' if MOVING else 'moving (opt-in)'} mark "
            f"{pct(b['overhead_other_mark'])}",
        )
    for aname, row in robust.items():
        ids = min(r["identity_3s"] for r in row.values())
        ts = min(r["time_2s"] for r in row.values())
        rep.row(
            f"{aname}: identity 3 s / time 2 s",
            f"{pct(ids)} / {pct(ts)}",
            ">= 99%",
            "worst of scene / talking-head 720p",
        )
    rep.row(
        "false positives",
        f"{fp['detections']} in {fp['windows']} windows",
        "0 in >= 10,000",
        f"theory {fp['theoretical_fp_per_window']:.1e} per window (z >= {fp['threshold_z']} "
        f"over {fp['epochs_searched']} epochs)",
    )
    for method, r in peer.items():
        rep.row(
            f"peer {method} embed fps 720p",
            f"{r['embed_fps']:.1f}",
            "",
            f"ours/peer = {speed['embed_fps_scene720'] / r['embed_fps']:.0f}x",
        )
        rep.row(
            f"peer {method} PSNR (BGR, it marks chroma) / CRF 23 overhead",
            f"{r['psnr']:.2f} dB / {pct(r['bitrate_overhead'])}",
            "",
            f"ours {quality['scene720']['psnr_db']:.2f} dB / "
            f"{pct(bitrate['scene720']['overhead'])}",
        )
        for name, ours in ours_peer.items():
            rep.row(
                f"peer {method} exact payload, {name}",
                pct(r[f"exact_{name}"]),
                "",
                f"ours identity (3 s) {pct(ours)}",
            )
