"""The dispute flow end to end through the OrderBook, on every chain backend (embedded,
served, anvil): escrow, evidence, oracle ruling, settlement, pull payments, the breaker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts import DEFAULT_ESCROW_PARAMS, ContractReverted, OrderState, RulingCode, Tier
from services._errors import (
    BadInput,
    EvidenceInvalid,
    UnknownAccount,
    UnknownOrder,
    UnknownReason,
    WrongState,
)
from services._orders import (
    DisputeReason,
    OrderBook,
    parse_account,
    parse_duration,
    parse_eth,
    parse_reason,
)
from tests.services._docs import BATCH, breach, bundle

ETH = 10**18
P = DEFAULT_ESCROW_PARAMS


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def parties(book: OrderBook) -> tuple[str, str]:
    a = book.chain.accounts
    return a[1], a[2]


def test_cold_chain_breach_refund_plus_penalty(book: OrderBook, tmp_path: Path) -> None:
    buyer, seller = parties(book)
    book.post_bond(seller, 5 * ETH)
    o = book.create_order(buyer, seller, ETH, 86_400, 3 * 86_400, batch=BATCH)
    assert o.state is OrderState.PAID and book.bond(seller)["locked"] == 3 * ETH
    book.ship(o.order_id)
    st = book.open_dispute(
        o.order_id, DisputeReason.QUALITY, [write(tmp_path, "verdict.json", breach())]
    )
    assert st["state"] == "disputed" and st["evidence"][0]["kind"] == "provenance_verdict"

    d = book.rule(o.order_id)
    assert d.code is RulingCode.QUALITY_FAILURE and not d.needs_human
    st = book.status(o.order_id)
    assert st["ruling"] == "quality_failure" and not st["paid"]
    assert st["payouts"] == [{"to": buyer, "party": "buyer", "amount": 2 * ETH}]
    # the on-chain Ruling event commits to the decision, which lists the evidence hashes
    logs = list(book.escrow.contract.events.Ruling().get_logs(from_block=0))
    assert bytes(logs[-1]["args"]["evidence_hash"]) == d.commitment()
    assert st["decision"]["commitment"] == "0x" + d.commitment().hex()
    assert st["decision"]["evidence"] == [st["evidence"][0]["sha256"]]
    # anyone with the files re-derives the ruling and finds the chain's commitment
    check = book.recheck(o.order_id)
    assert check["ok"] and check["on_chain"] == "0x" + d.commitment().hex()
    # evidence filed later is not part of the committed decision
    book.add_evidence(o.order_id, [write(tmp_path, "late.json", {"note": "more"})])
    assert book.recheck(o.order_id)["ok"]

    with pytest.raises(ContractReverted, match="appeal window open"):
        book.settle(o.order_id)
    book.chain.advance_time(P.appeal_window + 1)
    st = book.settle(o.order_id)
    assert st["state"] == "settled" and st["paid"]
    assert book.escrow.credit(buyer) == 2 * ETH  # price back + 1x penalty from the bond
    assert book.bond(seller) == {
        "seller": seller,
        "total": 4 * ETH,
        "locked": 0,
        "free": 4 * ETH,
        "credit": 0,
    }
    before = book.chain.w3.eth.get_balance(buyer)  # type: ignore[arg-type]
    out = book.withdraw(buyer)
    assert out["amount"] == 2 * ETH
    gained = book.chain.w3.eth.get_balance(buyer) - before  # type: ignore[arg-type]
    assert 2 * ETH - 10**16 < gained <= 2 * ETH  # less gas
    assert book.escrow.balance() == 4 * ETH  # only the remaining bond
    with pytest.raises(WrongState):
        book.withdraw(buyer)


def test_unclear_case_queued_for_a_human_who_rules(book: OrderBook, tmp_path: Path) -> None:
    buyer, seller = parties(book)
    book.post_bond(seller, 3 * ETH)
    o = book.create_order(buyer, seller, ETH, 86_400, 86_400)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 mouldy berries")
    book.open_dispute(o.order_id, DisputeReason.QUALITY, [photo])
    d = book.rule(o.order_id)
    assert d.needs_human and d.code is None
    st = book.status(o.order_id)
    assert st["state"] == "disputed" and st["dispute"]["status"] == "queued"
    rule_by = st["dispute"]["rule_by"]
    assert st["dispute"]["human_deadline"] < rule_by  # inside the contract's ruling window

    d = book.rule(o.order_id, RulingCode.NO_FAULT, arbiter=book.chain.accounts[0])
    assert d.code is RulingCode.NO_FAULT and d.reasons[0].rule == "arbiter"
    assert book.recheck(o.order_id)["ok"]
    book.chain.advance_time(P.appeal_window + 1)
    st = book.settle(o.order_id)
    assert st["payouts"] == [{"to": seller, "party": "seller", "amount": ETH}]
    assert book.escrow.credit(seller) == ETH
    with pytest.raises(WrongState):
        book.rule(o.order_id)


def test_late_delivery_from_the_receive_event(embedded_book: OrderBook, tmp_path: Path) -> None:
    book = embedded_book
    buyer, seller = parties(book)
    book.post_bond(seller, 3 * ETH)
    o = book.create_order(buyer, seller, ETH, 86_400, 86_400, batch=BATCH)
    book.ship(o.order_id)
    late = bundle(received_at=o.deliver_by + 2 * 86_400)
    book.deliver(o.order_id)
    book.open_dispute(o.order_id, DisputeReason.LATE, [write(tmp_path, "bundle.json", late)])
    assert book.rule(o.order_id).code is RulingCode.LATE_DELIVERY
    book.chain.advance_time(P.appeal_window + 1)
    st = book.settle(o.order_id)
    assert {p["party"]: p["amount"] for p in st["payouts"]} == {
        "buyer": ETH // 5,
        "seller": ETH - ETH // 5,
    }
    # the QC inspection in the bundle counted towards the seller's QC pass rate
    kinds = {a.kind.value for a in book.activity(seller)}
    assert {"order", "complaint", "fault", "unfulfilled", "qc_pass"} <= kinds


def test_complaint_rate_trips_the_breaker(embedded_book: OrderBook) -> None:
    book = embedded_book
    buyer, seller = parties(book)
    book.post_bond(seller, 100 * ETH)
    ids = [book.create_order(buyer, seller, ETH // 10, 86_400, 86_400).order_id for _ in range(20)]
    for oid in ids[:2]:
        book.open_dispute(oid, DisputeReason.QUALITY)
    assert book.escrow.tier(seller) is Tier.NORMAL  # 2 complaints: below the sample minimum
    book.open_dispute(ids[2], DisputeReason.QUALITY)  # 3/20 = 15% > 10%
    assert book.escrow.tier(seller) is Tier.SUSPENDED
    with pytest.raises(ContractReverted, match="seller suspended"):
        book.create_order(buyer, seller, ETH // 10, 86_400, 86_400)
    score = book.score(seller)
    assert score["tier"] == "suspended" and score["tier_on_chain"] == "suspended"
    assert score["window"] == {
        "seconds": 30 * 86_400,
        "orders": 20,
        "complaints": 3,
        "complaint_rate": 0.15,
        "flagged_broadcasts": 0,  # issue 8: broadcasts flagged by the negative list
    }
    assert score["score"] < 90
    # the tier change on chain carries the hash of a recorded score computation
    logs = list(book.escrow.contract.events.TierChanged().get_logs(from_block=0))
    committed = "0x" + bytes(logs[-1]["args"]["evidence_hash"]).hex()
    hist = book.store.engine.connect()
    try:
        from sqlalchemy import select

        from services._store import SCORES

        assert committed in {r.commitment for r in hist.execute(select(SCORES)).all()}
    finally:
        hist.close()


def test_reconcile_rebuilds_the_book_from_the_chain(embedded_book: OrderBook) -> None:
    book = embedded_book
    buyer, seller = parties(book)
    book.post_bond(seller, 3 * ETH)
    o = book.create_order(buyer, seller, ETH, 86_400, 86_400)
    book.ship(o.order_id)
    book.escrow.confirm(o.order_id, buyer)  # behind the book's back
    # an order the book never saw
    book.escrow.open_order(buyer, seller, ETH // 2, 86_400, 86_400)
    report = book.reconcile()
    assert report["orders"] == 2 and report["imported"] == 1 and report["updated"] == 1
    assert book.order(o.order_id).state is OrderState.RELEASED
    kinds = sorted(a.kind.value for a in book.activity(seller))
    assert kinds == ["fulfilled", "order", "order"]
    again = book.reconcile()  # idempotent
    assert again["imported"] == again["updated"] == 0
    assert len(book.activity(seller)) == 3


def test_recheck_detects_a_decision_that_does_not_follow(
    embedded_book: OrderBook, tmp_path: Path
) -> None:
    book = embedded_book
    buyer, seller = parties(book)
    book.post_bond(seller, 6 * ETH)
    o = book.create_order(buyer, seller, ETH, 86_400, 86_400, batch=BATCH)
    book.open_dispute(o.order_id, DisputeReason.QUALITY, [write(tmp_path, "v.json", breach())])
    book.rule(o.order_id)
    with pytest.raises(WrongState):
        book.recheck(book.create_order(buyer, seller, ETH, 86_400, 86_400).order_id)
    # the book's context is rewritten: the evidence no longer concerns the order's batch
    from services._store import ORDERS

    with book.store.begin() as conn:
        conn.execute(ORDERS.update().where(ORDERS.c.order_id == o.order_id).values(batch="x"))
    check = book.recheck(o.order_id)
    assert not check["ok"] and check["recomputed"] != check["on_chain"]


def test_changed_evidence_file_is_refused(embedded_book: OrderBook, tmp_path: Path) -> None:
    book = embedded_book
    buyer, seller = parties(book)
    book.post_bond(seller, 3 * ETH)
    o = book.create_order(buyer, seller, ETH, 86_400, 86_400)
    book.open_dispute(o.order_id, DisputeReason.QUALITY, [write(tmp_path, "v.json", breach())])
    kept = next((tmp_path / "home" / "evidence").iterdir())
    kept.write_text(json.dumps(breach() | {"ok": True, "findings": []}))
    with pytest.raises(EvidenceInvalid, match="changed"):
        book.rule(o.order_id)


def test_bad_input_is_typed(embedded_book: OrderBook) -> None:
    book = embedded_book
    with pytest.raises(UnknownOrder):
        book.order(99)
    with pytest.raises(UnknownAccount):
        parse_account(book.chain, "999")
    with pytest.raises(UnknownAccount):
        parse_account(book.chain, "alice")
    assert parse_account(book.chain, book.chain.accounts[3].lower()) == book.chain.accounts[3]
    assert parse_eth("0.25") == ETH // 4
    for bad in ("-1", "0", "abc", "1e-30", "nan"):
        with pytest.raises(BadInput):
            parse_eth(bad)
    assert parse_duration("36h") == 36 * 3600 and parse_duration("90") == 90
    with pytest.raises(BadInput):
        parse_duration("soon")
    assert parse_reason("Late") is DisputeReason.LATE and parse_reason("2") is DisputeReason.QUALITY
    with pytest.raises(UnknownReason) as exc:
        parse_reason("vibes")
    assert exc.value.code == "unknown_reason"


def test_timeouts_and_appeal(embedded_book: OrderBook, tmp_path: Path) -> None:
    """Every state has a way out: unshipped refund, silent-buyer release, default ruling;
    an appeal's new ruling replaces the old one in the seller's record."""
    book = embedded_book
    buyer, seller = parties(book)
    book.post_bond(seller, 20 * ETH)
    unshipped = book.create_order(buyer, seller, ETH, 86_400, 86_400).order_id
    silent = book.create_order(buyer, seller, ETH, 86_400, 86_400).order_id
    book.ship(silent)
    book.deliver(silent)
    unruled = book.create_order(buyer, seller, ETH, 86_400, 86_400).order_id
    book.open_dispute(unruled, DisputeReason.OTHER)
    appealed = book.create_order(buyer, seller, ETH, 86_400, 86_400).order_id
    book.open_dispute(appealed, DisputeReason.QUALITY, [write(tmp_path, "v.json", breach())])
    assert book.rule(appealed).code is RulingCode.QUALITY_FAILURE
    st = book.appeal(appealed, seller)
    assert st["state"] == "disputed" and st["dispute"]["status"] == "open"
    assert book.rule(appealed, RulingCode.NO_FAULT).code is RulingCode.NO_FAULT
    kinds = [a.kind.value for a in book.activity(seller)]
    assert "cleared" in kinds and "fault" not in kinds  # replaced, not both

    book.chain.advance_time(P.confirm_window + 2 * 86_400)
    assert book.refund_unshipped(unshipped).state is OrderState.REFUNDED
    assert book.release_expired(silent).state is OrderState.RELEASED
    st = book.default_rule(unruled)
    assert st["ruling"] == "full_refund"
    assert book.escrow.credit(buyer) == ETH and book.escrow.credit(seller) == ETH


def test_restricted_tier_caps_orders_and_recovers(embedded_book: OrderBook) -> None:
    book = embedded_book
    a = book.chain.accounts
    buyer, seller = a[1], a[3]
    book.post_bond(seller, 100 * ETH)
    small = P.restricted_cap // 2
    ids = [book.create_order(buyer, seller, small, 86_400, 86_400).order_id for _ in range(40)]
    for oid in ids[:3]:
        book.open_dispute(oid, DisputeReason.QUALITY)  # 3/40 = 7.5%: restricted
    assert book.escrow.tier(seller) is Tier.RESTRICTED
    with pytest.raises(ContractReverted, match="over restricted cap"):
        book.create_order(buyer, seller, P.restricted_cap + 1, 86_400, 86_400)
    book.create_order(buyer, seller, small, 86_400, 86_400)  # under the cap: accepted
    # a week later the rate is unchanged: hysteresis keeps the tier
    book.chain.advance_time(7 * 86_400 + 1)
    assert book.score(seller)["tier_on_chain"] == "restricted"
    # the window empties after 30 days: one step down, written on chain
    book.chain.advance_time(31 * 86_400)
    assert book.score(seller)["tier_on_chain"] == "warn"
