"""Evidence document builders shared by the service tests (shapes of issues 3 and 5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services._evidence import BUNDLE_FORMAT, EvidenceDoc

BATCH = "urn:epc:class:lgtin:0614141.207346.P0501"
ORIGIN = "ni:///sha-256;0001?ver=CBV2.0"
PACK = "ni:///sha-256;0002?ver=CBV2.0"
QC = "ni:///sha-256;0003?ver=CBV2.0"
SHIP = "ni:///sha-256;0004?ver=CBV2.0"
RECV = "ni:///sha-256;0005?ver=CBV2.0"


def iso(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone(dt.timedelta(hours=8))).isoformat()


def verdict(*findings: tuple[str, str | None, str], batch: str = BATCH) -> dict[str, Any]:
    return {
        "ok": not findings,
        "batch": batch,
        "events": 5,
        "anchored": True,
        "findings": [{"code": c, "event": e, "detail": d} for c, e, d in findings],
    }


def breach(event: str | None = SHIP) -> dict[str, Any]:
    return verdict(("cold_chain_breach", event, "12.5 °C at 14:00 is outside 0.0-8.0 °C"))


def bundle(
    received_at: int = 1_000,
    qc_disposition: str = "conformant",
    country: str = "CN",
    batch: str = BATCH,
    steps: tuple[str, ...] = ("origin", "pack", "qc", "ship", "receive"),
) -> dict[str, Any]:
    """A proof bundle's shape (``livetrust.provenance.bundle/1``), only what the oracle reads."""
    spec = {
        "origin": (
            ORIGIN,
            "urn:epcglobal:cbv:bizstep:commissioning",
            "active",
            received_at - 4 * 86_400,
            {"cbvmda:countryOfOrigin": country},
        ),
        "pack": (PACK, "packing", "active", received_at - 3 * 86_400, None),
        "qc": (QC, "inspecting", qc_disposition, received_at - 3 * 86_400 + 3600, None),
        "ship": (SHIP, "shipping", "in_transit", received_at - 2 * 86_400, None),
        "receive": (RECV, "receiving", "in_progress", received_at, None),
    }
    events = []
    for s in steps:
        hid, step, disp, t, ilmd = spec[s]
        body: dict[str, Any] = {
            "type": "ObjectEvent",
            "eventTime": iso(t),
            "eventTimeZoneOffset": "+08:00",
            "bizStep": step,
            "disposition": disp,
        }
        if ilmd:
            body["ilmd"] = ilmd
        events.append(
            {
                "event": body,
                "namespaces": {},
                "statement": {"event": hid, "actor": "x", "role": "farm"},
                "signature": "",
                "proof": None,
            }
        )
    return {
        "format": BUNDLE_FORMAT,
        "batch": batch,
        "log_id": 1,
        "tree_head": None,
        "anchor": None,
        "actors": {},
        "events": events,
    }


def clip(
    verdict_: str = "authentic", streamer: str | None = "alice", status: str = "original"
) -> dict[str, Any]:
    return {
        "verdict": verdict_,
        "streamer": streamer,
        "segments": [
            {
                "clip_start": 0.0,
                "clip_end": 30.0,
                "status": status,
                "broadcast_start": 1_000,
                "broadcast_end": 1_030,
            }
        ],
        "findings": [],
        "manifest": {"root": "00" * 32, "anchor_tx": None},
    }


def claims(*items: tuple[str, float, str | None]) -> dict[str, Any]:
    return {
        "claims": [
            {"topic": t, "text": f"claim about {t}", "clip_time": at, "value": v}
            for t, at, v in items
        ]
    }


def doc(data: Any, name: str = "doc.json") -> EvidenceDoc:
    return EvidenceDoc.from_json(data, name)
