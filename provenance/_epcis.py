"""GS1 EPCIS 2.0 events and documents (JSON / JSON-LD), validated on the way in.

An :class:`Event` keeps the event exactly as its JSON (so export round-trips byte-for-byte in
meaning, and the Event Hash ID is computed over what the sender wrote) together with the
namespace prefixes of the document it came from. It only exists if the JSON passed the
EPCIS 2.0 schema checks in :class:`_EventSchema` (types, required fields per event type,
ISO 8601 times with offsets, actions), so downstream code never sees a malformed event.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from provenance._errors import MalformedEvent
from provenance._hashid import event_hash_id, normalise_gs1_key
from provenance._signing import content_digest

__all__ = [
    "EPCIS_CONTEXT",
    "EVENT_TYPES",
    "Event",
    "Quantity",
    "SensorReading",
    "canonical_id",
    "parse_document",
    "to_document",
]

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransformationEvent",
    "AssociationEvent",
    "TransactionEvent",
)
_BIZSTEP_PREFIXES = ("https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:")
_DISP_PREFIXES = ("https://ref.gs1.org/cbv/Disp-", "urn:epcglobal:cbv:disp:")
_TZ_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")
_CELSIUS = {"CEL"}  # UN/ECE rec. 20 unit codes
_FAHRENHEIT = {"FAH"}
_KELVIN = {"KEL"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _QuantityElement(_Strict):
    epcClass: str = Field(min_length=1)
    quantity: float | None = None
    uom: str | None = None


class _Id(_Strict):
    id: str = Field(min_length=1)


class _BizTransaction(_Strict):
    type: str | None = None
    bizTransaction: str = Field(min_length=1)


class _Source(_Strict):
    type: str = Field(min_length=1)
    source: str = Field(min_length=1)


class _Destination(_Strict):
    type: str = Field(min_length=1)
    destination: str = Field(min_length=1)


class _SensorReport(_Strict):
    type: str | None = None
    value: float | None = None
    minValue: float | None = None
    maxValue: float | None = None
    meanValue: float | None = None
    uom: str | None = None
    time: str | None = None


class _SensorMetadata(_Strict):
    time: str | None = None
    startTime: str | None = None
    endTime: str | None = None
    deviceID: str | None = None


class _SensorElement(_Strict):
    sensorMetadata: _SensorMetadata | None = None
    sensorReport: list[_SensorReport] = Field(min_length=1)


class _EventSchema(_Strict):
    """EPCIS 2.0 event structure (the JSON schema's rules that matter to us)."""

    @model_validator(mode="before")
    @classmethod
    def _no_null_fields(cls, data: Any) -> Any:
        """EPCIS 2.0 JSON has no null fields; a null list crashed the Event Hash ID
        (found by tests/security/test_fuzz.py), so it is refused like any other bad value."""
        if isinstance(data, dict):
            for name, value in data.items():
                if value is None and name in cls.model_fields:
                    raise ValueError(f"{name} must not be null")
        return data

    type: Literal[
        "ObjectEvent",
        "AggregationEvent",
        "TransformationEvent",
        "AssociationEvent",
        "TransactionEvent",
    ]
    eventTime: str
    eventTimeZoneOffset: str
    eventID: str | None = None
    action: Literal["ADD", "OBSERVE", "DELETE"] | None = None
    bizStep: str | None = None
    disposition: str | None = None
    readPoint: _Id | None = None
    bizLocation: _Id | None = None
    epcList: list[str] | None = None
    quantityList: list[_QuantityElement] | None = None
    parentID: str | None = None
    childEPCs: list[str] | None = None
    childQuantityList: list[_QuantityElement] | None = None
    inputEPCList: list[str] | None = None
    inputQuantityList: list[_QuantityElement] | None = None
    outputEPCList: list[str] | None = None
    outputQuantityList: list[_QuantityElement] | None = None
    transformationID: str | None = None
    bizTransactionList: list[_BizTransaction] | None = None
    sourceList: list[_Source] | None = None
    destinationList: list[_Destination] | None = None
    sensorElementList: list[_SensorElement] | None = None
    ilmd: dict[str, Any] | None = None

    @field_validator("eventTime")
    @classmethod
    def _time_has_offset(cls, v: str) -> str:
        moment = _parse_time(v)
        if moment.tzinfo is None:
            raise ValueError("eventTime must carry a time zone (Z or ±hh:mm)")
        return v

    @field_validator("eventTimeZoneOffset")
    @classmethod
    def _offset_form(cls, v: str) -> str:
        if not _TZ_OFFSET.match(v):
            raise ValueError(f"eventTimeZoneOffset must look like +08:00, got {v!r}")
        return v

    @model_validator(mode="after")
    def _per_type(self) -> _EventSchema:
        t = self.type
        if t == "TransformationEvent":
            if self.action is not None:
                raise ValueError("TransformationEvent has no action")
            if not (self.inputEPCList or self.inputQuantityList) and not (
                self.outputEPCList or self.outputQuantityList
            ):
                raise ValueError("TransformationEvent needs inputs or outputs")
        else:
            if self.action is None:
                raise ValueError(f"{t} needs an action (ADD, OBSERVE or DELETE)")
        needs_parent = t in ("AggregationEvent", "AssociationEvent") and self.action != "OBSERVE"
        if needs_parent and self.parentID is None:
            raise ValueError(f"{t} with action {self.action} needs a parentID")
        if t == "ObjectEvent" and not (self.epcList or self.quantityList):
            raise ValueError("ObjectEvent needs an epcList or a quantityList")
        if t == "TransactionEvent" and not self.bizTransactionList:
            raise ValueError("TransactionEvent needs a bizTransactionList")
        return self


def _parse_time(text: str) -> _dt.datetime:
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}") from exc


def canonical_id(identifier: str) -> str:
    """The canonical form of a GS1 key (GS1 Digital Link URI), or the text unchanged."""
    return normalise_gs1_key(identifier.strip()) or identifier.strip()


class Quantity(BaseModel):
    """One quantity element: an EPC class (lot) with an amount and a unit."""

    model_config = ConfigDict(frozen=True)
    epc_class: str
    quantity: float | None
    uom: str | None


@dataclass(frozen=True, slots=True)
class SensorReading:
    """A temperature reading in °C, from one sensor report (a plain value: a verifier makes
    one per reading of every event it checks)."""

    celsius: float
    time: str | None


class Event(BaseModel):
    """One validated EPCIS 2.0 event: its JSON as written, plus its document's namespaces."""

    model_config = ConfigDict(frozen=True)
    body: dict[str, Any]
    namespaces: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_json(
        cls, body: Mapping[str, Any], namespaces: Mapping[str, str] | None = None
    ) -> Event:
        """Validate ``body`` as an EPCIS 2.0 event; raise :class:`MalformedEvent` if it is not."""
        if not isinstance(body, Mapping):
            raise MalformedEvent(f"an event must be a JSON object, got {type(body).__name__}")
        try:
            _EventSchema.model_validate(dict(body))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "event"
            raise MalformedEvent(f"{body.get('type', 'event')}: {where}: {first['msg']}") from None
        plain = json.loads(json.dumps(body))  # detach from the caller, JSON types only
        return cls(body=plain, namespaces=dict(namespaces or {}))

    # -- identity ----------------------------------------------------------------------------

    @cached_property
    def hash_id(self) -> str:
        """CBV 2.0 §8.8 Event Hash ID (``ni:///sha-256;…?ver=CBV2.0``)."""
        return event_hash_id(self.body, self.namespaces)

    @cached_property
    def content_digest(self) -> str:
        """``sha256:<hex>`` of the canonical event and namespaces (what a statement signs
        besides the Event Hash ID); computed once per parsed event."""
        return content_digest(self.body, self.namespaces)

    @property
    def type(self) -> str:
        return str(self.body["type"])

    @property
    def action(self) -> str | None:
        a = self.body.get("action")
        return str(a) if a is not None else None

    @cached_property
    def event_time(self) -> _dt.datetime:
        return _parse_time(str(self.body["eventTime"]))

    @property
    def timestamp(self) -> int:
        """eventTime as Unix seconds (what key validity on chain is checked against)."""
        return int(self.event_time.timestamp())

    @property
    def biz_step(self) -> str | None:
        """The CBV bizStep as its bare word (``shipping``), whatever form was written."""
        return _bare(self.body.get("bizStep"), _BIZSTEP_PREFIXES)

    @property
    def disposition(self) -> str | None:
        return _bare(self.body.get("disposition"), _DISP_PREFIXES)

    # -- what ---------------------------------------------------------------------------------

    def _ids(self, key: str) -> list[str]:
        return [canonical_id(x) for x in self.body.get(key) or []]

    def _quantities(self, key: str) -> list[Quantity]:
        out = []
        for q in self.body.get(key) or []:
            amount = q.get("quantity")
            out.append(
                Quantity(
                    epc_class=canonical_id(q["epcClass"]),
                    quantity=float(amount) if amount is not None else None,
                    uom=q.get("uom"),
                )
            )
        return out

    @property
    def parent(self) -> str | None:
        p = self.body.get("parentID")
        return canonical_id(p) if p else None

    def inputs(self) -> tuple[list[str], list[Quantity]]:
        """What goes in: transformation inputs, or aggregation children."""
        if self.type == "TransformationEvent":
            return self._ids("inputEPCList"), self._quantities("inputQuantityList")
        if self.type in ("AggregationEvent", "AssociationEvent"):
            return self._ids("childEPCs"), self._quantities("childQuantityList")
        return [], []

    def outputs(self) -> tuple[list[str], list[Quantity]]:
        """What comes out: transformation outputs, or the aggregation parent."""
        if self.type == "TransformationEvent":
            return self._ids("outputEPCList"), self._quantities("outputQuantityList")
        if self.type in ("AggregationEvent", "AssociationEvent") and self.parent:
            return [self.parent], []
        return [], []

    def subjects(self) -> list[str]:
        """Everything this event names (canonical ids), in a stable order without repeats."""
        ids = self._ids("epcList") + [q.epc_class for q in self._quantities("quantityList")]
        ins, in_q = self.inputs()
        outs, out_q = self.outputs()
        ids += ins + [q.epc_class for q in in_q] + outs + [q.epc_class for q in out_q]
        if self.parent:
            ids.append(self.parent)
        return list(dict.fromkeys(ids))

    @cached_property
    def relations(self) -> dict[str, list[str]]:
        """Lots named, by relation (see ``provenance._ledger.lot_relations``); computed once.

        A stored event edited into something that is not EPCIS names no lots (the verifier
        reports it as ``hash_mismatch``; lineage must not crash on it).
        """
        try:
            ins, in_q = self.inputs()
            outs, out_q = self.outputs()
            at = self._ids("epcList") + [q.epc_class for q in self._quantities("quantityList")]
        except (KeyError, TypeError, AttributeError, ValueError):
            return {"in": [], "out": [], "at": []}
        return {
            "in": list(dict.fromkeys(ins + [q.epc_class for q in in_q])),
            "out": list(dict.fromkeys(outs + [q.epc_class for q in out_q])),
            "at": list(dict.fromkeys(at)),
        }

    def temperatures(self) -> Iterator[SensorReading]:
        """Temperature readings in °C (sensorReport type Temperature; CEL, FAH or KEL)."""
        for element in self.body.get("sensorElementList") or []:
            meta_time = (element.get("sensorMetadata") or {}).get("time")
            for report in element.get("sensorReport") or []:
                kind = str(report.get("type") or "")
                if kind.rsplit("/", 1)[-1].rsplit(":", 1)[-1] != "Temperature":
                    continue
                uom = report.get("uom") or "CEL"
                for field in ("value", "minValue", "maxValue", "meanValue"):
                    if report.get(field) is not None:
                        yield SensorReading(
                            celsius=_to_celsius(float(report[field]), uom),
                            time=report.get("time") or meta_time,
                        )

    def to_json(self) -> dict[str, Any]:
        copied: dict[str, Any] = json.loads(json.dumps(self.body))
        return copied


def _bare(value: Any, prefixes: Sequence[str]) -> str | None:
    if not isinstance(value, str):
        return None
    for p in prefixes:
        if value.startswith(p):
            return value[len(p) :]
    return value


def _to_celsius(value: float, uom: str) -> float:
    if uom in _FAHRENHEIT:
        return (value - 32.0) * 5.0 / 9.0
    if uom in _KELVIN:
        return value - 273.15
    return value


# -- documents --------------------------------------------------------------------------------


def _namespaces(context: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    items = context if isinstance(context, list) else [context]
    for c in items:
        if isinstance(c, dict):
            out.update({k: v for k, v in c.items() if isinstance(v, str)})
    return out


def parse_document(doc: Any) -> list[Event]:
    """Events of an EPCIS 2.0 JSON/JSON-LD document (text or parsed JSON).

    Accepts an ``EPCISDocument`` (``epcisBody.eventList`` or ``epcisBody.event``), an
    ``EPCISQueryDocument`` (``epcisBody.queryResults.resultsBody.eventList``), a single event
    object, or a JSON list of events. Raises :class:`MalformedEvent` for anything else, and
    for the first event that is not valid EPCIS 2.0 (naming its position).
    """
    if isinstance(doc, bytes | str):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as exc:
            raise MalformedEvent(f"not JSON: {exc.msg} at line {exc.lineno}") from None
        except UnicodeDecodeError as exc:  # found by tests/security/test_fuzz.py
            raise MalformedEvent(f"not UTF-8 JSON: {exc.reason} at byte {exc.start}") from None
    namespaces: dict[str, str] = {}
    raw: Any
    if isinstance(doc, list):
        raw = doc
    elif isinstance(doc, dict) and doc.get("type") in EVENT_TYPES:
        raw = [doc]
        namespaces = _namespaces(doc.get("@context"))
    elif isinstance(doc, dict) and isinstance(doc.get("epcisBody"), dict):
        namespaces = _namespaces(doc.get("@context"))
        body = doc["epcisBody"]
        if "eventList" in body:
            raw = body["eventList"]
        elif "event" in body:
            raw = [body["event"]]
        elif isinstance(body.get("queryResults"), dict):
            raw = (body["queryResults"].get("resultsBody") or {}).get("eventList")
        else:
            raw = None
        if not isinstance(raw, list):
            raise MalformedEvent("epcisBody holds no eventList")
    else:
        raise MalformedEvent("expected an EPCISDocument, an EPCIS event or a list of events")
    events = []
    for i, item in enumerate(raw):
        try:
            if isinstance(item, dict) and "@context" in item:
                item = {k: v for k, v in item.items() if k != "@context"}
            events.append(Event.from_json(item, namespaces))
        except MalformedEvent as exc:
            raise MalformedEvent(f"event {i}: {exc}") from None
    if not events:
        raise MalformedEvent("the document holds no events")
    return events


def to_document(events: Sequence[Event], creation_date: str | None = None) -> dict[str, Any]:
    """An EPCIS 2.0 JSON-LD ``EPCISDocument`` holding ``events`` (namespaces merged)."""
    namespaces: dict[str, str] = {}
    for e in events:
        namespaces.update(e.namespaces)
    context: list[Any] = [EPCIS_CONTEXT]
    if namespaces:
        context.append(dict(sorted(namespaces.items())))
    when = creation_date or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z"
    )
    return {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": when,
        "epcisBody": {"eventList": [e.to_json() for e in events]},
    }
