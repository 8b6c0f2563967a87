"""How close the moving mark's geometry comes to the true period: a measurement probe, not
part of ``make bench``.

``python -m benchmarks.probe_periods [TRIALS [WORK]]`` (~1.5 min per trial on one core;
``WORK`` keeps the broadcast for the next run). The clip bench with the moving mark as the
default (issue 4, session 20: 236/240) lost clips where the geometry search and the anchoring
probe settled on a period 1-1.5 % off the broadcast's, where the mark does not add up. This
marks the clip bench's broadcast (same generator, seed, size) with the moving mark, cuts the
clip bench's normal-speed clips from it (same draws: ``bench_clip.Draw``; genuine at full
size, half size and cropped, cut, re-ordered; x264 CRF 28) and prints, per clip, the period
``frame_geometries`` finds with its phase, against the true one (the broadcast's, halved for
the half-size clip; a crop keeps it), and how many are within ``EXACT`` of it: a fast loop
for the period estimate (the whole clip bench takes ~50 min).

libx264 is not repeatable here run to run (issue 4, session 20), so a clip near the edge can
read differently on a second run; compare versions in one process on the same files.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.bench_clip import BROADCAST_S, FPS, SIZE, START, Draw, _frames
from services._clip_demo import apply_edits, encode_luma
from watermark import Detector, EmbedSettings, StreamerKey, embed_file, iter_luma
from watermark._patterns import nominal_period
from watermark._synth import scene_clip
from watermark._video import frame_geometries

KEY = StreamerKey("alice", b"\x05" * 32)
CLASSES = ("authentic", "authentic_half", "authentic_crop", "cut", "reorder")
EXACT = 0.002  # within a fine-search step (0.25 %) of the true period


def broadcast(work: Path) -> Path:
    """The clip bench's broadcast picture with the moving mark (reused from ``work``)."""
    marked = work / "broadcast-moving.mp4"
    if not marked.exists():
        src = encode_luma(
            scene_clip(SIZE[1], SIZE[0], BROADCAST_S, seed=1), work / "camera-1.mp4", crf=16
        )
        embed_file(str(src), str(marked), KEY, START, EmbedSettings(follow=True))
    return marked


def main(argv: list[str]) -> None:
    trials = int(argv[0]) if argv else 8
    work = Path(argv[1]) if len(argv) > 1 else Path(tempfile.mkdtemp(prefix="periods-"))
    work.mkdir(parents=True, exist_ok=True)
    marked = broadcast(work)
    nominal = nominal_period(SIZE[1])
    rng = random.Random(5)  # the clip bench's
    errors: list[float] = []
    det = Detector(KEY, now=START)
    for trial in range(trials):
        draw = Draw.take(rng, trial)
        base = _frames(marked, draw.first, draw.span)[: draw.n_clip]
        specs = draw.specs()
        for cls in CLASSES:
            scale = 0.5 if cls == "authentic_half" else 1.0
            clip = encode_luma(
                apply_edits(base, specs[cls][0]), work / f"t{trial}-{cls}.mp4", 28, scale
            )
            frames = [y for _, y in iter_luma(str(clip))]
            geo = frame_geometries(frames, FPS, [det], moving=True)[0]
            err = geo.period / (nominal * scale) - 1.0
            errors.append(err)
            mark = "*" if abs(err) < EXACT else " "
            print(
                f"t{trial} {cls:15s} period {geo.period:6.1f} ({err * 100:+.2f} %){mark} "
                f"z {geo.z:4.1f} phase {geo.phase} rate {geo.anchor_rate}",
                flush=True,
            )
    e = np.abs(np.asarray(errors))
    print(
        f"{int(np.sum(e < EXACT))}/{len(e)} within {EXACT * 100:.1f} %; "
        f"|error| median {np.median(e) * 100:.2f} %, max {e.max() * 100:.2f} %"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
