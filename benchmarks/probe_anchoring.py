"""What the moving mark's re-anchoring costs: a measurement probe, not part of ``make bench``.

``python -m benchmarks.probe_anchoring [HEIGHT [SEED]]`` (~8 min on one core at 720p). The
moving mark jumps back to the frame-fixed position at every broadcast second
(``Embedder._moved``) so that a re-encoder codes it afresh and the detector knows where it
is. This probe marks the bench scene clip (20 s, 720p unless told) four ways and reports the
x264 CRF 23 overhead of each, and how each reads after CRF 23 / CRF 28 / CRF 28 + 50 %
(identity from 3-s windows, time +-1 s from 2-s windows, every 0.4 s, as the watermark bench
counts them):

* ``per-second``: the embedder as it is, read by the detector as it is;
* ``every 2 s``: the whole mark re-anchored at every other broadcast second, read by the
  detector's ``Evidence`` stabilised on that schedule (``anchors=(0.5, 0)``: the clip starts
  on an anchor; the detector cannot find such a schedule by itself yet);
* ``time-only``: the constant layer (sync + identity) never re-anchored, the time layer
  re-anchored every second;
* ``never``: the whole mark glides with the picture from the broadcast start.

The last two schemes have no detector yet; they are read here by a prototype: evidence
stabilised against the motion since the clip's first frame (``Evidence`` with one anchor
at the start) for the gliding layer, per second for a re-anchored one, the tile offset
found on the whole clip and searched again within +-4 samples for each window (the two
sides' motion estimates drift apart slowly). Its figures are what a real detector could
start from, not what ``detect_file`` does.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from benchmarks import bench_watermark as bench
from watermark import Detector, Embedder, EmbedSettings, Evidence, Geometry
from watermark._detect import SUB_BUCKETS_PER_SECOND, _AnchorClock
from watermark._motion import ANCHOR_SECONDS
from watermark._patterns import broadcast_period
from watermark._payload import COUNTER_BITS, EPOCH_SECONDS, TIME_Z_THRESHOLD
from watermark._synth import scene_clip
from watermark._video import frame_geometries

NEVER = 10**9  # seconds between anchors: never within a clip
LOCAL_SEARCH = 4  # detector samples (1/3 chip) around the clip's offset, per window
SPLIT = "time-only"


class _Anchored(Embedder):
    """The embedder with the moving mark re-anchored every ``every`` seconds; with
    ``split`` only the time layer is re-anchored (every second) and the constant one
    glides."""

    def __init__(self, h: int, w: int, every: int, split: bool = False) -> None:
        super().__init__(bench.KEY, bench.START, h, w, EmbedSettings(follow=True))
        self.every = every
        self.split = split
        self._time_clock = _AnchorClock(float(ANCHOR_SECONDS), 0.0)  # every second

    def _moved(
        self, y: np.ndarray, second: int, cp: np.ndarray, tp: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self.split:
            # the embedder re-anchors where (start + s) // ANCHOR_SECONDS changes
            return super()._moved(y, second // self.every * ANCHOR_SECONDS, cp, tp)
        const, _ = super()._moved(y, 0, cp, tp)  # the chain is never reset
        assert self.motion is not None
        a = self._time_clock.since(float(second), self.motion.A)
        if np.allclose(a, np.eye(3)):
            return const, tp
        return const, self._warped(a)[1]


def _marked(frames: Sequence[np.ndarray], every: int, split: bool) -> list[np.ndarray]:
    h, w = frames[0].shape
    emb = _Anchored(h, w, every, split)
    return [emb.mark(f, i / bench.FPS) for i, f in enumerate(frames)]


def fold_clip(
    frames: Sequence[np.ndarray],
    period: float,
    anchors: tuple[float, float] | None,
    other_phases: bool = True,
) -> Evidence:
    """The clip folded into ``Evidence`` as the detector folds it (``other_phases``: also at
    the other 0.2-s phases, for pieces after a cut)."""
    ev = Evidence(period, anchors=anchors, other_phases=other_phases)
    for i, y in enumerate(frames):
        ev.add_frame(y, i / bench.FPS)
    ev.settle()
    return ev


def _stabilised(frames: Sequence[np.ndarray], period: float, rate: float) -> Evidence:
    # the clip starts on a broadcast second: no other phase to try
    return fold_clip(frames, period, (rate, 0.0), other_phases=False)


def _near(det: Detector, tile: np.ndarray, centre: tuple[int, int]) -> tuple[int, int]:
    """The sync peak of ``tile`` within ``LOCAL_SEARCH`` samples of ``centre``."""
    corr = np.fft.ifft2(np.fft.fft2(tile) * det._sync_f).real
    n = corr.shape[0]
    r = range(-LOCAL_SEARCH, LOCAL_SEARCH + 1)
    cands = [((centre[0] + dy) % n, (centre[1] + dx) % n) for dy in r for dx in r]
    return max(cands, key=lambda yx: float(corr[yx]))


def _prototype(det: Detector, frames: Sequence[np.ndarray], split: bool) -> dict[str, float]:
    """Window rates of a gliding mark (``split``: only the constant layer glides)."""
    # the bench clips are neither cropped nor scaled: the embedder's own period
    period = float(broadcast_period(frames[0].shape[0]))
    glide = _stabilised(frames, period, 1e-9)
    per_second = _stabilised(frames, period, 1.0) if split else glide
    buckets = sorted(glide.tiles)
    z, offset = det._sync_z(sum(glide.tiles.values()))
    geo = Geometry(period, offset, z)

    def at(win: Sequence[int]) -> Geometry:
        return dataclasses.replace(geo, offset=_near(det, sum(glide.tiles[b] for b in win), offset))

    id_ok, id_n, t_ok, t_n = 0, 0, 0, 0
    for a in range(0, len(buckets) - 15 + 1, bench.STEP):
        win = buckets[a : a + 15]
        g = at(win)
        p = det.decode_identity(sum(det.soft_bits(glide.tiles[b], g)[0] for b in win))
        id_n += 1
        id_ok += p is not None and p.epoch == bench.START >> COUNTER_BITS
    for a in range(0, len(buckets) - 10 + 1, bench.STEP):
        win = buckets[a : a + 10]
        g = geo if split else at(win)  # a re-anchored layer sits where a still one would
        rows = np.array([det.soft_bits(per_second.time_tiles[b], g)[1] for b in win])
        c, tz, ph = det.decode_window_time(rows)
        truth = (bench.START + round((win[0] - ph) / SUB_BUCKETS_PER_SECOND)) % EPOCH_SECONDS
        err = min(abs(c - truth), EPOCH_SECONDS - abs(c - truth))
        t_n += 1
        t_ok += tz >= TIME_Z_THRESHOLD and err <= 1
    return {"identity_3s": id_ok / id_n, "time_2s": t_ok / t_n}


# what the probes read their marks after (the watermark bench's attacks of that name)
ATTACKS: dict[str, Callable[[list[np.ndarray]], list[np.ndarray]]] = {
    "CRF 23": lambda f: bench.x264(f, 23)[0],
    "CRF 28": lambda f: bench.x264(f, 28)[0],
    "CRF 28 + 50%": lambda f: bench.x264(f, 28, bench._half(f))[0],
}


def bench_scene(argv: Sequence[str]) -> tuple[int, int, list[np.ndarray], int]:
    """(height, seed, frames, CRF 23 size unmarked) of the bench scene clip at the probes'
    ``[HEIGHT [SEED]]`` arguments (720, 1)."""
    height = int(argv[1]) if len(argv) > 1 else 720
    seed = int(argv[2]) if len(argv) > 2 else 1
    frames = list(scene_clip(height, height * 16 // 9, bench.SECONDS, bench.FPS, seed=seed))
    _, plain, _, _ = bench.x264(frames, 23)
    return height, seed, frames, plain


def main() -> int:
    cv2.setNumThreads(1)
    det = Detector(bench.KEY)
    _, _, frames, plain = bench_scene(sys.argv)
    print("| anchors | CRF 23 overhead | " + " | ".join(f"{a}: id / time" for a in ATTACKS) + " |")
    print("|---|---|" + "---|" * len(ATTACKS))
    schemes = (
        ("per-second", 1, False),
        ("every 2 s", 2, False),
        (SPLIT, 1, True),
        ("never", NEVER, False),
    )
    for name, every, split in schemes:
        marked = _marked(frames, every, split)
        _, size, _, _ = bench.x264(marked, 23)
        cells = []
        for attack in ATTACKS.values():
            got = attack(marked)
            if every < NEVER and not split:
                g = frame_geometries(got, bench.FPS, [det], moving=True)[0]
                # the bench clip starts on a broadcast second, and with it every schedule
                anchors = g.anchors() if every == ANCHOR_SECONDS else (ANCHOR_SECONDS / every, 0.0)
                ev = fold_clip(got, g.period, anchors)
                r = bench.window_rates(det, g, ev)
            else:
                r = _prototype(det, got, split)
            cells.append(f"{r['identity_3s']:.1%} / {r['time_2s']:.1%}")
        print(f"| {name} | {size / plain - 1:+.1%} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
