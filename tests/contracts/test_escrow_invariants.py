"""Stateful property test of DisputeEscrow: random calls by random accounts, random time.

Invariants (issue 6):
- the contract's balance == escrowed order money + bonds + withdrawable credits;
- no account withdraws more than it was credited: each withdrawal pays exactly the credit
  it clears, a credit only falls by a withdrawal, and over the run every account's
  withdrawals stay within the sum of its credit increases;
- every order reaches a terminal state by time alone (teardown drives the clock).

Examples: ``ESCROW_EXAMPLES`` (CI default 5; ``make bench`` runs more).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from contracts import DEFAULT_ESCROW_PARAMS, Chain, ContractReverted, RulingCode, Tier

EXAMPLES = int(os.environ.get("ESCROW_EXAMPLES", "5"))
STEPS = int(os.environ.get("ESCROW_STEPS", "20"))
ETH = 10**18
P = DEFAULT_ESCROW_PARAMS
WINDOWS = [3_600, 86_400]
# enough time for any one timeout to pass
TIME_STEPS = [0, 3_600, P.appeal_window + 1, P.rule_window + 1, P.confirm_window + 1, 5 * 86_400]

actor = st.integers(0, 5)
order_ix = st.integers(0, 7)


@pytest.mark.slow
def test_escrow_invariants(compile_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    class EscrowMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self) -> None:
            self.chain = Chain.connect(
                "embedded", tmp_path_factory.mktemp("escrow"), cache=compile_cache
            )
            self.esc = self.chain.escrow
            # 0 admin/arbiter/oracle; 1-2 sellers; 3-5 buyers (anyone may call anything)
            self.acct = self.chain.accounts[:6]
            self.orders: list[int] = []
            self.withdrawn: dict[str, int] = {}
            self.credit_seen: dict[str, int] = {}  # credit as of the last invariant check
            self.credited: dict[str, int] = {}  # sum of every credit increase observed

        def teardown(self) -> None:
            try:
                self._drive_all_to_terminal()
            finally:
                self.chain.close()

        def _try(self, fn, *args) -> bool:  # type: ignore[no-untyped-def]
            try:
                fn(*args)
                return True
            except ContractReverted:
                return False

        def _order(self, ix: int) -> int | None:
            return self.orders[ix % len(self.orders)] if self.orders else None

        @rule(s=st.integers(1, 2), amount=st.sampled_from([ETH, 5 * ETH]))
        def post_bond(self, s: int, amount: int) -> None:
            self._try(self.esc.post_bond, self.acct[s], amount)

        @rule(
            b=actor,
            s=st.integers(1, 2),
            price=st.sampled_from([ETH // 10, ETH, 2 * ETH]),
            sw=st.sampled_from(WINDOWS),
            dw=st.sampled_from(WINDOWS),
        )
        def open_order(self, b: int, s: int, price: int, sw: int, dw: int) -> None:
            try:
                oid, _ = self.esc.open_order(self.acct[b], self.acct[s], price, sw, dw)
                self.orders.append(oid)
            except ContractReverted:
                pass

        @rule(b=actor, s=st.integers(1, 2), price=st.sampled_from([ETH // 10, ETH]))
        def quote_and_maybe_pay(self, b: int, s: int, price: int) -> None:
            try:
                oid, _ = self.esc.create_order(self.acct[s], self.acct[b], price, 3_600, 3_600)
            except ContractReverted:
                return
            self.orders.append(oid)
            self._try(self.esc.pay, oid, self.acct[b], price)

        @rule(
            ix=order_ix,
            who=actor,
            op=st.sampled_from(
                [
                    "ship",
                    "mark_delivered",
                    "confirm",
                    "refund_unshipped",
                    "release_expired",
                    "default_rule",
                    "settle",
                    "appeal",
                    "cancel_unpaid",
                ]
            ),
        )
        def transition(self, ix: int, who: int, op: str) -> None:
            oid = self._order(ix)
            if oid is not None:
                self._try(getattr(self.esc, op), oid, self.acct[who])

        @rule(ix=order_ix, who=actor, reason=st.integers(1, 6))
        def dispute(self, ix: int, who: int, reason: int) -> None:
            oid = self._order(ix)
            if oid is not None:
                self._try(self.esc.dispute, oid, self.acct[who], reason, b"\x01" * 32, "e")

        @rule(ix=order_ix, who=st.sampled_from([0, 0, 3]), code=st.sampled_from(list(RulingCode)))
        def rule_on(self, ix: int, who: int, code: RulingCode) -> None:
            oid = self._order(ix)
            if oid is not None:
                self._try(self.esc.rule, oid, int(code), b"\x02" * 32, self.acct[who])

        @rule(s=st.integers(1, 2), tier=st.sampled_from(list(Tier)))
        def set_tier(self, s: int, tier: Tier) -> None:
            self.esc.set_tier(self.acct[s], tier)

        @rule(who=actor)
        def withdraw(self, who: int) -> None:
            account = self.acct[who]
            credit = self.esc.credit(account)
            before = self.chain.w3.eth.get_balance(account)
            try:
                r = self.esc.withdraw(account)
            except ContractReverted:
                assert credit == 0
                return
            fee = r.gas_used * self.chain.w3.eth.get_transaction(r.tx_hash)["gasPrice"]
            got = self.chain.w3.eth.get_balance(account) - before + fee
            assert got == credit, "withdrew other than credited"
            self.withdrawn[account] = self.withdrawn.get(account, 0) + got
            self.credit_seen[account] = 0

        @rule(s=st.integers(1, 2), amount=st.sampled_from([ETH, 3 * ETH]))
        def withdraw_bond(self, s: int, amount: int) -> None:
            self._try(self.esc.withdraw_bond, self.acct[s], amount)

        @rule(dt=st.sampled_from(TIME_STEPS))
        def wait(self, dt: int) -> None:
            if dt:
                self.chain.advance_time(dt)

        @invariant()
        def money_is_accounted_for(self) -> None:
            if not hasattr(self, "esc"):
                return
            escrowed = sum(self.chain.call(self.esc.fn.escrowed(o)) for o in self.orders)
            bonds = sum(self.esc.bond_of(a)[0] for a in self.acct)
            credits = sum(self.esc.credit(a) for a in self.acct)
            assert self.esc.balance() == escrowed + bonds + credits
            for a in self.acct:
                total, locked = self.esc.bond_of(a)
                assert locked <= total

        @invariant()
        def withdrawals_within_credits(self) -> None:
            if not hasattr(self, "esc"):
                return
            for a in self.acct:
                now, seen = self.esc.credit(a), self.credit_seen.get(a, 0)
                assert now >= seen, f"credit of {a} fell without a withdrawal"
                self.credited[a] = self.credited.get(a, 0) + now - seen
                self.credit_seen[a] = now
                assert self.withdrawn.get(a, 0) <= self.credited[a]

        def _drive_all_to_terminal(self) -> None:
            """Only time and permissionless timeouts: every order must end."""
            anyone = self.acct[5]
            timeouts = [
                "cancel_unpaid",
                "refund_unshipped",
                "release_expired",
                "default_rule",
                "settle",
            ]
            for _ in range(6):
                self.chain.advance_time(max(TIME_STEPS) + P.confirm_window + 1)
                for oid in self.orders:
                    for op in timeouts:
                        self._try(getattr(self.esc, op), oid, anyone)
            for oid in self.orders:
                state = self.esc.order(oid).state
                assert state.terminal, f"order {oid} stuck in {state.label}"
            # and then nothing is escrowed any more
            assert sum(self.chain.call(self.esc.fn.escrowed(o)) for o in self.orders) == 0
            self.money_is_accounted_for()

    run = EscrowMachine.TestCase
    run.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    run().runTest()
