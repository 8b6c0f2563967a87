"""Conduct findings into the record: screenings attached to broadcasts, and both screening
and persona findings into the streamer's credit score and circuit-breaker window.

- **Screening of a broadcast**: a screening report of the broadcast's captions is attached
  to its manifest (``clip_manifests`` seq, the manifest's digest) in table
  ``svc_screenings``: once per manifest and caption file (SHA-256), with each finding's
  broadcast time (manifest start + caption time). A broadcast with at least one high-severity
  finding records one ``script_flagged`` activity for the streamer: a quarter fault in the
  score and one complaint in the breaker window (``services._credit``).
- **Persona check**: each contradicted claim records one ``persona_false`` activity per
  (persona version, batch, claim): half a fault in the score.

The streamer is scored as the seller account of its orders (``OrderBook.seller_of``); a
streamer with no orders yet has no score to lower, and the result says so.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)

from services._credit import ActivityKind
from services._errors import UnknownAccount
from services._screening import ScreeningReport, Severity
from services._store import migrate

if TYPE_CHECKING:
    from provenance import Store
    from services._orders import OrderBook
    from services._persona import PersonaCheck

__all__ = [
    "SCREENINGS",
    "Attached",
    "ScreeningStore",
    "record_persona_check",
    "record_screening",
]

metadata = MetaData()
SCREENINGS = Table(
    "svc_screenings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("manifest_seq", BigInteger, nullable=False),
    Column("manifest_digest", String(80), nullable=False),
    Column("streamer", String(64), nullable=False, index=True),
    Column("script_sha256", String(80), nullable=False),
    Column("list_version", String(40), nullable=False),
    Column("flagged_high", Boolean, nullable=False),
    Column("report", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    UniqueConstraint("manifest_seq", "script_sha256", name="uq_svc_screenings_once"),
)


@dataclass(frozen=True)
class Attached:
    id: int
    manifest_seq: int
    manifest_digest: str
    streamer: str
    report: dict[str, Any]
    new: bool

    @property
    def flagged_high(self) -> bool:
        return bool(self.report["summary"]["high"])


class ScreeningStore:
    """Screening reports attached to broadcast manifests (same database as the manifests)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        migrate(store.engine)

    def attach(self, manifest_seq: int, report: ScreeningReport) -> Attached:
        """Attach ``report`` to manifest ``manifest_seq`` (``ManifestNotFound`` if none)."""
        from watermark._manifest import ManifestStore

        stored = ManifestStore(self.store).get(manifest_seq)
        m = stored.manifest
        doc = report.to_json()
        for f in doc["findings"]:
            f["broadcast_time"] = None if f["time"] is None else m.start + int(f["time"])
        doc["broadcast"] = {
            "manifest": manifest_seq,
            "digest": m.digest,
            "streamer": m.streamer,
            "start": m.start,
            "end": m.end,
        }
        t = SCREENINGS
        with self.store.begin() as conn:
            row = conn.execute(
                select(t.c.id, t.c.report).where(
                    t.c.manifest_seq == manifest_seq, t.c.script_sha256 == report.script_sha256
                )
            ).first()
            if row is not None:
                return Attached(
                    row.id, manifest_seq, m.digest, m.streamer, json.loads(row.report), False
                )
            inserted = conn.execute(
                t.insert().values(
                    manifest_seq=manifest_seq,
                    manifest_digest=m.digest,
                    streamer=m.streamer,
                    script_sha256=report.script_sha256 or "",
                    list_version=report.negative_list,
                    flagged_high=report.count(Severity.HIGH) > 0,
                    report=json.dumps(doc, ensure_ascii=False),
                    at=int(time.time()),
                )
            ).inserted_primary_key
        assert inserted is not None
        return Attached(int(inserted[0]), manifest_seq, m.digest, m.streamer, doc, True)

    def for_streamer(self, streamer: str) -> list[dict[str, Any]]:
        t = SCREENINGS
        with self.store.read() as conn:
            rows = conn.execute(
                select(t.c.manifest_seq, t.c.flagged_high, t.c.list_version, t.c.report)
                .where(t.c.streamer == streamer)
                .order_by(t.c.id)
            ).all()
        return [
            {
                "manifest": r.manifest_seq,
                "flagged_high": bool(r.flagged_high),
                "negative_list": r.list_version,
                "findings": len(json.loads(r.report)["findings"]),
            }
            for r in rows
        ]


def _seller(book: OrderBook, streamer: str) -> str | None:
    try:
        return book.seller_of(streamer)
    except UnknownAccount:
        return None


def record_screening(book: OrderBook, attached: Attached) -> dict[str, Any]:
    """A broadcast with high-severity findings -> one ``script_flagged`` activity."""
    if not attached.flagged_high:
        return {"recorded": False, "reason": "no high-severity finding"}
    seller = _seller(book, attached.streamer)
    if seller is None:
        return {"recorded": False, "reason": f"{attached.streamer} has no orders to score"}
    report = book.record_conduct(
        seller, ActivityKind.SCRIPT_FLAGGED, f"broadcast:{attached.manifest_digest}"
    )
    return {"recorded": True, "seller": seller, "score": report.to_json()}


def record_persona_check(book: OrderBook, check: PersonaCheck) -> dict[str, Any]:
    """Each contradicted claim -> one ``persona_false`` activity (once per version, batch)."""
    if not check.contradicted:
        return {"recorded": False, "reason": "no contradicted claim"}
    seller = _seller(book, check.streamer)
    if seller is None:
        return {"recorded": False, "reason": f"{check.streamer} has no orders to score"}
    report = None
    for r in check.contradicted:
        ref = f"persona:{check.persona['digest']}:{check.batch}:{r.claim.id}"
        report = book.record_conduct(seller, ActivityKind.PERSONA_FALSE, ref)
    assert report is not None
    return {"recorded": True, "seller": seller, "score": report.to_json()}
