"""EPCIS 2.0 documents in and out: every accepted shape, export round trips, accessors."""

from __future__ import annotations

import json

from provenance import Event, parse_document, to_document
from services._provenance_demo import CONTEXT, sample_story


def _events() -> list[Event]:
    return [e for step in sample_story() for e in step.events]


def test_document_shapes_give_the_same_events() -> None:
    events = _events()
    bodies = [e.body for e in events]
    ids = [e.hash_id for e in events]
    doc = {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-05-01T00:00:00Z",
        "epcisBody": {"eventList": bodies},
    }
    query = {
        "@context": CONTEXT,
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-05-01T00:00:00Z",
        "epcisBody": {
            "queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": bodies}}
        },
    }
    assert [e.hash_id for e in parse_document(json.dumps(doc))] == ids
    assert [e.hash_id for e in parse_document(query)] == ids
    single = {"@context": CONTEXT, **bodies[0]}
    assert parse_document(single)[0].hash_id == ids[0]
    one = {"@context": CONTEXT, "type": "EPCISDocument", "epcisBody": {"event": bodies[1]}}
    assert parse_document(one)[0].hash_id == ids[1]


def test_export_round_trips() -> None:
    events = _events()
    doc = to_document(events, creation_date="2026-05-02T00:00:00Z")
    assert doc["@context"][0].endswith("epcis-context.jsonld")
    assert doc["@context"][1]["cbvmda"] == "urn:epcglobal:cbv:mda:"
    again = parse_document(json.dumps(doc))
    assert [e.hash_id for e in again] == [e.hash_id for e in events]
    assert [e.body for e in again] == [e.body for e in events]


def test_accessors() -> None:
    events = _events()
    harvest, pack, qc, pallet, ship, logger, receive, split = events
    assert harvest.biz_step == "commissioning" and qc.disposition == "conformant"
    assert pack.type == "TransformationEvent" and pack.action is None
    assert [q.quantity for q in pack.inputs()[1]] == [1500.0]
    assert pallet.outputs()[0] == [pallet.parent]
    assert [round(r.celsius, 1) for r in logger.temperatures()] == [2.5, 3.1, 4.0, 3.6]
    assert len(split.outputs()[1]) == 2
    fahrenheit = Event.from_json(
        {
            **logger.body,
            "sensorElementList": [
                {"sensorReport": [{"type": "gs1:Temperature", "value": 41.0, "uom": "FAH"}]}
            ],
        }
    )
    assert [round(r.celsius, 1) for r in fahrenheit.temperatures()] == [5.0]
    assert ship.timestamp < receive.timestamp
