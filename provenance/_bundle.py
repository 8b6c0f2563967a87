"""Batch verification against our database, and portable proof bundles checked offline.

A proof bundle is one JSON document (format ``livetrust.provenance.bundle/1``) holding, for
one batch: every event of its history as EPCIS 2.0 JSON with its namespaces, the signed
statement and Ed25519 signature, an RFC 9162 inclusion proof against one anchored tree head,
the actors' keys with their on-chain registration index, and the anchor (registry index,
transaction hash, block time). Proof hashes are stored once in ``proof_nodes`` (keyed by the
leaf range ``start-end`` they cover) and shared by every event whose audit path needs them;
an event's proof is its leaf index and the tree size, from which the verifier derives which
nodes form its path (RFC 9162 §2.1.3.1). A verifier needs only the bundle and a chain (to
look up keys and the anchored root): :func:`verify_bundle` never touches our database.

The bundle is written in its canonical form (sorted keys, no whitespace, lowercase hex,
standard base64). A verifier re-serialises what it parsed and compares bytes, so *any* byte
change is caught: it either breaks the JSON (``bundle_malformed``), changes a value (the
specific finding for that value), or changes only the spelling (``bundle_not_canonical``).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from provenance._anchor import AnchoredHead, latest_anchor
from provenance._epcis import Event, canonical_id
from provenance._errors import MalformedEvent, ProvenanceError
from provenance._hashid import EVENT_HASH_PREFIX, EVENT_HASH_SUFFIX
from provenance._ledger import Ledger, StoredEvent, lot_relations, named_lots
from provenance._merkle import InclusionProof, TreeHead, inclusion_ranges
from provenance._registry import AnchorLedger, KeyDirectory
from provenance._signing import SignedRecord, Statement, canonical_json, content_digest
from provenance._verify import (
    DEFAULT_PROFILE,
    AnchorClaim,
    Evidence,
    EvidenceEvent,
    Finding,
    Profile,
    Verdict,
    VerifiedRecords,
    check_evidence,
)

__all__ = [
    "BUNDLE_FORMAT",
    "batch_evidence",
    "build_bundle",
    "bundle_bytes",
    "bundle_chain",
    "bundle_gzip",
    "chain_reference",
    "verify_batch",
    "verify_bundle",
]

BUNDLE_FORMAT = "livetrust.provenance.bundle/2"
GZIP_MAGIC = b"\x1f\x8b"
# a gzipped bundle may inflate to at most this (a 20-event bundle is ~15 KB; a whole
# season's batch a few MB): a guard against decompression bombs, not a format limit
MAX_BUNDLE_BYTES = 64 * 2**20


# -- from our database ------------------------------------------------------------------------


def batch_evidence(
    ledger: Ledger, batch: str
) -> tuple[Evidence, list[StoredEvent], AnchoredHead | None]:
    """The evidence for ``batch`` from our database, proofs against the latest anchor."""
    story = ledger.story(batch)
    anchored = latest_anchor(ledger)
    head = anchored.head if anchored else None
    covered = [s.seq for s in story if head is not None and s.seq < head.tree_size]
    proofs = ledger.inclusion_proofs(covered, head.tree_size) if head and covered else {}
    extra: list[Finding] = []
    if anchored is not None:
        ours = ledger.head(anchored.tree_size).root
        if ours != anchored.root:
            extra.append(
                Finding(
                    "root_mismatch",
                    None,
                    f"expected the log's root at size {anchored.tree_size} to be the anchored "
                    f"{anchored.root.hex()}, computed {ours.hex()}",
                )
            )
    # the batch's own chain must end at its recorded head (a deleted tail shows here)
    lot = canonical_id(batch)
    recorded = ledger.heads([lot]).get(lot)
    last = [s for s in story if lot in named_lots(lot_relations(s.event))]
    if recorded is not None and last and last[-1].hash_id != recorded:
        extra.append(
            Finding(
                "chain_broken",
                recorded,
                f"batch head is {recorded} but its history ends at {last[-1].hash_id}",
            )
        )
    events = [EvidenceEvent(s.event, s.record, proofs.get(s.seq)) for s in story]
    claim = (
        AnchorClaim(anchored.chain_index, anchored.tx_hash, anchored.timestamp)
        if anchored
        else None
    )
    evidence = Evidence(lot, ledger.log_id, events, head, claim, tuple(extra))
    return evidence, story, anchored


def verify_batch(
    ledger: Ledger,
    batch: str,
    anchors: AnchorLedger | None,
    profile: Profile = DEFAULT_PROFILE,
    memo: VerifiedRecords | None = None,
) -> Verdict:
    """``livetrust batch verify``: every check on a batch in our database, against the chain.

    ``memo`` lets a long-running verifier skip re-checking record bytes it already verified
    (see :class:`VerifiedRecords`); the CLI verifies everything every time.
    """
    evidence, _, _ = batch_evidence(ledger, batch)
    return check_evidence(evidence, ledger.directory, anchors, profile, memo)


# -- bundles ----------------------------------------------------------------------------------


def build_bundle(
    ledger: Ledger, batch: str, chain: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The proof bundle for ``batch`` (see module docstring) as a JSON-ready dict.

    ``chain`` names the chain and registries the anchors and keys live on
    (:func:`chain_reference`), so a verifier elsewhere attaches to the same contracts.
    """
    evidence, story, anchored = batch_evidence(ledger, batch)
    actors: dict[str, dict[str, Any]] = {}
    key_cache: dict[str, list[bytes]] = {}
    for s in story:
        st = s.record.statement
        if st.actor not in key_cache:
            key_cache[st.actor] = [bytes(k.public_key) for k in ledger.directory.keys(st.actor)]
        entry = actors.setdefault(st.actor, {"role": st.role, "keys": []})
        index = key_cache[st.actor].index(st.key) if st.key in key_cache[st.actor] else -1
        ref = {"public_key": st.key.hex(), "index": index}
        if ref not in entry["keys"]:
            entry["keys"].append(ref)
    for entry in actors.values():
        entry["keys"].sort(key=lambda k: k["index"])
    positions = {actor: [k["public_key"] for k in e["keys"]] for actor, e in actors.items()}
    events: list[dict[str, Any]] = []
    nodes: dict[str, str] = {}
    seen: dict[str, int] = {}  # hash id -> leaf index, of the events written so far
    for e, stored in zip(evidence.events, story, strict=True):
        if e.proof is not None:
            ranges = inclusion_ranges(e.proof.leaf_index, e.proof.tree_size)
            for (start, end), h in zip(ranges, e.proof.path, strict=True):
                nodes[f"{start}-{end}"] = h.hex()
        st = e.record.statement
        events.append(
            _event_entry(
                e.event,
                st.event,
                st.actor,
                positions[st.actor].index(st.key.hex()),
                _prev_refs(st.prev, seen),
                e.record.signature,
                stored.seq,
            )
        )
        seen.setdefault(st.event, stored.seq)
    return {
        "format": BUNDLE_FORMAT,
        "batch": evidence.batch,
        "log_id": ledger.log_id,
        "chain": dict(chain) if chain is not None else None,
        "tree_head": evidence.head.to_json() if evidence.head else None,
        "anchor": (
            {
                "index": anchored.chain_index,
                "tx_hash": anchored.tx_hash,
                "timestamp": anchored.timestamp,
            }
            if anchored
            else None
        ),
        "actors": actors,
        "events": events,
        "proof_nodes": nodes,
    }


def _prev_refs(prev: tuple[str, ...], seen: Mapping[str, int]) -> list[int | str]:
    """A statement's predecessors: the leaf index of an earlier event of the bundle, or the
    Event Hash ID of one outside it (a batch's history starts mid-chain of a shared lot)."""
    return [seen.get(p, p) for p in prev]


def _event_entry(
    event: Event,
    hash_id: str,
    actor: str,
    key: int,
    prev: list[int | str],
    signature: bytes,
    leaf: int,
) -> dict[str, Any]:
    """One event of a bundle. The signed statement is not written out: its Event Hash ID
    and content digest are recomputed from the event, its key and role come from
    ``actors``, its predecessors from ``prev``; a change to any of them changes the
    statement the signature and the log leaf must match. Only the signed Event Hash ID is
    kept (``id``, its hex digest), so an edited event reads as ``hash_mismatch``."""
    entry: dict[str, Any] = {
        "actor": actor,
        "event": event.body,
        "id": hash_id[len(EVENT_HASH_PREFIX) : -len(EVENT_HASH_SUFFIX)],
        "key": key,
        "leaf": leaf,
        "prev": prev,
        "signature": base64.b64encode(signature).decode(),
    }
    if event.namespaces:
        entry["namespaces"] = event.namespaces
    return entry


def bundle_bytes(bundle: Mapping[str, Any]) -> bytes:
    """The canonical serialisation (what ``livetrust batch proof -o`` writes)."""
    return canonical_json(bundle)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Event(_Model):
    actor: str
    event: dict[str, Any]
    id: str
    key: int
    leaf: int
    prev: list[int | str]
    signature: str
    namespaces: dict[str, str] | None = None


class _Key(_Model):
    public_key: str
    index: int


class _Actor(_Model):
    role: str
    keys: list[_Key]


class _Head(_Model):
    tree_size: int
    root: str


class _Anchor(_Model):
    index: int
    tx_hash: str | None
    timestamp: int


class _ChainRef(_Model):
    chain_id: int
    genesis_hash: str
    anchor_registry: str
    actor_registry: str


class _Bundle(_Model):
    format: Literal["livetrust.provenance.bundle/2"]
    batch: str
    log_id: int
    tree_head: _Head | None
    anchor: _Anchor | None
    actors: dict[str, _Actor]
    events: list[_Event]
    proof_nodes: dict[str, str]
    chain: _ChainRef | None


def _malformed(detail: str, batch: str = "") -> Verdict:
    return Verdict(batch, 0, False, (Finding("bundle_malformed", None, detail),))


def chain_reference(chain: Any) -> dict[str, Any]:
    """Which chain and registries a ``contracts.Chain`` talks to (for bundles)."""
    return {
        "chain_id": int(chain.chain_id),
        "genesis_hash": str(chain.genesis_hash),
        "anchor_registry": str(chain.anchors.address),
        "actor_registry": str(chain.actors.address),
    }


def bundle_gzip(bundle: Mapping[str, Any]) -> bytes:
    """The canonical serialisation, gzipped reproducibly (``-o bundle.json.gz``)."""
    return gzip.compress(bundle_bytes(bundle), mtime=0)


def _inflate(data: bytes) -> bytes:
    """A bundle's canonical bytes from a plain or gzipped file (ValueError if corrupt)."""
    if not data.startswith(GZIP_MAGIC):
        return data
    inflater = zlib.decompressobj(wbits=31)  # gzip header and CRC checked
    try:
        plain = inflater.decompress(data, MAX_BUNDLE_BYTES)
    except zlib.error as exc:
        raise ValueError(f"corrupt gzip: {exc}") from None
    if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        raise ValueError("corrupt, truncated or oversized gzip")
    return plain


def bundle_chain(data: bytes | str) -> dict[str, Any] | None:
    """The chain reference a bundle names, if it parses that far (to connect a verifier)."""
    try:
        doc = json.loads(_inflate(data.encode() if isinstance(data, str) else data))
        ref = _ChainRef.model_validate(doc["chain"])
    except (ValueError, TypeError, KeyError, ValidationError):
        return None
    return ref.model_dump()


def verify_bundle(
    data: bytes | str | Path,
    directory: KeyDirectory,
    anchors: AnchorLedger | None,
    profile: Profile = DEFAULT_PROFILE,
    chain: Mapping[str, Any] | None = None,
) -> Verdict:
    """``livetrust proof verify``: check a bundle with only a chain (keys, anchored roots).

    ``chain`` is :func:`chain_reference` of the chain being asked; a bundle naming another
    chain or other registries fails with ``anchor_mismatch``.
    """
    raw = data.read_bytes() if isinstance(data, Path) else data
    raw_bytes = raw.encode() if isinstance(raw, str) else raw
    try:
        raw_bytes = _inflate(raw_bytes)
    except ValueError as exc:
        return _malformed(f"not a bundle: {exc}")
    try:
        parsed = json.loads(raw_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _malformed(f"not JSON: {exc}")
    try:
        b = _Bundle.model_validate(parsed)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "bundle"
        return _malformed(
            f"{where}: {first['msg']}",
            str(parsed.get("batch", "")) if isinstance(parsed, dict) else "",
        )
    findings: list[Finding] = []
    try:
        head = TreeHead.from_json(b.tree_head.model_dump()) if b.tree_head else None
    except ProvenanceError as exc:
        return _malformed(f"tree_head: {exc}", b.batch)
    # registration references: actor -> key -> index
    refs: dict[tuple[str, bytes], int] = {}
    for actor_id, actor in b.actors.items():
        for k in actor.keys:
            try:
                ref = (actor_id, _strict_hex(k.public_key))
            except ValueError as exc:
                return _malformed(f"actors.{actor_id}: {exc}", b.batch)
            if ref in refs:  # a second listing would be an unchecked, unsigned addition
                return _malformed(f"actors.{actor_id}: key listed twice", b.batch)
            refs[ref] = k.index
    nodes: dict[tuple[int, int], bytes] = {}
    for name, value in b.proof_nodes.items():
        start, _, end = name.partition("-")
        if not (start.isdigit() and end.isdigit()) or f"{int(start)}-{int(end)}" != name:
            return _malformed(f"proof_nodes: bad range {name!r}", b.batch)
        try:
            nodes[(int(start), int(end))] = _strict_hex(value)
        except ValueError as exc:
            return _malformed(f"proof_nodes.{name}: {exc}", b.batch)
    used: set[tuple[int, int]] = set()
    events: list[EvidenceEvent] = []
    rebuilt: list[dict[str, Any]] = []
    used_refs: set[tuple[str, bytes]] = set()
    by_leaf: dict[int, str] = {}  # leaf index -> recomputed hash id, of earlier events
    seen: dict[str, int] = {}
    tree_size = head.tree_size if head is not None else 0
    for i, item in enumerate(b.events):
        actor_entry = b.actors.get(item.actor)
        if actor_entry is None or not 0 <= item.key < len(actor_entry.keys):
            return _malformed(f"events[{i}]: no key #{item.key} listed for {item.actor!r}", b.batch)
        namespaces = item.namespaces or {}
        try:
            key = _strict_hex(actor_entry.keys[item.key].public_key)
            claimed = EVENT_HASH_PREFIX + _strict_hex(item.id).hex() + EVENT_HASH_SUFFIX
            signature = base64.b64decode(item.signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            return _malformed(f"events[{i}]: {exc}", b.batch)
        prev = []
        for p in item.prev:
            if isinstance(p, int) and p not in by_leaf:
                findings.append(
                    Finding(
                        "chain_broken",
                        None,
                        f"events[{i}] commits to the event at leaf {p}, which is not in the "
                        "bundle before it",
                    )
                )
            prev.append((by_leaf.get(p) or f"missing-leaf:{p}") if isinstance(p, int) else p)
        by_leaf.setdefault(item.leaf, claimed)
        try:
            event = Event.from_json(item.event, namespaces)
        except MalformedEvent as exc:
            findings.append(
                Finding("hash_mismatch", claimed, f"event is not valid EPCIS 2.0: {exc}")
            )
            continue
        statement = Statement(
            event=claimed,
            content=content_digest(event.body, event.namespaces),
            prev=tuple(sorted(prev)),
            actor=item.actor,
            key=key,
            role=actor_entry.role,
        )
        proof = _proof_from_nodes(
            item.leaf if item.leaf < tree_size else None,  # None: newer than the head
            tree_size,
            nodes,
            used,
            findings,
            claimed,
        )
        ref = (statement.actor, statement.key)
        used_refs.add(ref)
        events.append(
            EvidenceEvent(event, SignedRecord(statement, signature), proof, refs.get(ref))
        )
        rebuilt.append(
            _event_entry(
                event,
                claimed,
                item.actor,
                item.key,
                _prev_refs(statement.prev, seen),
                signature,
                item.leaf,
            )
        )
        seen.setdefault(claimed, item.leaf)
    for lo, hi in sorted(set(nodes) - used):
        findings.append(
            Finding("inclusion_proof_invalid", None, f"proof node {lo}-{hi} is not used")
        )
    for ref in set(refs) - used_refs:
        findings.append(
            Finding("key_reference_invalid", None, f"bundle lists an unused key for {ref[0]!r}")
        )
    # events must come in log order, each leaf once
    indices = [item.leaf for item in b.events]
    if indices != sorted(set(indices)):
        findings.append(Finding("inclusion_proof_invalid", None, "events are not in log order"))
    canonical = bundle_bytes(
        {
            "format": b.format,
            "batch": b.batch,
            "log_id": b.log_id,
            "chain": b.chain.model_dump() if b.chain else None,
            "tree_head": head.to_json() if head else None,
            "anchor": b.anchor.model_dump() if b.anchor else None,
            "actors": {a: v.model_dump() for a, v in b.actors.items()},
            "events": rebuilt,
            "proof_nodes": {f"{lo}-{hi}": h.hex() for (lo, hi), h in nodes.items()},
        }
    )
    if len(rebuilt) == len(b.events) and canonical != raw_bytes:
        findings.append(
            Finding(
                "bundle_not_canonical",
                None,
                "bundle bytes differ from their canonical serialisation (edited by hand?)",
            )
        )
    claim = AnchorClaim(b.anchor.index, b.anchor.tx_hash, b.anchor.timestamp) if b.anchor else None
    if chain is not None:
        named = b.chain.model_dump() if b.chain else None
        if named != dict(chain):
            findings.append(
                Finding(
                    "anchor_mismatch",
                    None,
                    f"bundle names chain {named}, verified against {dict(chain)}",
                )
            )
    evidence = Evidence(b.batch, b.log_id, events, head, claim, tuple(findings))
    verdict = check_evidence(evidence, directory, anchors, profile)
    return Verdict(b.batch, len(b.events), verdict.anchored, verdict.findings)


MAX_TREE_SIZE = 2**62  # sanity bound on a claimed tree size (a path has < 63 hashes)


def _proof_from_nodes(
    leaf: int | None,
    tree_size: int,
    nodes: Mapping[tuple[int, int], bytes],
    used: set[tuple[int, int]],
    findings: list[Finding],
    event: str,
) -> InclusionProof | None:
    """An event's audit path, assembled from the bundle's shared proof nodes."""
    if leaf is None:
        return None
    i, n = leaf, tree_size
    if not (0 <= i < n <= MAX_TREE_SIZE):
        return InclusionProof(i, n, ())  # fails verification with "outside tree"
    path = []
    for r in inclusion_ranges(i, n):
        used.add(r)
        if r not in nodes:
            findings.append(
                Finding("inclusion_proof_invalid", event, f"proof node {r[0]}-{r[1]} missing")
            )
            return InclusionProof(i, n, ())
        path.append(nodes[r])
    return InclusionProof(i, n, tuple(path))


def _strict_hex(text: str) -> bytes:
    if text != text.lower() or len(text) != 64:
        raise ValueError(f"expected 64 lowercase hex digits, got {text!r}")
    return bytes.fromhex(text)
