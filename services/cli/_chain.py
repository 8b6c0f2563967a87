"""``livetrust chain ...``: status of the configured chain and the embedded JSON-RPC server."""

from __future__ import annotations

import typer

chain_app = typer.Typer(help="The chain: status, and serving the embedded chain over JSON-RPC.")


@chain_app.command("status")
def status(json_out: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Show which chain we talk to and where the contracts are."""
    raise typer.Exit(0)
