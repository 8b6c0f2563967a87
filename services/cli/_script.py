"""``livetrust script check``: screen a script or caption file against the negative list.

Thin: parse, call ``services._screening``, print. Exit status 2 when a finding reaches the
flag threshold (medium), as ``batch verify`` does for a failed check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from services.cli._output import USER_ERROR_EXIT, console, emit, fail, user_errors
from services.config import Settings

__all__ = ["script_app"]

script_app = typer.Typer(
    help="Screen livestream scripts and captions against the emotional-marketing negative list.",
    no_args_is_help=True,
)
JSON_OPT = typer.Option(False, "--json", help="machine-readable output")
FILE_ARG = typer.Argument(..., help="script or caption file")
LIST_OPT = typer.Option(
    None, "--list", help="another negative-list TOML file (default: the shipped list)"
)
BROADCAST_OPT = typer.Option(
    None, "--broadcast", help="manifest id (clip list) of the broadcast these captions are of"
)
RECORD_OPT = typer.Option(
    False, "--record", help="with --broadcast: count a flagged broadcast in the trust index"
)


def _print(report: dict[str, Any]) -> None:
    s = report["summary"]
    head = "[bold red]flagged[/]" if report["flagged"] else "[bold green]clean[/]"
    console.print(
        f"{head}: {report['lines']} {report['script_format']} lines, "
        f"{s['high']} high / {s['medium']} medium / {s['low']} low findings "
        f"(negative list {report['negative_list']['version']})"
    )
    if not report["findings"]:
        return
    table = Table(show_lines=False)
    for col in ("time", "line", "severity", "rule", "text"):
        table.add_column(col)
    for f in report["findings"]:
        t = f["time"]
        when = "" if t is None else f"{int(t) // 3600:02d}:{int(t) % 3600 // 60:02d}:{t % 60:05.2f}"
        table.add_row(when, str(f["line"]), f["severity"], f["rule"], f["text"])
    console.print(table)


@script_app.command("check")
def check(
    file: Path = FILE_ARG,
    negative_list: Path | None = LIST_OPT,
    broadcast: int | None = BROADCAST_OPT,
    record: bool = RECORD_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Screen FILE (script, SRT, WebVTT or [hh:mm:ss] transcript); exit 2 when flagged.

    With --broadcast the report is attached to that broadcast's manifest (finding times
    become broadcast times); --record also counts a broadcast with high-severity findings
    in the streamer's credit score and circuit-breaker window."""
    from services._screening import load_negative_list, screen_file

    if record and broadcast is None:
        fail("bad_input", "--record needs --broadcast (which broadcast to count)", json_out)
    with user_errors(json_out):
        screened = screen_file(file, load_negative_list(negative_list))
        report = screened.to_json()
        if broadcast is not None:
            report = _attach(broadcast, screened, record)
    emit(report, json_out, _print)
    if report["flagged"]:
        raise typer.Exit(USER_ERROR_EXIT)


def _attach(broadcast: int, screened: Any, record: bool) -> dict[str, Any]:
    from provenance import Store
    from services._conduct import ScreeningStore, record_screening

    s = Settings()
    store = Store.open(s.db_url)
    try:
        attached = ScreeningStore(store).attach(broadcast, screened)
        doc = attached.report | {"attached": attached.id}
        if record:
            from services._orders import OrderBook
            from services._store import DisputeStore
            from services.cli._chain import open_chain

            dstore = DisputeStore.open(s.db_url)
            try:
                with open_chain(s) as chain:
                    doc["credit"] = record_screening(OrderBook(chain, dstore, s.home), attached)
            finally:
                dstore.close()
        return doc
    finally:
        store.close()
