"""The provenance story for ``make demo``: farm -> packer -> QC lab -> carrier -> retailer.

:func:`sample_story` builds the realistic batch (also used by tests and benchmarks);
:func:`provenance_demo` records it on the configured chain and database, anchors it,
verifies it, tampers with a copy of its proof bundle and shows the failed verdict.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from provenance import Event, KeyPair, Role

if TYPE_CHECKING:
    from services.config import Settings

__all__ = ["DEMO_ACTORS", "StoryStep", "provenance_demo", "provenance_section", "sample_story"]

CONTEXT: list[Any] = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"cbvmda": "urn:epcglobal:cbv:mda:", "lt": "https://livetrust.example/ns/"},
]
SHORT_HASH = re.compile(r"(ni:///sha-256;|sha256:)([0-9a-f]{12})[0-9a-f]+(\?ver=CBV2\.0)?")
NAMESPACES = {"cbvmda": "urn:epcglobal:cbv:mda:", "lt": "https://livetrust.example/ns/"}

# actor id -> role (the five parties of the demo)
DEMO_ACTORS: dict[str, Role] = {
    "farm-green-valley": Role.FARM,
    "packer-sunrise": Role.PROCESSOR,
    "qc-lab-hk": Role.QC,
    "carrier-coldline": Role.LOGISTICS,
    "retailer-freshmart": Role.RETAILER,
}


@dataclass(frozen=True)
class StoryStep:
    actor: str
    events: list[Event]


def _lot(item: str, lot: str) -> str:
    return f"urn:epc:class:lgtin:0614141.{item}.{lot}"


def sample_story(
    tag: str = "0501",
    day: str = "2026-05-01",
    temps: tuple[float, ...] = (2.5, 3.1, 4.0, 3.6),
    split: tuple[float, float] = (740.0, 735.0),
) -> list[StoryStep]:
    """One realistic strawberry batch: 1.5 t harvested, washed and packed (1.3 % loss), QC'd,
    palletised, shipped chilled with a temperature logger, received and split into two retail
    lots. ``tag`` makes lot numbers unique; ``temps`` are the logger's °C readings; ``split``
    the two retail lots' kg."""
    harvest = _lot("107346", f"H{tag}")
    packs = _lot("207346", f"P{tag}")
    retail_a = _lot("307346", f"R{tag}A")
    retail_b = _lot("307346", f"R{tag}B")
    pallet = f"urn:epc:id:sscc:0614141.1{int(tag, 36) % 10**9:09d}"
    farm_gln = "urn:epc:id:sgln:0614141.00001.0"
    pack_gln = "urn:epc:id:sgln:0614141.00002.0"
    lab_gln = "urn:epc:id:sgln:0614141.00003.0"
    store_gln = "urn:epc:id:sgln:0614141.00009.0"

    def t(hhmm: str, d: str = day) -> dict[str, str]:
        return {"eventTime": f"{d}T{hhmm}:00.000+08:00", "eventTimeZoneOffset": "+08:00"}

    def ev(body: dict[str, Any]) -> Event:
        return Event.from_json(body, NAMESPACES)

    sensor = [
        {
            "sensorMetadata": {
                "time": f"{day}T{12 + i}:00:00.000+08:00",
                "deviceID": "urn:epc:id:giai:0614141.TL42",
            },
            "sensorReport": [{"type": "Temperature", "value": v, "uom": "CEL"}],
        }
        for i, v in enumerate(temps)
    ]
    return [
        StoryStep(
            "farm-green-valley",
            [
                ev(
                    {
                        "type": "ObjectEvent",
                        **t("06:00"),
                        "action": "ADD",
                        "bizStep": "commissioning",
                        "disposition": "active",
                        "quantityList": [{"epcClass": harvest, "quantity": 1500.0, "uom": "KGM"}],
                        "readPoint": {"id": farm_gln},
                        "bizLocation": {"id": farm_gln},
                        "ilmd": {
                            "cbvmda:countryOfOrigin": "CN",
                            "cbvmda:harvestStartDate": day,
                            "lt:variety": "Hongyan strawberry",
                        },
                    }
                )
            ],
        ),
        StoryStep(
            "packer-sunrise",
            [
                ev(
                    {
                        "type": "TransformationEvent",
                        **t("08:30"),
                        "bizStep": "packing",
                        "disposition": "active",
                        "inputQuantityList": [
                            {"epcClass": harvest, "quantity": 1500.0, "uom": "KGM"}
                        ],
                        "outputQuantityList": [
                            {"epcClass": packs, "quantity": 1480.0, "uom": "KGM"}
                        ],
                        "readPoint": {"id": pack_gln},
                        "bizLocation": {"id": pack_gln},
                        "ilmd": {"lt:process": "washed, graded, packed in 2 kg trays"},
                    }
                )
            ],
        ),
        StoryStep(
            "qc-lab-hk",
            [
                ev(
                    {
                        "type": "ObjectEvent",
                        **t("09:30"),
                        "action": "OBSERVE",
                        "bizStep": "inspecting",
                        "disposition": "conformant",
                        "quantityList": [{"epcClass": packs, "quantity": 1480.0, "uom": "KGM"}],
                        "readPoint": {"id": lab_gln},
                        "lt:pesticideScreen": "pass",
                        "lt:certificate": "QC-2026-0501-17",
                    }
                )
            ],
        ),
        StoryStep(
            "packer-sunrise",
            [
                ev(
                    {
                        "type": "AggregationEvent",
                        **t("10:00"),
                        "action": "ADD",
                        "bizStep": "packing",
                        "parentID": pallet,
                        "childQuantityList": [
                            {"epcClass": packs, "quantity": 1480.0, "uom": "KGM"}
                        ],
                        "readPoint": {"id": pack_gln},
                    }
                )
            ],
        ),
        StoryStep(
            "carrier-coldline",
            [
                ev(
                    {
                        "type": "ObjectEvent",
                        **t("11:00"),
                        "action": "OBSERVE",
                        "bizStep": "shipping",
                        "disposition": "in_transit",
                        "epcList": [pallet],
                        "readPoint": {"id": pack_gln},
                        "sourceList": [{"type": "location", "source": pack_gln}],
                        "destinationList": [{"type": "location", "destination": store_gln}],
                    }
                ),
                ev(
                    {
                        "type": "ObjectEvent",
                        **t("16:00"),
                        "action": "OBSERVE",
                        "bizStep": "transporting",
                        "disposition": "in_transit",
                        "epcList": [pallet],
                        "sensorElementList": sensor,
                    }
                ),
            ],
        ),
        StoryStep(
            "retailer-freshmart",
            [
                ev(
                    {
                        "type": "ObjectEvent",
                        **t("17:00"),
                        "action": "OBSERVE",
                        "bizStep": "receiving",
                        "disposition": "in_progress",
                        "epcList": [pallet],
                        "readPoint": {"id": store_gln},
                        "bizLocation": {"id": store_gln},
                    }
                ),
                ev(
                    {
                        "type": "TransformationEvent",
                        **t("18:00"),
                        "bizStep": "repackaging",
                        "inputQuantityList": [
                            {"epcClass": packs, "quantity": 1480.0, "uom": "KGM"}
                        ],
                        "outputQuantityList": [
                            {"epcClass": retail_a, "quantity": split[0], "uom": "KGM"},
                            {"epcClass": retail_b, "quantity": split[1], "uom": "KGM"},
                        ],
                        "readPoint": {"id": store_gln},
                    }
                ),
            ],
        ),
    ]


def demo_key(actor: str) -> KeyPair:
    return KeyPair.from_seed(b"livetrust-demo/" + actor.encode())


def _register(chain: Any, home: Path, actor: str, role: Role, tag: str) -> tuple[str, KeyPair]:
    """Register ``actor`` with a fresh key kept in ``home/keys`` (a new id if it exists)."""
    actor_id = actor if not chain.actors.keys(actor) else f"{actor}-{tag}"
    key = KeyPair.generate()
    key.save(home / "keys" / f"{actor_id}.pem")
    chain.actors.register(actor_id, key.public_key, role, 0)
    return actor_id, key


def provenance_demo(settings: Settings | None = None) -> dict[str, Any]:
    """Record, anchor, verify and tamper with one batch; print the story, return its figures.

    Runs on the configured chain (``LIVETRUST_RPC``, embedded by default) and database
    (``LIVETRUST_DB``, SQLite in ``LIVETRUST_HOME`` by default).
    """
    from contracts import Chain
    from provenance import (
        Anchorer,
        Ledger,
        Signer,
        Store,
        build_bundle,
        bundle_bytes,
        chain_reference,
        verify_batch,
        verify_bundle,
    )
    from services.config import Settings as _Settings

    s = settings or _Settings()
    console = Console()
    tag = format(int(time.time()) % 36**4, "04d")[-4:]
    home = Path(s.home)
    store = Store.open(s.db_url)
    out: dict[str, Any] = {}
    with Chain.connect(s.rpc, home, cache=s.cache, key=s.chain_key) as chain:
        # 1. five parties get keys and an on-chain registration with their role
        names: dict[str, str] = {}
        keys: dict[str, KeyPair] = {}
        table = Table(title="actors (ActorRegistry on chain)")
        for col in ("actor", "role", "public key"):
            table.add_column(col)
        for actor, role in DEMO_ACTORS.items():
            actor_id, key = _register(chain, home, actor, role, tag)
            names[actor], keys[actor] = actor_id, key
            table.add_row(actor_id, role.label, key.public_key.hex()[:24] + "…")
        console.print(table)

        # 2. each party records its own steps, signed with its own key
        ledger = Ledger(store, chain.actors)
        story = sample_story(tag=tag)
        steps = Table(title="events (EPCIS 2.0, signed, hash-chained, in the Merkle log)")
        for col in ("#", "step", "signed by", "Event Hash ID"):
            steps.add_column(col)
        for step in story:
            results = ledger.ingest(step.events, Signer(names[step.actor], keys[step.actor]))
            for event, r in zip(step.events, results, strict=True):
                steps.add_row(
                    str(r.seq), event.biz_step or "-", names[step.actor], r.hash_id[14:38] + "…"
                )
        console.print(steps)

        # 3. one transaction anchors the tree head covering all of them
        anchored = Anchorer(ledger, chain.anchors).anchor()
        assert anchored.head is not None
        console.print(
            f"anchored tree head: size {anchored.head.tree_size}, root "
            f"{anchored.head.root.hex()[:16]}…, tx {anchored.head.tx_hash}, "
            f"gas {anchored.head.gas_used:,} for {anchored.new_events} events"
        )

        # 4. a buyer's check of one retail lot: split from the packs, QC'd, shipped chilled
        retail = f"urn:epc:class:lgtin:0614141.307346.R{tag}A"
        verdict = verify_batch(ledger, retail, chain.anchors)
        console.print(
            f"verify {retail}: [bold {'green' if verdict.ok else 'red'}]"
            f"{'OK' if verdict.ok else 'FAILED'}[/] ({verdict.events} events, anchored "
            f"{verdict.anchored})"
        )

        # 5. the proof bundle, checked with only the chain, then a tampered copy
        ref = chain_reference(chain)
        bundle = bundle_bytes(build_bundle(ledger, retail, ref))
        path = home / f"bundle-{tag}.json"
        path.write_bytes(bundle)
        offline = verify_bundle(bundle, chain.actors, chain.anchors, chain=ref)
        console.print(
            f"proof bundle {path} ({len(bundle) / 1024:.1f} KB): offline verdict "
            f"[bold {'green' if offline.ok else 'red'}]{'OK' if offline.ok else 'FAILED'}[/]"
        )
        warm = bundle.replace(b'"value":4.0', b'"value":9.5', 1)  # a logger reading "fixed"
        tampered = verify_bundle(warm, chain.actors, chain.anchors, chain=ref)
        console.print("tampered copy (one temperature reading changed from 4.0 to 9.5 °C):")
        console.print(
            f"  verdict [bold {'green' if tampered.ok else 'red'}]"
            f"{'OK' if tampered.ok else 'FAILED'}[/]"
        )
        for f in tampered.findings:
            where = f.event[14:30] + "…" if f.event else ""
            detail = SHORT_HASH.sub(r"\2…", f.detail)
            console.print(f"  [red]{f.code}[/] {where} {detail}", highlight=False)
        out = {
            "events": anchored.new_events,
            "anchor_gas": anchored.head.gas_used,
            "verdict_ok": verdict.ok,
            "bundle_bytes": len(bundle),
            "bundle_ok": offline.ok,
            "tampered_ok": tampered.ok,
            "tampered_codes": sorted(tampered.codes),
        }
    store.close()
    return out


def provenance_section(settings: Settings) -> None:
    """``services.demo`` section: the story above, printed (figures discarded)."""
    provenance_demo(settings)


if __name__ == "__main__":
    provenance_demo()
