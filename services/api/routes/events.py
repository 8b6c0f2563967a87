"""``/api/v1/events``: record an EPCIS 2.0 document as the authenticated actor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from services.api._deps import Authed, RuntimeDep, authenticated_body
from services.api._errors import ApiError
from services.api._uploads import JSON_TYPES, MAX_EPCIS_BYTES, sniff_json

router = APIRouter(prefix="/events", tags=["events"])

EpcisBody = Annotated[
    Authed, Depends(authenticated_body(MAX_EPCIS_BYTES, JSON_TYPES, sniff_json, "EPCIS document"))
]


class RecordedEvent(BaseModel):
    hash_id: str
    seq: int
    batches: list[str]


class Recorded(BaseModel):
    actor: str
    imported: int
    events: list[RecordedEvent]


EPCIS_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            t: {"schema": {"type": "object", "description": "EPCIS 2.0 JSON/JSON-LD document"}}
            for t in JSON_TYPES
        },
    }
}


def _ingest(rt: Any, actor: str, data: bytes) -> list[Any]:
    from provenance import KeyPair, Signer, parse_document

    events = parse_document(data)
    path = rt.settings.home / "keys" / f"{actor}.pem"
    if not path.exists():
        raise ApiError(
            "forbidden",
            f"this service holds no signing key for {actor!r} (register it here, or use the "
            "CLI on the home that holds its key)",
        )
    result: list[Any] = rt.ledger.ingest(events, Signer(actor, KeyPair.load(path)))
    return result


@router.post(
    "",
    response_model=Recorded,
    status_code=201,
    summary="Record EPCIS 2.0 events",
    openapi_extra=EPCIS_SCHEMA,
)
async def record_events(authed: EpcisBody, rt: RuntimeDep) -> Recorded:
    """Signs every event of the document with the caller's key and records them, all or
    nothing. A bizStep the caller's role may not sign is ``403 role_not_allowed``; invalid
    EPCIS is ``422 malformed_event``; an event already recorded is ``409 replay_rejected``."""
    data = authed.body.read_bytes()
    results = await run_in_threadpool(_ingest, rt, authed.caller.actor, data)
    return Recorded(
        actor=authed.caller.actor,
        imported=len(results),
        events=[
            RecordedEvent(hash_id=r.hash_id, seq=r.seq, batches=list(r.batches)) for r in results
        ],
    )
