"""Shared plumbing for benchmarks: where results go and how tables are written."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


@dataclass
class Report:
    """One benchmark's figures: a JSON document plus rows for the README table."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    # (metric, value, target, note)
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def row(self, metric: str, value: str, target: str = "", note: str = "") -> None:
        self.rows.append((metric, value, target, note))

    def write(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        doc = {
            "benchmark": self.name,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"python": platform.python_version(), "cpu": platform.processor()},
            "results": self.data,
            "table": [
                dict(zip(("metric", "value", "target", "note"), r, strict=True)) for r in self.rows
            ],
        }
        path = RESULTS / f"{self.name}.json"
        path.write_text(json.dumps(doc, indent=2) + "\n")
        return path


def markdown_table() -> str:
    """All result files as one markdown table (what README shows)."""
    lines = ["| area | metric | value | target | note |", "|---|---|---|---|---|"]
    for path in sorted(RESULTS.glob("*.json")):
        doc = json.loads(path.read_text())
        for r in doc.get("table", []):
            cells = [doc["benchmark"], r["metric"], r["value"], r["target"], r["note"]]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
