"""Fixtures for the institutions suite: a provenance store on SQLite and PostgreSQL, the
demo actors plus a second farm and a streamer in an in-memory registry, and batches whose
origin farm, region and QC certification vary."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts import Role
from provenance import Anchorer, Event, Ledger, MemoryRegistry, Signer, Store
from services._provenance_demo import DEMO_ACTORS, NAMESPACES, demo_key, sample_story
from tests.provenance.conftest import store  # noqa: F401  (the SQLite / PostgreSQL store)

STREAMER = "lily-live"
FARM = "farm-green-valley"
OTHER_FARM = "farm-far-away"
PARTNER_FARM = "farm-partner"
QC = "qc-lab-hk"
STREAMER_KEY = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.fixture
def registry() -> MemoryRegistry:
    reg = MemoryRegistry()
    for actor, role in DEMO_ACTORS.items():
        reg.register(actor, demo_key(actor).public_key, role, 0)
    for farm in (OTHER_FARM, PARTNER_FARM):
        reg.register(farm, demo_key(farm).public_key, Role.FARM, 0)
    reg.register(STREAMER, raw_public(STREAMER_KEY), Role.STREAMER, 0)
    return reg


@pytest.fixture
def ledger(store: Store, registry: MemoryRegistry) -> Ledger:  # noqa: F811 (fixture)
    return Ledger(store, registry)


def _edit(event: Event, **fields: Any) -> Event:
    body = dict(event.body)
    for k, v in fields.items():
        if k == "ilmd":
            body["ilmd"] = dict(body.get("ilmd") or {}) | v
        else:
            body[k] = v
    return Event.from_json(body, NAMESPACES)


def record_batch(
    ledger: Ledger,
    tag: str,
    farm: str = FARM,
    region: str = "Shouguang, Shandong",
    certification: str | None = "https://certs.example.cn/organic/GB-T-19630/ORG-2026-17",
    disposition: str = "conformant",
    anchor: bool = True,
    harvest: dict[str, Any] | None = None,
) -> str:
    """Record the demo strawberry story with the harvest signed by ``farm`` (``harvest``:
    extra fields of the harvest event); returns the retail lot a streamer sells."""
    story = sample_story(tag=tag)
    first = _edit(story[0].events[0], ilmd={"lt:region": region}, **(harvest or {}))
    story[0] = type(story[0])(farm, [first])
    qc_fields: dict[str, Any] = {"disposition": disposition}
    if certification is not None:
        qc_fields["certificationInfo"] = certification
    story[2] = type(story[2])(QC, [_edit(story[2].events[0], **qc_fields)])
    for step in story:
        ledger.ingest(step.events, Signer(step.actor, demo_key(step.actor)))
    if anchor:
        Anchorer(ledger, ledger.directory).anchor()  # type: ignore[arg-type]
    return f"urn:epc:class:lgtin:0614141.307346.R{tag}A"
