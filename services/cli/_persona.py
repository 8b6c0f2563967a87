"""``livetrust persona ...``: register a streamer's signed persona, check it against a batch.

Thin: parse, call ``services._persona`` (and ``services._conduct`` for ``--record``), print.
Persona records live in the provenance database (``LIVETRUST_DB``); the signing key is the
streamer's (``livetrust streamer register``), in ``$LIVETRUST_HOME/keys/streamers``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from services.cli._output import USER_ERROR_EXIT, console, emit, fail, user_errors
from services.config import Settings

__all__ = ["persona_app"]

persona_app = typer.Typer(
    help="Persona registration: signed streamer claims, checked against provenance.",
    no_args_is_help=True,
)
JSON_OPT = typer.Option(False, "--json", help="machine-readable output")
FILE_ARG = typer.Argument(..., help="persona JSON: display_name, claims, affiliations, ...")
RECORD_OPT = typer.Option(
    False, "--record", help="count contradicted claims in the streamer's credit score"
)


@dataclass
class _Ctx:
    settings: Settings
    chain: Any
    store: Any  # provenance.Store
    personas: Any  # services._persona.PersonaStore


@contextlib.contextmanager
def _open(json_out: bool) -> Iterator[_Ctx]:
    from provenance import Store
    from services._persona import PersonaStore
    from services.cli._chain import open_chain

    s = Settings()
    with user_errors(json_out):
        s.home.mkdir(parents=True, exist_ok=True)
        store = Store.open(s.db_url)
        try:
            with open_chain(s) as chain:
                yield _Ctx(s, chain, store, PersonaStore(store))
        finally:
            store.close()


def _read_json(path: Path, json_out: bool) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail("persona_invalid", f"cannot read {path}: {exc.strerror}", json_out)
    except (ValueError, UnicodeDecodeError) as exc:
        fail("persona_invalid", f"{path} is not JSON: {exc}", json_out)


@persona_app.command("register")
def register(
    streamer: str = typer.Argument(..., help="registered streamer id"),
    file: Path = FILE_ARG,
    json_out: bool = JSON_OPT,
) -> None:
    """Sign FILE as the streamer's next persona version, record and anchor it."""
    from services._persona import register_persona
    from watermark import KeyStore

    draft = _read_json(file, json_out)
    with _open(json_out) as ctx, user_errors(json_out):
        key = KeyStore(ctx.settings.home).signing_key(streamer)
        stored = register_persona(
            ctx.personas, streamer, draft, key, ctx.chain.actors, ctx.chain.now()
        )
        anchored = ctx.personas.anchor(ctx.chain.anchors)
        head = anchored.head
        out = stored.summary() | {
            "anchor_tx": head.tx_hash if head is not None else None,
            "root": head.root.hex() if head is not None else None,
        }
    emit(out, json_out)


@persona_app.command("show")
def show(
    streamer: str = typer.Argument(..., help="streamer id"),
    version: int | None = typer.Option(None, "--version", help="a past version (latest)"),
    json_out: bool = JSON_OPT,
) -> None:
    """The streamer's persona record (latest or --version) and its version history."""
    with _open(json_out) as ctx, user_errors(json_out):
        stored = ctx.personas.get(streamer, version)
        out = {
            "record": stored.record.to_json(),
            "versions": [p.summary() for p in ctx.personas.history(streamer)],
        } | ctx.personas.anchored(stored, ctx.chain.anchors)
    emit(out, json_out)


def _print_check(doc: dict[str, Any]) -> None:
    colour = "green" if doc["ok"] else "red"
    console.print(
        f"[bold {colour}]{'CONSISTENT' if doc['ok'] else 'CONTRADICTED'}[/] persona of "
        f"{doc['streamer']} v{doc['persona']['version']} against {doc['batch']}"
    )
    for c in doc["claims"]:
        mark = {"supported": "green", "contradicted": "red"}.get(c["status"], "yellow")
        console.print(f"  [{mark}]{c['status']:>12}[/] {c['id']} ({c['type']}): {c['detail']}")
    for f in doc["findings"]:
        if f["code"] != "persona_claim_contradicted":
            console.print(f"  [red]{f['code']}[/] {f['detail']}")


@persona_app.command("check")
def check(
    streamer: str = typer.Argument(..., help="streamer id"),
    batch: str = typer.Option(..., "--batch", help="the batch (lot) sold"),
    version: int | None = typer.Option(None, "--version", help="a past version (latest)"),
    record: bool = RECORD_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Every persona claim against BATCH's provenance; exit 2 when one is contradicted."""
    from provenance import Ledger
    from services._persona import check_persona

    with _open(json_out) as ctx, user_errors(json_out):
        ledger = Ledger(ctx.store, ctx.chain.actors)
        result = check_persona(ctx.personas, ledger, streamer, batch, ctx.chain.anchors, version)
        doc = result.to_json()
        if record:
            from services._conduct import record_persona_check
            from services._orders import OrderBook
            from services._store import DisputeStore

            dstore = DisputeStore.open(ctx.settings.db_url)
            try:
                book = OrderBook(ctx.chain, dstore, ctx.settings.home)
                doc["credit"] = record_persona_check(book, result)
            finally:
                dstore.close()
    emit(doc, json_out, _print_check)
    if not doc["ok"]:
        raise typer.Exit(USER_ERROR_EXIT)
