"""Where the anchoring probe's thresholds sit: a measurement probe, not part of ``make bench``.

``python -m benchmarks.probe_anchor_scores [HEIGHT [SEEDS]]`` (~1 min per seed on one core
at 480p). ``Detector.anchoring`` takes another playback rate when its best hypothesis scores
``_ANCHOR_MIN_SCORE`` and beats normal speed by ``_ANCHOR_MARGIN``. This marks scene clips
(14 s of broadcast, moving mark) with one key, plays them at each of ``SPEED_RATES`` and at
normal speed, re-encodes them at x264 CRF 28 and prints, per clip, the best normal-speed and
the best other-rate score over the geometry search's candidates and what ``anchoring``
decided; then the same for clips an unrelated key reads (the mark of another key, and no
mark): their best other-rate score is the noise the thresholds must stay above.
"""

from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np

from benchmarks import bench_watermark as bench
from services._clip_demo import Edit, apply_edits
from watermark import Detector, Embedder, EmbedSettings, StreamerKey
from watermark._detect import ANCHOR_MIN_Z, SPEED_RATES, AnchorProbe
from watermark._synth import scene_clip
from watermark._video import _SYNC_FRAMES, _SYNC_SECONDS, pick_samples

FPS = 25.0
SECONDS = 14.0
OTHER = StreamerKey("mallory", b"\x07" * 32)


@dataclasses.dataclass
class Reading:
    case: str
    z: float  # the geometry search's best sync z
    normal: float  # best normal-speed hypothesis over the candidates
    other: float  # best other-rate hypothesis over the candidates
    other_rate: float
    chosen: float  # the rate ``anchoring`` decided (1.0: normal speed or not probed)


def read(case: str, frames: list[np.ndarray], key: StreamerKey) -> Reading:
    det = Detector(key)

    def clock() -> list[tuple[float, np.ndarray]]:
        return [(i / FPS, y) for i, y in enumerate(frames)]

    samples, phases = pick_samples(
        iter(clock()), min(_SYNC_SECONDS, len(frames) / FPS), _SYNC_FRAMES
    )
    cands = [g for g in det.geometry_candidates(samples, phases) if g.phase is not None]
    if not cands:
        return Reading(case, 0.0, -math.inf, -math.inf, 1.0, 1.0)
    probe = AnchorProbe.read({round(g.period, 6) for g in cands}, iter(clock()))
    normal, other, other_rate = -math.inf, -math.inf, 1.0
    for g in cands:
        ranked = det.anchor_scores(g, probe)
        normal = max(normal, next(a.score for a in ranked if a.rate == 1.0))
        o = next(a for a in ranked if a.rate != 1.0)
        if o.score > other:
            other, other_rate = o.score, o.rate
    chosen = (
        det.anchoring(cands[0], cands, probe).anchor_rate if cands[0].z >= ANCHOR_MIN_Z else 1.0
    )
    return Reading(case, cands[0].z, normal, other, other_rate, chosen)


def main(argv: list[str]) -> None:
    height = int(argv[0]) if argv else 480
    seeds = range(int(argv[1]) if len(argv) > 1 else 3)
    width = round(height * 16 / 9) // 2 * 2
    rows: list[Reading] = []
    for seed in seeds:
        src = list(scene_clip(height, width, SECONDS * max(SPEED_RATES), FPS, seed=seed))
        emb = Embedder(bench.KEY, bench.START, height, width, EmbedSettings(follow=True))
        marked = [emb.mark(y, i / FPS) for i, y in enumerate(src)]
        emb = Embedder(OTHER, bench.START, height, width, EmbedSettings(follow=True))
        foreign = [emb.mark(y, i / FPS) for i, y in enumerate(src[: round(SECONDS * FPS)])]
        for rate in (1.0, *SPEED_RATES):
            # a re-upload played at ``rate``, as the clip bench makes it
            clip = apply_edits(marked[: round(SECONDS * rate * FPS)], [Edit("speed", factor=rate)])
            got = bench.x264(clip, 28)[0]
            rows.append(read(f"seed {seed} {rate:g}x", got, bench.KEY))
            print(rows[-1], flush=True)
        for name, frames in (("other key", foreign), ("no mark", src[: round(SECONDS * FPS)])):
            got = bench.x264(frames, 28)[0]
            rows.append(read(f"seed {seed} {name}", got, bench.KEY))
            print(rows[-1], flush=True)
    print("\n| clip | sync z | normal | best other (rate) | chosen |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.case} | {r.z:.1f} | {r.normal:.1f} | {r.other:.1f} ({r.other_rate:g}x) "
            f"| {r.chosen:g}x |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
