"""Static analysis of the Vyper contracts with natrix (a Vyper 0.4 analyser from PyPI; Slither
does not read Vyper 0.4): every finding is triaged here and in docs/reliability-security.md,
and a finding nobody has triaged fails the build. ``make analyze`` prints the full report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.security._doctable import sync_table

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = sorted((ROOT / "contracts").glob("*.vy"))

# rule -> (verdict, why). Rules natrix reports per function list the functions triaged.
TRIAGE: dict[str, tuple[str, str]] = {
    "NTX11": (
        "declined (style)",
        "argument names without a leading underscore: our contracts follow the Vyper docs' "
        "snake_case; storage is always read through `self.`, so no shadowing is possible",
    ),
    "NTX12": (
        "declined (style)",
        "decorator order `@view` before `@external`: the compiler treats both orders alike",
    ),
}
# NTX4 "reads state but not marked view": (contract, function) -> (verdict, why)
IMPLICIT_VIEW: dict[tuple[str, str], tuple[str, str]] = {
    ("DisputeEscrow", "submit_evidence"): (
        "false positive",
        "emits the ERC-1497 Evidence event (a log is a state change), so it cannot be @view",
    ),
}
IMPLICIT_VIEW_INTERNAL = (
    "deferred (style)",
    "an internal helper that only reads and asserts; @view would document that, with no effect "
    "on the bytecode's behaviour. Left for the next contract change so deployed code and gas "
    "figures are not churned for a comment",
)


def run_natrix() -> list[dict[str, str]]:
    natrix = Path(sys.executable).parent / "natrix"
    exe = str(natrix) if natrix.exists() else shutil.which("natrix")
    assert exe, "natrix is a dev dependency (requirements.lock): run make install"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(
        [exe, "lint", "--json", *map(str, CONTRACTS)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    start = out.stdout.find("[")
    assert start >= 0, f"natrix printed no report: {out.stdout[-500:]} {out.stderr[-500:]}"
    findings: list[dict[str, str]] = json.loads(out.stdout[start:])
    return findings


def _function(message: str) -> str:
    return message.split("'")[1] if "'" in message else ""


def test_every_natrix_finding_is_triaged() -> None:
    findings = run_natrix()
    assert findings, "natrix ran on the contracts"
    rows: Counter[tuple[str, str, str, str, str]] = Counter()
    for f in findings:
        contract = Path(f["file"]).stem
        if f["code"] == "NTX4":
            fn = _function(f["message"])
            verdict, why = IMPLICIT_VIEW.get(
                (contract, fn),
                IMPLICIT_VIEW_INTERNAL if fn.startswith("_") else ("untriaged", ""),
            )
            rule = f"NTX4 implicit view (`{fn}`)"
        else:
            verdict, why = TRIAGE.get(f["code"], ("untriaged", ""))
            rule = f["code"]
        assert verdict != "untriaged", f"untriaged natrix finding: {f}"
        rows[(contract, rule, f["severity"], verdict, why)] += 1
    table = [[c, r, s, str(n), v, w] for (c, r, s, v, w), n in sorted(rows.items())]
    sync_table(
        "natrix-findings", ["contract", "rule", "severity", "findings", "verdict", "why"], table
    )
