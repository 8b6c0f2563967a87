"""Security checks at benchmark size: the tamper matrix over every field, fuzzing at 10x the
CI examples, and the escrow's stateful invariants with 4x the examples.

Each part is a pytest run of the CI test with larger settings (the tests are the single
source of the checks); this collects the figures for the README table.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import Report

ROOT = Path(__file__).resolve().parent.parent
FUZZ_EXAMPLES = 1000  # per fuzz test (CI: 100)
# stateful escrow runs (CI: 5 x 20 steps); each step is a chain transaction, so this is
# minutes, past pytest's default 600 s timeout (a timeout inside hypothesis shows up as
# FlakyStrategyDefinition): the run has its own timeout
ESCROW_EXAMPLES = 20
ESCROW_STEPS = 25
ESCROW_TIMEOUT_S = 3600


def _pytest(*args: str, **env: str) -> tuple[str, float]:
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
    )
    text = out.stdout + out.stderr
    if out.returncode != 0:
        raise SystemExit(f"pytest {' '.join(args)} failed:\n{text[-3000:]}")
    return text, time.monotonic() - t0


def run() -> Report:
    report = Report("security")
    text, s = _pytest("tests/security/test_tamper_matrix.py", "-m", "bench", "-s")
    mutations = int(re.search(r"proof bundle: (\d+) single-field", text).group(1))  # type: ignore[union-attr]
    report.data["bundle_mutations"] = mutations
    report.row(
        "proof bundle: single-field mutations rejected",
        f"{mutations:,} / {mutations:,}",
        "all",
        f"8-event demo bundle, every field changed/retyped/removed/extended; {s:.0f} s",
    )
    text, s = _pytest(
        "tests/security/test_fuzz.py",
        "--hypothesis-show-statistics",
        LIVETRUST_FUZZ_EXAMPLES=str(FUZZ_EXAMPLES),
    )
    passing = sum(int(n) for n in re.findall(r"- (\d+) passing, 0 failing", text))
    tests = len(re.findall(r"^tests/security/test_fuzz.py::", text, re.M))
    report.data["fuzz_examples"] = passing
    report.row(
        "fuzz examples (EPCIS, hashing, bundles, manifests, key files, payloads)",
        f"{passing:,}",
        "no crash",
        f"{tests} hypothesis tests, every rejection a typed error with a code; {s:.0f} s",
    )
    _, s = _pytest(
        "tests/contracts/test_escrow_invariants.py",
        f"--timeout={ESCROW_TIMEOUT_S}",
        ESCROW_EXAMPLES=str(ESCROW_EXAMPLES),
        ESCROW_STEPS=str(ESCROW_STEPS),
    )
    report.data["escrow_examples"] = ESCROW_EXAMPLES
    report.row(
        "escrow stateful invariants",
        f"{ESCROW_EXAMPLES} runs x {ESCROW_STEPS} steps",
        "no violation",
        f"money conserved, no order stuck; CI runs 5 x 20; {s:.0f} s",
    )
    return report
