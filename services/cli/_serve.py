"""``livetrust serve``: run the API and pages with uvicorn."""

from __future__ import annotations

import typer

from services.cli._output import console


def serve(
    host: str = typer.Option("127.0.0.1", help="bind address"),
    port: int = typer.Option(8000, help="TCP port"),
    workers: int = typer.Option(
        1, help="uvicorn workers (>1 needs LIVETRUST_RPC pointing at a shared node)"
    ),
) -> None:
    """Serve the JSON API (/api/v1, docs at /docs) and the pages."""
    import uvicorn

    from services.cli._keys import refuse_exposed_keys
    from services.config import Settings

    s = Settings()
    refuse_exposed_keys(s.home, admin_file=s.admin_key is None)
    if workers > 1 and s.rpc == "embedded":
        console.print(
            "[red]error[/] several workers cannot share the embedded chain: run "
            "`livetrust chain serve` and set LIVETRUST_RPC=http://127.0.0.1:8545"
        )
        raise typer.Exit(2)
    uvicorn.run("services.api:create_app", factory=True, host=host, port=port, workers=workers)
