from __future__ import annotations

from typer.testing import CliRunner

from services.cli import app


def test_help_lists_command_groups() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "chain" in result.output
