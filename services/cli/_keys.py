"""``livetrust keys status|encrypt|admin``: the key files of a home, and their migration.

Every key file is sealed with the key passphrase and mode 0600 (``contracts._keyfile``);
``status`` shows each file's state and mode without decrypting anything, ``encrypt`` seals
plain files left by earlier versions in place (and tightens their mode) and replaces a plain
registrar key (``admin.key``) by its salted hash; ``admin`` makes a new registrar key and
shows it once.
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


def refuse_exposed_keys(home: Path, json_out: bool = False, *, admin_file: bool = True) -> None:
    """Stop a writer (``livetrust serve``) before it starts if any key file is exposed, or
    (``admin_file``: no LIVETRUST_ADMIN_KEY configured) if the registrar key file is exposed,
    plain (an earlier version's) or not ours."""
    from contracts._keyfile import check_private
    from services.api._auth import ADMIN_KEY_FILE, load_admin_key

    with user_errors(json_out):
        for path, _ in key_files(home):
            check_private(path)
        if admin_file and (home / ADMIN_KEY_FILE).exists():
            load_admin_key(home, None)


@keys_app.command("status")
def status(json_out: bool = JSON_OPT) -> None:
    """Each key file's kind, mode and state (encrypted / unencrypted / invalid), and the
    registrar key file's (hashed / unencrypted / invalid)."""
    from contracts._keyfile import inspect
    from services.api._auth import admin_key_file_info

    s = Settings()
    infos = [inspect(p, kind).to_json() for p, kind in key_files(s.home)]
    admin = admin_key_file_info(s.home)
    if admin is not None:
        infos.append(admin.to_json())

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console.print(f"no key files in {s.home / 'keys'}")
        for r in rows:
            flag = "[red]exposed[/]" if r["exposed"] else "ok"
            console.print(f"{r['state']:<12} {r['mode']} {flag:<5} {r['kind']:<9} {r['path']}")

    emit(infos, json_out, human)
    if any(i["exposed"] or i["state"] not in ("encrypted", "hashed") for i in infos):
        raise typer.Exit(2)


@keys_app.command("encrypt")
def encrypt(json_out: bool = JSON_OPT) -> None:
    """Seal every plain key file of LIVETRUST_HOME with the passphrase, in place, mode 0600."""
    from contracts._keyfile import resolve_passphrase, seal_plain_file
    from services.api._auth import admin_key_file_state, hash_plain_admin_key

    s = Settings()
    files = key_files(s.home)
    with user_errors(json_out):
        admin = admin_key_file_state(s.home)
        if not files and admin is None:
            fail("no_keys", f"no key files in {s.home / 'keys'}", json_out)
        sealed: list[str] = []
        if files:
            phrase = resolve_passphrase(confirm=True)
            sealed = [str(p) for p, kind in files if seal_plain_file(p, kind, phrase)]
        hashed = hash_plain_admin_key(s.home)
    data: dict[str, Any] = {"sealed": sealed, "already_sealed": len(files) - len(sealed)}
    if hashed:
        data["admin_key_hashed"] = str(s.home / "admin.key")

    def human(d: dict[str, Any]) -> None:
        for p in d["sealed"]:
            console.print(f"sealed {p}")
        console.print(f"{len(d['sealed'])} sealed, {d['already_sealed']} already sealed")
        if "admin_key_hashed" in d:
            console.print(
                f"registrar key in {d['admin_key_hashed']} replaced by its salted hash "
                "(the key stays valid; keep your copy of it: it is no longer on disk)"
            )

    emit(data, json_out, human)


@keys_app.command("admin")
def admin(json_out: bool = JSON_OPT) -> None:
    """Make a new registrar key (POST /api/v1/actors) and show it once; only its salted hash
    is stored (LIVETRUST_HOME/admin.key, 0600). The previous key stops working once the
    server restarts. Not needed with LIVETRUST_ADMIN_KEY."""
    from services.api._auth import new_admin_key

    s = Settings()
    with user_errors(json_out):
        key = new_admin_key(s.home, replace=True)
    data = {"admin_key": key, "file": str(s.home / "admin.key")}

    def human(d: dict[str, Any]) -> None:
        console.print(f"registrar key, shown once (only its salted hash is kept in {d['file']}):")
        console.print(d["admin_key"], markup=False, highlight=False)
        console.print("restart `livetrust serve` for it to take effect")

    emit(data, json_out, human)
