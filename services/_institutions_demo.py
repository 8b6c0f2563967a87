"""Institutions for ``make demo`` (issue 8): a flagged script line, a farm's origin camera
linked to its harvest, and a streamer persona whose claim the provenance contradicts."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from services.config import Settings

__all__ = ["HARVEST_AT", "institutions_demo"]

# sample_story's harvest event: 2026-05-01 06:00 +08:00
HARVEST_AT = 1_777_586_400
CAPTIONS = """1
00:00:02,000 --> 00:00:04,000
大家好，今天给大家带来寿光的草莓

2
00:00:05,000 --> 00:00:08,000
原价199，今天直播间只要39.9，只剩最后3单了！

3
00:00:09,000 --> 00:00:12,000
This honey cures diabetes, throw away your pills

4
00:00:13,000 --> 00:00:15,000
Cold chain all the way, scan the QR code to check
"""


def _register(chain: Any, home: Path, name: str, role: Any) -> tuple[str, Any]:
    """A fresh actor (unique id per run) with its key saved in ``home/keys``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from provenance import KeyPair

    actor = f"{name}-{secrets.token_hex(2)}"
    private = Ed25519PrivateKey.generate()
    key = KeyPair(private)
    key.save(home / "keys" / f"{actor}.pem")
    chain.actors.register(actor, key.public_key, role, 0)
    return actor, private


def institutions_demo(settings: Settings) -> dict[str, Any]:
    from contracts import Chain, Role
    from provenance import Anchorer, Event, KeyPair, Ledger, Signer, Store
    from services._origin import batch_origin_report, record_origin_video
    from services._persona import PersonaStore, check_persona, register_persona
    from services._provenance_demo import DEMO_ACTORS, NAMESPACES, StoryStep, sample_story
    from services._screening import screen_file
    from watermark import KeyStore
    from watermark._demo import write_luma_clip
    from watermark._manifest import ManifestStore
    from watermark._synth import scene_clip

    console = Console()
    home = Path(settings.home)
    work = home / "demo-institutions"
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}

    # 1. the negative list on a broadcast's captions
    captions = work / "captions.srt"
    captions.write_text(CAPTIONS, encoding="utf-8")
    report = screen_file(captions)
    table = Table(title=f"script check {captions.name} (negative list {report.negative_list})")
    for col in ("time", "severity", "rule", "line"):
        table.add_column(col)
    for f in report.findings:
        table.add_row(f"{f.start:.0f} s", f.severity.label, f.rule, f.text)
    console.print(table)
    console.print(f"{report.lines} caption lines, flagged: [bold red]{report.flagged}[/]")
    out["flagged_lines"] = len({f.line for f in report.findings})

    store = Store.open(settings.db_url)
    try:
        with Chain.connect(
            settings.rpc, home, cache=settings.cache, key=settings.chain_key
        ) as chain:
            # 2. a farm's origin camera on harvest morning, linked to the harvest event
            ids: dict[str, str] = {}
            keys: dict[str, Any] = {}
            for name, role in DEMO_ACTORS.items():
                ids[name], keys[name] = _register(chain, home, name, role)
            farm = ids["farm-green-valley"]
            w, h = 854, 480
            raw = write_luma_clip(work / "camera.mp4", scene_clip(h, w, 10.0, seed=3), w, h)
            video = record_origin_video(
                store,
                home,
                str(raw),
                str(work / "camera-marked.mp4"),
                farm,
                HARVEST_AT - 5,
                keys["farm-green-valley"],
                "urn:epc:id:giai:0614141.CAM1",
            )
            ManifestStore(store).anchor(chain.anchors)
            console.print(
                f"origin camera of {farm}: manifest #{video['manifest']} "
                f"({video['end'] - video['start']} s, {video['digest'][:19]}…), anchored"
            )
            story = sample_story(tag=secrets.token_hex(2).upper())
            harvest = dict(story[0].events[0].body)
            harvest["sensorElementList"] = [video["sensorElement"]]
            story[0] = StoryStep(story[0].actor, [Event.from_json(harvest, NAMESPACES)])
            ledger = Ledger(store, chain.actors)
            for step in story:
                ledger.ingest(step.events, Signer(ids[step.actor], KeyPair(keys[step.actor])))
            Anchorer(ledger, chain.anchors).anchor()
            retail = str(story[-1].events[-1].body["outputQuantityList"][0]["epcClass"])
            for ev in batch_origin_report(ledger, retail, chain.anchors):
                mark = "[green]verified[/]" if ev["verified"] else "[red]NOT verified[/]"
                console.print(
                    f"batch verify {retail}: origin video of {ev['farm']} "
                    f"{ev['start']}..{ev['end']} {mark}"
                )
                out["origin_verified"] = ev["verified"]

            # 3. a streamer registers a persona; the batch she sells contradicts one claim
            streamer = f"demo-lily-{secrets.token_hex(2)}"
            _, public = KeyStore(home).register(streamer)
            chain.actors.register(streamer, public, Role.STREAMER, 0)
            own_farm, _ = _register(chain, home, "farm-lily", Role.FARM)
            personas = PersonaStore(store)
            draft = {
                "display_name": "Lily, strawberry grower",
                "claims": [
                    {
                        "id": "own-farm",
                        "type": "origin",
                        "scope": "own",
                        "text": "all strawberries come from my own greenhouses",
                    },
                    {"id": "country", "type": "location", "value": "CN", "text": "grown in China"},
                ],
                "affiliations": [{"actor": own_farm, "relation": "own"}],
            }
            stored = register_persona(
                personas,
                streamer,
                draft,
                KeyStore(home).signing_key(streamer),
                chain.actors,
                chain.now(),
            )
            personas.anchor(chain.anchors)
            console.print(
                f"persona of {streamer} registered: version {stored.record.version}, "
                f"{stored.record.digest[:19]}…, anchored in log 3"
            )
            check = check_persona(personas, ledger, streamer, retail, chain.anchors)
            for r in check.results:
                colour = "green" if r.status == "supported" else "red"
                console.print(
                    f"  [{colour}]{r.status:>12}[/] {r.claim.text!r}: {r.detail}", highlight=False
                )
            for finding in check.findings():
                console.print(f"  finding [red]{finding['code']}[/] (claim {finding['claim']})")
            out["contradicted"] = [r.claim.id for r in check.contradicted]
    finally:
        store.close()
    return out
