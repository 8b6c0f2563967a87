"""``livetrust keys status|encrypt``: the private key files of a home, and their migration.

Every key file is sealed with the key passphrase and mode 0600 (``contracts._keyfile``);
``status`` shows each file's state and mode without decrypting anything, ``encrypt`` seals
plain files left by earlier versions in place (and tightens their mode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from services.cli._output import console, emit, fail, user_errors
from services.config import Settings

__all__ = ["key_files", "keys_app", "refuse_exposed_keys"]

keys_app = typer.Typer(
    help="Private key files: status, and sealing plain keys of earlier versions.",
    no_args_is_help=True,
)
JSON_OPT = typer.Option(False, "--json", help="machine-readable output")


def key_files(home: Path) -> list[tuple[Path, str]]:
    """Every private key file under ``home`` with its kind (the layout the CLI and API write:
    ``keys/ACTOR.pem``, ``keys/streamers/NAME.wm`` and ``NAME.ed25519``)."""
    keys = home / "keys"
    found = [(p, "ed25519") for p in sorted(keys.glob("*.pem"))]
    found += [(p, "watermark") for p in sorted((keys / "streamers").glob("*.wm"))]
    found += [(p, "ed25519") for p in sorted((keys / "streamers").glob("*.ed25519"))]
    return found


def refuse_exposed_keys(home: Path, json_out: bool = False) -> None:
    """Stop a writer (``livetrust serve``) before it starts if any key file is exposed."""
    from contracts._keyfile import check_private

    with user_errors(json_out):
        for path, _ in key_files(home):
            check_private(path)


@keys_app.command("status")
def status(json_out: bool = JSON_OPT) -> None:
    """Each key file's kind, mode and state (encrypted / unencrypted / invalid)."""
    from contracts._keyfile import inspect

    s = Settings()
    infos = [inspect(p, kind).to_json() for p, kind in key_files(s.home)]

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console.print(f"no key files in {s.home / 'keys'}")
        for r in rows:
            flag = "[red]exposed[/]" if r["exposed"] else "ok"
            console.print(f"{r['state']:<12} {r['mode']} {flag:<5} {r['kind']:<9} {r['path']}")

    emit(infos, json_out, human)
    if any(i["exposed"] or i["state"] != "encrypted" for i in infos):
        raise typer.Exit(2)


@keys_app.command("encrypt")
def encrypt(json_out: bool = JSON_OPT) -> None:
    """Seal every plain key file of LIVETRUST_HOME with the passphrase, in place, mode 0600."""
    from contracts._keyfile import resolve_passphrase, seal_plain_file

    s = Settings()
    files = key_files(s.home)
    if not files:
        fail("no_keys", f"no key files in {s.home / 'keys'}", json_out)
    with user_errors(json_out):
        phrase = resolve_passphrase(confirm=True)
        sealed = [str(p) for p, kind in files if seal_plain_file(p, kind, phrase)]
    data = {"sealed": sealed, "already_sealed": len(files) - len(sealed)}

    def human(d: dict[str, Any]) -> None:
        for p in d["sealed"]:
            console.print(f"sealed {p}")
        console.print(f"{len(d['sealed'])} sealed, {d['already_sealed']} already sealed")

    emit(data, json_out, human)
