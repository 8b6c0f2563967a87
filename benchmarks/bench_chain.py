"""Chain figures: gas per call, anchors/s on the embedded chain, restart time vs history.

Run: ``make bench`` or ``python -m benchmarks chain``. ``BENCH_ANCHORS`` (default 10,000)
sets the history length for the restart measurement.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from hashlib import sha256
from pathlib import Path

from benchmarks._common import Report
from contracts import Chain, Role

GAS_TARGET_ANCHOR = 50_000  # issue 2: steady-state anchor target
RESTART_SCRIPT = r"""
import sys, time
t0 = time.perf_counter()
from pathlib import Path
from contracts import Chain
import contracts._embedded  # py-evm + eth-tester imports: fixed cost, reported apart
t1 = time.perf_counter()
c = Chain.connect("embedded", Path(sys.argv[1]), cache=Path(sys.argv[2]))
n = c.anchors.count()
t2 = time.perf_counter()
c.close()
print(f"{t1 - t0:.4f} {t2 - t1:.4f} {n}")
"""


def _root(i: int) -> bytes:
    """Roots look random (as real Merkle roots do): calldata gas depends on zero bytes."""
    return sha256(i.to_bytes(8, "big")).digest()


def _restart(home: Path, cache: Path) -> tuple[float, float, int]:
    out = subprocess.run(
        [sys.executable, "-c", RESTART_SCRIPT, str(home), str(cache)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def run() -> Report:
    report = Report("chain")
    n_anchors = int(os.environ.get("BENCH_ANCHORS", "10000"))
    with tempfile.TemporaryDirectory() as tmp:
        home, cache = Path(tmp) / "home", Path(tmp) / "cache"
        with Chain.connect("embedded", home, cache=cache) as c:
            first = c.anchors.anchor(1, 1, _root(1))
            steady = c.anchors.anchor(1, 2, _root(2))
            reg = c.actors.register("farm:bench", b"\x01" * 32, Role.FARM, 1)
            rot = c.actors.rotate("farm:bench", b"\x02" * 32, 10)
            rev = c.actors.revoke("farm:bench", 0, 5)
        restart_small = _restart(home, cache)

        with Chain.connect("embedded", home, cache=cache) as c:
            t0 = time.perf_counter()
            for i in range(3, n_anchors + 1):
                c.anchors.anchor(1, i, _root(i))
            elapsed = time.perf_counter() - t0
            db_bytes = (home / "chain" / "chain.sqlite").stat().st_size
        rate = (n_anchors - 2) / elapsed
        restart_big = _restart(home, cache)
        assert restart_big[2] == n_anchors

    report.data = {
        "gas": {
            "anchor_first": first.gas_used,
            "anchor_steady_state": steady.gas_used,
            "actor_register": reg.gas_used,
            "actor_rotate_key": rot.gas_used,
            "actor_revoke": rev.gas_used,
        },
        "embedded_anchors_per_s": rate,
        "anchors": n_anchors,
        "restart_s": {
            "after_2_anchors": restart_small[1],
            f"after_{n_anchors}_anchors": restart_big[1],
        },
        "import_s": restart_big[0],
        "chain_db_bytes": db_bytes,
    }
    report.row(
        "gas per anchor (steady state)",
        f"{steady.gas_used:,}",
        f"<= {GAS_TARGET_ANCHOR:,}",
        "1 storage slot/anchor; events per anchor tx: any number (one tree head)",
    )
    report.row("gas per anchor (first)", f"{first.gas_used:,}", "", "pays for the counter slot")
    actor_gas = f"{reg.gas_used:,} / {rot.gas_used:,} / {rev.gas_used:,}"
    report.row("gas: register actor / rotate / revoke", actor_gas)
    report.row("anchors/s, embedded chain", f"{rate:.0f}", "", "sequential, receipt awaited")
    report.row(
        f"restart after {n_anchors:,} anchors",
        f"{restart_big[1] * 1000:.0f} ms",
        "small",
        f"after 2: {restart_small[1] * 1000:.0f} ms; open + first read, imports apart",
    )
    return report
