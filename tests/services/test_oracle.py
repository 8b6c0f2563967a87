"""The oracle's rules table: each rule fires on its evidence (positive) and not on near misses
(negative); unclear cases go to a human with a deadline; rulings commit to their evidence."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from contracts import RulingCode
from services._evidence import canonical_json
from services._oracle import (
    HUMAN_MARGIN_S,
    LATE_GRACE_S,
    RULES,
    Decision,
    OrderFacts,
    decide,
    human_decision,
    receipt_in,
)
from tests.services._docs import (
    BATCH,
    ORIGIN,
    QC,
    SHIP,
    breach,
    bundle,
    claims,
    clip,
    doc,
    iso,
    verdict,
)

DELIVER_BY = 1_000_000
OPENED = DELIVER_BY + 86_400
RULE_BY = OPENED + 3 * 86_400
ORDER = OrderFacts(7, "0xSeller", DELIVER_BY, OPENED, RULE_BY, batch=BATCH, streamer="alice")


def rules_of(d: Decision) -> set[str]:
    return {r.rule for r in d.reasons}


def assert_human(d: Decision) -> None:
    assert d.code is None and d.needs_human
    assert d.human_deadline == RULE_BY - HUMAN_MARGIN_S
    assert d.notes


# -- late delivery ------------------------------------------------------------------------------


def test_late_delivery_fires_past_deliver_by_plus_grace() -> None:
    d = decide(ORDER, [doc(bundle(received_at=DELIVER_BY + LATE_GRACE_S + 7200))])
    assert d.code is RulingCode.LATE_DELIVERY and not d.needs_human
    assert rules_of(d) == {"late_delivery"}


@pytest.mark.parametrize("delta", [-86_400, 0, LATE_GRACE_S])
def test_late_delivery_not_on_time_or_within_grace(delta: int) -> None:
    assert_human(decide(ORDER, [doc(bundle(received_at=DELIVER_BY + delta))]))


def test_no_receive_event_is_not_late() -> None:
    d = decide(
        ORDER,
        [doc(bundle(received_at=DELIVER_BY + 86_400, steps=("origin", "pack", "qc", "ship")))],
    )
    assert_human(d)


def _receipts(*receipts: tuple[str, int, str | None]) -> dict[str, object]:
    """A bundle whose receive events are ``(hash id, time, location)``."""
    b = bundle(received_at=DELIVER_BY, steps=("origin", "pack", "qc", "ship"))
    for hid, at, where in receipts:
        body: dict[str, object] = {
            "type": "ObjectEvent",
            "eventTime": iso(at),
            "eventTimeZoneOffset": "+08:00",
            "bizStep": "urn:epcglobal:cbv:bizstep:receiving",
        }
        if where:
            body["bizLocation"] = {"id": where}
        b["events"].append({"event": body, "statement": {"event": hid}})  # type: ignore[attr-defined]
    return b


HOME, SHOP = "urn:epc:id:sgln:0614141.00077.0", "urn:epc:id:sgln:0614141.00009.0"
PAID_AT = DELIVER_BY - 3 * 86_400


def test_delivery_receipt_is_this_orders_receive_event() -> None:
    """At the destination, not before payment, intact; the earliest such event."""
    order = replace(ORDER, opened_at=PAID_AT, destination=HOME)
    upstream = ("ni:///sha-256;a1?ver=CBV2.0", PAID_AT - 86_400, HOME)  # before payment
    elsewhere = ("ni:///sha-256;a2?ver=CBV2.0", PAID_AT + 3600, SHOP)  # another place
    forged = ("ni:///sha-256;a3?ver=CBV2.0", PAID_AT + 7200, HOME)
    real = ("ni:///sha-256;a4?ver=CBV2.0", DELIVER_BY + 5 * 3600, HOME)
    again = ("ni:///sha-256;a5?ver=CBV2.0", DELIVER_BY + 9 * 3600, HOME)
    evidence = [
        doc(_receipts(upstream, elsewhere, forged, again, real)),
        doc(verdict(("signature_invalid", forged[0], "bad signature"))),
    ]
    got = receipt_in(order, evidence)
    assert got is not None and (got.hash_id, got.time, got.location) == real
    d = decide(order, evidence)
    assert d.code is RulingCode.LATE_DELIVERY and "5.0 h late" in d.reasons[0].detail
    assert d.reasons[0].evidence == tuple(x.sha256 for x in evidence)
    # the forged on-time receipt counts once its record is intact (no verdict against it)
    assert receipt_in(order, evidence[:1]) is not None
    assert receipt_in(order, evidence[:1]).hash_id == forged[0]  # type: ignore[union-attr]
    # without a destination any receive event after payment delivers
    anywhere = receipt_in(replace(order, destination=None), evidence)
    assert anywhere is not None and anywhere.hash_id == elsewhere[0]
    # nothing at the destination: no receipt, and no late-delivery ruling
    assert receipt_in(replace(order, destination="urn:x:none"), evidence) is None
    assert decide(replace(order, destination="urn:x:none"), evidence).needs_human


# -- cold chain -------------------------------------------------------------------------------


def test_cold_chain_breach_is_quality_failure() -> None:
    d = decide(ORDER, [doc(breach())])
    assert d.code is RulingCode.QUALITY_FAILURE
    assert rules_of(d) == {"cold_chain_breach"}


def test_clean_verdict_goes_to_a_human() -> None:
    assert_human(decide(ORDER, [doc(verdict())]))


def test_breach_on_a_forged_record_goes_to_a_human() -> None:
    v = verdict(
        ("cold_chain_breach", SHIP, "12 °C"),
        ("signature_invalid", SHIP, "signature by carrier does not verify"),
    )
    d = decide(ORDER, [doc(v), doc(bundle())])
    assert_human(d)


# -- QC ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "disp", ["non_conformant", "urn:epcglobal:cbv:disp:non_conformant", "damaged", "expired"]
)
def test_failed_qc_is_quality_failure(disp: str) -> None:
    d = decide(ORDER, [doc(bundle(received_at=DELIVER_BY - 10, qc_disposition=disp))])
    assert d.code is RulingCode.QUALITY_FAILURE
    assert rules_of(d) == {"qc_failed"}
    assert QC in d.reasons[0].detail


def test_passed_qc_does_not_fire() -> None:
    assert_human(decide(ORDER, [doc(bundle(received_at=DELIVER_BY - 10))]))


# -- origin -----------------------------------------------------------------------------------


def test_missing_origin_is_counterfeit() -> None:
    v = verdict(("missing_step", None, "no origin step (commissioning) in the batch's history"))
    d = decide(ORDER, [doc(v)])
    assert d.code is RulingCode.COUNTERFEIT
    assert rules_of(d) == {"origin_missing"}


def test_missing_qc_step_is_not_counterfeit() -> None:
    v = verdict(("missing_step", None, "no qc step (inspecting / sampling) in the history"))
    assert_human(decide(ORDER, [doc(v)]))


@pytest.mark.parametrize(
    "code",
    ["signature_invalid", "unknown_actor", "role_not_allowed", "chain_broken", "hash_mismatch"],
)
def test_forged_origin_is_counterfeit(code: str) -> None:
    d = decide(ORDER, [doc(verdict((code, ORIGIN, "the farm record"))), doc(bundle())])
    assert d.code is RulingCode.COUNTERFEIT
    assert rules_of(d) == {"origin_forged"}
    assert len(d.reasons[0].evidence) == 2  # the verdict and the bundle placing the event


def test_root_not_on_chain_for_the_whole_batch_is_counterfeit() -> None:
    d = decide(ORDER, [doc(verdict(("root_not_on_chain", None, "root not anchored")))])
    assert d.code is RulingCode.COUNTERFEIT


def test_forged_non_origin_event_goes_to_a_human() -> None:
    v = verdict(("signature_invalid", SHIP, "the carrier record"))
    assert_human(decide(ORDER, [doc(v), doc(bundle())]))


def test_forged_event_without_a_bundle_to_place_it_goes_to_a_human() -> None:
    assert_human(decide(ORDER, [doc(verdict(("signature_invalid", ORIGIN, "x")))]))


# -- broadcast claims -------------------------------------------------------------------------


def test_origin_claim_disproved_is_misleading_claim() -> None:
    ev = [
        doc(bundle(received_at=DELIVER_BY - 10, country="TH")),
        doc(clip()),
        doc(claims(("origin", 12.0, "CN"))),
    ]
    d = decide(ORDER, ev)
    assert d.code is RulingCode.MISLEADING_CLAIM
    assert rules_of(d) == {"claim_disproved"}
    assert len(d.reasons[0].evidence) == 3  # clip, claims, bundle


def test_cold_chain_claim_listed_alongside_the_breach() -> None:
    d = decide(ORDER, [doc(breach()), doc(clip()), doc(claims(("cold_chain", 5.0, None)))])
    assert d.code is RulingCode.QUALITY_FAILURE  # the more severe rule wins
    assert rules_of(d) == {"cold_chain_breach", "claim_disproved"}


@pytest.mark.parametrize(
    ("clip_doc", "at"),
    [
        (clip(verdict_="forged"), 12.0),  # the mark is not the streamer's
        (clip(verdict_="altered"), 12.0),  # content changed
        (clip(streamer="bob"), 12.0),  # another streamer
        (clip(status="foreign"), 12.0),  # spliced-in material
        (clip(), 45.0),  # outside the clip
    ],
)
def test_claims_not_attributable_go_to_a_human(clip_doc: dict[str, object], at: float) -> None:
    ev = [doc(bundle(received_at=DELIVER_BY - 10, country="TH")), doc(clip_doc)]
    ev.append(doc(claims(("origin", at, "CN"))))
    assert_human(decide(ORDER, ev))


def test_true_claim_does_not_fire() -> None:
    ev = [
        doc(bundle(received_at=DELIVER_BY - 10, country="CN")),
        doc(clip()),
        doc(claims(("origin", 12.0, "CN"))),
    ]
    assert_human(decide(ORDER, ev))


def test_claims_without_a_clip_go_to_a_human() -> None:
    ev = [doc(bundle(received_at=DELIVER_BY - 10, country="TH")), doc(claims(("origin", 1, "CN")))]
    assert_human(decide(ORDER, ev))


# -- combination, scope, commitments ------------------------------------------------------------


def test_most_severe_rule_wins_and_all_are_listed() -> None:
    late = bundle(received_at=DELIVER_BY + 2 * 86_400)
    v = verdict(
        ("missing_step", None, "no origin step (commissioning)"),
        ("cold_chain_breach", SHIP, "9 °C"),
    )
    d = decide(ORDER, [doc(late), doc(v)])
    assert d.code is RulingCode.COUNTERFEIT
    assert rules_of(d) == {"late_delivery", "origin_missing", "cold_chain_breach"}


def test_evidence_for_another_batch_is_ignored() -> None:
    d = decide(ORDER, [doc(breach() | {"batch": "urn:epc:class:lgtin:0614141.1.OTHER"})])
    assert_human(d)
    assert "not" in d.notes[0]


def test_no_evidence_goes_to_a_human() -> None:
    d = decide(ORDER, [])
    assert_human(d)
    assert d.notes == ("no evidence submitted",)


def test_human_deadline_never_before_the_dispute() -> None:
    short = OrderFacts(1, "0xS", 0, OPENED, OPENED + 60)
    assert decide(short, []).human_deadline == OPENED


def test_commitment_is_sha256_of_the_decision_and_order_independent() -> None:
    a, b = doc(breach()), doc(bundle(received_at=DELIVER_BY - 10))
    d1, d2 = decide(ORDER, [a, b]), decide(ORDER, [b, a])
    assert d1.commitment() == d2.commitment()
    assert d1.commitment() == hashlib.sha256(canonical_json(d1.to_json())).digest()
    assert d1.to_json()["evidence"] == sorted([a.sha256, b.sha256])
    # re-checkable from the JSON alone
    again = json.loads(json.dumps(d1.to_json()))
    assert hashlib.sha256(canonical_json(again)).digest() == d1.commitment()
    # other evidence -> another commitment
    assert decide(ORDER, [a]).commitment() != d1.commitment()


def test_human_decision_records_what_the_oracle_thought() -> None:
    d = human_decision(ORDER, [doc(breach())], RulingCode.NO_FAULT, "0xArbiter")
    assert d.code is RulingCode.NO_FAULT and not d.needs_human
    assert d.reasons[0].rule == "arbiter"
    assert "oracle would have ruled quality_failure" in d.notes


def test_rules_table_is_complete() -> None:
    assert set(RULES) == {
        "late_delivery",
        "cold_chain_breach",
        "qc_failed",
        "origin_missing",
        "origin_forged",
        "claim_disproved",
        "persona_contradicted",
    }
