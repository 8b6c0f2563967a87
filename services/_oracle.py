"""The dispute oracle: evidence in, a ruling (or a referral to a human arbiter) out.

Pure logic: no chain, no database. :func:`decide` applies the parametric rules below to the
evidence documents of one dispute and returns a frozen :class:`Decision`. Clear cases get a
ruling code; anything the rules do not cover is queued for a human arbiter with a deadline
inside the contract's ruling window (after it, ``default_rule`` pays the default ruling).

Rules (docs/disputes.md has the same table):

=================== ========================================================= ===============
rule                fires when                                                ruling
=================== ========================================================= ===============
late_delivery       the order's delivery (:func:`delivery_receipt`: the first     LATE_DELIVERY
                    intact receive event of the batch at the order's
                    destination, not before the order was paid) is after its
                    ``deliver_by`` (+ grace)
cold_chain_breach   provenance finding ``cold_chain_breach`` on an event      QUALITY_FAILURE
                    whose own integrity checks passed
qc_failed           a QC event (inspecting/sampling) with a failing           QUALITY_FAILURE
                    disposition (non_conformant, damaged, expired, recalled)
origin_missing      provenance finding ``missing_step`` for the origin stage  COUNTERFEIT
origin_forged       an integrity finding (signature_invalid, unknown_actor,   COUNTERFEIT
                    role_not_allowed, key_not_valid_at_time, hash_mismatch,
                    chain_broken, root_not_on_chain) on an origin event, or a
                    batch-wide root_not_on_chain
claim_disproved     an attributable clip (authentic/edited, the seller's      MISLEADING_CLAIM
                    streamer) carries a claim that the provenance disproves
persona_            a persona check (issue 8) of the order's batch and        MISLEADING_CLAIM
contradicted        streamer finds a registered claim contradicted
=================== ========================================================= ===============

When several rules fire, the most severe wins (the order of :data:`SEVERITY`: what the
default payout table gives the buyer) and every fired rule is listed in ``reasons``.

A ruling's on-chain ``evidence_hash`` is :meth:`Decision.commitment`: SHA-256 over the
canonical JSON of the decision, which lists the sorted SHA-256 hashes of every evidence
file considered. Anyone with the files re-runs :func:`decide` and compares.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from contracts import RulingCode
from services._evidence import (
    FAILING_QC_DISPOSITIONS,
    BundleEvent,
    ClipFacts,
    EvidenceDoc,
    ProvenanceFacts,
    canonical_json,
)

__all__ = [
    "CLAIM_TOPICS",
    "HUMAN_MARGIN_S",
    "INTEGRITY_CODES",
    "LATE_GRACE_S",
    "ORACLE_VERSION",
    "RULES",
    "SEVERITY",
    "Decision",
    "OrderFacts",
    "Reason",
    "decide",
    "delivery_receipt",
    "human_decision",
    "receipt_in",
]

ORACLE_VERSION = "livetrust.oracle/1"
# Carriers scan on arrival, not to the second; an hour of slack keeps a scan at the door from
# turning an on-time delivery into a late one (Chinese e-commerce SLAs are stated in days).
LATE_GRACE_S = 3600
# The human arbiter's deadline ends this long before the contract's ruling window, so their
# ruling is mined before anyone may call default_rule.
HUMAN_MARGIN_S = 6 * 3600

# Findings that say a record is not what its signer wrote (or has no valid signer/anchor).
INTEGRITY_CODES = frozenset(
    {
        "signature_invalid",
        "unknown_actor",
        "role_not_allowed",
        "key_not_valid_at_time",
        "hash_mismatch",
        "chain_broken",
        "root_not_on_chain",
    }
)
# Ordered by what the default payout table gives the buyer (refund + penalty): 1.0+3x,
# 1.0+1x, 0.5+1x, 0.2.
SEVERITY: tuple[RulingCode, ...] = (
    RulingCode.COUNTERFEIT,
    RulingCode.QUALITY_FAILURE,
    RulingCode.MISLEADING_CLAIM,
    RulingCode.LATE_DELIVERY,
)
RULES: dict[str, tuple[RulingCode, str]] = {
    "late_delivery": (RulingCode.LATE_DELIVERY, "received after the promised delivery time"),
    "cold_chain_breach": (RulingCode.QUALITY_FAILURE, "temperature outside the product range"),
    "qc_failed": (RulingCode.QUALITY_FAILURE, "a QC inspection failed"),
    "origin_missing": (RulingCode.COUNTERFEIT, "no origin step in the provenance"),
    "origin_forged": (RulingCode.COUNTERFEIT, "the origin record fails its integrity checks"),
    "claim_disproved": (RulingCode.MISLEADING_CLAIM, "a broadcast claim the provenance disproves"),
    "persona_contradicted": (
        RulingCode.MISLEADING_CLAIM,
        "a registered persona claim the provenance contradicts",
    ),
}
# Claim topics the oracle can check against provenance, and what disproves each.
CLAIM_TOPICS: dict[str, str] = {
    "cold_chain": "disproved by a cold_chain_breach finding",
    "quality": "disproved by a failed QC event",
    "origin": "disproved by a missing or forged origin, or an origin country other than value",
}
_ATTRIBUTABLE_CLIPS = frozenset({"authentic", "edited"})  # the streamer really said it


@dataclass(frozen=True)
class OrderFacts:
    """What the oracle needs to know about the order (from the chain and the order book)."""

    order_id: int
    seller: str
    deliver_by: int
    disputed_at: int
    rule_by: int  # the contract's ruling deadline (disputed_at + rule window)
    batch: str | None = None
    streamer: str | None = None
    # when the buyer paid, and the EPCIS location the goods go to (an SGLN, say): a receive
    # event elsewhere or earlier is another leg of the batch's journey, not this delivery
    opened_at: int | None = None
    destination: str | None = None


@dataclass(frozen=True)
class Reason:
    rule: str
    code: RulingCode
    evidence: tuple[str, ...]  # sha256 of the documents this reason relied on
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "code": self.code.label,
            "evidence": list(self.evidence),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Decision:
    order_id: int
    code: RulingCode | None
    reasons: tuple[Reason, ...]
    evidence_hashes: tuple[str, ...]  # sorted: every document considered
    needs_human: bool
    human_deadline: int | None
    notes: tuple[str, ...] = field(default=())  # why a human is needed / what was ignored

    def to_json(self) -> dict[str, Any]:
        return {
            "version": ORACLE_VERSION,
            "order": self.order_id,
            "code": self.code.label if self.code else None,
            "ruling": int(self.code) if self.code else None,
            "needs_human": self.needs_human,
            "human_deadline": self.human_deadline,
            "reasons": [r.to_json() for r in self.reasons],
            "notes": list(self.notes),
            "evidence": list(self.evidence_hashes),
        }

    def commitment(self) -> bytes:
        """The 32 bytes written on chain with the ruling (see module docstring)."""
        return hashlib.sha256(canonical_json(self.to_json())).digest()


def _human_deadline(order: OrderFacts) -> int:
    return max(order.disputed_at, order.rule_by - HUMAN_MARGIN_S)


def decide(order: OrderFacts, evidence: Sequence[EvidenceDoc]) -> Decision:
    """Apply the rules table to ``evidence`` (module docstring)."""
    hashes = tuple(sorted({d.sha256 for d in evidence}))
    reasons: list[Reason] = []
    notes: list[str] = []

    # (1) provenance: verdicts and bundles for the order's batch
    prov = _provenance(order, evidence, notes)
    events = {e.hash_id: e for _, f in prov for e in f.events}
    origin_ids = {h for h, e in events.items() if e.origin_country is not None} | {
        h for _, f in prov for h in f.origin_events
    }
    bundles = tuple(d.sha256 for d, f in prov if f.events)
    tainted = _tainted(prov)

    # (2) late delivery: the order's receive event against deliver_by
    receipt = delivery_receipt(order, [f for _, f in prov], tainted)
    if receipt is not None and receipt.time is not None:
        at = receipt.time
        if at > order.deliver_by + LATE_GRACE_S:
            # the bundles that hold the event, and the verdicts that vouch for it
            used = tuple(d.sha256 for d, f in prov if receipt in f.events or f.has_verdict)
            reasons.append(
                Reason(
                    "late_delivery",
                    RulingCode.LATE_DELIVERY,
                    used,
                    f"received at {at} (event {receipt.hash_id}), promised by "
                    f"{order.deliver_by} ({(at - order.deliver_by) / 3600:.1f} h late)",
                )
            )

    # (3) findings of the verdicts
    for d, f in prov:
        for x in f.findings:
            if x.code == "cold_chain_breach":
                if x.event and x.event in tainted:
                    notes.append(f"cold_chain_breach on {x.event} whose record is not intact")
                    continue
                reasons.append(
                    Reason("cold_chain_breach", RulingCode.QUALITY_FAILURE, (d.sha256,), x.detail)
                )
            elif x.code == "missing_step" and x.detail.lower().startswith("no origin"):
                reasons.append(
                    Reason("origin_missing", RulingCode.COUNTERFEIT, (d.sha256,), x.detail)
                )
            elif x.code in INTEGRITY_CODES:
                batch_wide = x.event is None and x.code == "root_not_on_chain"
                if batch_wide or (x.event is not None and x.event in origin_ids):
                    reasons.append(
                        Reason(
                            "origin_forged",
                            RulingCode.COUNTERFEIT,
                            (d.sha256, *bundles),
                            f"{x.code}: {x.detail}",
                        )
                    )
                elif x.event is None or not events:
                    notes.append(f"{x.code} on an event the evidence does not place: human")
                else:
                    notes.append(f"{x.code} on a non-origin event {x.event}: human")
            else:
                notes.append(f"finding {x.code} has no parametric rule")

    # (4) QC dispositions in bundles
    for d, f in prov:
        for e in f.qc_events:
            if e.disposition in FAILING_QC_DISPOSITIONS and e.hash_id not in tainted:
                reasons.append(
                    Reason(
                        "qc_failed",
                        RulingCode.QUALITY_FAILURE,
                        (d.sha256,),
                        f"QC event {e.hash_id} disposition {e.disposition}",
                    )
                )

    # (5) broadcast claims disproved by provenance; signed persona claims contradicted
    reasons.extend(_claims(order, evidence, reasons, prov, notes))
    reasons.extend(_persona(order, evidence, notes))

    # (6) the ruling: most severe fired rule, else a human
    fired = {r.code for r in reasons}
    code = next((c for c in SEVERITY if c in fired), None)
    if code is None:
        if not evidence:
            notes.append("no evidence submitted")
        elif not notes:
            notes.append("no parametric rule fired on the evidence")
        return Decision(
            order.order_id, None, (), hashes, True, _human_deadline(order), tuple(notes)
        )
    return Decision(order.order_id, code, _dedup(reasons), hashes, False, None, tuple(notes))


def _provenance(
    order: OrderFacts, evidence: Sequence[EvidenceDoc], notes: list[str]
) -> list[tuple[EvidenceDoc, ProvenanceFacts]]:
    """The verdicts and bundles among ``evidence`` that concern the order's batch."""
    prov: list[tuple[EvidenceDoc, ProvenanceFacts]] = []
    for d in evidence:
        facts = d.provenance()
        if facts is None:
            continue
        if order.batch and facts.batch and not _same_batch(facts.batch, order.batch):
            notes.append(f"{d.sha256}: provenance of batch {facts.batch}, not {order.batch}")
            continue
        prov.append((d, facts))
    return prov


def _tainted(prov: Sequence[tuple[EvidenceDoc, ProvenanceFacts]]) -> set[str]:
    """Events a verdict says are not what their signer wrote (or have no valid signer)."""
    return {x.event for _, f in prov for x in f.findings if x.code in INTEGRITY_CODES and x.event}


def receipt_in(order: OrderFacts, evidence: Sequence[EvidenceDoc]) -> BundleEvent | None:
    """:func:`delivery_receipt` from evidence documents (a verdict and a proof bundle)."""
    prov = _provenance(order, evidence, [])
    return delivery_receipt(order, [f for _, f in prov], _tainted(prov))


def delivery_receipt(
    order: OrderFacts, facts: Sequence[ProvenanceFacts], tainted: Set[str] = frozenset()
) -> BundleEvent | None:
    """The receive event that is this order's delivery, or None: the earliest receive event
    of the batch that (a) passed its own integrity checks (not in ``tainted``: signed by a
    registered actor whose role may receive, unaltered), (b) happened at the order's
    destination when the order names one, and (c) is not earlier than the payment (a
    receipt before the buyer paid is an upstream leg: the packer's or the shop's).

    The same function marks the order delivered on chain (``OrderBook.sync_deliveries``)
    and times the ``late_delivery`` rule, so both read the same event."""
    candidates = [
        e
        for f in facts
        for e in f.receive_events
        if e.hash_id not in tainted
        and (order.destination is None or e.location == order.destination)
        and (order.opened_at is None or (e.time is not None and e.time >= order.opened_at))
    ]
    return min(candidates, key=lambda e: (e.time or 0, e.hash_id), default=None)


def _same_batch(a: str, b: str) -> bool:
    """Batch ids compare in provenance's canonical form (an LGTIN URN and its GS1 Digital
    Link are the same lot)."""
    if a == b:
        return True
    try:
        from provenance import canonical_id

        return bool(canonical_id(a) == canonical_id(b))
    except Exception:  # not an identifier provenance understands: plain comparison
        return False


def _dedup(reasons: list[Reason]) -> tuple[Reason, ...]:
    seen: set[tuple[str, str]] = set()
    out = []
    for r in reasons:
        if (r.rule, r.detail) not in seen:
            seen.add((r.rule, r.detail))
            out.append(r)
    return tuple(out)


def _claims(
    order: OrderFacts,
    evidence: Sequence[EvidenceDoc],
    fired: list[Reason],
    prov: list[tuple[EvidenceDoc, ProvenanceFacts]],
    notes: list[str],
) -> list[Reason]:
    clips: list[tuple[EvidenceDoc, ClipFacts]] = [
        (d, c) for d in evidence if (c := d.clip()) is not None
    ]
    claim_docs = [d for d in evidence if d.claims()]
    if not claim_docs:
        return []
    if not clips:
        notes.append("claims without a clip verdict cannot be attributed: human")
        return []
    # what the provenance disproves, and which documents say so
    disproof: dict[str, tuple[str, ...]] = {}
    for r in fired:
        if r.rule == "cold_chain_breach":
            disproof["cold_chain"] = disproof.get("cold_chain", ()) + r.evidence
        elif r.rule == "qc_failed":
            disproof["quality"] = disproof.get("quality", ()) + r.evidence
        elif r.rule in ("origin_missing", "origin_forged"):
            disproof["origin"] = disproof.get("origin", ()) + r.evidence
    countries = {(d.sha256, f.origin_country) for d, f in prov if f.origin_country}
    out = []
    for clip_doc, clip in clips:
        if clip.verdict not in _ATTRIBUTABLE_CLIPS:
            notes.append(f"clip {clip_doc.sha256} is {clip.verdict}: claims not attributable")
            continue
        if order.streamer and clip.streamer and clip.streamer != order.streamer:
            notes.append(f"clip is by {clip.streamer}, the order's streamer is {order.streamer}")
            continue
        for doc in claim_docs:
            for claim in doc.claims():
                if not _said_on_air(clip, claim.clip_time):
                    notes.append(f"claim {claim.topic!r} not inside an original clip segment")
                    continue
                by = disproof.get(claim.topic, ())
                if claim.topic == "origin" and claim.value:
                    by += tuple(h for h, c in countries if c != claim.value.upper())
                if claim.topic not in CLAIM_TOPICS:
                    notes.append(f"claim topic {claim.topic!r} has no parametric check")
                elif by:
                    used = tuple(dict.fromkeys((clip_doc.sha256, doc.sha256, *by)))
                    out.append(
                        Reason(
                            "claim_disproved",
                            RulingCode.MISLEADING_CLAIM,
                            used,
                            f"said {claim.text or claim.topic!r} at {claim.clip_time}s; "
                            f"{CLAIM_TOPICS[claim.topic]}",
                        )
                    )
    return out


def _persona(order: OrderFacts, evidence: Sequence[EvidenceDoc], notes: list[str]) -> list[Reason]:
    """A persona claim is signed by the streamer: attributable without a clip."""
    out = []
    for d in evidence:
        facts = d.persona()
        if facts is None:
            continue
        if order.batch and facts.batch and not _same_batch(facts.batch, order.batch):
            notes.append(f"{d.sha256}: persona check of batch {facts.batch}, not {order.batch}")
            continue
        if order.streamer and facts.streamer != order.streamer:
            notes.append(f"persona check of {facts.streamer}, the order's is {order.streamer}")
            continue
        for f in facts.contradicted:
            out.append(
                Reason(
                    "persona_contradicted",
                    RulingCode.MISLEADING_CLAIM,
                    (d.sha256,),
                    f"persona claim {f.event!r}: {f.detail}",
                )
            )
    return out


def _said_on_air(clip: ClipFacts, t: float | None) -> bool:
    if t is None:
        return False
    return any(s <= t <= e and status == "original" for s, e, status in clip.segments)


def human_decision(
    order: OrderFacts, evidence: Sequence[EvidenceDoc], code: RulingCode, arbiter: str
) -> Decision:
    """A human arbiter's ruling, committed to the same evidence the oracle saw."""
    hashes = tuple(sorted({d.sha256 for d in evidence}))
    reason = Reason("arbiter", code, hashes, f"ruled by arbiter {arbiter}")
    auto = decide(order, evidence)
    notes = tuple(f"oracle: {n}" for n in auto.notes)
    if auto.code is not None:
        notes += (f"oracle would have ruled {auto.code.label}",)
    return Decision(order.order_id, code, (reason,), hashes, False, None, notes)
