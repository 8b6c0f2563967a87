"""The oracle marks delivery on chain from provenance receive events (``sync_deliveries``),
on every chain backend: a real batch recorded, signed and anchored; the carrier signs the
buyer's receipt at the order's destination; the late-delivery rule times the same event."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import DEFAULT_ESCROW_PARAMS, Chain, ContractReverted, OrderState, RulingCode
from services._disputes_demo import BUYER_PICKUP, record_batch, record_receipt
from services._errors import WrongState
from services._orders import DisputeReason, OrderBook
from services._provsource import LedgerSource
from services._store import DisputeStore

ETH = 10**18
DAY = 86_400
HOUR = 3600
P = DEFAULT_ESCROW_PARAMS


@pytest.fixture
def ledger_book(chain: Chain, tmp_path: Path) -> OrderBook:
    url = f"sqlite:///{tmp_path / 'livetrust.db'}"
    return OrderBook(chain, DisputeStore.open(url), tmp_path, LedgerSource(url, chain))


def _delivered_by(book: OrderBook, order_id: int) -> str:
    logs = book.escrow.contract.events.OrderDelivered().get_logs(from_block=0)
    return str(next(x["args"]["by"] for x in logs if x["args"]["order_id"] == order_id))


def test_on_time_and_late_receipts_mark_delivery(ledger_book: OrderBook) -> None:
    book, chain = ledger_book, ledger_book.chain
    url = str(book.store.engine.url)
    lot = record_batch(chain, url, "S1")
    buyer, seller = chain.accounts[1], chain.accounts[2]
    book.post_bond(seller, 10 * ETH)
    on_time = book.create_order(buyer, seller, ETH, DAY, 2 * DAY, lot, destination=BUYER_PICKUP)
    late = book.create_order(buyer, seller, ETH, DAY, 2 * DAY, lot, destination="urn:x:home")
    for o in (on_time, late):
        book.ship(o.order_id)

    # the batch's earlier receipts (the store's, before anyone paid) deliver nothing
    assert book.sync_deliveries() == {
        "checked": 2,
        "delivered": [],
        "waiting": [on_time.order_id, late.order_id],
    }

    # the carrier signs the first buyer's receipt a day before the promised time
    got = on_time.deliver_by - DAY
    chain.advance_time(got - chain.now() + 60)
    event = record_receipt(chain, url, lot, got)
    report = book.sync_deliveries()
    assert [d["id"] for d in report["delivered"]] == [on_time.order_id]
    d = report["delivered"][0]
    assert d["event"] == event and d["received_at"] == got and d["location"] == BUYER_PICKUP
    assert not d["late"] and d["late_by"] == 0 and report["waiting"] == [late.order_id]
    o = book.order(on_time.order_id)
    assert o.state is OrderState.DELIVERED and o.received_at == got and o.receipt_event == event
    assert _delivered_by(book, on_time.order_id) == chain.sender  # the oracle's account
    assert book.sync_deliveries()["checked"] == 1  # idempotent: only the late one is left
    # the on-time buyer disputes anyway: no parametric rule fires, a person decides
    book.open_dispute(on_time.order_id, DisputeReason.LATE)
    assert book.rule(on_time.order_id).needs_human

    # the second buyer's receipt, at their own destination, two days after the promise
    got_late = late.deliver_by + 2 * DAY
    chain.advance_time(got_late - chain.now() + 60)
    record_receipt(chain, url, lot, got_late, "urn:x:home")
    (d,) = book.sync_deliveries()["delivered"]
    assert d["id"] == late.order_id and d["late"] and d["late_by"] == 2 * DAY
    assert book.order(late.order_id).state is OrderState.DELIVERED

    # the buyer disputes: the oracle files the batch's evidence itself and times the receipt
    book.open_dispute(late.order_id, DisputeReason.LATE)
    decision = book.rule(late.order_id)
    assert decision.code is RulingCode.LATE_DELIVERY and not decision.needs_human
    (reason,) = decision.reasons
    assert reason.rule == "late_delivery" and "48.0 h late" in reason.detail
    chain.advance_time(P.appeal_window + 1)
    st = book.settle(late.order_id)
    assert {p["party"]: p["amount"] for p in st["payouts"]} == {
        "buyer": ETH // 5,
        "seller": ETH - ETH // 5,
    }


def test_receipt_elsewhere_or_before_shipping_waits(
    embedded_chain: Chain, store: DisputeStore, tmp_path: Path
) -> None:
    """The dispute store on SQLite and PostgreSQL; the ledger on SQLite."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    book = OrderBook(embedded_chain, store, tmp_path, LedgerSource(url, embedded_chain))
    chain = embedded_chain
    lot = record_batch(chain, url, "S2")
    buyer, seller = chain.accounts[1], chain.accounts[2]
    book.post_bond(seller, 10 * ETH)
    o = book.create_order(buyer, seller, ETH, DAY, 2 * DAY, lot, destination=BUYER_PICKUP)
    book.ship(o.order_id)
    record_receipt(chain, url, lot, chain.now(), "urn:epc:id:sgln:0614141.00099.0")
    assert book.sync_deliveries()["waiting"] == [o.order_id]  # someone else's locker
    record_receipt(chain, url, lot, chain.now() + 2 * HOUR)
    assert book.sync_deliveries()["waiting"] == [o.order_id]  # dated two hours ahead
    chain.advance_time(2 * HOUR)
    assert [d["id"] for d in book.sync_deliveries()["delivered"]] == [o.order_id]

    o = book.create_order(buyer, seller, ETH, DAY, 2 * DAY, lot, destination=BUYER_PICKUP)
    record_receipt(chain, url, lot, chain.now() + 60)
    # received at the destination, but the seller never shipped: the contract needs SHIPPED
    chain.advance_time(120)
    assert book.sync_deliveries() == {"checked": 1, "delivered": [], "waiting": [o.order_id]}
    assert book.order(o.order_id).state is OrderState.PAID
    book.ship(o.order_id)
    # an account that is no oracle any more cannot mark delivery: the operator sees why
    chain.escrow.set_oracle(chain.sender, False)
    with pytest.raises(ContractReverted, match="not seller or oracle"):
        book.sync_deliveries()
    chain.escrow.set_oracle(chain.sender, True)
    assert [d["id"] for d in book.sync_deliveries()["delivered"]] == [o.order_id]

    with pytest.raises(WrongState):
        OrderBook(chain, book.store, tmp_path).sync_deliveries()  # no ledger to read
