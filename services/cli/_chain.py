"""``livetrust chain ...``: status of the configured chain and the embedded JSON-RPC server."""

from __future__ import annotations

import typer

from services.cli._output import console, emit, user_errors
from services.config import Settings

chain_app = typer.Typer(
    help="The chain: status, and serving the embedded chain over JSON-RPC.",
    no_args_is_help=True,
)

JSON_OPT = typer.Option(False, "--json", help="machine-readable output")


def open_chain(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    """The configured chain (embedded in LIVETRUST_HOME or LIVETRUST_RPC), contracts deployed."""
    from contracts import Chain

    s = settings or Settings()
    return Chain.connect(s.rpc, s.home, cache=s.cache, key=s.chain_key)


@chain_app.command("status")
def status(json_out: bool = JSON_OPT) -> None:
    """Which chain we talk to, its id and height, and where the contracts are."""
    with user_errors(json_out), open_chain() as chain:
        data = chain.status()

    def human(d: dict[str, object]) -> None:
        console.print(f"rpc       {d['rpc']}\nchain id  {d['chain_id']}\nblock     {d['block']}")
        for name, addr in d["contracts"].items():  # type: ignore[attr-defined]
            console.print(f"{name:<16}{addr}")

    emit(data, json_out, human)


@chain_app.command("serve")
def serve(
    port: int = typer.Option(8545, help="TCP port on 127.0.0.1"),
    host: str = typer.Option("127.0.0.1", help="bind address (loopback by default)"),
) -> None:
    """Serve the embedded chain in LIVETRUST_HOME as JSON-RPC, so other processes share it."""
    from contracts._embedded import EmbeddedChain
    from contracts._rpcserver import JsonRpcServer

    s = Settings()
    with user_errors():
        embedded = EmbeddedChain(s.home / "chain")
    server = JsonRpcServer(embedded, host=host, port=port)
    console.print(f"serving the embedded chain of {s.home} at {server.url} (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
        embedded.close()
