"""EPCIS Event Hash ID (CBV 2.0 §8.8): canonical pre-hash string and ``ni:///sha-256;…`` id.

Construction (CBV 2.0 §8.8.2, "event hash ID"):

1. The event's fields are taken in a fixed order (``PROP_ORDER`` below: eventTime,
   eventTimeZoneOffset, certificationInfo, parentID, epcList, …, sensorElementList), each
   written ``name=value`` with no separator; nested structures write their own name followed
   by their children in their own order; repeated elements are sorted as strings.
2. Values are canonicalised: timestamps to UTC with millisecond precision (``…000Z``);
   numbers without leading ``+``/zeros or a trailing ``.0``; CBV vocabulary to its web URI
   (``shipping`` and ``urn:epcglobal:cbv:bizstep:shipping`` both become
   ``https://ref.gs1.org/cbv/BizStep-shipping``); GS1 keys (EPC URNs, EPC class URNs,
   Digital Link URIs) to the constrained canonical GS1 Digital Link URI
   (``urn:epc:id:sgtin:0614141.107346.2017`` -> ``https://id.gs1.org/01/10614141073464/21/2017``).
3. Fields outside the standard order (ilmd, user extensions) follow, sorted, with namespace
   prefixes expanded to ``{namespace-uri}localName``; ``eventID``, ``recordTime`` and
   ``errorDeclaration`` are excluded.
4. The id is ``ni:///sha-256;<hex of SHA-256 of the UTF-8 pre-hash string>?ver=CBV2.0``
   (RFC 6920 named information URI).

The reference implementation is GS1's ``epcis-event-hash-generator`` (MIT licence,
R. Troeger, S. Schmittner); this module follows its tree walk step for step so that ids
agree, including its handling of extension fields, and ``tests/provenance/test_hashid.py``
cross-checks both on GS1 example events and our own. One documented difference: the
reference expands bare CBV words by a JSON-LD expansion heuristic over the whole document;
we expand them by field (bizStep, disposition, persistentDisposition,
source/destination/bizTransaction type, sensor report type/exception/component), which
gives the same result whenever a CBV word is not reused as a bare value elsewhere in the
same document. A second: the reference's result for a source/destination/bizTransaction
entry depends on the JSON key order inside the entry; we always write ``type`` first (the
order of GS1's examples), so the id of an event does not change when a store or bundle
re-serialises it with sorted keys.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "EVENT_HASH_PREFIX",
    "EVENT_HASH_SUFFIX",
    "event_hash_id",
    "normalise_gs1_key",
    "prehash_string",
]

EVENT_HASH_PREFIX = "ni:///sha-256;"  # RFC 6920 named information, algorithm sha-256
EVENT_HASH_SUFFIX = "?ver=CBV2.0"  # CBV 2.0 §8.8: the canonicalisation version
# Canonical forms of values (ids, times) are pure functions of the text and repeat a lot
# (the same lot, location and device in thousands of events): memoise that many.
VALUE_CACHE_SIZE = 65_536
# Top-level fields' parts of the pre-hash string, memoised the same way (bizStep, readPoint,
# a pallet's epcList, a logger's sensor metadata); fewer, as a value can be a whole list.
FIELD_CACHE_SIZE = 16_384

# A node of the canonicalisation tree: (element name, text value, children). The shape is the
# one the reference implementation uses for both XML and JSON input.
_Node = tuple[Any, str, list[Any]]

# CBV 2.0 §8.8.2 step 2: property order. (name, sub-order or None).
_QTY = [("epcClass", None), ("quantity", None), ("uom", None)]
PROP_ORDER: list[tuple[Any, Any]] = [
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", [("epc", None)]),
    ("inputEPCList", [("epc", None)]),
    ("childEPCs", [("epc", None)]),
    ("quantityList", [("quantityElement", _QTY)]),
    ("childQuantityList", [("quantityElement", _QTY)]),
    ("inputQuantityList", [("quantityElement", _QTY)]),
    ("outputEPCList", [("epc", None)]),
    ("outputQuantityList", [("quantityElement", _QTY)]),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", [("set", None), ("unset", None)]),
    ("readPoint", [("id", None)]),
    ("bizLocation", [("id", None)]),
    ("bizTransactionList", [(("type", None), ("bizTransaction", None))]),
    ("sourceList", [(("type", None), ("source", None))]),
    ("destinationList", [(("type", None), ("destination", None))]),
    (
        "sensorElementList",
        [
            (
                "sensorElement",
                [
                    (
                        "sensorMetadata",
                        [
                            (k, None)
                            for k in (
                                "time",
                                "startTime",
                                "endTime",
                                "deviceID",
                                "deviceMetadata",
                                "rawData",
                                "dataProcessingMethod",
                                "bizRules",
                            )
                        ],
                    ),
                    (
                        "sensorReport",
                        [
                            (k, None)
                            for k in (
                                "type",
                                "exception",
                                "deviceID",
                                "deviceMetadata",
                                "rawData",
                                "dataProcessingMethod",
                                "time",
                                "microorganism",
                                "chemicalSubstance",
                                "value",
                                "component",
                                "stringValue",
                                "booleanValue",
                                "hexBinaryValue",
                                "uriValue",
                                "minValue",
                                "maxValue",
                                "meanValue",
                                "sDev",
                                "percRank",
                                "percValue",
                                "uom",
                                "coordinateReferenceSystem",
                            )
                        ],
                    ),
                ],
            )
        ],
    ),
]

# CBV 2.0 §8.8.2 step 3: never part of the hash.
_IGNORED = ("recordTime", "eventID", "type", "errorDeclaration")
_UNSORTED_LISTS = ("bizTransaction", "source", "destination")
_PAIR_LISTS = ("sourceList", "destinationList", "bizTransactionList")

# Bare CBV words -> web vocabulary, by the field that holds them (EPCIS 2.0 JSON-LD context).
_CBV = "https://ref.gs1.org/cbv/"
_GS1_VOC = "https://gs1.org/voc/"
_VOCAB_BY_FIELD = {
    "bizStep": _CBV + "BizStep-",
    "disposition": _CBV + "Disp-",
}
_VOCAB_IN_LIST = {
    ("bizTransactionList", "type"): _CBV + "BTT-",
    ("sourceList", "type"): _CBV + "SDT-",
    ("destinationList", "type"): _CBV + "SDT-",
    ("sensorReport", "type"): _GS1_VOC,
    ("sensorReport", "exception"): _GS1_VOC,
    ("sensorReport", "component"): _GS1_VOC,
}
_OLD_CBV_URNS = (
    ("urn:epcglobal:cbv:bizstep:", _CBV + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", _CBV + "Disp-"),
    ("urn:epcglobal:cbv:btt:", _CBV + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", _CBV + "SDT-"),
    ("urn:epcglobal:cbv:er:", _CBV + "ER-"),
)


def event_hash_id(event: Mapping[str, Any], namespaces: Mapping[str, str] | None = None) -> str:
    """The CBV 2.0 Event Hash ID of one EPCIS 2.0 JSON event.

    ``namespaces`` maps the document's ``@context`` prefixes to URIs, so that extension
    fields (``ex:harvestDate``) hash by namespace URI, not by the prefix a sender chose.
    """
    digest = hashlib.sha256(prehash_string(event, namespaces).encode("utf-8")).hexdigest()
    return EVENT_HASH_PREFIX + digest + EVENT_HASH_SUFFIX


def prehash_string(event: Mapping[str, Any], namespaces: Mapping[str, str] | None = None) -> str:
    """The canonical pre-hash string of CBV 2.0 §8.8.2 (what :func:`event_hash_id` hashes).

    Fast path: at the top level of an event each field's part of the string depends on that
    field alone (ordered fields are written in ``PROP_ORDER`` position, the rest sorted), so
    the parts are memoised per (field, value) and assembled; events for which that does not
    hold (no ``eventTime``/``action`` field, top-level ``source``-style keys) take the full
    tree walk, :func:`_prehash_tree`. Both give the same string (tested on generated events).
    """
    ns_items = tuple(sorted((namespaces or {}).items()))
    ordered: list[tuple[int, str]] = []
    rest: list[str] = []
    time_or_action = False
    for key, value in event.items():
        if key in _IGNORED or key in _SKIPPED_KEYS:
            continue  # no part in the string (CBV 2.0 §8.8.2 step 3)
        if isinstance(value, str):
            part = _field_part(ns_items, key, False, value)
        else:
            part = _field_part(ns_items, key, True, _json_key(value))
        if part is None or key in _UNSORTED_LISTS:
            return _prehash_tree(event, namespaces)
        position, text, leftovers, marks = part
        time_or_action = time_or_action or marks
        if text:
            ordered.append((position, text))
        rest.extend(leftovers)
    if not time_or_action:
        return _prehash_tree(event, namespaces)
    ordered.sort()
    rest.sort()
    kind = event.get("type", "")
    return "eventType=" + str(kind) + "".join(t for _, t in ordered) + "".join(rest)


def _prehash_tree(event: Mapping[str, Any], namespaces: Mapping[str, str] | None = None) -> str:
    """:func:`prehash_string` by the reference's whole-event tree walk."""
    ns = {k: "{" + v + "}" for k, v in (namespaces or {}).items()}
    expanded = _expand_vocabulary(dict(event))
    tree = _structure_correction(_to_tree(expanded, ns))
    children = tree[2]
    return "eventType=" + str(tree[0]) + _ordered(children, PROP_ORDER) + _not_in_order(children)


_KEY_ENCODER = json.JSONEncoder(ensure_ascii=False)  # one encoder, not one per call


def _json_key(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False)``: the memo key of a field's value."""
    return _KEY_ENCODER.encode(value)


_FieldPart = tuple[int, str, tuple[str, ...], bool]


@functools.lru_cache(maxsize=FIELD_CACHE_SIZE)
def _field_part(
    ns_items: tuple[tuple[str, str], ...], key: str, is_json: bool, text: str
) -> _FieldPart | None:
    """One top-level field's part of the pre-hash string: (its ``PROP_ORDER`` position,
    its ordered text, its leftover texts for the sorted tail, whether it is named like
    eventTime/action), or None when the field does not fit the fast path."""
    value = json.loads(text) if is_json else text
    ns = {k: "{" + v + "}" for k, v in ns_items}
    tree = _structure_correction(_to_tree(_expand_vocabulary({key: value}), ns))
    children = tree[2]
    positions = _order_map(PROP_ORDER)
    names = [c[0] for c in children]
    in_order = {n for n in names if isinstance(n, str) and n in positions}
    if len(in_order) > 1 or any(isinstance(n, tuple) or n in _UNSORTED_LISTS for n in names):
        return None
    marks = any("eventTime" in n or "action" in n for n in names)
    ordered = _ordered_fields(children, PROP_ORDER)
    position = positions[next(iter(in_order))][0] if in_order else -1
    leftovers = tuple(_generic([c]) for c in children if c[0] not in _IGNORED)
    return position, ordered, leftovers, marks


# -- step 0: JSON -> tree ---------------------------------------------------------------------


def _expand_vocabulary(event: dict[str, Any]) -> dict[str, Any]:
    for key, prefix in _VOCAB_BY_FIELD.items():
        value = event.get(key)
        if isinstance(value, str):
            event[key] = _expand_word(value, prefix)
    for list_name in ("bizTransactionList", "sourceList", "destinationList"):
        items = event.get(list_name)
        if isinstance(items, list):
            event[list_name] = [_type_first(i, list_name) for i in items]
    persistent = event.get("persistentDisposition")
    if isinstance(persistent, dict):
        event["persistentDisposition"] = {
            k: [_expand_word(w, _CBV + "Disp-") if isinstance(w, str) else w for w in v]
            if isinstance(v, list)
            else v
            for k, v in persistent.items()
        }
    sensors = event.get("sensorElementList")
    if isinstance(sensors, list):
        new_sensors = []
        for element in sensors:
            if isinstance(element, dict) and isinstance(element.get("sensorReport"), list):
                reports = []
                for report in element["sensorReport"]:
                    if isinstance(report, dict):
                        report = dict(report)
                        for field in ("type", "exception", "component"):
                            if isinstance(report.get(field), str):
                                report[field] = _expand_word(
                                    report[field], _VOCAB_IN_LIST[("sensorReport", field)]
                                )
                    reports.append(report)
                element = {**element, "sensorReport": reports}
            new_sensors.append(element)
        event["sensorElementList"] = new_sensors
    return event


def _type_first(item: Any, list_name: str) -> Any:
    """Source, destination and bizTransaction entries are not re-sorted by the tree walk, so
    their key order would leak into the hash; we fix it as ``type`` first, the rest sorted
    (the order GS1's examples and the reference's property order use)."""
    if not isinstance(item, dict):
        return item
    out: dict[str, Any] = {}
    if "type" in item:
        t = item["type"]
        out["type"] = (
            _expand_word(t, _VOCAB_IN_LIST[(list_name, "type")]) if isinstance(t, str) else t
        )
    for k in sorted(k for k in item if k != "type"):
        out[k] = item[k]
    return out


def _expand_word(value: str, prefix: str) -> str:
    """A bare vocabulary word (no scheme, no prefix) becomes its web URI."""
    if ":" in value or "/" in value or not value:
        return value
    return prefix + value


def _ns_replace(text: Any, ns: Mapping[str, str], is_value: bool = False) -> Any:
    if not isinstance(text, str):
        return text
    head, sep, tail = text.partition(":")
    if sep and head in ns:
        uri = ns[head]
        return (uri.replace("{", "").replace("}", "") if is_value else uri) + tail
    return text


_SKIPPED_KEYS = frozenset(("#text", "rdfs:comment", "comment"))


def _to_tree(obj: Any, ns: Mapping[str, str]) -> _Node:
    # hot path of every ingest: one pass, no namespace lookups when the document has none
    if isinstance(obj, dict):
        children: list[Any] = []
        append = children.append
        for key, val in obj.items():
            if key in _SKIPPED_KEYS:
                continue
            if ns:
                key = _ns_replace(key, ns)
            if isinstance(val, list):
                for element in sorted([_to_tree(v, ns) for v in val]):
                    append((key, element[1], element[2]))
            elif isinstance(val, dict):
                child = _to_tree(val, ns)
                append((key, child[1], child[2]))
            else:
                append((key, str(_ns_replace(val, ns, True)) if ns else str(val), []))
        if not ("bizTransaction" in obj or "source" in obj or "destination" in obj):
            children.sort()
        return (
            obj.get("type", ""),
            obj.get("#text", ""),
            children,
        )
    if isinstance(obj, list):
        return "", "", sorted([_to_tree(child, ns) for child in obj])
    return "", str(_ns_replace(obj, ns, True)) if ns else str(obj), []


def _structure_correction(node: _Node) -> _Node:
    """JSON and XML shape the same event differently; bring JSON to the XML shape."""
    if not node[2]:  # a leaf: only the renames below can apply
        if node[0] in ("inputEPC", "outputEPC"):
            return "epc", node[1], []
        if node[0] in ("inputQuantity", "outputQuantity", "childQuantity"):
            return "quantityElement", node[1], []
        return node[0], node[1], []
    children = list(node[2])
    lists: dict[str, list[_Node]] = {}
    for element in [e for e in children if not isinstance(e[0], tuple) and e[0].endswith("List")]:
        lists.setdefault(element[0], []).append((element[0][:-4], element[1], element[2]))
        children.remove(element)
    for list_name, elements in lists.items():
        if list_name in _PAIR_LISTS:
            children.append((list_name, "", [(e[2][0], e[2][1]) for e in elements]))
        else:
            children.append((list_name, "", elements))
    child_epcs: list[_Node] = []
    for element in [e for e in children if e[0] == "childEPCs"]:
        child_epcs.append(("epc", element[1], []))
        children.remove(element)
    if child_epcs:
        children.append(("childEPCs", "", child_epcs))
    corrected = [e if e[0] in _PAIR_LISTS else _structure_correction(e) for e in children]
    name = node[0]
    if name in ("inputEPC", "outputEPC"):
        return "epc", node[1], corrected
    if name in ("inputQuantity", "outputQuantity", "childQuantity") or (
        name == "quantity" and corrected
    ):
        return "quantityElement", node[1], corrected
    return name, node[1], corrected


# -- steps 1-3: ordered walk ------------------------------------------------------------------


_ORDER_MAPS: dict[int, dict[str, tuple[int, Any]]] = {}


def _order_map(order: Sequence[tuple[Any, Any]]) -> dict[str, tuple[int, Any]]:
    """name -> (position, sub-order) for a property order (built once per order list)."""
    found = _ORDER_MAPS.get(id(order))
    if found is None:
        found = {n: (i, sub) for i, (n, sub) in enumerate(order) if isinstance(n, str)}
        _ORDER_MAPS[id(order)] = found
    return found


def _ordered(child_list: list[Any], order: Sequence[tuple[Any, Any]]) -> str:
    extensions = _user_extensions(child_list)
    pre_hash = _ordered_fields(child_list, order)
    if extensions:
        pre_hash = pre_hash + _generic(extensions)
    return pre_hash


def _ordered_fields(child_list: list[Any], order: Sequence[tuple[Any, Any]]) -> str:
    """The fields of ``child_list`` named in ``order``, in that order; each one fully written
    is removed from ``child_list`` (what remains goes to :func:`_generic`)."""
    positions = _order_map(order)
    by_name: dict[str, list[Any]] = {}
    for x in child_list:
        # pair nodes (source/destination lists) have tuple names and never match
        if isinstance(x[0], str) and x[0] in positions:
            by_name.setdefault(x[0], []).append(x)
    parts = []
    for name in sorted(by_name, key=lambda n: positions[n][0]):
        sub_order = positions[name][1]
        values = []
        for child in by_name[name]:
            text = _child_string(child, sub_order)
            if text:
                values.append(text)
            if len(child[2]) == 0:
                child_list.remove(child)
        values.sort()
        parts.extend(values)
    return "".join(parts)


def _child_string(child: Any, sub_order: Any) -> str:
    grand = _ordered(child[2], sub_order) if sub_order else ""
    text = ""
    if child[1]:
        text = child[1].strip()
        name = child[0].lower()
        if "time" in name and "offset" not in name:
            text = _utc_millis(text)
        else:
            text = _canonical_value(text)
        if text:
            text = "=" + text
    if text or grand:
        return str(child[0]) + text + grand
    return ""


def _user_extensions(child_list: list[Any]) -> list[Any]:
    if len(child_list) <= 1:
        return []
    for child in child_list:
        if "eventTime" in child[0] or "action" in child[0]:
            return []
    found = [x for x in child_list if isinstance(x, tuple) and "{" in x[0] and "/}" in x[0]]
    for x in found:
        child_list.remove(x)
    return found


def _not_in_order(children: list[Any]) -> str:
    rest = [c for c in children if c[0] not in _IGNORED]
    return _generic(rest) if rest else ""


def _generic(children: Sequence[Any]) -> str:
    values = []
    for child in children:
        if isinstance(child, tuple) and len(child) == 2 and isinstance(child[0], tuple):
            values.append(_generic(child))
        else:
            text = child[1].strip()
            if text:
                text = "=" + _canonical_value(text)
            values.append(str(child[0]) + text + _generic(child[2]))
    if len(children) > 1 and not any(c[0] in _UNSORTED_LISTS for c in children):
        values.sort()
    return "".join(values)


# -- value canonicalisation -------------------------------------------------------------------


@functools.lru_cache(maxsize=VALUE_CACHE_SIZE)
def _utc_millis(text: str) -> str:
    """ISO 8601 timestamp -> UTC, millisecond precision, ``Z`` (CBV 2.0 §8.8.2)."""
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive: local time, as dateutil does
    moment = moment.astimezone(_dt.UTC)
    micro = round(moment.microsecond, -3)
    if micro >= 1_000_000:
        moment = moment.replace(microsecond=0) + _dt.timedelta(seconds=1)
        micro = 0
    moment = moment.replace(microsecond=micro)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


@functools.lru_cache(maxsize=VALUE_CACHE_SIZE)
def _canonical_value(text: str) -> str:
    for old, new in _OLD_CBV_URNS:
        text = text.replace(old, new)
    text = _canonical_number(text)
    return normalise_gs1_key(text) or text


def _canonical_number(text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isinf(number) or math.isnan(number):
        return str(number)
    if int(number) == number:
        return str(int(number))
    return str(number)


# -- GS1 keys -> canonical GS1 Digital Link URI (GS1 Digital Link 1.2, EPC TDS 2.0 §6) ---------

_DL = "https://id.gs1.org/"
_CHARS = r"(?:%[0-9A-Fa-f]{2}|[!')(*+,.0-9:;=A-Za-z_-])"
_CP = r"(\d{6,12})"
_RE_SGTIN = re.compile(rf"^urn:epc:id:sgtin:{_CP}\.(\d{{1,7}})\.({_CHARS}{{1,20}})$")
_RE_LGTIN = re.compile(rf"^urn:epc:class:lgtin:{_CP}\.(\d{{1,7}})\.({_CHARS}{{1,20}})$")
_RE_IDPAT_SGTIN = re.compile(rf"^urn:epc:idpat:sgtin:{_CP}\.(\d{{1,7}})\.\*$")
_RE_SSCC = re.compile(rf"^urn:epc:id:sscc:{_CP}\.(\d{{5,11}})$")
_RE_SGLN = re.compile(rf"^urn:epc:id:sgln:{_CP}\.(\d{{0,6}})\.({_CHARS}{{1,20}})$")
_RE_PGLN = re.compile(rf"^urn:epc:id:pgln:{_CP}\.(\d{{0,6}})$")
_RE_GRAI = re.compile(rf"^urn:epc:id:grai:{_CP}\.(\d{{0,6}})\.({_CHARS}{{1,16}})$")
_RE_GIAI = re.compile(rf"^urn:epc:id:giai:{_CP}\.({_CHARS}{{1,24}})$")
_RE_GSRN = re.compile(rf"^urn:epc:id:(gsrnp?):{_CP}\.(\d{{5,11}})$")
_RE_GDTI = re.compile(rf"^urn:epc:id:gdti:{_CP}\.(\d{{0,6}})\.({_CHARS}{{0,17}})$")
_DL_SHORT_NAMES = {
    "gtin": "01",
    "itip": "8006",
    "cpid": "8010",
    "gln": "414",
    "party": "417",
    "gsrnp": "8017",
    "gsrn": "8018",
    "gcn": "255",
    "sscc": "00",
    "gdti": "253",
    "ginc": "401",
    "gsin": "402",
    "grai": "8003",
    "giai": "8004",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
}
_DL_PRIMARY = (
    "00",
    "01",
    "253",
    "255",
    "401",
    "402",
    "414",
    "417",
    "8003",
    "8004",
    "8006",
    "8010",
    "8017",
    "8018",
)
_DL_VALUE = r"[\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]"
_DL_VALID = [
    re.compile(p)
    for p in (
        r"^https://id\.gs1\.org/00/\d{18}$",
        rf"^https://id\.gs1\.org/01/\d{{14}}/21/{_DL_VALUE}{{0,20}}$",
        rf"^https://id\.gs1\.org/01/\d{{14}}/10/{_DL_VALUE}{{0,20}}$",
        r"^https://id\.gs1\.org/01/\d{14}$",
        rf"^https://id\.gs1\.org/01/\d{{14}}/235/{_DL_VALUE}{{0,28}}$",
        rf"^https://id\.gs1\.org/253/\d{{13}}{_DL_VALUE}{{0,17}}$",
        r"^https://id\.gs1\.org/255/\d{13}\d{0,12}$",
        rf"^https://id\.gs1\.org/401/{_DL_VALUE}{{0,30}}$",
        r"^https://id\.gs1\.org/402/\d{17}$",
        r"^https://id\.gs1\.org/414/\d{13}$",
        rf"^https://id\.gs1\.org/414/\d{{13}}/254/{_DL_VALUE}{{0,20}}$",
        r"^https://id\.gs1\.org/417/\d{13}$",
        rf"^https://id\.gs1\.org/8003/\d{{14}}{_DL_VALUE}{{0,16}}$",
        rf"^https://id\.gs1\.org/8004/{_DL_VALUE}{{0,30}}$",
        rf"^https://id\.gs1\.org/8006/\d{{18}}/21/{_DL_VALUE}{{0,20}}$",
        rf"^https://id\.gs1\.org/8006/\d{{18}}/10/{_DL_VALUE}{{0,20}}$",
        r"^https://id\.gs1\.org/8006/\d{18}$",
        r"^https://id\.gs1\.org/8017/\d{18}$",
        r"^https://id\.gs1\.org/8018/\d{18}$",
    )
]


def check_digit(digits: str) -> int:
    """GS1 mod-10 check digit (GS1 General Specifications §7.9.1)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def _pct(text: str) -> str:
    for ch, enc in (
        ("!", "%21"),
        ("(", "%28"),
        (")", "%29"),
        ("*", "%2A"),
        ("+", "%2B"),
        (",", "%2C"),
        (":", "%3A"),
    ):
        text = text.replace(ch, enc)
    return text


def _gtin(cp: str, itemref: str) -> str | None:
    if len(cp) + len(itemref) != 13:
        return None
    raw = itemref[0] + cp + itemref[1:]
    return raw + str(check_digit(raw))


def _gln(cp: str, ref: str) -> str | None:
    if len(cp) + len(ref) != 12:
        return None
    return cp + ref + str(check_digit(cp + ref))


@functools.lru_cache(maxsize=VALUE_CACHE_SIZE)
def normalise_gs1_key(uri: str) -> str | None:
    """Any URI carrying a GS1 key -> constrained canonical GS1 Digital Link URI, else None.

    Handles EPC URNs (sgtin, sscc, sgln, pgln, grai, giai, gsrn, gsrnp, gdti), the LGTIN class
    URN, the SGTIN id pattern and GS1 Digital Link URIs (short names, other domains, query
    strings, lot-plus-serial reduced to the finest level).
    """
    if "." not in uri:
        return None
    if uri.startswith("urn:epc:"):
        return _from_epc_urn(uri)
    if uri.startswith(("http://", "https://")):
        return _from_digital_link(uri)
    return None


def _from_epc_urn(uri: str) -> str | None:
    if m := _RE_SGTIN.match(uri):
        gtin = _gtin(m[1], m[2])
        return f"{_DL}01/{gtin}/21/{_pct(m[3])}" if gtin else None
    if m := _RE_LGTIN.match(uri):
        gtin = _gtin(m[1], m[2])
        return f"{_DL}01/{gtin}/10/{_pct(m[3])}" if gtin else None
    if m := _RE_IDPAT_SGTIN.match(uri):
        gtin = _gtin(m[1], m[2])
        return f"{_DL}01/{gtin}" if gtin else None
    if m := _RE_SSCC.match(uri):
        if len(m[1]) + len(m[2]) != 17:
            return None
        raw = m[2][0] + m[1] + m[2][1:]
        return f"{_DL}00/{raw}{check_digit(raw)}"
    if m := _RE_SGLN.match(uri):
        gln = _gln(m[1], m[2])
        if gln is None:
            return None
        return f"{_DL}414/{gln}" if m[3] == "0" else f"{_DL}414/{gln}/254/{_pct(m[3])}"
    if m := _RE_PGLN.match(uri):
        gln = _gln(m[1], m[2])
        return f"{_DL}417/{gln}" if gln else None
    if m := _RE_GRAI.match(uri):
        if len(m[1]) + len(m[2]) != 12:
            return None
        raw = "0" + m[1] + m[2]
        return f"{_DL}8003/{raw}{check_digit(raw)}{_pct(m[3])}"
    if m := _RE_GIAI.match(uri):
        return f"{_DL}8004/{m[1]}{_pct(m[2])}"
    if m := _RE_GSRN.match(uri):
        if len(m[2]) + len(m[3]) != 17:
            return None
        ai = "8017" if m[1] == "gsrnp" else "8018"
        raw = m[2] + m[3]
        return f"{_DL}{ai}/{raw}{check_digit(raw)}"
    if m := _RE_GDTI.match(uri):
        if len(m[1]) + len(m[2]) != 12:
            return None
        raw = m[1] + m[2]
        return f"{_DL}253/{raw}{check_digit(raw)}{_pct(m[3])}"
    return None


def _from_digital_link(uri: str) -> str | None:
    path = uri.split("://", 1)[1]
    path = path[path.find("/") :] if "/" in path else ""
    path = path.split("?", 1)[0].split("#", 1)[0]
    segments = [s for s in path.split("/")]
    segments = [_DL_SHORT_NAMES.get(s, s) for s in segments]
    for i, seg in enumerate(segments):
        if seg in _DL_PRIMARY and i + 1 < len(segments):
            segments = segments[i:]
            break
    else:
        return None
    if segments[0] == "01":
        gtin = segments[1]
        if len(gtin) in (8, 12, 13):
            segments[1] = gtin.rjust(14, "0")
    pairs = [(segments[j], segments[j + 1]) for j in range(0, len(segments) - 1, 2)]
    pairs = [p for p in pairs if p[0] != "22"]  # consumer product variant is not identity
    keys = [p[0] for p in pairs]
    if "21" in keys and "10" in keys:
        pairs = [p for p in pairs if p[0] != "10"]
    out = _DL + "/".join(f"{k}/{v}" for k, v in pairs)
    return out if any(v.match(out) for v in _DL_VALID) else None
