"""Origin-camera evidence: a farm's signed, anchored camera manifest linked to a batch by a
sensor element on the farm's harvest event; genuine, wrong farm, wrong time, tampered."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provenance import Ledger, MemoryRegistry
from services._origin import origin_evidence, sensor_element
from tests.institutions.conftest import (
    FARM,
    OTHER_FARM,
    STREAMER_KEY,
    raw_public,
    record_batch,
)
from watermark._fingerprint import FINGERPRINT_BYTES
from watermark._manifest import ManifestStore, SignedManifest, StoredManifest, build_manifest

# sample_story's harvest event: 2026-05-01 06:00 +08:00
HARVEST_AT = int(
    dt.datetime(2026, 5, 1, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
)
CAMERA = "urn:epc:id:giai:0614141.CAM1"


def farm_key(actor: str) -> Ed25519PrivateKey:
    """The private half of ``demo_key(actor)`` (the farm's registered provenance key)."""
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"livetrust-demo/" + actor.encode()).digest()
    )


def camera(
    ledger: Ledger, identity: str, start: int, key: Ed25519PrivateKey | None = None
) -> StoredManifest:
    """A 10-minute origin-camera manifest signed by ``identity``'s key (or ``key``)."""
    k = key or farm_key(identity)
    fps = [
        hashlib.sha256(f"{identity}{i}".encode()).digest()[:1] * FINGERPRINT_BYTES
        for i in range(600)
    ]
    m = build_manifest(identity, raw_public(k), start, fps)
    return ManifestStore(ledger.store).record(SignedManifest.sign(m, k))


def link(stored: StoredManifest, **edit: Any) -> dict[str, Any]:
    element = sensor_element(stored, CAMERA)
    element["sensorReport"][0].update(edit)
    return {"sensorElementList": [element]}


def evidence(ledger: Ledger, batch: str, registry: MemoryRegistry) -> list[dict[str, Any]]:
    found = origin_evidence(ledger, batch, ManifestStore(ledger.store), registry)  # type: ignore[arg-type]
    return [e.to_json() for e in found]


def anchor(ledger: Ledger, registry: MemoryRegistry) -> None:
    ManifestStore(ledger.store).anchor(registry)  # type: ignore[arg-type]


def codes(ev: dict[str, Any]) -> set[str]:
    return {f["code"] for f in ev["findings"]}


def test_genuine_origin_video_verifies(ledger: Ledger, registry: MemoryRegistry) -> None:
    stored = camera(ledger, FARM, HARVEST_AT - 300)
    anchor(ledger, registry)
    batch = record_batch(ledger, "0D01", harvest=link(stored))
    [ev] = evidence(ledger, batch, registry)
    assert ev["verified"], ev["findings"]
    assert (ev["farm"], ev["device"], ev["start"], ev["end"]) == (
        FARM,
        CAMERA,
        HARVEST_AT - 300,
        HARVEST_AT + 300,
    )
    assert ev["root"] and ev["anchor_tx"]


def test_wrong_farm(ledger: Ledger, registry: MemoryRegistry) -> None:
    other = camera(ledger, OTHER_FARM, HARVEST_AT - 300)  # another farm's camera
    impostor = camera(ledger, FARM, HARVEST_AT + 3 * 3600, key=STREAMER_KEY)  # not FARM's key
    anchor(ledger, registry)
    b1 = record_batch(ledger, "0D02", harvest=link(other))
    b2 = record_batch(
        ledger, "0D03", harvest=link(impostor) | {"eventTime": "2026-05-01T09:05:00.000+08:00"}
    )
    [e1] = evidence(ledger, b1, registry)
    [e2] = evidence(ledger, b2, registry)
    assert codes(e1) == {"origin_wrong_farm"} and OTHER_FARM in e1["findings"][0]["detail"]
    assert codes(e2) == {"origin_wrong_farm"}  # the key is not registered for the farm


def test_wrong_time(ledger: Ledger, registry: MemoryRegistry) -> None:
    yesterday = camera(ledger, FARM, HARVEST_AT - 86_400)
    anchor(ledger, registry)
    batch = record_batch(ledger, "0D04", harvest=link(yesterday))
    [ev] = evidence(ledger, batch, registry)
    assert codes(ev) == {"origin_wrong_time"} and not ev["verified"]
    # the event restating another time range than the manifest's
    today = camera(ledger, FARM, HARVEST_AT - 300)
    anchor(ledger, registry)
    el = link(today)
    el["sensorElementList"][0]["sensorMetadata"]["endTime"] = "2026-05-01T12:00:00+08:00"
    [ev] = evidence(ledger, record_batch(ledger, "0D05", harvest=el), registry)
    assert codes(ev) == {"origin_wrong_time"}


def test_tampered_missing_and_unanchored(ledger: Ledger, registry: MemoryRegistry) -> None:
    stored = camera(ledger, FARM, HARVEST_AT - 300)
    b1 = record_batch(ledger, "0D06", harvest=link(stored))  # manifest not anchored yet
    assert codes(evidence(ledger, b1, registry)[0]) == {"origin_video_not_anchored"}
    anchor(ledger, registry)
    b2 = record_batch(ledger, "0D07", harvest=link(stored, stringValue="sha256:" + "0" * 64))
    assert "origin_video_mismatch" in codes(evidence(ledger, b2, registry)[0])
    b3 = record_batch(ledger, "0D08", harvest=link(stored, uriValue="livetrust:clip-manifest:2:99"))
    assert codes(evidence(ledger, b3, registry)[0]) == {"origin_video_missing"}


def test_batches_without_a_camera_have_no_evidence(
    ledger: Ledger, registry: MemoryRegistry
) -> None:
    assert evidence(ledger, record_batch(ledger, "0D09"), registry) == []
