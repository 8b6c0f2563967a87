"""Typed wrapper over DisputeEscrow: orders, bonds, disputes, rulings, tiers, withdrawals.

Amounts are wei (``int``); times are chain timestamps (seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contracts._chain import Chain, Receipt

__all__ = [
    "DEFAULT_ESCROW_PARAMS",
    "MAX_PENALTY_BPS",
    "DisputeEscrow",
    "EscrowParams",
    "Order",
    "OrderState",
    "RulingCode",
    "Tier",
]

MAX_PENALTY_BPS = 30_000  # as in DisputeEscrow.vy: each order locks 3x its price of bond
DAY = 86_400


class OrderState(IntEnum):
    NONE = 0
    CREATED = 1
    PAID = 2
    SHIPPED = 3
    DELIVERED = 4
    RELEASED = 5
    DISPUTED = 6
    RULED = 7
    SETTLED = 8
    REFUNDED = 9
    CANCELLED = 10

    @property
    def terminal(self) -> bool:
        return self in (
            OrderState.RELEASED,
            OrderState.SETTLED,
            OrderState.REFUNDED,
            OrderState.CANCELLED,
        )

    @property
    def label(self) -> str:
        return self.name.lower()


class Tier(IntEnum):
    """Circuit-breaker tiers, written on chain by the oracle."""

    NORMAL = 0
    WARN = 1
    RESTRICTED = 2
    SUSPENDED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class RulingCode(IntEnum):
    """The default payout table (refund share, penalty multiple of the price from the bond)."""

    NO_FAULT = 1  # 0% refund, no penalty: seller paid
    FULL_REFUND = 2  # 100% refund
    LATE_DELIVERY = 3  # 20% refund
    QUALITY_FAILURE = 4  # 100% refund + 1x penalty (cold-chain breach, failed QC)
    COUNTERFEIT = 5  # 100% refund + 3x penalty (false origin): "fake one, pay three"
    MISLEADING_CLAIM = 6  # 50% refund + 1x penalty (broadcast claim disproved)

    @property
    def label(self) -> str:
        return self.name.lower()


DEFAULT_PAYOUTS: dict[RulingCode, tuple[int, int]] = {
    RulingCode.NO_FAULT: (0, 0),
    RulingCode.FULL_REFUND: (10_000, 0),
    RulingCode.LATE_DELIVERY: (2_000, 0),
    RulingCode.QUALITY_FAILURE: (10_000, 10_000),
    RulingCode.COUNTERFEIT: (10_000, 30_000),
    RulingCode.MISLEADING_CLAIM: (5_000, 10_000),
}


@dataclass(frozen=True)
class EscrowParams:
    """Constructor parameters (seconds; wei)."""

    pay_window: int = 1 * DAY
    confirm_window: int = 7 * DAY
    rule_window: int = 3 * DAY
    appeal_window: int = 2 * DAY
    restricted_cap: int = 10**17  # 0.1 ETH: largest order a restricted streamer may take

    def args(self) -> tuple[int, ...]:
        return (
            self.pay_window,
            self.confirm_window,
            self.rule_window,
            self.appeal_window,
            self.restricted_cap,
        )


DEFAULT_ESCROW_PARAMS = EscrowParams()


@dataclass(frozen=True)
class Order:
    order_id: int
    buyer: str
    seller: str
    price: int
    state: OrderState
    ruling: int
    reason: int
    appeals: int
    ship_by: int
    deliver_by: int
    deadline: int


class DisputeEscrow:
    NAME = "DisputeEscrow"

    def __init__(self, chain: Chain, params: EscrowParams = DEFAULT_ESCROW_PARAMS) -> None:
        self.chain = chain
        self.contract = chain.contract(self.NAME, *params.args())
        self.fn = self.contract.functions

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def _tx(self, call: Any, sender: str | None = None, value: int = 0) -> Receipt:
        return self.chain.transact(call, sender=sender, value=value)

    def _event(self, receipt: Receipt, name: str) -> dict[str, Any]:
        event = getattr(self.contract.events, name)()
        for log in receipt.logs:
            try:
                return dict(event.process_log(log)["args"])
            except Exception:
                continue
        raise LookupError(f"no {name} event in {receipt.tx_hash}")

    # bonds
    def post_bond(self, seller: str, amount: int) -> Receipt:
        return self._tx(self.fn.post_bond(), seller, amount)

    def withdraw_bond(self, seller: str, amount: int) -> Receipt:
        return self._tx(self.fn.withdraw_bond(amount), seller)

    def bond_of(self, seller: str) -> tuple[int, int]:
        total, locked = self.chain.call(self.fn.bond_of(seller))
        return int(total), int(locked)

    # orders
    def open_order(
        self, buyer: str, seller: str, price: int, ship_window: int, delivery_window: int
    ) -> tuple[int, Receipt]:
        r = self._tx(self.fn.open_order(seller, ship_window, delivery_window), buyer, price)
        return int(self._event(r, "OrderCreated")["order_id"]), r

    def create_order(
        self, seller: str, buyer: str, price: int, ship_window: int, delivery_window: int
    ) -> tuple[int, Receipt]:
        r = self._tx(self.fn.create_order(buyer, price, ship_window, delivery_window), seller)
        return int(self._event(r, "OrderCreated")["order_id"]), r

    def pay(self, order_id: int, buyer: str, price: int) -> Receipt:
        return self._tx(self.fn.pay(order_id), buyer, price)

    def cancel_unpaid(self, order_id: int, sender: str | None = None) -> Receipt:
        return self._tx(self.fn.cancel_unpaid(order_id), sender)

    def ship(self, order_id: int, seller: str) -> Receipt:
        return self._tx(self.fn.ship(order_id), seller)

    def mark_delivered(self, order_id: int, sender: str) -> Receipt:
        return self._tx(self.fn.mark_delivered(order_id), sender)

    def confirm(self, order_id: int, buyer: str) -> Receipt:
        return self._tx(self.fn.confirm(order_id), buyer)

    def release_expired(self, order_id: int, sender: str | None = None) -> Receipt:
        return self._tx(self.fn.release_expired(order_id), sender)

    def refund_unshipped(self, order_id: int, sender: str | None = None) -> Receipt:
        return self._tx(self.fn.refund_unshipped(order_id), sender)

    # disputes
    def dispute(
        self, order_id: int, buyer: str, reason: int, evidence_hash: bytes, evidence_uri: str
    ) -> Receipt:
        return self._tx(self.fn.dispute(order_id, reason, evidence_hash, evidence_uri), buyer)

    def submit_evidence(
        self, order_id: int, sender: str, evidence_hash: bytes, uri: str
    ) -> Receipt:
        return self._tx(self.fn.submit_evidence(order_id, evidence_hash, uri), sender)

    def rule(
        self, order_id: int, code: int, evidence_hash: bytes, arbiter: str | None = None
    ) -> Receipt:
        return self._tx(self.fn.rule(order_id, code, evidence_hash), arbiter)

    def default_rule(self, order_id: int, sender: str | None = None) -> Receipt:
        return self._tx(self.fn.default_rule(order_id), sender)

    def appeal(self, order_id: int, party: str) -> Receipt:
        return self._tx(self.fn.appeal(order_id), party)

    def settle(self, order_id: int, sender: str | None = None) -> Receipt:
        return self._tx(self.fn.settle(order_id), sender)

    # money out
    def credit(self, account: str) -> int:
        return int(self.chain.call(self.fn.credit(account)))

    def withdraw(self, account: str) -> Receipt:
        return self._tx(self.fn.withdraw(), account)

    # circuit breaker and admin
    def set_tier(
        self, seller: str, tier: Tier, evidence_hash: bytes = b"\0" * 32, oracle: str | None = None
    ) -> Receipt:
        return self._tx(self.fn.set_tier(seller, int(tier), evidence_hash), oracle)

    def tier(self, seller: str) -> Tier:
        return Tier(int(self.chain.call(self.fn.tier(seller))))

    def set_arbiter(self, account: str, allowed: bool) -> Receipt:
        return self._tx(self.fn.set_arbiter(account, allowed))

    def set_oracle(self, account: str, allowed: bool) -> Receipt:
        return self._tx(self.fn.set_oracle(account, allowed))

    def set_paused(self, paused: bool) -> Receipt:
        return self._tx(self.fn.set_paused(paused))

    # reads
    def order(self, order_id: int) -> Order:
        raw = self.chain.call(self.fn.get_order(order_id))
        b, s, price, state, ruling, reason, appeals, ship_by, deliver_by, deadline = raw
        return Order(
            order_id,
            str(b),
            str(s),
            int(price),
            OrderState(int(state)),
            int(ruling),
            int(reason),
            int(appeals),
            int(ship_by),
            int(deliver_by),
            int(deadline),
        )

    def order_count(self) -> int:
        return int(self.chain.call(self.fn.order_count()))

    def balance(self) -> int:
        return int(self.chain.w3.eth.get_balance(self.contract.address))
