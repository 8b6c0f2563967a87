"""``make demo``: the end-to-end story on the embedded chain + SQLite. Grows with every issue.

Each section is a function taking the demo home; the story starts from an empty home every
run so it always tells the same thing.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from services.config import Settings

console = Console()


def chain_section(settings: Settings) -> None:
    """The chain layer: contracts deployed once, state survives a restart."""
    from contracts import Chain

    t0 = time.perf_counter()
    with Chain.connect(settings.rpc, settings.home, cache=settings.cache) as chain:
        status = chain.status()
        receipt = chain.anchors.anchor(0, 1, bytes.fromhex("11" * 32))
        deployed_s = time.perf_counter() - t0
    table = Table(title="chain status", show_header=False)
    table.add_row("rpc", str(status["rpc"]))
    table.add_row("chain id", str(status["chain_id"]))
    for name, address in status["contracts"].items():
        table.add_row(name, address)
    table.add_row("test anchor", f"tx {receipt.tx_hash[:18]}… gas {receipt.gas_used:,}")
    console.print(table)
    t1 = time.perf_counter()
    with Chain.connect(settings.rpc, settings.home, cache=settings.cache) as chain:
        again = chain.anchors.by_root(bytes.fromhex("11" * 32))
        same = chain.status()["contracts"] == status["contracts"]
    restart_s = time.perf_counter() - t1
    console.print(
        f"first start {deployed_s:.1f}s (compile + deploy); restart {restart_s:.2f}s: "
        f"same contracts: [bold]{same}[/], anchor still there: [bold]{again is not None}[/]"
    )


def provenance_section(settings: Settings) -> None:
    """A batch from harvest to retailer: signed, chained, anchored, verified, tampered."""
    from services._provenance_demo import provenance_demo

    provenance_demo(settings)


def disputes_section(settings: Settings) -> None:
    """Three orders: released; cold-chain breach refunded + penalty; breaker refuses."""
    from services._disputes_demo import disputes_demo

    disputes_demo(settings)


def watermark_section(settings: Settings) -> None:
    """A streamer registers; a marked clip is re-uploaded at CRF 28, half size, and traced."""
    from contracts import Chain, Role
    from watermark import KeyStore
    from watermark._demo import run_demo

    _, public_key = KeyStore(settings.home).register("demo-streamer")
    with Chain.connect(settings.rpc, settings.home, cache=settings.cache) as chain:
        receipt = chain.actors.register("demo-streamer", public_key, Role.STREAMER, chain.now())
    console.print(f"streamer demo-streamer registered on chain: tx {receipt.tx_hash[:18]}…")
    run_demo(settings.home, "demo-streamer", console.print)
    # CRF 28 + half size is the engine's weakest row (see docs/watermark.md); show the
    # plain CRF 28 re-upload beside it so the demo tells the whole picture
    from watermark import detect_file
    from watermark._demo import reencode

    work = settings.home / "demo-watermark"
    clip = reencode(work / "marked.mp4", work / "reupload-crf28.mp4", crf=28, scale=1.0)
    result = detect_file(str(clip), KeyStore(settings.home).all())
    console.print(
        f"re-uploaded at CRF 28, full size -> detected={result.detected} streamer={result.streamer}"
    )
    for seg in result.segments:
        console.print(
            f"  clip {seg.clip_start:.1f}-{seg.clip_end:.1f} s = broadcast "
            f"{seg.broadcast_start}..{seg.broadcast_end} (confidence {seg.confidence:.3f})"
        )


def clip_section(settings: Settings) -> None:
    """Clip authenticity: a genuine re-upload and an edited clip (a cut and a price overlay)."""
    from services._clip_demo import clip_demo

    clip_demo(settings)


def institutions_section(settings: Settings) -> None:
    """Issue 8: a flagged script line, a farm's origin camera, a contradicted persona claim."""
    from services._institutions_demo import institutions_demo

    institutions_demo(settings)


SECTIONS: list[tuple[str, Callable[[Settings], None]]] = [
    ("Chain layer: Vyper contracts on the embedded chain", chain_section),
    ("Provenance: a strawberry batch from farm to shop", provenance_section),
    ("Disputes: escrow, automatic rulings, the circuit breaker", disputes_section),
    ("Watermark: a re-uploaded clip traced to its streamer and time", watermark_section),
    ("Clip authenticity: who said it, when, and was it edited?", clip_section),
    ("Institutions: negative list, origin camera, persona registration", institutions_section),
]


def main() -> int:
    settings = Settings()
    if settings.rpc == "embedded" and settings.home.exists():
        shutil.rmtree(settings.home)  # same story every run
    settings.home.mkdir(parents=True, exist_ok=True)
    console.print(Panel.fit(f"livetrust demo — home {settings.home}, chain {settings.rpc}"))
    for title, section in SECTIONS:
        console.rule(title)
        section(settings)
    console.rule("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
