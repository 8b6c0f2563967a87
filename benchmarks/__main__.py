"""``python -m benchmarks [NAME ...]``: run benchmarks, write JSON + the markdown table."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from benchmarks._common import RESULTS, markdown_table


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = argv or sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"== {name}", flush=True)
        report = module.run()
        print(f"   -> {report.write()}", flush=True)
    table = markdown_table()
    (RESULTS / "README.md").write_text(
        "# Benchmark results\n\nProduced by `make bench` (`python -m benchmarks`).\n\n" + table
    )
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
