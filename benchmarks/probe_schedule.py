"""The moving mark's re-anchoring schedule end to end: a measurement probe, not ``make bench``.

``python -m benchmarks.probe_schedule [HEIGHT [SEED]]`` (~4 min on one core at 720p). Marks
the watermark bench's scene clip (20 s, 720p unless told) with the moving mark as the
embedder makes it (re-anchored every ``ANCHOR_SECONDS``), reports its x264 CRF 23 overhead,
and reads it after CRF 23 / CRF 28 / CRF 28 + 50 % with the detector as it is, as a moving
mark whatever the default: geometry and re-anchoring schedule found by ``frame_geometries``
(nothing told), window rates as the watermark bench counts them.
``benchmarks.probe_anchoring`` compares schedules the detector cannot find by itself; this
one checks that a schedule set in ``watermark/_motion.py`` is found and read.
"""

from __future__ import annotations

import sys

import cv2

from benchmarks import bench_watermark as bench
from benchmarks.probe_anchoring import ATTACKS, bench_scene, fold_clip
from watermark import Detector
from watermark._motion import ANCHOR_SECONDS
from watermark._video import frame_geometries


def main() -> int:
    cv2.setNumThreads(1)
    height, seed, frames, plain = bench_scene(sys.argv)
    marked = bench.mark(frames, follow=True)[0]
    _, size, _, _ = bench.x264(marked, 23)
    print(
        f"anchors every {ANCHOR_SECONDS} s, {height}p, seed {seed}: "
        f"CRF 23 overhead {100 * (size / plain - 1):.1f} %",
        flush=True,
    )
    det = Detector(bench.KEY)
    for name, attack in ATTACKS.items():
        got = attack(marked)
        # read as a moving mark whatever ``EmbedSettings().follow`` says
        geo = frame_geometries(got, bench.FPS, [det], moving=True)[0]
        r = bench.window_rates(det, geo, fold_clip(got, geo.period, geo.anchors()))
        print(
            f"  {name}: identity {100 * r['identity_3s']:.1f} %, time {100 * r['time_2s']:.1f} %"
            f" (phase {geo.phase}, anchors {geo.anchors()}, sync z {geo.z:.1f})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
