"""``livetrust clip ...``: record broadcast manifests, anchor them, export, verify clips.

Thin: parse, call ``watermark``'s clip modules, print. Manifests live in the provenance
store (``LIVETRUST_DB``); keys in ``$LIVETRUST_HOME/keys/streamers``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from services.cli._output import console, emit, fail, user_errors
from services.config import Settings

__all__ = ["clip_app", "manifest_store", "summary"]

clip_app = typer.Typer(
    help="Clip authenticity: signed broadcast manifests, anchoring, clip verification.",
    no_args_is_help=True,
)
JSON_OPT = typer.Option(False, "--json", help="machine-readable output")
OUTPUT_OPT = typer.Option(..., "-o", "--output", help="bundle JSON file")
MANIFEST_OPT = typer.Option(
    [], "--manifest", help="manifest bundle file(s): verify offline, no database"
)
HTML_OPT = typer.Option(None, "--html", help="also write an HTML report")


def manifest_store(s: Settings) -> Any:
    """The manifest store in the configured database (``LIVETRUST_DB``)."""
    from provenance import Store
    from watermark._manifest import ManifestStore

    return ManifestStore(Store.open(s.db_url))


@clip_app.command("embed")
def embed(
    src: str = typer.Argument(..., help="input video"),
    dst: str = typer.Argument(..., help="watermarked output (H.264)"),
    streamer: str = typer.Option(..., "--streamer", help="registered streamer id"),
    start: int | None = typer.Option(None, "--start", help="broadcast start, unix s (now)"),
    json_out: bool = JSON_OPT,
) -> None:
    """Watermark SRC and record its signed manifest while marking (a part per minute)."""
    from watermark import KeyStore, embed_file
    from watermark._live import LiveManifest

    s = Settings()
    begin = int(time.time()) if start is None else start
    with user_errors(json_out):
        keys = KeyStore(s.home)
        key = keys.load(streamer)
        live = LiveManifest(manifest_store(s), streamer, begin, keys.signing_key(streamer))
        try:
            report = embed_file(src, dst, key, begin, on_frame=live.frame, on_audio=live.audio)
        finally:
            parts = live.close()
    emit(
        report.to_json()
        | {
            "output": dst,
            "manifest": summary(parts[0]),
            "manifests": [summary(p) for p in parts],
        },
        json_out,
    )


@clip_app.command("manifest")
def manifest(
    video: str = typer.Argument(..., help="the broadcast as sent (already watermarked)"),
    streamer: str = typer.Option(..., "--streamer", help="registered streamer id"),
    start: int = typer.Option(..., "--start", help="broadcast start, unix s"),
    json_out: bool = JSON_OPT,
) -> None:
    """Record the signed manifest of an already watermarked broadcast."""
    from watermark import KeyStore
    from watermark._manifest import record_manifest

    s = Settings()
    with user_errors(json_out):
        signing = KeyStore(s.home).signing_key(streamer)
        stored = record_manifest(manifest_store(s), video, streamer, start, signing)
    emit(summary(stored), json_out)


def summary(stored: Any) -> dict[str, Any]:
    """One recorded manifest (part) in a CLI answer."""
    m = stored.manifest
    return {
        "id": stored.seq,
        "streamer": m.streamer,
        "start": m.start,
        "end": m.end,
        "seconds": m.end - m.start,
        "digest": m.digest,
        "audio": m.audio is not None,
    }


@clip_app.command("anchor")
def anchor(json_out: bool = JSON_OPT) -> None:
    """Anchor every manifest recorded since the last anchor in one transaction."""
    from contracts import Chain

    s = Settings()
    with user_errors(json_out):
        store = manifest_store(s)
        with Chain.connect(s.rpc, s.home, cache=s.cache, key=s.chain_key) as chain:
            result = store.anchor(chain.anchors)
    emit(result.to_json(), json_out)


@clip_app.command("list")
def list_cmd(
    streamer: str | None = typer.Option(None, "--streamer", help="only this streamer"),
    json_out: bool = JSON_OPT,
) -> None:
    """Recorded manifests."""
    s = Settings()
    with user_errors(json_out):
        rows = manifest_store(s).list(streamer)
    emit(rows, json_out)


@clip_app.command("export")
def export(
    manifest_id: int = typer.Argument(..., help="manifest id (see clip list)"),
    output: Path = OUTPUT_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Export a manifest with its inclusion proof and anchor as a portable bundle."""
    from watermark._manifest import canonical_json

    s = Settings()
    with user_errors(json_out):
        bundle = manifest_store(s).bundle(manifest_id)
    output.write_bytes(canonical_json(bundle))
    emit({"output": str(output), "anchored": bundle["anchor"] is not None}, json_out)


@clip_app.command("verify")
def verify(
    clip: str = typer.Argument(..., help="the clip to check"),
    bundle: list[Path] = MANIFEST_OPT,
    html: Path | None = HTML_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Who said it, when, and was it cut, re-ordered, spliced or altered?"""
    from contracts import Chain
    from watermark import KeyStore
    from watermark._clip import BundleSource, StoreSource, verify_clip
    from watermark._report import report_html

    s = Settings()
    with user_errors(json_out):
        keys = KeyStore(s.home).all()
        if not keys:
            fail("key_not_found", f"no streamer keys in {s.home}/keys/streamers", json_out)
        if bundle:
            try:
                docs = [json.loads(p.read_text()) for p in bundle]
            except (OSError, ValueError) as exc:
                fail("manifest_malformed", f"cannot read manifest bundle: {exc}", json_out)
            source: Any = BundleSource(docs)
        else:
            source = StoreSource(manifest_store(s))
        with Chain.connect(s.rpc, s.home, cache=s.cache, key=s.chain_key) as chain:
            result = verify_clip(clip, keys, source, chain.actors, chain.anchors)
    data = result.to_json()
    if html is not None:
        html.write_text(report_html(data, title=f"livetrust clip report: {Path(clip).name}"))

    def human(d: dict[str, Any]) -> None:
        console.print(f"verdict [bold]{d['verdict']}[/]  streamer {d['streamer'] or '—'}")
        for seg in d["segments"]:
            b = ""
            if seg["broadcast_start"] is not None:
                b0 = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seg["broadcast_start"]))
                b = f"  <- broadcast {b0} UTC +{seg['broadcast_end'] - seg['broadcast_start']} s"
            console.print(
                f"  clip {seg['clip_start']:7.2f}-{seg['clip_end']:7.2f} s  {seg['status']:9s}{b}"
            )
        for f in d["findings"]:
            console.print(f"  [{f['code']}] {f['detail']}", markup=False)

    emit(data, json_out, human)
