"""Clip authenticity figures (issue 5): verdict accuracy per class on a generated, labelled
test set, the false-alarm rate, and the time to verify a 60-second 720p clip on one core.

Test set: one 60 s 720p broadcast (camera moves over photographs, a cut every 4 s), marked,
fingerprinted into a signed manifest and anchored. Each trial takes a ``CLIP_LEN_S`` clip
from a random point of the broadcast (random frame, so edits fall at any sub-second phase)
and makes one clip per class, each re-encoded at x264 CRF 28:

- ``authentic``: the clip as it is; ``authentic_half``: at 50 % size (360p);
  ``authentic_crop``: 10 % of each side cropped at a random place (1152x648);
- ``cut``: 2-4 s cut out; ``reorder``: two 2-s segments swapped;
- ``splice``: a 3-s segment replaced with other footage;
- ``price`` / ``blur`` / ``composite``: a 3-s region altered by a price overlay, a
  face-sized blur, another clip inset;
- ``audio``: the original picture with its sound replaced (a dub) — the broadcast has a tone
  track whose loudness changes every 0.5 s, the dub another one;
- ``forged``: the streamer's mark on other footage (a perfect mark-copy attack);
- ``speed``: the clip played at 1.25x or 1.5x.

A clip counts as flagged when the expected finding is reported within +-1 s of the edit (the
issue's measure); its verdict is counted separately (``edited`` for cut / reorder / speed,
``altered`` for splice / overlays / audio, ``forged``). False alarms: genuine clips not
judged authentic; seam false alarms: cut or re-ordered clips judged altered.

Run: ``make bench`` or ``python -m benchmarks clip``; ``BENCH_CLIP_TRIALS`` (default 12)
sets the trials per class and ``BENCH_CLIP_BUDGET_S`` (default 1500) stops starting new
trials after that many seconds (the machine is shared; every count is reported with its n).
``BENCH_CLIP_WORK=DIR`` keeps the broadcast, its anchored manifest and the labelled clips
in ``DIR`` and reuses them on the next run (same seed, same clips), so a verifier change can
be re-scored without regenerating the set (generation is about as costly as scoring).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import random
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from benchmarks._common import Report
from provenance import MemoryRegistry, Store
from services._clip_demo import (
    TONE_RATE,
    Edit,
    apply_edits,
    encode_luma,
    make_broadcast,
    mux_audio,
    mux_tone,
)
from watermark import KeyStore, embed_file, iter_luma
from watermark._clip import ClipVerdict, StoreSource, verify_clip
from watermark._manifest import ManifestStore, record_manifest
from watermark._synth import scene_clip

START = 1_767_225_600
BROADCAST_S = 60.0
CLIP_LEN_S = 10.0
SIZE = (1280, 720)
FPS = 25
TARGET_AUTHENTIC = 0.99  # issue 5
TARGET_DETECT = 0.95
TARGET_VERIFY_S = 15.0

CLASSES = (
    "authentic",
    "authentic_half",
    "authentic_crop",
    "cut",
    "reorder",
    "splice",
    "price",
    "blur",
    "composite",
    "audio",
    "forged",
    "speed",
)
GENUINE = ("authentic", "authentic_half", "authentic_crop")


@dataclass(frozen=True)
class Case:
    """One labelled clip: where it is, what a verifier must say, and where."""

    cls: str
    path: Path
    verdict: str
    code: str | None = None  # expected finding
    times: tuple[float, ...] = ()  # where (+-1 s)


Spec = tuple[list[Edit], str, str | None, tuple[float, ...]]  # edits, verdict, code, times


@dataclass(frozen=True)
class Draw:
    """One trial's random choices: where its clip starts in the broadcast and where each
    class's edit falls (``labelled_set``; ``probe_periods`` re-makes the same clips)."""

    trial: int
    factor: float  # the speed class's playback rate
    cut_len: float
    first: int  # the clip's first broadcast frame
    a: float  # cut / splice / overlay start (clip s)
    s1: float  # re-order: the two swapped 2-s segments' starts
    s2: float
    crop: Edit

    @classmethod
    def take(cls, rng: random.Random, trial: int) -> Draw:
        """The next trial's draws from ``rng`` (the order keeps earlier sets' clips)."""
        factor = (1.25, 1.5)[trial % 2]
        cut_len = round(rng.uniform(2.0, 4.0), 2)
        first = rng.randrange(0, round(BROADCAST_S * FPS) - cls._span(factor))
        a = round(rng.uniform(2.0, CLIP_LEN_S - 5.0), 2)
        s1 = round(rng.uniform(1.0, 2.5), 2)
        s2 = round(rng.uniform(5.0, CLIP_LEN_S - 2.5), 2)
        place = random.Random(500 + trial)  # its own stream: the other classes' draws stay
        crop = Edit("crop", factor=0.9, c=place.random(), d=place.random())
        return cls(trial, factor, cut_len, first, a, s1, s2, crop)

    @property
    def n_clip(self) -> int:
        return round(CLIP_LEN_S * FPS)

    @property
    def span(self) -> int:
        """Broadcast frames the speed class plays in ``n_clip`` frames (and one more)."""
        return self._span(self.factor)

    @staticmethod
    def _span(factor: float) -> int:
        return round((CLIP_LEN_S * factor) * FPS) + 1

    def specs(self) -> dict[str, Spec]:
        """The picture-edited classes: edits, expected verdict, finding and where."""
        a, s1, s2 = self.a, self.s1, self.s2
        return {
            "authentic": ([], "authentic", None, ()),
            "authentic_half": ([], "authentic", None, ()),
            "authentic_crop": ([self.crop], "authentic", None, ()),
            "cut": ([Edit("cut", a, a + self.cut_len)], "edited", "cut", (a,)),
            "reorder": ([Edit("swap", s1, s1 + 2, s2, s2 + 2)], "edited", "reorder", (s1 + 2, s2)),
            "splice": ([Edit("splice", a, a + 3.0)], "altered", "splice", (a,)),
            "price": ([Edit("price", a, a + 3.0, text="$1.99")], "altered", "altered", (a,)),
            "blur": ([Edit("blur", a, a + 3.0)], "altered", "altered", (a,)),
            "composite": ([Edit("composite", a, a + 3.0)], "altered", "altered", (a,)),
        }


def flagged(v: ClipVerdict, case: Case) -> bool:
    """The issue's measure: genuine -> authentic; edited -> the finding within +-1 s."""
    if case.code is None:
        return v.verdict == case.verdict
    return any(
        f.code == case.code
        and f.clip_time is not None
        and (not case.times or min(abs(f.clip_time - t) for t in case.times) <= 1.0)
        for f in v.findings
    )


def _frames(path: Path, first: int, n: int) -> list[np.ndarray]:
    """Frames ``first .. first + n`` of ``path`` (only those are kept)."""
    out: list[np.ndarray] = []
    for i, (_, y) in enumerate(iter_luma(str(path))):
        if i >= first + n:
            break
        if i >= first:
            out.append(y.copy())
    return out


def _audio(path: Path, first_s: float, seconds: float) -> np.ndarray:
    """Mono samples of ``path`` from ``first_s`` on (the broadcast's tone track)."""
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as c:
        rs = av.AudioResampler(format="flt", layout="mono", rate=TONE_RATE)
        for frame in c.decode(audio=0):
            for out in rs.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
    a = np.concatenate(chunks)
    i = round(first_s * TONE_RATE)
    return a[i : i + round(seconds * TONE_RATE)]


def _other_footage(seconds: float, seed: int) -> list[np.ndarray]:
    """Footage that is not the broadcast: the same generator's photographs upside down (the
    right way up, a shot can reproduce a broadcast shot's opening frame exactly)."""
    return [np.ascontiguousarray(f[::-1]) for f in scene_clip(SIZE[1], SIZE[0], seconds, seed=seed)]


def labelled_set(
    work: Path,
    marked: Path,
    keys: KeyStore,
    trials: int,
    rng: random.Random,
    budget_s: float = float("inf"),
) -> Iterator[tuple[int, list[Case]]]:
    """Per trial, one clip per class (see the module docstring); stops after ``budget_s``."""
    foreign = _other_footage(4.0, seed=9)
    began = time.perf_counter()
    for trial in range(trials):
        if time.perf_counter() - began > budget_s:
            return
        d = work / f"t{trial}"
        d.mkdir(parents=True, exist_ok=True)
        draw = Draw.take(rng, trial)
        factor, first = draw.factor, draw.first
        cached = d / "cases.pkl"
        if cached.exists():  # the draws above keep the next trials' clips the same
            yield trial, pickle.loads(cached.read_bytes())
            continue
        base_all = _frames(marked, first, draw.span)
        base = base_all[: draw.n_clip]
        cases: list[Case] = []
        for cls, (edits, verdict, code, times) in draw.specs().items():
            scale = 0.5 if cls == "authentic_half" else 1.0
            clip = encode_luma(
                apply_edits(base, edits, foreign), d / f"{cls}-video.mp4", crf=28, scale=scale
            )
            if cls in GENUINE:  # with the broadcast's own sound
                clip = mux_audio(clip, d / f"{cls}.mp4", _audio(marked, first / FPS, CLIP_LEN_S))
            cases.append(Case(cls, clip, verdict, code, times))
        # audio: the original picture, another sound track (a dub)
        silent = encode_luma(base, d / "audio-video.mp4", crf=28)
        dub = np.random.default_rng(trial + 100)
        cases.append(
            Case(
                "audio",
                mux_tone(silent, d / "audio.mp4", CLIP_LEN_S, seed=int(dub.integers(1 << 30))),
                "altered",
                "altered",
                (),  # the whole clip is dubbed: a finding anywhere is at the right time
            )
        )
        # forged: the streamer's mark on other footage, at this clip's broadcast time
        other = encode_luma(_other_footage(CLIP_LEN_S, seed=20 + trial), d / "other.mp4", crf=16)
        mark_t = START + first // FPS
        embed_file(str(other), str(d / "forged-raw.mp4"), keys.load("alice"), mark_t)
        forged = encode_luma(
            _frames(d / "forged-raw.mp4", 0, draw.n_clip), d / "forged.mp4", crf=28
        )
        cases.append(Case("forged", forged, "forged", "identity_mismatch"))
        # speed: the clip played faster
        fast = apply_edits(base_all, [Edit("speed", factor=factor)])[: draw.n_clip]
        cases.append(
            Case("speed", encode_luma(fast, d / "speed.mp4", crf=28), "edited", "speed_changed")
        )
        cached.write_bytes(pickle.dumps(cases))
        yield trial, cases


def setup(work: Path) -> tuple[KeyStore, MemoryRegistry, Path, ManifestStore, dict[str, Any]]:
    """The broadcast (with a tone track), its anchored manifest, keys and registry; reused
    from ``work`` when a previous run left them there (the registry is pickled)."""
    home = work / "home"
    cached = work / "setup.pkl"
    if cached.exists():
        reg, marked, info = pickle.loads(cached.read_bytes())
        store = ManifestStore(Store.open(f"sqlite:///{work / 'db.sqlite'}"))
        return KeyStore(home), reg, marked, store, info
    keys = KeyStore(home)
    keys.register("alice")
    reg = MemoryRegistry()
    reg.register("alice", keys.public_key("alice"), 6, START - 60)
    video = make_broadcast(work, home, "alice", START, BROADCAST_S, SIZE, seed=1)
    marked = mux_tone(video, work / "broadcast-audio.mp4", BROADCAST_S, seed=1)
    store = ManifestStore(Store.open(f"sqlite:///{work / 'db.sqlite'}"))
    t0 = time.process_time()
    stored = record_manifest(store, str(marked), "alice", START, keys.signing_key("alice"))
    info = {
        "manifest_cpu_s_per_broadcast_s": (time.process_time() - t0) / BROADCAST_S,
        "manifest_bytes_per_s": len(stored.manifest.canonical) / BROADCAST_S,
    }
    store.anchor(reg)
    cached.write_bytes(pickle.dumps((reg, marked, info)))
    return keys, reg, marked, store, info


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Every thread of the process (decoder and OpenCV pools included) pinned to one CPU,
    as the issue's "on one core" reads: unpinned, process CPU time also bills the pools'
    spinning and hand-offs (the moving mark's 60-s verify: 14.3-15.3 s CPU unpinned,
    11.5-12.4 s pinned; issue 4, session 19). Threads started inside inherit the pin."""
    allowed = os.sched_getaffinity(0)
    tasks = [int(t) for t in os.listdir("/proc/self/task")]
    one = {min(allowed)}
    for tid in tasks:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, one)
    try:
        yield
    finally:
        for tid in (int(t) for t in os.listdir("/proc/self/task")):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, allowed)


def run() -> Report:
    report = Report("clip")
    trials = int(os.environ.get("BENCH_CLIP_TRIALS", "12"))
    budget = float(os.environ.get("BENCH_CLIP_BUDGET_S", "1500"))
    rng = random.Random(5)
    data: dict[str, Any] = {"clip_seconds": CLIP_LEN_S, "classes": {}}
    keep = os.environ.get("BENCH_CLIP_WORK")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(keep) if keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        keys, reg, marked, store, info = setup(work)
        data.update(info)
        source = StoreSource(store)

        def verify(path: Path) -> ClipVerdict:
            return verify_clip(str(path), keys.all(), source, reg, reg)

        # (1) verify time: the whole 60 s broadcast re-encoded at CRF 28, on one core
        whole = work / "whole.mp4"
        if not whole.exists():
            whole = encode_luma((y for _, y in iter_luma(str(marked))), whole, crf=28)
        c0, w0 = time.process_time(), time.perf_counter()
        v = verify(whole)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        with one_core():
            c1, w1 = time.process_time(), time.perf_counter()
            verify(whole)
            cpu1, wall1 = time.process_time() - c1, time.perf_counter() - w1
        data["verify_60s_720p"] = {
            "one_core_s": wall1,
            "one_core_cpu_s": cpu1,
            "cpu_s": cpu,
            "wall_s": wall,
            "verdict": v.verdict,
        }
        report.row(
            "verify 60 s 720p clip (CRF 28), one core",
            f"{wall1:.1f} s",
            f"<= {TARGET_VERIFY_S:.0f} s",
            f"decode included; every thread pinned to one core (CPU {cpu1:.1f} s); unpinned "
            f"CPU {cpu:.1f} s, wall {wall:.1f} s on a shared 2-core machine; verdict {v.verdict}",
        )
        # (2) accuracy per class
        stats = score(labelled_set(work, marked, keys, trials, rng, budget), verify)
    data.update(stats)
    _rows(report, stats)
    report.row(
        "manifest size",
        f"{data['manifest_bytes_per_s'] / 1024:.1f} KB/s",
        "",
        f"fingerprinting {data['manifest_cpu_s_per_broadcast_s'] * 1000:.0f} ms CPU "
        "per broadcast second",
    )
    data["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report.data = data
    return report


def score(
    trials: Iterator[tuple[int, list[Case]]], verify: Callable[[Path], ClipVerdict]
) -> dict[str, Any]:
    """Per class: flagged (issue measure), verdict right, verdict counts; false alarms."""
    per: dict[str, dict[str, Any]] = {
        c: {"ok": 0, "verdict_ok": 0, "n": 0, "verdicts": {}, "misses": [], "cpu_s": 0.0}
        for c in CLASSES
    }
    done = 0
    for trial, cases in trials:
        for case in cases:
            c0 = time.process_time()
            v = verify(case.path)
            p = per[case.cls]
            p["cpu_s"] += time.process_time() - c0
            p["n"] += 1
            p["verdicts"][v.verdict] = p["verdicts"].get(v.verdict, 0) + 1
            hit = flagged(v, case)
            p["ok"] += hit
            p["verdict_ok"] += v.verdict == case.verdict
            if not hit:
                found = [(f.code, f.clip_time) for f in v.findings]
                p["misses"].append({"trial": trial, "expected": case.times, "found": found})
        done += 1
        print(f"   trial {done}: " + ", ".join(f"{c} {per[c]['ok']}" for c in CLASSES), flush=True)
    genuine_n = sum(per[c]["n"] for c in GENUINE)
    false_alarms = genuine_n - sum(per[c]["ok"] for c in GENUINE)
    seams_n = per["cut"]["n"] + per["reorder"]["n"]
    seam_alarms = sum(per[c]["verdicts"].get("altered", 0) for c in ("cut", "reorder"))
    return {
        "trials": done,
        "classes": per,
        "false_alarm_rate": false_alarms / max(1, genuine_n),
        "false_alarms": [false_alarms, genuine_n],
        "seam_false_alarm_rate": seam_alarms / max(1, seams_n),
        "seam_false_alarms": [seam_alarms, seams_n],
    }


def _rows(report: Report, stats: dict[str, Any]) -> None:
    for cls in CLASSES:
        p = stats["classes"][cls]
        n = max(1, p["n"])
        genuine = cls in GENUINE
        report.row(
            f"clip {cls.replace('_', ' ')}: {'authentic' if genuine else 'flagged at +-1 s'}",
            f"{100 * p['ok'] / n:.0f}% ({p['ok']}/{p['n']})",
            f">= {100 * (TARGET_AUTHENTIC if genuine else TARGET_DETECT):.0f}%",
            f"verdict right {p['verdict_ok']}/{p['n']}; "
            + ", ".join(f"{k} {c}" for k, c in sorted(p["verdicts"].items()))
            + f"; {p['cpu_s'] / n:.1f} s CPU per 10 s clip",
        )
    fa, gn = stats["false_alarms"]
    report.row(
        "false alarms on genuine clips",
        f"{100 * stats['false_alarm_rate']:.1f}% ({fa}/{gn})",
        "reported",
        "genuine CRF 28, full size, half size and cropped, not judged authentic",
    )
    sa, sn = stats["seam_false_alarms"]
    report.row(
        "seam false alarms",
        f"{100 * stats['seam_false_alarm_rate']:.1f}% ({sa}/{sn})",
        "reported",
        "cut or re-ordered clips judged altered",
    )
