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
    update_readme(table)
    print(table)
    return 0


def update_readme(table: str) -> None:
    """Put the latest table between the README's results markers."""
    readme = Path(__file__).resolve().parent.parent / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{start}\n{table}{end}{tail}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
