"""Batch verification against our database, and portable proof bundles checked offline.

A proof bundle is one JSON document (format ``livetrust.provenance.bundle/3``) holding, for
one batch: every event of its history as EPCIS 2.0 JSON with its signed Event Hash ID,
predecessors, Ed25519 signature and leaf index; the signers (actor, public key, on-chain
registration index, role) and namespace maps, each listed once; the anchor (tree size and
root, registry index, block time, transaction hash); and one RFC 9162 multiproof for all
anchored events: the hashes of :func:`~provenance._merkle.multiproof_ranges`, from which
the verifier derives every event's audit path (RFC 9162 §2.1.3.1) with the other events'
leaves. The signed statements are rebuilt, not written out. A verifier needs only the
bundle and a chain (to look up keys and the anchored root): :func:`verify_bundle` never
touches our database. Formats /1 and /2 are refused by name (docs/provenance.md says why).

The bundle is written in its canonical form (sorted keys, no whitespace, lowercase hex,
standard base64) by one layout function, which the verifier runs again on what it parsed
and compares bytes, so *any* byte change is caught: it either breaks the JSON
(``bundle_malformed``), changes a value (the specific finding for that value), or changes
only the spelling (``bundle_not_canonical``).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from provenance._anchor import AnchoredHead, latest_anchor
from provenance._epcis import Event, canonical_id
from provenance._errors import MalformedEvent
from provenance._hashid import EVENT_HASH_PREFIX, EVENT_HASH_SUFFIX
from provenance._ledger import Ledger, StoredEvent, lot_relations, named_lots
from provenance._merkle import (
    HASH_SIZE,
    InclusionProof,
    TreeHead,
    inclusion_paths,
    inclusion_ranges,
    leaf_hash,
    multiproof_ranges,
)
from provenance._registry import AnchorLedger, KeyDirectory
from provenance._signing import SignedRecord, Statement, canonical_json
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

BUNDLE_FORMAT = "livetrust.provenance.bundle/3"
# older layouts (see docs/provenance.md, "Proof bundle"): refused with a specific message
RETIRED_FORMATS = ("livetrust.provenance.bundle/1", "livetrust.provenance.bundle/2")
GZIP_MAGIC = b"\x1f\x8b"
# a gzipped bundle may inflate to at most this (a 20-event bundle is ~15 KB; a whole
# season's batch a few MB): a guard against decompression bombs, not a format limit
MAX_BUNDLE_BYTES = 64 * 2**20


# -- from our database ------------------------------------------------------------------------


def batch_evidence(
    ledger: Ledger, batch: str
) -> tuple[Evidence, list[StoredEvent], AnchoredHead | None]:
    """The evidence for ``batch`` from our database, proofs against the latest anchor.

    Read over one connection: the history walk, the rows, the anchor, and one read of
    stored Merkle nodes for every inclusion proof and the log's root at the anchored size.
    """
    lot = canonical_id(batch)
    with ledger.reading() as conn:
        story = ledger.story(batch, conn)
        anchored = latest_anchor(ledger, conn=conn)
        head = anchored.head if anchored else None
        covered = [s.seq for s in story if head is not None and s.seq < head.tree_size]
        proofs: dict[int, InclusionProof] = {}
        ours = b""
        if anchored is not None:
            proofs, ours = ledger.inclusion_proofs_and_root(covered, anchored.tree_size, conn)
        recorded = ledger.heads([lot], conn).get(lot)
    extra: list[Finding] = []
    if anchored is not None and ours != anchored.root:
        extra.append(
            Finding(
                "root_mismatch",
                None,
                f"expected the log's root at size {anchored.tree_size} to be the anchored "
                f"{anchored.root.hex()}, computed {ours.hex()}",
            )
        )
    # the batch's own chain must end at its recorded head (a deleted tail shows here)
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


@dataclass(frozen=True)
class _Signed:
    """One event of a bundle with what its statement is rebuilt from."""

    event: Event
    hash_id: str
    signer: tuple[str, bytes, int, str]  # actor, public key, registration index, role
    prev: tuple[str, ...]  # the statement's predecessors (hash ids)
    signature: bytes
    leaf: int


def _assemble(
    batch: str,
    log_id: int,
    chain: Mapping[str, Any] | None,
    anchor: Mapping[str, Any] | None,
    events: Sequence[_Signed],
    proof: bytes,
) -> dict[str, Any]:
    """The bundle document, laid out by one rule (``build_bundle`` writes it, the verifier
    rebuilds it from what it parsed and compares bytes): signers and namespace maps listed
    once, in order of first use; each predecessor the leaf index of an earlier event of the
    bundle, or the Event Hash ID of one outside it."""
    signers: dict[tuple[str, bytes, int, str], int] = {}
    namespaces: dict[bytes, int] = {}
    seen: dict[str, int] = {}  # hash id -> leaf index, of the events written so far
    entries: list[dict[str, Any]] = []
    for e in events:
        entry: dict[str, Any] = {
            "event": e.event.body,
            "id": e.hash_id[len(EVENT_HASH_PREFIX) : -len(EVENT_HASH_SUFFIX)],
            "leaf": e.leaf,
            "prev": [seen.get(p, p) for p in e.prev],
            "signature": base64.b64encode(e.signature).decode(),
            "signer": signers.setdefault(e.signer, len(signers)),
        }
        if e.event.namespaces:
            key = canonical_json(e.event.namespaces)
            entry["namespaces"] = namespaces.setdefault(key, len(namespaces))
        entries.append(entry)
        seen.setdefault(e.hash_id, e.leaf)
    return {
        "format": BUNDLE_FORMAT,
        "batch": batch,
        "log_id": log_id,
        "chain": dict(chain) if chain is not None else None,
        "anchor": dict(anchor) if anchor is not None else None,
        "signers": [
            {"actor": a, "key": k.hex(), "registration": r, "role": role}
            for a, k, r, role in signers
        ],
        "namespaces": [json.loads(ns) for ns in namespaces],
        "events": entries,
        "proof": base64.b64encode(proof).decode(),
    }


def build_bundle(
    ledger: Ledger, batch: str, chain: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The proof bundle for ``batch`` (see module docstring) as a JSON-ready dict.

    ``chain`` names the chain and registries the anchors and keys live on
    (:func:`chain_reference`), so a verifier elsewhere attaches to the same contracts.
    """
    evidence, story, anchored = batch_evidence(ledger, batch)
    registrations: dict[str, list[bytes]] = {}
    signed: list[_Signed] = []
    nodes: dict[tuple[int, int], bytes] = {}
    for e, stored in zip(evidence.events, story, strict=True):
        st = e.record.statement
        if st.actor not in registrations:
            registrations[st.actor] = [bytes(k.public_key) for k in ledger.directory.keys(st.actor)]
        keys = registrations[st.actor]
        index = keys.index(st.key) if st.key in keys else -1
        if e.proof is not None:
            ranges = inclusion_ranges(e.proof.leaf_index, e.proof.tree_size)
            nodes.update(zip(ranges, e.proof.path, strict=True))
        signed.append(
            _Signed(
                e.event,
                st.event,
                (st.actor, st.key, index, st.role),
                st.prev,
                e.record.signature,
                stored.seq,
            )
        )
    head = evidence.head
    covered = [s.leaf for s in signed if head is not None and s.leaf < head.tree_size]
    proof = b"".join(nodes[r] for r in multiproof_ranges(covered, head.tree_size)) if head else b""
    anchor = (
        {
            "index": anchored.chain_index,
            "root": anchored.root.hex(),
            "timestamp": anchored.timestamp,
            "tree_size": anchored.tree_size,
            "tx_hash": anchored.tx_hash,
        }
        if anchored
        else None
    )
    return _assemble(evidence.batch, ledger.log_id, chain, anchor, signed, proof)


def bundle_bytes(bundle: Mapping[str, Any]) -> bytes:
    """The canonical serialisation (what ``livetrust batch proof -o`` writes)."""
    return canonical_json(bundle)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Event(_Model):
    event: dict[str, Any]
    id: str
    leaf: int
    prev: list[int | str]
    signature: str
    signer: int
    namespaces: int | None = None


class _Signer(_Model):
    actor: str
    key: str
    registration: int
    role: str


class _Anchor(_Model):
    index: int
    root: str
    timestamp: int
    tree_size: int
    tx_hash: str | None


class _ChainRef(_Model):
    chain_id: int
    genesis_hash: str
    anchor_registry: str
    actor_registry: str


class _Bundle(_Model):
    format: Literal["livetrust.provenance.bundle/3"]
    batch: str
    log_id: int
    chain: _ChainRef | None
    anchor: _Anchor | None
    signers: list[_Signer]
    namespaces: list[dict[str, str]]
    events: list[_Event]
    proof: str


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
    if isinstance(parsed, dict) and parsed.get("format") in RETIRED_FORMATS:
        return _malformed(
            f"format {parsed['format']} is no longer read: write the bundle again with "
            "`livetrust batch proof` (the ledger keeps everything it needs)",
            str(parsed.get("batch", "")),
        )
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
    # (a) the tree head, the signers (with their registration references), the proof
    try:
        head = TreeHead(b.anchor.tree_size, _strict_hex(b.anchor.root)) if b.anchor else None
        signers = [(s.actor, _strict_hex(s.key), s.registration, s.role) for s in b.signers]
        proof = base64.b64decode(b.proof, validate=True)
    except (binascii.Error, ValueError) as exc:
        return _malformed(f"anchor, signers or proof: {exc}", b.batch)
    if head is not None and not 0 <= head.tree_size <= MAX_TREE_SIZE:
        return _malformed(f"anchor: tree size {head.tree_size} out of range", b.batch)
    # each signer and namespace map is listed once: a second listing is an unsigned addition
    if len(set(signers)) != len(signers):
        return _malformed("signers: a signer is listed twice", b.batch)
    maps = [tuple(sorted(m.items())) for m in b.namespaces]
    if len(set(maps)) != len(maps):
        return _malformed("namespaces: a namespace map is listed twice", b.batch)
    # (b) every event's statement, rebuilt
    signed: list[_Signed] = []
    by_leaf: dict[int, str] = {}  # leaf index -> claimed hash id, of earlier events
    for i, item in enumerate(b.events):
        if not 0 <= item.signer < len(signers):
            return _malformed(f"events[{i}]: no signer #{item.signer}", b.batch)
        ns_index = item.namespaces
        if ns_index is not None and not 0 <= ns_index < len(b.namespaces):
            return _malformed(f"events[{i}]: no namespace map #{ns_index}", b.batch)
        try:
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
        namespaces = b.namespaces[ns_index] if ns_index is not None else {}
        try:
            event = Event.from_json(item.event, namespaces)
        except MalformedEvent as exc:
            findings.append(
                Finding("hash_mismatch", claimed, f"event is not valid EPCIS 2.0: {exc}")
            )
            event = Event.model_construct(body=item.event, namespaces=namespaces)
        signed.append(
            _Signed(event, claimed, signers[item.signer], tuple(sorted(prev)), signature, item.leaf)
        )
    # (c) the inclusion proofs of every anchored event, from the one multiproof
    tree_size = head.tree_size if head is not None else 0
    records = [
        SignedRecord(
            Statement(
                event=s.hash_id,
                content=s.event.content_digest,
                prev=s.prev,
                actor=s.signer[0],
                key=s.signer[1],
                role=s.signer[3],
            ),
            s.signature,
        )
        for s in signed
    ]
    covered = {
        s.leaf: leaf_hash(r.leaf_bytes())
        for s, r in zip(signed, records, strict=True)
        if s.leaf < tree_size
    }
    paths = _paths_from_multiproof(covered, tree_size, proof, findings)
    # (d) layout: events in log order, each leaf once; every signer used; canonical bytes
    indices = [s.leaf for s in signed]
    if indices != sorted(set(indices)):
        findings.append(Finding("inclusion_proof_invalid", None, "events are not in log order"))
    used = {s.signer for s in signed}
    for actor, *_ in (x for x in signers if x not in used):
        findings.append(
            Finding("key_reference_invalid", None, f"bundle lists an unused key for {actor!r}")
        )
    canonical = bundle_bytes(
        _assemble(
            b.batch,
            b.log_id,
            b.chain.model_dump() if b.chain else None,
            b.anchor.model_dump() if b.anchor else None,
            signed,
            proof,
        )
    )
    if canonical != raw_bytes:
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
    events = [
        EvidenceEvent(s.event, r, paths.get(s.leaf) if s.leaf < tree_size else None, s.signer[2])
        for s, r in zip(signed, records, strict=True)
    ]
    evidence = Evidence(b.batch, b.log_id, events, head, claim, tuple(findings))
    verdict = check_evidence(evidence, directory, anchors, profile)
    return Verdict(b.batch, len(b.events), verdict.anchored, verdict.findings)


MAX_TREE_SIZE = 2**62  # sanity bound on a claimed tree size (a path has < 63 hashes)


def _paths_from_multiproof(
    leaves: Mapping[int, bytes], size: int, proof: bytes, findings: list[Finding]
) -> dict[int, InclusionProof]:
    """Each anchored event's audit path, from the bundle's multiproof: the hashes of
    :func:`multiproof_ranges` in order, the rest computed from the events' own leaves. A
    proof of the wrong length is reported; its events then fail their inclusion check."""
    if not leaves:
        if proof:
            findings.append(
                Finding("inclusion_proof_invalid", None, "proof given but no event is anchored")
            )
        return {}
    ranges = multiproof_ranges(leaves, size)
    if len(proof) != HASH_SIZE * len(ranges):
        findings.append(
            Finding(
                "inclusion_proof_invalid",
                None,
                f"expected a proof of {len(ranges)} hashes for these leaves, "
                f"got {len(proof) / HASH_SIZE:g}",
            )
        )
        return {i: InclusionProof(i, size, ()) for i in leaves}
    nodes = {r: proof[k * HASH_SIZE : (k + 1) * HASH_SIZE] for k, r in enumerate(ranges)}
    return inclusion_paths(leaves, size, nodes)


def _strict_hex(text: str) -> bytes:
    if text != text.lower() or len(text) != 64:
        raise ValueError(f"expected 64 lowercase hex digits, got {text!r}")
    return bytes.fromhex(text)
