"""``make analyze-deep``: Mythril (symbolic execution of EVM bytecode) over the deployed
runtime code of every contract, each finding checked against the triage below.

Mythril pins eth libraries older than web3 7's, so it runs from its own venv
(``.venv-mythril``, installed from ``contracts/analysis/mythril.lock``); this script, run by
our venv, compiles the contracts and hands Mythril the runtime bytecode. Exit status 1 if a
finding is not triaged. Triage rationale: docs/reliability-security.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import contracts

EXECUTION_TIMEOUT_S = 240  # per contract; transaction depth 2
# (SWC id, program counter) -> why it is not a defect
TRIAGED = {
    ("127", 23): "Vyper's O(1) selector table: JUMP to a target read by CODECOPY from the "
    "contract's own jump table at (selector mod n); the target re-checks the selector",
}


def main(myth: str) -> int:
    untriaged = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in contracts.contract_names():
            runtime = contracts.compile_contract(name, Path(tmp) / "cache").runtime
            code = Path(tmp) / f"{name}.hex"
            code.write_text(runtime.removeprefix("0x"))
            out = subprocess.run(
                [
                    myth,
                    "analyze",
                    "--bin-runtime",
                    "-f",
                    str(code),
                    "-t",
                    "2",
                    "-o",
                    "json",
                    "--execution-timeout",
                    str(EXECUTION_TIMEOUT_S),
                ],
                capture_output=True,
                text=True,
            )
            report = json.loads(out.stdout)
            if not report.get("success"):
                print(f"{name}: mythril failed: {report.get('error')}")
                return 2
            for issue in report["issues"]:
                key = (str(issue["swc-id"]), int(issue["address"]))
                why = TRIAGED.get(key)
                untriaged += why is None
                print(
                    f"{name}: SWC-{key[0]} {issue['title']} ({issue['severity']}) at pc {key[1]}"
                    f" -> {'false positive: ' + why if why else 'UNTRIAGED'}"
                )
            if not report["issues"]:
                print(f"{name}: no issues")
    return 1 if untriaged else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
