"""Tables in docs/reliability-security.md generated from test data, so they cannot drift.

A test computes its table and calls :func:`sync_table`: it fails when the doc's table (between
``<!-- NAME:start -->`` and ``<!-- NAME:end -->``) differs; with ``LIVETRUST_WRITE_DOCS=1`` it
rewrites the doc instead. After a deliberate change (a new bundle field, a new route):

    LIVETRUST_WRITE_DOCS=1 .venv/bin/python -m pytest tests/security tests/api/test_access_matrix.py
"""

from __future__ import annotations

import os
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability-security.md"
WRITE_ENV = "LIVETRUST_WRITE_DOCS"


def render(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def sync_table(name: str, header: list[str], rows: list[list[str]]) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = DOC.read_text()
    assert start in text and end in text, f"{DOC.name} lacks the {name} markers"
    before, rest = text.split(start, 1)
    current, after = rest.split(end, 1)
    table = render(header, rows)
    if current.strip() == table:
        return
    if os.environ.get(WRITE_ENV):
        DOC.write_text(f"{before}{start}\n{table}\n{end}{after}")
        return
    raise AssertionError(
        f"the {name} table in {DOC.name} is out of date: rerun with {WRITE_ENV}=1 to rewrite it"
    )
