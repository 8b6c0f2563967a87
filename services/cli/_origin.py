"""``livetrust origin record``: a farm's watermarked origin-camera video, linked to batches.

Thin: parse, call ``services._origin``, print. The farm signs the manifest with its actor key
(``livetrust actor add FARM --role farm``, in ``$LIVETRUST_HOME/keys``); the printed sensor
element goes on the farm's harvest event (``livetrust event import``), and ``livetrust
batch verify`` then reports the video and whether it verifies.
"""

from __future__ import annotations

import time

import typer

from services.cli._output import emit, fail, user_errors
from services.config import Settings

__all__ = ["origin_app"]

origin_app = typer.Typer(
    help="Origin-camera evidence: a farm's watermarked video, linked to a batch.",
    no_args_is_help=True,
)
JSON_OPT = typer.Option(False, "--json", help="machine-readable output")


@origin_app.command("record")
def record(
    src: str = typer.Argument(..., help="the camera's video"),
    dst: str = typer.Argument(..., help="watermarked output (H.264)"),
    farm: str = typer.Option(..., "--farm", help="the farm's registered actor id"),
    start: int | None = typer.Option(None, "--start", help="recording start, unix s (now)"),
    device: str = typer.Option(
        "urn:epc:id:giai:0000000.CAM1", "--device", help="camera id (EPCIS deviceID)"
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Watermark SRC as FARM's origin camera and record its signed manifest."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from contracts._keyfile import load_secret
    from provenance import Store
    from services._origin import record_origin_video

    s = Settings()
    path = s.home / "keys" / f"{farm}.pem"
    if not path.exists():
        fail(
            "unknown_actor",
            f"no key for {farm!r} at {path}: add it with livetrust actor add",
            json_out,
        )
    with user_errors(json_out):  # sealed key: passphrase, permissions (contracts._keyfile)
        seed, _ = load_secret(path, "ed25519")
    key = Ed25519PrivateKey.from_private_bytes(seed)
    begin = int(time.time()) if start is None else start
    with user_errors(json_out):
        store = Store.open(s.db_url)
        try:
            out = record_origin_video(store, s.home, src, dst, farm, begin, key, device)
        finally:
            store.close()
    emit(out, json_out)
