"""Verdicts: every check on a batch's evidence, every problem reported.

A verifier never stops at the first problem and never raises for tampered data: it returns a
frozen :class:`Verdict` whose findings each carry a stable ``code``, the Event Hash ID they
concern (or None) and a sentence. The same :func:`check_evidence` runs for a batch in our
database (:func:`verify_batch`) and for a proof bundle checked offline
(``provenance.verify_bundle``), so both give the same answer for the same evidence.

Steps of :func:`check_evidence`:

(1) content: the event JSON hashes to the Event Hash ID and the content digest it was signed
    under (``hash_mismatch``);
(2) signature: Ed25519 over the statement (``signature_invalid``);
(3) authority, from the chain: actor registered (``unknown_actor``), key registered for it
    and valid at eventTime (``key_not_valid_at_time``), the key's on-chain role equals the
    signed one and may sign the bizStep (``role_not_allowed``), the bundle's key reference
    points at that key (``key_reference_invalid``);
(4) hash chains: within each lot, every event commits to the previous one
    (``chain_broken``);
(5) time: no event is earlier than a predecessor it commits to (``time_out_of_order``);
(6) quantities: transformation outputs match inputs within the profile tolerance, and no
    lot is consumed beyond what was produced (``quantity_not_conserved``);
(7) cold chain: every temperature reading within the product profile's range
    (``cold_chain_breach``);
(8) completeness: origin -> pack -> QC -> ship -> receive stages present
    (``missing_step``);
(9) log: each event's leaf is in the anchored tree head (``inclusion_proof_invalid``),
    events after the last anchor are ``not_anchored``;
(10) chain anchor: the tree head is on chain with that size, log, index, time and tx
    (``root_not_on_chain``, ``anchor_mismatch``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provenance._epcis import Event, canonical_id
from provenance._errors import MalformedEvent, ProofError, SignatureInvalid
from provenance._hashid import event_hash_id
from provenance._ledger import Link, history, lot_relations, named_lots
from provenance._merkle import InclusionProof, TreeHead, leaf_hash, verify_inclusion
from provenance._registry import AnchorLedger, KeyDirectory, KeyRecordLike, key_valid_at
from provenance._roles import Role, allowed_roles
from provenance._signing import SignedRecord, Statement, content_digest

__all__ = [
    "DEFAULT_PROFILE",
    "FINDING_CODES",
    "PROFILES",
    "AnchorClaim",
    "Evidence",
    "EvidenceEvent",
    "Finding",
    "Profile",
    "Verdict",
    "VerifiedRecords",
    "check_evidence",
]

# Every finding code, with what it means (docs/provenance.md lists the same table).
FINDING_CODES: Mapping[str, str] = {
    "hash_mismatch": "event JSON does not hash to its Event Hash ID / signed content digest",
    "signature_invalid": "Ed25519 signature does not verify over the statement",
    "unknown_actor": "signer is not registered on chain",
    "key_not_valid_at_time": "key not registered for the actor, or not valid at eventTime",
    "role_not_allowed": "signer's on-chain role may not sign this bizStep",
    "key_reference_invalid": "bundle's registration reference does not point at the key",
    "chain_broken": "an event does not commit to its predecessor in a batch's hash chain",
    "time_out_of_order": "an event is earlier than a predecessor it commits to",
    "quantity_not_conserved": "quantities out of a transformation or lot exceed what went in",
    "cold_chain_breach": "a temperature reading is outside the product's range",
    "missing_step": "a required stage (origin, pack, QC, ship, receive) is absent",
    "not_anchored": "event is newer than the last anchored tree head",
    "inclusion_proof_invalid": "event's leaf is not in the anchored tree head",
    "root_not_on_chain": "the tree head's root is not anchored on chain at that size",
    "anchor_mismatch": "anchor index, time or transaction differ from the chain's record",
    "root_mismatch": "our log's root at an anchored size differs from the anchored root",
    "consistency_proof_invalid": "two anchored heads are not versions of one append-only log",
    "leaf_mismatch": "a stored leaf hash is not the hash of its stored record (audit)",
    "node_mismatch": "a stored Merkle node is missing or differs from the leaves' hash (audit)",
    "log_size_mismatch": "event rows and the log size disagree: a gap or an extra row (audit)",
    "anchor_not_recorded": "an anchor on chain has no confirmed tree head in our records (audit)",
    "batch_mismatch": "no event names the batch, or an event is not part of its history",
    "bundle_malformed": "the proof bundle does not parse",
    "bundle_not_canonical": "the proof bundle's bytes are not its canonical serialisation",
}


@dataclass(frozen=True)
class Finding:
    code: str
    event: str | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "event": self.event, "detail": self.detail}


@dataclass(frozen=True)
class Verdict:
    """ok / failed with every finding; ``ok`` is True exactly when there are no findings."""

    batch: str
    events: int
    anchored: bool
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "batch": self.batch,
            "events": self.events,
            "anchored": self.anchored,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class Profile:
    """What a product needs: stages that must appear, storage temperature, loss tolerance."""

    name: str
    stages: tuple[tuple[str, frozenset[str]], ...]
    min_celsius: float
    max_celsius: float
    quantity_tolerance: float  # relative, e.g. 0.02 = 2 %


# Chilled fresh produce (berries, leafy greens): 0-8 °C is the usual chilled-chain range
# (Codex CXC 53-2003 recommends cold storage near 0-5 °C for most fresh produce; 8 °C is the
# common upper limit in EU chilled-food guidance). Washing/grading loses up to ~2 % by mass.
PROFILES: Mapping[str, Profile] = {
    "chilled_produce": Profile(
        name="chilled_produce",
        stages=(
            ("origin", frozenset({"commissioning", "creating_class_instance"})),
            ("pack", frozenset({"packing", "repackaging", "assembling"})),
            ("qc", frozenset({"inspecting", "sampling"})),
            ("ship", frozenset({"shipping", "departing"})),
            ("receive", frozenset({"receiving", "arriving", "accepting"})),
        ),
        min_celsius=0.0,
        max_celsius=8.0,
        quantity_tolerance=0.02,
    ),
    "ambient": Profile(
        name="ambient",
        stages=(
            ("origin", frozenset({"commissioning", "creating_class_instance"})),
            ("ship", frozenset({"shipping", "departing"})),
            ("receive", frozenset({"receiving", "arriving", "accepting"})),
        ),
        min_celsius=-10.0,
        max_celsius=35.0,
        quantity_tolerance=0.05,
    ),
}
DEFAULT_PROFILE = PROFILES["chilled_produce"]
VERIFIED_CACHE_SIZE = 100_000  # records; ~6 MB of keys


@dataclass(frozen=True)
class AnchorClaim:
    """Where evidence says its tree head was anchored."""

    index: int
    tx_hash: str | None
    timestamp: int


@dataclass(frozen=True)
class EvidenceEvent:
    event: Event
    record: SignedRecord
    proof: InclusionProof | None  # None: not covered by an anchored head
    key_index: int | None = None  # registration reference (bundles)

    @property
    def hash_id(self) -> str:
        return self.record.statement.event


@dataclass(frozen=True)
class Evidence:
    batch: str
    log_id: int
    events: Sequence[EvidenceEvent]
    head: TreeHead | None
    anchor: AnchorClaim | None
    extra_findings: tuple[Finding, ...] = field(default=())


def _sorted_findings(findings: list[Finding]) -> tuple[Finding, ...]:
    seen: set[tuple[str, str | None, str]] = set()
    out = []
    for f in findings:
        key = (f.code, f.event, f.detail)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return tuple(out)


class VerifiedRecords:
    """Records whose steps (1) and (2) passed, keyed by their exact bytes.

    Those two checks are pure functions of the event JSON, statement and signature, so a
    verifier that runs often (the web service, a warm benchmark) may skip them for bytes it
    has already verified; everything that depends on the chain or on other events (steps
    3-10) always runs. Bounded: the oldest entries go first.
    """

    def __init__(self, capacity: int = VERIFIED_CACHE_SIZE) -> None:
        self.capacity = capacity
        self._seen: dict[bytes, None] = {}

    @staticmethod
    def key(content: str, record: SignedRecord) -> bytes:
        return hashlib.sha256(
            content.encode() + b"|" + record.statement.canonical + b"|" + record.signature
        ).digest()

    def __contains__(self, key: bytes) -> bool:
        return key in self._seen

    def add(self, key: bytes) -> None:
        self._seen[key] = None
        if len(self._seen) > self.capacity:
            self._seen.pop(next(iter(self._seen)))


def check_evidence(
    ev: Evidence,
    directory: KeyDirectory,
    anchors: AnchorLedger | None,
    profile: Profile = DEFAULT_PROFILE,
    memo: VerifiedRecords | None = None,
) -> Verdict:
    """Run every check (module docstring, steps 1-10) and return the verdict."""
    findings: list[Finding] = list(ev.extra_findings)
    add = findings.append
    batch = canonical_id(ev.batch)
    events = list(ev.events)

    # (1) content and (2) signature
    broken: set[int] = set()  # events that are not EPCIS any more: no further checks
    for e in events:
        st = e.record.statement
        digest = content_digest(e.event.body, e.event.namespaces)
        key = VerifiedRecords.key(digest, e.record) if memo is not None else b""
        if memo is not None and digest == st.content and key in memo:
            continue
        found_before = len(findings)
        try:
            Event.from_json(e.event.body, e.event.namespaces)
        except MalformedEvent as exc:
            add(Finding("hash_mismatch", st.event, f"event is not valid EPCIS 2.0: {exc}"))
            broken.add(id(e))
            continue
        computed = event_hash_id(e.event.body, e.event.namespaces)
        if computed != st.event:
            add(
                Finding(
                    "hash_mismatch",
                    st.event,
                    f"expected Event Hash ID {st.event}, computed {computed}",
                )
            )
        if digest != st.content:
            add(
                Finding(
                    "hash_mismatch", st.event, f"expected content {st.content}, computed {digest}"
                )
            )
        try:
            e.record.verify()
        except SignatureInvalid as exc:
            add(Finding("signature_invalid", st.event, f"signature by {st.actor!r}: {exc}"))
        if memo is not None and len(findings) == found_before:
            memo.add(key)

    counted = len(events)
    events = [e for e in events if id(e) not in broken]

    # (3) authority
    cache: dict[str, Sequence[KeyRecordLike]] = {}
    for e in events:
        _check_authority(e, directory, cache, add)

    # (4) chains and (5) time
    by_hash = {e.hash_id: e for e in events}
    per_lot: dict[str, list[EvidenceEvent]] = defaultdict(list)
    relations: dict[str, dict[str, list[str]]] = {}
    for e in events:
        relations[e.hash_id] = lot_relations(e.event)
        for lot in named_lots(relations[e.hash_id]):
            per_lot[lot].append(e)
    for lot, lot_events in per_lot.items():
        for before, after in itertools.pairwise(lot_events):
            if before.hash_id not in after.record.statement.prev:
                add(
                    Finding(
                        "chain_broken",
                        after.hash_id,
                        f"in batch {lot}: expected a commitment to predecessor "
                        f"{before.hash_id}, found {list(after.record.statement.prev) or 'none'}",
                    )
                )
    for e in events:
        for p in e.record.statement.prev:
            pred = by_hash.get(p)
            if pred is not None and e.event.event_time < pred.event.event_time:
                add(
                    Finding(
                        "time_out_of_order",
                        e.hash_id,
                        f"eventTime {e.event.body['eventTime']} is before its predecessor's "
                        f"{pred.event.body['eventTime']}",
                    )
                )

    # (6) quantities
    _check_quantities(events, profile, add)

    # (7) cold chain
    for e in events:
        for reading in e.event.temperatures():
            if not profile.min_celsius <= reading.celsius <= profile.max_celsius:
                add(
                    Finding(
                        "cold_chain_breach",
                        e.hash_id,
                        f"temperature {reading.celsius:.1f} °C at {reading.time or 'unknown time'}"
                        f" outside {profile.min_celsius:g}-{profile.max_celsius:g} °C "
                        f"({profile.name})",
                    )
                )

    # (8) completeness
    steps = {e.event.biz_step for e in events}
    for stage, wanted in profile.stages:
        if not steps & wanted:
            add(
                Finding(
                    "missing_step",
                    None,
                    f"no {stage} step ({' / '.join(sorted(wanted))}) in the batch's history",
                )
            )

    if not any(batch in named_lots(relations[e.hash_id]) for e in events):
        add(Finding("batch_mismatch", None, f"no event names batch {batch}"))
    else:
        links: list[Link] = [
            (i, lot, rel)
            for i, e in enumerate(events)
            for rel, lots in relations[e.hash_id].items()
            for lot in lots
        ]
        inside = history(
            batch,
            lambda lots: [x for x in links if x[1] in lots],
            lambda seqs: [x for x in links if x[0] in seqs],
        )
        for i, e in enumerate(events):
            if i not in inside:
                add(
                    Finding(
                        "batch_mismatch",
                        e.hash_id,
                        f"event is not part of the history of batch {batch}",
                    )
                )

    # (9) inclusion and (10) anchor
    anchored = _check_log(ev, events, anchors, add)
    return Verdict(
        batch,
        counted,
        anchored
        and not _has(findings, "inclusion_proof_invalid", "root_not_on_chain", "not_anchored"),
        _sorted_findings(findings),
    )


def _has(findings: list[Finding], *codes: str) -> bool:
    return any(f.code in codes for f in findings)


def _check_authority(
    e: EvidenceEvent,
    directory: KeyDirectory,
    cache: dict[str, Sequence[KeyRecordLike]],
    add: Any,
) -> None:
    st: Statement = e.record.statement
    if st.actor not in cache:
        cache[st.actor] = directory.keys(st.actor)
    records = cache[st.actor]
    if not records:
        add(Finding("unknown_actor", st.event, f"actor {st.actor!r} is not registered on chain"))
        return
    if e.key_index is not None and (
        not 0 <= e.key_index < len(records) or bytes(records[e.key_index].public_key) != st.key
    ):
        add(
            Finding(
                "key_reference_invalid",
                st.event,
                f"registration #{e.key_index} of {st.actor!r} is not key {st.key.hex()[:16]}…",
            )
        )
    mine = [r for r in records if bytes(r.public_key) == st.key]
    if not mine:
        add(
            Finding(
                "key_not_valid_at_time",
                st.event,
                f"key {st.key.hex()[:16]}… is not registered for {st.actor!r}",
            )
        )
        return
    onchain = {Role(int(r.role)).label for r in mine}
    allowed = allowed_roles(e.event.biz_step)
    if st.role not in onchain:
        add(
            Finding(
                "role_not_allowed",
                st.event,
                f"signed as {st.role!r} but {st.actor!r} holds {sorted(onchain)} on chain",
            )
        )
    elif not any(Role(int(r.role)) in allowed for r in mine):
        names = ", ".join(sorted(r.label for r in allowed)) or "nobody"
        add(
            Finding(
                "role_not_allowed",
                st.event,
                f"bizStep {e.event.biz_step!r} may be signed by {names}, not {st.role}",
            )
        )
    t = e.event.timestamp
    if not any(key_valid_at(r, t) for r in mine):
        add(
            Finding(
                "key_not_valid_at_time",
                st.event,
                f"key of {st.actor!r} not valid at eventTime {e.event.body.get('eventTime')}",
            )
        )


def _check_quantities(events: Sequence[EvidenceEvent], profile: Profile, add: Any) -> None:
    tol = profile.quantity_tolerance
    produced: dict[tuple[str, str | None], float] = defaultdict(float)
    consumed: dict[tuple[str, str | None], float] = defaultdict(float)
    consumers: dict[tuple[str, str | None], str] = {}
    for e in events:
        ev = e.event
        if ev.type == "TransformationEvent":
            _, ins = ev.inputs()
            _, outs = ev.outputs()
            tin: dict[str | None, float] = defaultdict(float)
            tout: dict[str | None, float] = defaultdict(float)
            for q in ins:
                if q.quantity is not None:
                    tin[q.uom] += q.quantity
                    consumed[(q.epc_class, q.uom)] += q.quantity
                    consumers[(q.epc_class, q.uom)] = e.hash_id
            for q in outs:
                if q.quantity is not None:
                    tout[q.uom] += q.quantity
                    produced[(q.epc_class, q.uom)] += q.quantity
            for uom in set(tin) & set(tout):
                a, b = tin[uom], tout[uom]
                if b > a * (1 + tol) or b < a * (1 - tol):
                    add(
                        Finding(
                            "quantity_not_conserved",
                            e.hash_id,
                            f"inputs {a:g} {uom or ''} vs outputs {b:g} {uom or ''}: "
                            f"outside ±{tol:.0%} tolerance",
                        )
                    )
        elif ev.type == "ObjectEvent" and ev.action == "ADD":
            for q in ev._quantities("quantityList"):
                if q.quantity is not None:
                    produced[(q.epc_class, q.uom)] += q.quantity
    for key, used in consumed.items():
        made = produced.get(key)
        if made is not None and used > made * (1 + tol):
            add(
                Finding(
                    "quantity_not_conserved",
                    consumers[key],
                    f"lot {key[0]}: {used:g} {key[1] or ''} consumed but only {made:g} produced",
                )
            )


def _check_log(
    ev: Evidence, events: Sequence[EvidenceEvent], anchors: AnchorLedger | None, add: Any
) -> bool:
    head = ev.head
    for e in events:
        if e.proof is None or head is None:
            add(
                Finding(
                    "not_anchored", e.hash_id, "event is newer than the last anchored tree head"
                )
            )
            continue
        if e.proof.tree_size != head.tree_size:
            add(
                Finding(
                    "inclusion_proof_invalid",
                    e.hash_id,
                    f"expected a proof for tree size {head.tree_size}, got {e.proof.tree_size}",
                )
            )
            continue
        try:
            verify_inclusion(leaf_hash(e.record.leaf_bytes()), e.proof, head.root)
        except ProofError as exc:
            add(Finding("inclusion_proof_invalid", e.hash_id, str(exc)))
    if head is None:
        return False
    if anchors is None:
        add(Finding("root_not_on_chain", None, "no chain to check the tree head against"))
        return False
    onchain = anchors.by_root(head.root)
    if onchain is None:
        add(Finding("root_not_on_chain", None, f"root {head.root.hex()} is not anchored on chain"))
        return False
    ok = True
    if onchain.tree_size != head.tree_size or onchain.log_id != ev.log_id:
        add(
            Finding(
                "root_not_on_chain",
                None,
                f"expected log {ev.log_id} size {head.tree_size} for root {head.root.hex()[:16]}…,"
                f" chain has log {onchain.log_id} size {onchain.tree_size}",
            )
        )
        ok = False
    claim = ev.anchor
    if claim is not None:
        if claim.index != onchain.index or claim.timestamp != onchain.timestamp:
            add(
                Finding(
                    "anchor_mismatch",
                    None,
                    f"expected anchor #{onchain.index} at {onchain.timestamp}, "
                    f"bundle says #{claim.index} at {claim.timestamp}",
                )
            )
        if claim.tx_hash is not None:
            tx = anchors.tx_of(head.root)
            if tx is not None and tx.lower() != claim.tx_hash.lower():
                add(
                    Finding(
                        "anchor_mismatch",
                        None,
                        f"expected anchor tx {tx}, bundle says {claim.tx_hash}",
                    )
                )
            if tx is not None and tx != claim.tx_hash:
                # a different spelling of the same hash is still a change to the bundle
                add(Finding("anchor_mismatch", None, f"anchor tx must be written {tx}"))
    return ok
