from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from services.cli import app


def test_help_lists_command_groups() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "chain" in result.output


README = Path(__file__).resolve().parents[1] / "README.md"


def _commands() -> set[str]:
    """Every leaf command of ``livetrust``, as ``"group command"`` or ``"command"``."""
    import typer

    out: set[str] = set()

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            out.add(" ".join(path))
            return
        for name, sub in subs.items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


def _readme_commands() -> set[str]:
    """The commands README's CLI table names: the code spans of its first column, with the
    ``a\\|b`` alternatives expanded (``order ship\\|deliver ID`` is two commands) and the
    group carried over to a following span that omits it (`` `clip anchor` / `clip list` ``).
    """
    text = README.read_text()
    section = text.split("\n## CLI\n", 1)[1].split("\n## ", 1)[0]
    groups = {c.split()[0] for c in _commands() if " " in c}
    out: set[str] = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        first = row.replace("\\|", "\x00").split("|")[1]
        group = None
        for span in re.findall(r"`([^`]+)`", first):
            words = span.removeprefix("livetrust ").split()
            if not words or words[0].startswith("-"):
                continue  # an option mentioned in passing
            if words[0] in groups:
                group, words = words[0], words[1:]
            elif not span.startswith("livetrust ") and group is not None:
                pass  # `appeal` after `livetrust dispute ...`: the row's group
            else:
                group = None
            names = words[0].split("\x00") if words else []
            out.update(f"{group} {n}" if group else n for n in names)
    return out


def test_readme_cli_reference_lists_every_command_and_nothing_else() -> None:
    """README's CLI table against the real command tree: a command added without a line,
    or a line left after its command went, fails here."""
    listed, real = _readme_commands(), _commands()
    assert real - listed == set(), "commands missing from README's CLI table"
    assert listed - real == set(), "README lists commands that do not exist"


def test_thread_pools_are_limited_before_numpy_loads() -> None:
    """`single_thread_pools` only works if numpy is not loaded yet when main() runs."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, services.cli, benchmarks, os; "
        "print('numpy' in sys.modules, os.environ['OPENBLAS_NUM_THREADS'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["False", "1"]
