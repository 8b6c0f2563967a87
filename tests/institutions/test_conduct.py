"""Conduct in the record: persona checks as oracle evidence, conduct weights in the score,
flagged broadcasts in the breaker window, screenings attached to broadcast manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import RulingCode, Tier
from provenance import Ledger, Store
from services._conduct import ScreeningStore
from services._credit import (
    CONDUCT_WEIGHT,
    MIN_WINDOW_ORDERS,
    Activity,
    ActivityKind,
    compute_score,
    tier_for,
    window_stats,
)
from services._evidence import EvidenceDoc, EvidenceKind
from services._oracle import OrderFacts, decide
from services._persona import check_persona, register_persona
from services._screening import screen_file
from tests.institutions.conftest import OTHER_FARM, STREAMER, STREAMER_KEY, record_batch

NOW = 1_800_000_000


def contradicted_check(ledger: Ledger) -> dict[str, Any]:
    from services._persona import PersonaStore

    batch = record_batch(ledger, "0B01", farm=OTHER_FARM)
    personas = PersonaStore(ledger.store)
    draft = {
        "display_name": "Lily",
        "claims": [{"id": "own", "type": "origin", "text": "my own farm"}],
    }
    register_persona(personas, STREAMER, draft, STREAMER_KEY, ledger.directory, now=100)
    return check_persona(personas, ledger, STREAMER, batch, ledger.directory).to_json()  # type: ignore[arg-type]


def order(batch: str, streamer: str = STREAMER) -> OrderFacts:
    return OrderFacts(1, "0xSeller", NOW + 86_400, NOW, NOW + 3 * 86_400, batch, streamer)


def test_persona_check_is_evidence_for_a_misleading_claim(ledger: Ledger) -> None:
    doc = contradicted_check(ledger)
    ev = EvidenceDoc.from_json(doc, "persona-check.json")
    assert ev.kind is EvidenceKind.PERSONA_CHECK  # not mistaken for a provenance verdict
    d = decide(order(doc["batch"]), [ev])
    assert d.code is RulingCode.MISLEADING_CLAIM and not d.needs_human
    assert [r.rule for r in d.reasons] == ["persona_contradicted"]
    assert d.reasons[0].evidence == (ev.sha256,)
    # another streamer's order, or another batch: not this seller's claim
    assert decide(order(doc["batch"], streamer="bob"), [ev]).needs_human
    other = decide(order("urn:epc:class:lgtin:0614141.307346.RZZZZA"), [ev])
    assert other.needs_human and any("persona check of batch" in n for n in other.notes)


def test_consistent_persona_rules_nothing(ledger: Ledger) -> None:
    doc = contradicted_check(ledger)
    doc = doc | {"ok": True, "findings": []}
    d = decide(order(doc["batch"]), [EvidenceDoc.from_json(doc)])
    assert d.needs_human and d.code is None


CONDUCT = (ActivityKind.PERSONA_FALSE, ActivityKind.SCRIPT_FLAGGED)
activities = st.lists(
    st.builds(
        Activity,
        st.sampled_from(list(ActivityKind)),
        st.integers(NOW - 100 * 86_400, NOW),
        st.floats(0.0, 1.0),
    ),
    max_size=40,
)


@settings(deadline=None, max_examples=200)
@given(activities, st.sampled_from(CONDUCT), st.integers(NOW - 60 * 86_400, NOW))
def test_conduct_never_raises_the_score(acts: list[Activity], kind: ActivityKind, t: int) -> None:
    before = compute_score(acts, NOW)[0]
    after = compute_score([*acts, Activity(kind, t, CONDUCT_WEIGHT[kind])], NOW)[0]
    assert after <= before + 1e-9


def test_conduct_weights_lower_the_score() -> None:
    base = [Activity(ActivityKind.ORDER, NOW - i) for i in range(20)]
    s0 = compute_score(base, NOW)[0]
    w = CONDUCT_WEIGHT
    s_persona = compute_score(
        [*base, Activity(ActivityKind.PERSONA_FALSE, NOW, w[ActivityKind.PERSONA_FALSE])], NOW
    )[0]
    s_script = compute_score(
        [*base, Activity(ActivityKind.SCRIPT_FLAGGED, NOW, w[ActivityKind.SCRIPT_FLAGGED])], NOW
    )[0]
    assert s_persona < s_script < s0  # a signed false claim weighs more than a flagged show


def test_flagged_broadcasts_move_the_tier_like_complaints() -> None:
    orders = [Activity(ActivityKind.ORDER, NOW - i) for i in range(MIN_WINDOW_ORDERS)]
    flagged = [Activity(ActivityKind.SCRIPT_FLAGGED, NOW - i, 0.25) for i in range(3)]
    complaints = [Activity(ActivityKind.COMPLAINT, NOW - i) for i in range(3)]
    by_flags = window_stats([*orders, *flagged], NOW)
    by_complaints = window_stats([*orders, *complaints], NOW)
    assert (by_flags.flagged, by_flags.complaints) == (3, 0)
    assert tier_for(by_flags) is tier_for(by_complaints) is Tier.SUSPENDED  # 3/20 = 15%
    assert tier_for(window_stats([*orders, *flagged[:2]], NOW)) is Tier.NORMAL  # < 3 counted
    persona = [Activity(ActivityKind.PERSONA_FALSE, NOW - i, 0.5) for i in range(5)]
    assert tier_for(window_stats([*orders, *persona], NOW)) is Tier.NORMAL  # score only


SRT = """1
00:00:05,000 --> 00:00:07,000
这个蜂蜜能降血糖，糖尿病人放心吃

2
00:00:09,000 --> 00:00:10,000
Welcome everyone
"""


def _manifest(store: Store) -> int:
    from tests.institutions.conftest import raw_public
    from watermark._fingerprint import FINGERPRINT_BYTES
    from watermark._manifest import ManifestStore, SignedManifest, build_manifest

    fps = [bytes([i]) * FINGERPRINT_BYTES for i in range(20)]
    m = build_manifest(STREAMER, raw_public(STREAMER_KEY), NOW, fps)
    return ManifestStore(store).record(SignedManifest.sign(m, STREAMER_KEY)).seq


def test_screening_attaches_to_the_broadcast(store: Store, tmp_path: Path) -> None:
    seq = _manifest(store)
    captions = tmp_path / "show.srt"
    captions.write_text(SRT, encoding="utf-8")
    report = screen_file(captions)
    screenings = ScreeningStore(store)
    first = screenings.attach(seq, report)
    assert first.new and first.flagged_high and first.streamer == STREAMER
    f = first.report["findings"][0]
    assert f["category"] == "health_claim" and f["broadcast_time"] == NOW + 5
    assert first.report["broadcast"]["digest"].startswith("sha256:")
    again = screenings.attach(seq, report)  # same captions, same broadcast: once
    assert not again.new and again.id == first.id
    assert screenings.for_streamer(STREAMER) == [
        {
            "manifest": seq,
            "flagged_high": True,
            "negative_list": report.negative_list,
            "findings": 1,
        }
    ]
    from watermark._manifest import ManifestNotFound

    with pytest.raises(ManifestNotFound):
        screenings.attach(seq + 99, report)
