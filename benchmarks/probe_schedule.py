"""The moving mark's re-anchoring schedule end to end: a measurement probe, not ``make bench``.

``python -m benchmarks.probe_schedule [HEIGHT [SEED]]`` (~4 min on one core at 720p). Marks
the watermark bench's scene clip (20 s, 720p unless told) with the embedder as it is
(re-anchored every ``ANCHOR_SECONDS``), reports its x264 CRF 23 overhead, and reads it after
CRF 23 / CRF 28 / CRF 28 + 50 % with the detector as it is: the geometry and re-anchoring
schedule found by ``frame_geometries`` (nothing told), window rates as the watermark bench
counts them. ``benchmarks.probe_anchoring`` compares schedules the detector cannot find by
itself; this one checks that a schedule set in ``watermark/_motion.py`` is found and read.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import cv2
import numpy as np

from benchmarks import bench_watermark as bench
from watermark import Detector
from watermark._motion import ANCHOR_SECONDS
from watermark._synth import scene_clip


def main() -> int:
    cv2.setNumThreads(1)
    height = int(sys.argv[1]) if len(sys.argv) > 1 else 720
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    frames = list(scene_clip(height, height * 16 // 9, bench.SECONDS, bench.FPS, seed=seed))
    _, plain, _, _ = bench.x264(frames, 23)
    marked = bench.mark(frames, follow=True)[0]
    _, size, _, _ = bench.x264(marked, 23)
    print(
        f"anchors every {ANCHOR_SECONDS} s, {height}p, seed {seed}: "
        f"CRF 23 overhead {100 * (size / plain - 1):.1f} %",
        flush=True,
    )
    det = Detector(bench.KEY)
    attacks: dict[str, Callable[[list[np.ndarray]], list[np.ndarray]]] = {
        "CRF 23": lambda f: bench.x264(f, 23)[0],
        "CRF 28": lambda f: bench.x264(f, 28)[0],
        "CRF 28 + 50%": lambda f: bench.x264(f, 28, bench._half(f))[0],
    }
    for name, attack in attacks.items():
        geo, ev, _ = bench.evidence(det, attack(marked), bench.FPS)
        r = bench.window_rates(det, geo, ev)
        print(
            f"  {name}: identity {100 * r['identity_3s']:.1f} %, time {100 * r['time_2s']:.1f} %"
            f" (phase {geo.phase}, anchors {geo.anchors()}, sync z {geo.z:.1f})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
