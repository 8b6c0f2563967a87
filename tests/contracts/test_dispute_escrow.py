"""DisputeEscrow on every backend: each transition, access control, timeouts, payouts,
circuit breaker, pause, a re-entering receiver, and gas figures."""

from __future__ import annotations

from pathlib import Path

import pytest
import vyper
from vyper.compiler.settings import Settings as VyperSettings

from contracts import (
    DEFAULT_ESCROW_PARAMS,
    Chain,
    ContractReverted,
    DisputeEscrow,
    OrderState,
    RulingCode,
    Tier,
)
from contracts._compile import EVM_VERSION

ETH = 10**18
PRICE = ETH
SHIP_W, DELIVER_W = 86_400, 3 * 86_400
EVIDENCE = b"\xee" * 32
P = DEFAULT_ESCROW_PARAMS

# Deterministic regression guards on the gas targets.
OPEN_ORDER_GAS_MAX = 120_000
SETTLE_GAS_MAX = 100_000


class Parties:
    def __init__(self, chain: Chain) -> None:
        a = chain.accounts
        self.admin, self.buyer, self.seller, self.other, self.arbiter2 = (
            a[0],
            a[1],
            a[2],
            a[3],
            a[4],
        )


@pytest.fixture
def esc(chain: Chain) -> DisputeEscrow:
    return chain.escrow


@pytest.fixture
def who(chain: Chain) -> Parties:
    return Parties(chain)


def reason_of(exc: pytest.ExceptionInfo[ContractReverted]) -> str:
    return exc.value.reason


def open_paid(esc: DisputeEscrow, who: Parties, price: int = PRICE, bond: int = 10 * ETH) -> int:
    if esc.bond_of(who.seller)[0] < bond:
        esc.post_bond(who.seller, bond)
    oid, _ = esc.open_order(who.buyer, who.seller, price, SHIP_W, DELIVER_W)
    return oid


def test_happy_path_delivered_and_released(chain: Chain, esc: DisputeEscrow, who: Parties) -> None:
    oid = open_paid(esc, who)
    o = esc.order(oid)
    assert (o.state, o.price, o.buyer, o.seller) == (OrderState.PAID, PRICE, who.buyer, who.seller)
    assert esc.bond_of(who.seller) == (10 * ETH, 3 * PRICE)  # 3x price locked
    assert esc.balance() == 11 * ETH
    esc.ship(oid, who.seller)
    assert esc.order(oid).state is OrderState.SHIPPED
    esc.mark_delivered(oid, who.seller)
    assert esc.order(oid).state is OrderState.DELIVERED
    esc.confirm(oid, who.buyer)
    assert esc.order(oid).state is OrderState.RELEASED
    assert esc.credit(who.seller) == PRICE
    assert esc.bond_of(who.seller) == (10 * ETH, 0)
    before = chain.w3.eth.get_balance(who.seller)
    r = esc.withdraw(who.seller)
    gas_cost = r.gas_used * chain.w3.eth.get_transaction(r.tx_hash)["gasPrice"]
    assert chain.w3.eth.get_balance(who.seller) == before + PRICE - gas_cost
    assert esc.credit(who.seller) == 0
    with pytest.raises(ContractReverted) as exc:
        esc.withdraw(who.seller)
    assert reason_of(exc) == "nothing to withdraw"


def test_two_step_order_created_then_paid(chain: Chain, esc: DisputeEscrow, who: Parties) -> None:
    esc.post_bond(who.seller, 5 * ETH)
    oid, _ = esc.create_order(who.seller, who.buyer, PRICE, SHIP_W, DELIVER_W)
    assert esc.order(oid).state is OrderState.CREATED
    with pytest.raises(ContractReverted) as exc:
        esc.pay(oid, who.other, PRICE)
    assert reason_of(exc) == "not buyer"
    with pytest.raises(ContractReverted) as exc:
        esc.pay(oid, who.buyer, PRICE - 1)
    assert reason_of(exc) == "wrong amount"
    esc.pay(oid, who.buyer, PRICE)
    o = esc.order(oid)
    assert o.state is OrderState.PAID and o.ship_by > chain.now() - 5
    # an unpaid quote times out into CANCELLED
    oid2, _ = esc.create_order(who.seller, who.buyer, PRICE, SHIP_W, DELIVER_W)
    with pytest.raises(ContractReverted) as exc:
        esc.cancel_unpaid(oid2, who.other)
    assert reason_of(exc) == "too early"
    chain.advance_time(P.pay_window + 1)
    with pytest.raises(ContractReverted) as exc:
        esc.pay(oid2, who.buyer, PRICE)
    assert reason_of(exc) == "pay window over"
    esc.cancel_unpaid(oid2, who.other)
    assert esc.order(oid2).state is OrderState.CANCELLED


def test_not_shipped_in_time_refunds_buyer(chain: Chain, esc: DisputeEscrow, who: Parties) -> None:
    oid = open_paid(esc, who)
    with pytest.raises(ContractReverted) as exc:
        esc.refund_unshipped(oid, who.other)
    assert reason_of(exc) == "too early"
    chain.advance_time(SHIP_W + 1)
    with pytest.raises(ContractReverted) as exc:
        esc.ship(oid, who.seller)
    assert reason_of(exc) == "ship deadline passed"
    esc.refund_unshipped(oid, who.other)  # anyone may trigger the timeout
    assert esc.order(oid).state is OrderState.REFUNDED
    assert esc.credit(who.buyer) == PRICE
    assert esc.bond_of(who.seller)[1] == 0


def test_buyer_silent_releases_to_seller(chain: Chain, esc: DisputeEscrow, who: Parties) -> None:
    oid = open_paid(esc, who)
    esc.ship(oid, who.seller)
    esc.mark_delivered(oid, who.seller)
    with pytest.raises(ContractReverted) as exc:
        esc.release_expired(oid, who.other)
    assert reason_of(exc) == "too early"
    chain.advance_time(P.confirm_window + 1)
    with pytest.raises(ContractReverted) as exc:
        esc.dispute(oid, who.buyer, 4, EVIDENCE, "late")
    assert reason_of(exc) == "dispute window over"
    esc.release_expired(oid, who.other)
    assert esc.order(oid).state is OrderState.RELEASED
    assert esc.credit(who.seller) == PRICE


def test_shipped_never_marked_delivered_still_ends(
    chain: Chain, esc: DisputeEscrow, who: Parties
) -> None:
    oid = open_paid(esc, who)
    esc.ship(oid, who.seller)
    chain.advance_time(SHIP_W + DELIVER_W + P.confirm_window + 1)
    esc.release_expired(oid, who.other)
    assert esc.order(oid).state is OrderState.RELEASED


@pytest.mark.parametrize(
    ("code", "to_buyer", "to_seller", "penalty"),
    [
        (RulingCode.NO_FAULT, 0, PRICE, 0),
        (RulingCode.FULL_REFUND, PRICE, 0, 0),
        (RulingCode.LATE_DELIVERY, PRICE // 5, PRICE - PRICE // 5, 0),
        (RulingCode.QUALITY_FAILURE, 2 * PRICE, 0, PRICE),
        (RulingCode.COUNTERFEIT, 4 * PRICE, 0, 3 * PRICE),
        (RulingCode.MISLEADING_CLAIM, PRICE // 2 + PRICE, PRICE // 2, PRICE),
    ],
)
def test_ruling_pays_by_the_table(
    chain: Chain,
    esc: DisputeEscrow,
    who: Parties,
    code: RulingCode,
    to_buyer: int,
    to_seller: int,
    penalty: int,
) -> None:
    oid = open_paid(esc, who)
    esc.ship(oid, who.seller)
    esc.dispute(oid, who.buyer, int(code), EVIDENCE, "ipfs://bundle")
    esc.rule(oid, code, b"\x0b" * 32, arbiter=who.admin)
    assert esc.order(oid).state is OrderState.RULED
    with pytest.raises(ContractReverted) as exc:
        esc.settle(oid, who.other)
    assert reason_of(exc) == "appeal window open"
    chain.advance_time(P.appeal_window + 1)
    r = esc.settle(oid, who.other)
    assert r.gas_used <= SETTLE_GAS_MAX
    assert esc.order(oid).state is OrderState.SETTLED
    assert esc.credit(who.buyer) == to_buyer
    assert esc.credit(who.seller) == to_seller
    assert esc.bond_of(who.seller) == (10 * ETH - penalty, 0)
    assert esc.balance() == to_buyer + to_seller + 10 * ETH - penalty


def test_dispute_events_follow_erc1497(chain: Chain, esc: DisputeEscrow, who: Parties) -> None:
    oid = open_paid(esc, who)
    r = esc.dispute(oid, who.buyer, 5, EVIDENCE, "ipfs://proof-bundle")
    d = esc.contract.events.Dispute().process_receipt(
        chain.w3.eth.get_transaction_receipt(r.tx_hash)
    )[0]["args"]
    assert (d["dispute_id"], d["arbitrator"], d["reason"]) == (oid, esc.address, 5)
    esc.submit_evidence(oid, who.seller, b"\x5e" * 32, "ipfs://seller-side")
    ev = esc.contract.events.Evidence().get_logs(from_block=0)
    assert [(bytes(e["args"]["evidence_hash"]), e["args"]["evidence"]) for e in ev] == [
        (EVIDENCE, "ipfs://proof-bundle"),
        (b"\x5e" * 32, "ipfs://seller-side"),
    ]
    with pytest.raises(ContractReverted) as exc:
        esc.submit_evidence(oid, who.other, b"\x01" * 32, "spam")
    assert reason_of(exc) == "not a party"
    r = esc.rule(oid, RulingCode.COUNTERFEIT, b"\x0c" * 32)
    ruling = esc.contract.events.Ruling().get_logs(from_block=r.block_number)[0]["args"]
    assert (ruling["ruling"], bytes(ruling["evidence_hash"])) == (5, b"\x0c" * 32)


def test_arbiter_silent_gives_default_ruling(
    chain: Chain, esc: DisputeEscrow, who: Parties
) -> None:
    oid = open_paid(esc, who)
    esc.dispute(oid, who.buyer, 2, EVIDENCE, "x")
    with pytest.raises(ContractReverted) as exc:
        esc.default_rule(oid, who.other)
    assert reason_of(exc) == "too early"
    chain.advance_time(P.rule_window + 1)
    esc.default_rule(oid, who.other)
    o = esc.order(oid)
    assert (o.state, o.ruling) == (OrderState.RULED, RulingCode.FULL_REFUND)
    chain.advance_time(P.appeal_window + 1)
    esc.settle(oid, who.other)
    assert esc.credit(who.buyer) == PRICE


def test_one_appeal_then_final(chain: Chain, esc: DisputeEscrow, who: Parties) -> None:
    esc.set_arbiter(who.arbiter2, True)
    oid = open_paid(esc, who)
    esc.dispute(oid, who.buyer, 5, EVIDENCE, "x")
    esc.rule(oid, RulingCode.COUNTERFEIT, EVIDENCE)
    with pytest.raises(ContractReverted) as exc:
        esc.appeal(oid, who.other)
    assert reason_of(exc) == "not a party"
    esc.appeal(oid, who.seller)
    assert esc.order(oid).state is OrderState.DISPUTED
    esc.rule(oid, RulingCode.NO_FAULT, EVIDENCE, arbiter=who.arbiter2)
    with pytest.raises(ContractReverted) as exc:
        esc.appeal(oid, who.buyer)
    assert reason_of(exc) == "no appeals left"
    chain.advance_time(P.appeal_window + 1)
    with pytest.raises(ContractReverted) as exc:
        esc.appeal(oid, who.buyer)
    assert reason_of(exc) == "appeal window over"
    esc.settle(oid, who.other)
    assert esc.credit(who.seller) == PRICE


def test_access_control(esc: DisputeEscrow, who: Parties) -> None:
    oid = open_paid(esc, who)
    cases = [
        (lambda: esc.ship(oid, who.buyer), "not seller"),
        (lambda: esc.mark_delivered(oid, who.buyer), "not shipped"),
        (lambda: esc.confirm(oid, who.seller), "not confirmable"),
        (lambda: esc.dispute(oid, who.seller, 1, EVIDENCE, ""), "not buyer"),
        (lambda: esc.rule(oid, 2, EVIDENCE, arbiter=who.other), "not arbiter"),
        (lambda: esc.set_tier(who.seller, Tier.SUSPENDED, oracle=who.other), "not oracle"),
        (
            lambda: esc.chain.transact(esc.fn.set_arbiter(who.other, True), sender=who.other),
            "not admin",
        ),
        (lambda: esc.chain.transact(esc.fn.set_paused(True), sender=who.other), "not admin"),
        (
            lambda: esc.chain.transact(esc.fn.set_payout(9, 1, 1, True), sender=who.other),
            "not admin",
        ),
    ]
    for call, reason in cases:
        with pytest.raises(ContractReverted) as exc:
            call()
        assert reason_of(exc) == reason
    esc.ship(oid, who.seller)
    with pytest.raises(ContractReverted) as exc:
        esc.mark_delivered(oid, who.other)
    assert reason_of(exc) == "not seller or oracle"
    esc.mark_delivered(oid, who.admin)  # the oracle may record delivery
    with pytest.raises(ContractReverted) as exc:
        esc.confirm(oid, who.seller)
    assert reason_of(exc) == "not buyer"


def test_rulings_only_from_the_table(esc: DisputeEscrow, who: Parties) -> None:
    oid = open_paid(esc, who)
    esc.dispute(oid, who.buyer, 2, EVIDENCE, "x")
    with pytest.raises(ContractReverted) as exc:
        esc.rule(oid, 77, EVIDENCE)
    assert reason_of(exc) == "unknown ruling"
    with pytest.raises(ContractReverted) as exc:
        esc.chain.transact(esc.fn.set_payout(9, 10_001, 0, True))
    assert reason_of(exc) == "refund over 100%"
    with pytest.raises(ContractReverted) as exc:
        esc.chain.transact(esc.fn.set_payout(9, 0, 30_001, True))
    assert reason_of(exc) == "penalty over cap"


def test_bond_must_cover_three_times_the_price(esc: DisputeEscrow, who: Parties) -> None:
    esc.post_bond(who.seller, 3 * PRICE - 1)
    with pytest.raises(ContractReverted) as exc:
        esc.open_order(who.buyer, who.seller, PRICE, SHIP_W, DELIVER_W)
    assert reason_of(exc) == "bond too small"
    esc.post_bond(who.seller, 1)
    oid, _ = esc.open_order(who.buyer, who.seller, PRICE, SHIP_W, DELIVER_W)
    with pytest.raises(ContractReverted) as exc:
        esc.withdraw_bond(who.seller, 1)  # all of it is locked
    assert reason_of(exc) == "bond too small"
    esc.ship(oid, who.seller)
    esc.confirm(oid, who.buyer)
    esc.withdraw_bond(who.seller, 3 * PRICE)
    assert esc.credit(who.seller) == 4 * PRICE
    assert esc.bond_of(who.seller) == (0, 0)


def test_circuit_breaker_tiers(esc: DisputeEscrow, who: Parties) -> None:
    esc.post_bond(who.seller, 10 * ETH)
    esc.set_tier(who.seller, Tier.WARN, b"\x01" * 32)
    esc.open_order(who.buyer, who.seller, PRICE, SHIP_W, DELIVER_W)  # warn: still trades
    esc.set_tier(who.seller, Tier.RESTRICTED)
    assert esc.tier(who.seller) is Tier.RESTRICTED
    with pytest.raises(ContractReverted) as exc:
        esc.open_order(who.buyer, who.seller, P.restricted_cap + 1, SHIP_W, DELIVER_W)
    assert reason_of(exc) == "over restricted cap"
    esc.open_order(who.buyer, who.seller, P.restricted_cap, SHIP_W, DELIVER_W)
    esc.set_tier(who.seller, Tier.SUSPENDED)
    with pytest.raises(ContractReverted) as exc:
        esc.open_order(who.buyer, who.seller, 1, SHIP_W, DELIVER_W)
    assert reason_of(exc) == "seller suspended"
    esc.set_tier(who.seller, Tier.NORMAL)  # the recovery path
    esc.open_order(who.buyer, who.seller, PRICE, SHIP_W, DELIVER_W)


def test_pause_stops_money_in_but_not_exits(chain: Chain, esc: DisputeEscrow, who: Parties) -> None:
    oid = open_paid(esc, who)
    esc.set_paused(True)
    with pytest.raises(ContractReverted) as exc:
        esc.open_order(who.buyer, who.seller, PRICE, SHIP_W, DELIVER_W)
    assert reason_of(exc) == "paused"
    with pytest.raises(ContractReverted) as exc:
        esc.post_bond(who.seller, 1)
    assert reason_of(exc) == "paused"
    chain.advance_time(SHIP_W + 1)
    esc.refund_unshipped(oid, who.other)  # exits stay open
    esc.withdraw(who.buyer)
    esc.set_paused(False)
    open_paid(esc, who)


def test_gas_targets(esc: DisputeEscrow, who: Parties) -> None:
    esc.post_bond(who.seller, 10 * ETH)
    esc.open_order(who.buyer, who.seller, PRICE, SHIP_W, DELIVER_W)
    _, r = esc.open_order(who.buyer, who.seller, PRICE, SHIP_W, DELIVER_W)
    assert r.gas_used <= OPEN_ORDER_GAS_MAX


def _deploy_reenterer(chain: Chain, target: str) -> object:
    src = (Path(__file__).parent / "Reenterer.vy").read_text()
    out = vyper.compile_code(
        src, output_formats=["abi", "bytecode"], settings=VyperSettings(evm_version=EVM_VERSION)
    )
    factory = chain.w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"])
    r = chain._send(factory.constructor(target), {"from": chain.sender}, "deploy")
    return chain.w3.eth.contract(address=r.contract_address, abi=out["abi"])


def test_reentering_receiver_cannot_drain(chain: Chain, esc: DisputeEscrow, who: Parties) -> None:
    esc.post_bond(who.seller, 10 * ETH)
    attacker = _deploy_reenterer(chain, esc.address)
    chain.transact(attacker.functions.buy(who.seller), value=PRICE)  # type: ignore[attr-defined]
    oid = esc.order_count() - 1
    chain.advance_time(SHIP_W + 1)
    esc.refund_unshipped(oid, who.other)
    assert esc.credit(attacker.address) == PRICE  # type: ignore[attr-defined]
    before = esc.balance()
    for mode in (1, 2):  # re-enter withdraw, re-enter settle
        chain.transact(attacker.functions.set_mode(mode))  # type: ignore[attr-defined]
        with pytest.raises(ContractReverted):
            chain.transact(attacker.functions.pull())  # type: ignore[attr-defined]
        assert esc.balance() == before
        assert esc.credit(attacker.address) == PRICE  # type: ignore[attr-defined]
    chain.transact(attacker.functions.set_mode(0))  # type: ignore[attr-defined]
    chain.transact(attacker.functions.pull())  # type: ignore[attr-defined]
    assert esc.balance() == before - PRICE
    assert chain.w3.eth.get_balance(attacker.address) == PRICE  # type: ignore[attr-defined]


def test_spending_more_than_the_balance_is_a_typed_error(
    chain: Chain, esc: DisputeEscrow, who: Parties
) -> None:
    from contracts import InsufficientFunds

    balance = chain.w3.eth.get_balance(who.seller)
    with pytest.raises(InsufficientFunds) as exc:
        esc.post_bond(who.seller, balance + 1)
    assert exc.value.code == "insufficient_funds"
    assert esc.bond_of(who.seller) == (0, 0)
