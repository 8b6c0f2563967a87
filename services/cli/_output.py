"""How every command prints: rich for people, one JSON document for scripts, one line on error.

User mistakes (a typed package error with a ``code``) become one clear line on stderr and a
non-zero exit, never a stack trace.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["USER_ERROR_EXIT", "console", "emit", "fail", "user_errors"]

USER_ERROR_EXIT = 2  # bad input / failed check; 1 is left for crashes
console = Console(stderr=False)
err_console = Console(stderr=True)


def emit(data: Any, json_out: bool, human: Callable[[Any], None] | None = None) -> None:
    """Print ``data`` as JSON (``--json``) or through ``human`` (default: pretty JSON)."""
    if json_out:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    elif human is not None:
        human(data)
    else:
        console.print_json(json.dumps(data, default=str))


def fail(code: str, message: str, json_out: bool = False) -> NoReturn:
    """Stop with one clear line (or a JSON error document) and a non-zero exit."""
    if json_out:
        sys.stdout.write(json.dumps({"error": {"code": code, "message": message}}) + "\n")
    else:
        err_console.print(
            f"[bold red]error[/] {escape(f'[{code}]')} {escape(message)}",
            highlight=False,
            soft_wrap=True,
        )
    raise typer.Exit(USER_ERROR_EXIT)


@contextmanager
def user_errors(json_out: bool = False) -> Iterator[None]:
    """Turn any of our typed errors (anything with a ``code``) into :func:`fail`."""
    from contracts import ChainError
    from contracts._keyfile import KeyFileError
    from services._errors import DisputeError

    roots: list[type[Exception]] = [ChainError, KeyFileError, DisputeError]
    try:
        from provenance import ProvenanceError  # type: ignore[attr-defined,unused-ignore]

        roots.append(ProvenanceError)
    except ImportError:  # pragma: no cover - package not landed yet
        pass
    try:
        from watermark import WatermarkError  # type: ignore[attr-defined,unused-ignore]

        roots.append(WatermarkError)
    except ImportError:  # pragma: no cover - package not landed yet
        pass
    try:
        yield
    except tuple(roots) as exc:
        fail(getattr(exc, "code", "error"), str(exc), json_out)
