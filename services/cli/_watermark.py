"""``livetrust watermark ...`` (embed, detect, stream) and ``livetrust streamer register``.

Thin: parse, call ``watermark``, print. Keys come from ``$LIVETRUST_HOME/keys/streamers``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from services.cli._output import console, emit, fail, user_errors
from services.config import Settings

__all__ = ["streamer_app", "watermark_app"]

watermark_app = typer.Typer(
    help="Invisible streamer-ID + broadcast-time watermarks: embed, detect, live stream.",
    no_args_is_help=True,
)
streamer_app = typer.Typer(help="Streamers: keys and on-chain registration.", no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="machine-readable output")
_PROGRESS_MIN_S = 10.0  # show a progress bar only for files longer than this


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed:.0f} s"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=1.0, visible=False)

        def update(done: float, total: float) -> None:
            if total >= _PROGRESS_MIN_S:
                bar.update(task, completed=done, total=total, visible=True)

        yield update


@streamer_app.command("register")
def register(
    name: str = typer.Argument(..., help="streamer id (letters, digits, _ . -)"),
    offline: bool = typer.Option(False, "--offline", help="create keys only, skip the chain"),
    json_out: bool = JSON_OPT,
) -> None:
    """Create the streamer's watermark secret and signing key, and register it on chain."""
    from watermark import KeyStore

    s = Settings()
    with user_errors(json_out):
        store = KeyStore(s.home)
        key, public_key = store.register(name)
        data: dict[str, Any] = {
            "streamer": key.name,
            "public_key": public_key.hex(),
            "key_file": str(store.dir / f"{name}.wm"),
            "chain": None,
        }
        if not offline:
            data["chain"] = _register_on_chain(s, name, public_key)

    def human(d: dict[str, Any]) -> None:
        console.print(f"streamer   {d['streamer']}\npublic key {d['public_key']}")
        console.print(f"key file   {d['key_file']} (mode 0600)")
        if d["chain"]:
            console.print(f"on chain   tx {d['chain']['tx']}")

    emit(data, json_out, human)


def _register_on_chain(s: Settings, name: str, public_key: bytes) -> dict[str, Any]:
    """ActorRegistry.register(name, key, Role.STREAMER, valid from now)."""
    from contracts import Chain, Role

    with Chain.connect(s.rpc, s.home, cache=s.cache, key=s.chain_key) as chain:
        receipt = chain.actors.register(name, public_key, Role.STREAMER, int(time.time()))
    return {"tx": receipt.tx_hash, "role": "streamer"}


@watermark_app.command("embed")
def embed(
    src: str = typer.Argument(..., help="input video (any container FFmpeg reads)"),
    dst: str = typer.Argument(..., help="output video (H.264; audio and timestamps kept)"),
    streamer: str = typer.Option(..., "--streamer", help="registered streamer id"),
    start: int | None = typer.Option(None, "--start", help="broadcast start, unix s (now)"),
    psnr: float | None = typer.Option(None, "--psnr", help="mark strength as PSNR in dB"),
    crf: int = typer.Option(20, "--crf", help="x264 quality of the output"),
    json_out: bool = JSON_OPT,
) -> None:
    """Watermark every frame of SRC with the streamer's key and the broadcast time."""
    from watermark import EmbedSettings, KeyStore, embed_file

    s = Settings()
    begin = int(time.time()) if start is None else start
    settings = EmbedSettings() if psnr is None else EmbedSettings(psnr_db=psnr)
    with user_errors(json_out), _progress(not json_out, "embedding") as progress:
        key = KeyStore(s.home).load(streamer)
        report = embed_file(src, dst, key, begin, settings, crf=crf, progress=progress)
    emit(report.to_json() | {"output": dst}, json_out)


@watermark_app.command("detect")
def detect(
    clip: str = typer.Argument(..., help="video clip to examine"),
    detail: bool = typer.Option(
        False,
        "--detail",
        help="also the playback rate, each segment's origin, phase and per-second strengths, "
        "and the mark found in every second of the clip",
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Find whose mark a clip carries and which broadcast times its segments come from.

    ``--detail`` adds what clip verification works from (``Detection.to_json(detail=True)``):
    the playback rate, per segment its sub-second origin, phase and mark strength per
    second, and per clip second the decoded broadcast second with its z-scores.
    """
    from watermark import KeyStore, detect_file

    s = Settings()
    with user_errors(json_out), _progress(not json_out, "detecting") as progress:
        keys = KeyStore(s.home).all()
        if not keys:
            fail("key_not_found", f"no streamer keys in {s.home}/keys/streamers", json_out)
        result = detect_file(clip, keys, progress=progress)

    def human(d: dict[str, Any]) -> None:
        if not d["detected"]:
            console.print("no livetrust watermark found")
            return
        console.print(f"streamer [bold]{d['streamer']}[/]")
        for seg in d["segments"]:
            b0 = _utc(seg["broadcast_start"])
            b1 = time.strftime("%H:%M:%S", time.gmtime(seg["broadcast_end"]))
            console.print(
                f"  clip {seg['clip_start']:7.2f}-{seg['clip_end']:7.2f} s  <-  "
                f"broadcast {b0}-{b1} UTC  (confidence {seg['confidence']:.3f})"
            )
            if detail:
                strengths = " ".join(f"{z:.1f}" for z in seg["strengths"])
                console.print(
                    f"    origin {seg['clip_origin']:+.3f} s  phase {seg['phase']:.3f}  "
                    f"rate {seg['rate']}  strength/s {strengths}"
                )
        if detail:
            console.print(f"playback rate {d['rate']}")
            for m in d["seconds"]:
                when = "-" if m["broadcast"] is None else _utc(m["broadcast"])
                console.print(
                    f"  clip {m['clip_start']:7.2f}-{m['clip_end']:7.2f} s  {when:>19}  "
                    f"time z {m['time_z']:6.2f}  identity z {m['identity_z']:6.2f}"
                )

    emit(result.to_json(detail=detail), json_out, human)


def _utc(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


@watermark_app.command("stream")
def stream_cmd(
    input_url: str = typer.Option(..., "--input", help="any FFmpeg input (file, udp://, rtmp://)"),
    output_url: str = typer.Option(
        ..., "--output", help="any FFmpeg output (udp://, rtmp://, .m3u8)"
    ),
    streamer: str = typer.Option(..., "--streamer", help="registered streamer id"),
    start: int | None = typer.Option(None, "--start", help="broadcast start, unix s (now)"),
    max_seconds: float | None = typer.Option(None, "--max-seconds", help="stop after this"),
    manifest: bool = typer.Option(
        True, "--manifest/--no-manifest", help="record a signed manifest part per minute"
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Watermark a live stream in real time (file inputs are read at real-time pace).

    With ``--manifest`` (the default) the broadcast's manifest is built from the marked
    frames and sound as they are sent: a signed part per minute goes to the store
    (``LIVETRUST_DB``) while streaming, the rest when the stream ends or fails."""
    from watermark import KeyStore, stream
    from watermark._live import LiveManifest

    s = Settings()
    begin = int(time.time()) if start is None else start
    with user_errors(json_out):
        keys = KeyStore(s.home)
        key = keys.load(streamer)
        live = None
        if manifest:
            from services.cli._clip import manifest_store, summary

            live = LiveManifest(manifest_store(s), streamer, begin, keys.signing_key(streamer))
        try:
            report = stream(
                input_url,
                output_url,
                key,
                start=begin,
                max_seconds=max_seconds,
                on_frame=None if live is None else live.frame,
                on_audio=None if live is None else live.audio,
            )
        finally:
            parts = [] if live is None else live.close()
    out = report.to_json() | {"output": output_url}
    if live is not None:
        out["manifests"] = [summary(p) for p in parts]
    emit(out, json_out)
