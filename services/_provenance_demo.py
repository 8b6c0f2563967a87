"""The provenance story for ``make demo``: farm -> packer -> QC lab -> carrier -> retailer.

:func:`sample_story` builds the realistic batch (also used by tests and benchmarks);
:func:`provenance_demo` records it on the configured chain and database, anchors it,
verifies it, tampers with a copy of its proof bundle and shows the failed verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provenance import Event, KeyPair, Role

__all__ = ["DEMO_ACTORS", "StoryStep", "provenance_demo", "sample_story"]

CONTEXT: list[Any] = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"cbvmda": "urn:epcglobal:cbv:mda:", "lt": "https://livetrust.example/ns/"},
]
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


def provenance_demo() -> None:  # filled in below
    raise NotImplementedError
