"""Origin-camera evidence (产地监控直连): a farm's watermarked camera stream, linked to a batch.

A farm runs an origin camera through the same watermark engine as a streamer, with its
actor id as identity: frames carry the farm's id and the time, and a manifest of per-second
fingerprints is signed with the farm's registered key (role farm) and recorded in the clip
manifest log (log 2), anchored on chain with the broadcasts.

The **link** is an EPCIS sensor element on the farm's own origin event (the harvest,
``commissioning`` / ``creating_class_instance``, which only a farm or processor may sign)::

    "sensorElementList": [{
      "sensorMetadata": {"deviceID": "urn:epc:id:giai:…CAM1",
                         "startTime": "…", "endTime": "…"},     # the manifest's time range
      "sensorReport": [{"type": "lt:OriginVideo",
                        "stringValue": "sha256:…",               # the manifest's digest
                        "uriValue": "livetrust:clip-manifest:2:<seq>",
                        "hexBinaryValue": "<leaf hash>"}]}]

so the signed, hash-chained, anchored harvest event commits to the video's manifest.
:func:`origin_evidence` checks each link of a batch's history:

(1) the manifest exists and its digest and leaf hash are the ones the event names
    (``origin_video_missing`` / ``origin_video_mismatch``);
(2) the manifest bundle's own checks with the farm role (``watermark._manifest.check_bundle``):
    signature, key registered, inclusion, anchor (their codes, prefixed ``origin_video_``);
(3) identity: the manifest's identity is the actor that signed the linking event and the
    event is an origin step (``origin_wrong_farm``);
(4) time: the event's stated range equals the manifest's, and the event's time falls inside
    it with :data:`ORIGIN_TIME_SLACK_S` either side (``origin_wrong_time``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from services._evidence import ORIGIN_STEPS

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from provenance import Ledger, Store
    from provenance._registry import AnchorLedger
    from watermark._manifest import ManifestStore, StoredManifest

__all__ = [
    "ORIGIN_TIME_SLACK_S",
    "ORIGIN_VIDEO_TYPE",
    "OriginEvidence",
    "batch_origin_report",
    "origin_evidence",
    "record_origin_video",
    "sensor_element",
]

ORIGIN_VIDEO_TYPE = "lt:OriginVideo"
URI_PREFIX = "livetrust:clip-manifest:"
# An event stamps the start (or end) of a harvest that runs for hours while the camera
# records the whole of it; an hour either side keeps "the harvest on camera" honest
# without requiring the event to be stamped at a particular minute.
ORIGIN_TIME_SLACK_S = 3600


def _iso(t: int) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.UTC).isoformat(timespec="seconds")


def _unix(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(t.timestamp()) if t.tzinfo is not None else None


def sensor_element(stored: StoredManifest, device: str) -> dict[str, Any]:
    """The sensor element a farm puts on its harvest event to link this manifest."""
    m = stored.manifest
    return {
        "sensorMetadata": {"deviceID": device, "startTime": _iso(m.start), "endTime": _iso(m.end)},
        "sensorReport": [
            {
                "type": ORIGIN_VIDEO_TYPE,
                "stringValue": m.digest,
                "uriValue": f"{URI_PREFIX}{2}:{stored.seq}",
                "hexBinaryValue": stored.signed.leaf_hash.hex(),
            }
        ],
    }


@dataclass(frozen=True)
class _Link:
    event: str
    actor: str
    step: str | None
    time: int
    device: str | None
    start: int | None
    end: int | None
    digest: str | None
    seq: int | None
    leaf: str | None


@dataclass(frozen=True)
class OriginEvidence:
    event: str
    farm: str
    device: str | None
    manifest: int | None
    digest: str | None
    start: int | None
    end: int | None
    findings: tuple[dict[str, str], ...] = field(default=())
    root: str | None = None
    anchor_tx: str | None = None

    @property
    def verified(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "farm": self.farm,
            "device": self.device,
            "manifest": self.manifest,
            "digest": self.digest,
            "start": self.start,
            "end": self.end,
            "verified": self.verified,
            "root": self.root,
            "anchor_tx": self.anchor_tx,
            "findings": list(self.findings),
        }


def _links(event_hash: str, actor: str, step: str | None, body: Mapping[str, Any]) -> list[_Link]:
    out = []
    t = _unix(body.get("eventTime")) or 0
    for element in body.get("sensorElementList") or []:
        if not isinstance(element, dict):
            continue
        meta = element.get("sensorMetadata") or {}
        for report in element.get("sensorReport") or []:
            if not isinstance(report, dict) or report.get("type") != ORIGIN_VIDEO_TYPE:
                continue
            uri = report.get("uriValue")
            seq = None
            if isinstance(uri, str) and uri.startswith(URI_PREFIX):
                try:
                    seq = int(uri.rsplit(":", 1)[-1])
                except ValueError:
                    seq = None
            digest = report.get("stringValue")
            leaf = report.get("hexBinaryValue")
            out.append(
                _Link(
                    event_hash,
                    actor,
                    step,
                    t,
                    meta.get("deviceID") if isinstance(meta.get("deviceID"), str) else None,
                    _unix(meta.get("startTime")),
                    _unix(meta.get("endTime")),
                    digest if isinstance(digest, str) else None,
                    seq,
                    leaf.lower() if isinstance(leaf, str) else None,
                )
            )
    return out


def _check(
    link: _Link, manifests: ManifestStore, directory: Any, anchors: AnchorLedger | None
) -> OriginEvidence:
    from watermark._manifest import FARM_ROLE, ManifestNotFound, check_bundle

    findings: list[dict[str, str]] = []

    def add(code: str, detail: str) -> None:
        findings.append({"code": code, "detail": detail})

    def done(
        start: int | None, end: int | None, root: str | None = None, tx: str | None = None
    ) -> OriginEvidence:
        return OriginEvidence(
            link.event,
            link.actor,
            link.device,
            link.seq,
            link.digest,
            start,
            end,
            tuple(findings),
            root,
            tx,
        )

    # (1) the manifest the event names
    if link.seq is None:
        add("origin_video_missing", "the origin video link names no manifest")
        return done(link.start, link.end)
    try:
        stored = manifests.get(link.seq)
    except ManifestNotFound:
        add("origin_video_missing", f"no manifest #{link.seq} in the clip log")
        return done(link.start, link.end)
    m = stored.manifest
    if link.digest != m.digest:
        add("origin_video_mismatch", f"event names {link.digest}, manifest is {m.digest}")
    if link.leaf != stored.signed.leaf_hash.hex():
        add("origin_video_mismatch", "event names another leaf hash than the manifest's")
    # (2) the manifest's own checks, with the farm role
    _, bundle_findings, info = check_bundle(
        manifests.bundle(link.seq), directory, anchors, role=FARM_ROLE
    )
    for f in bundle_findings:
        if f.code == "identity_mismatch":
            add("origin_wrong_farm", f.detail)
        else:
            add(f"origin_video_{f.code}", f.detail)
    # (3) identity: the farm that signed the harvest is the camera's identity
    if m.streamer != link.actor:
        add(
            "origin_wrong_farm",
            f"video is {m.streamer!r}'s camera, the origin event is signed by {link.actor!r}",
        )
    if link.step not in ORIGIN_STEPS:
        add("origin_wrong_farm", f"linked from a {link.step!r} event, not an origin step")
    # (4) time
    if (link.start, link.end) != (m.start, m.end):
        add(
            "origin_wrong_time",
            f"event states {link.start}..{link.end}, the manifest covers {m.start}..{m.end}",
        )
    if not m.start - ORIGIN_TIME_SLACK_S <= link.time <= m.end + ORIGIN_TIME_SLACK_S:
        add(
            "origin_wrong_time",
            f"origin event at {_iso(link.time)} is outside the video "
            f"{_iso(m.start)}..{_iso(m.end)} (± {ORIGIN_TIME_SLACK_S // 60} min)",
        )
    return done(m.start, m.end, info.get("root"), info.get("anchor_tx"))


def origin_evidence(
    ledger: Ledger,
    batch: str,
    manifests: ManifestStore,
    anchors: AnchorLedger | None,
) -> list[OriginEvidence]:
    """Every origin-video link in ``batch``'s history, each checked (module docstring)."""
    out = []
    for s in ledger.story(batch):
        for link in _links(s.hash_id, s.record.statement.actor, s.event.biz_step, s.event.body):
            out.append(_check(link, manifests, ledger.directory, anchors))
    return out


def record_origin_video(
    store: Store,
    home: Path,
    src: str,
    dst: str,
    farm: str,
    start: int,
    farm_key: Ed25519PrivateKey,
    device: str,
) -> dict[str, Any]:
    """Watermark ``src`` with the farm's identity and time, record the manifest signed by the
    farm's registered key; returns the manifest summary and the sensor element for the
    harvest event. The farm's watermark secret is created on first use."""
    from watermark import KeyNotFound, KeyStore, embed_file
    from watermark._manifest import ManifestStore, record_manifest

    keys = KeyStore(home)
    try:
        wm = keys.load(farm)
    except KeyNotFound:
        wm, _ = keys.register(farm)  # its signing key is unused: the farm signs with its own
    embed_file(src, dst, wm, start)
    stored = record_manifest(ManifestStore(store), dst, farm, start, farm_key)
    m = stored.manifest
    return {
        "manifest": stored.seq,
        "farm": farm,
        "digest": m.digest,
        "start": m.start,
        "end": m.end,
        "output": dst,
        "sensorElement": sensor_element(stored, device),
    }


def batch_origin_report(ledger: Ledger, batch: str, anchors: AnchorLedger | None) -> list[Any]:
    """What ``livetrust batch verify`` adds: every origin-video link of the batch, checked,
    from the clip manifests in the ledger's own database."""
    from watermark._manifest import ManifestStore

    return [
        e.to_json() for e in origin_evidence(ledger, batch, ManifestStore(ledger.store), anchors)
    ]
