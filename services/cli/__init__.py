"""The ``livetrust`` command: one typer app, one sub-app per area.

Commands are thin: parse, call the library, print (rich for people, ``--json`` for scripts).
"""

from __future__ import annotations

import os

import typer

from services.cli._chain import chain_app
from services.cli._clip import clip_app
from services.cli._disputes import bond_app, dispute_app, order_app, withdraw
from services.cli._disputes import streamer_app as streamer_score_app
from services.cli._keys import keys_app
from services.cli._origin import origin_app
from services.cli._persona import persona_app
from services.cli._provenance import actor_app, anchor, batch_app, event_app, log_app, proof_app
from services.cli._script import script_app
from services.cli._serve import serve
from services.cli._watermark import streamer_app, watermark_app

__all__ = ["app", "main", "single_thread_pools"]

app = typer.Typer(
    name="livetrust",
    help="Verifiable trust for livestream commerce.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(chain_app, name="chain")
app.command("serve")(serve)
app.add_typer(actor_app, name="actor")
app.add_typer(event_app, name="event")
app.add_typer(batch_app, name="batch")
app.add_typer(proof_app, name="proof")
app.add_typer(log_app, name="log")
app.command("anchor")(anchor)
app.add_typer(order_app, name="order")
app.add_typer(dispute_app, name="dispute")
app.add_typer(bond_app, name="bond")
app.command("withdraw")(withdraw)
app.add_typer(watermark_app, name="watermark")
# one `streamer` group: keys and registration (watermark) plus score (disputes)
streamer_app.registered_commands.extend(streamer_score_app.registered_commands)
app.add_typer(streamer_app, name="streamer")
app.add_typer(clip_app, name="clip")
app.add_typer(script_app, name="script")
app.add_typer(persona_app, name="persona")
app.add_typer(origin_app, name="origin")
app.add_typer(keys_app, name="keys")


def single_thread_pools() -> None:
    """One thread for numerical libraries' pools (OpenBLAS, OpenMP, MKL) unless the caller
    set them: their busy-waiting worker per core stalled the watermark's small products for
    tens of ms on a loaded machine, and ``serve`` already runs jobs in parallel threads.
    numpy reads these when first imported, which importing ``services.cli`` does not do
    (tested), so this works when called before any command runs."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def main() -> None:
    single_thread_pools()
    app()
