"""Streamer credit score and the tiered circuit breaker. Pure functions of an activity log.

**Score** (0-100, higher is better), from a streamer's activity with exponential time decay
(weight ``0.5 ** (age / HALF_LIFE_S)``) and a Beta-style prior for small samples (a rate is
``(observed + K * prior) / (trials + K)``, so a new shop starts at the prior and its own
record takes over as orders accumulate)::

    fulfilment F = (fulfilled + K_F*P_F) / (fulfilled + unfulfilled + K_F)
    complaints C = (complaints + K_C*P_C) / (orders + K_C)
    faults     D = (fault severities + conduct weights + K_D*P_D) / (orders + K_D)
    QC pass    Q = (qc_pass + K_Q*P_Q) / (qc_pass + qc_fail + K_Q)

    score = 100 * (W_F*F + W_C*(1 - min(1, C/C_CAP)) + W_D*(1 - min(1, D/D_CAP)) + W_Q*Q)

Each term moves one way: a fulfilled order, an order without complaint, a QC pass never lower
the score; an unfulfilled order, a complaint, a ruling against the seller, a failed QC never
raise it (hypothesis checks this in tests/services/test_credit.py).

**Conduct** (issue 8, docs/institutions.md) adds to the fault sum with fixed weights
(:data:`CONDUCT_WEIGHT`): a persona claim contradicted by a batch's provenance counts as half
a fault (as much as a full-refund ruling), a broadcast flagged with high-severity
manipulative tactics a quarter.

**Circuit breaker**: the complaint rate over a rolling window (plain counts, no decay: the
rule must be explainable to a streamer in one sentence) picks the tier:
rate > 2% warn, > 5% restricted (order value capped on chain), > 10% suspended (no new
orders), but only with at least ``MIN_WINDOW_ORDERS`` orders and ``MIN_WINDOW_COMPLAINTS``
complaints in the window. A broadcast flagged for high-severity manipulative tactics counts
as one complaint (``flagged``), so repeated flagged broadcasts move the tier as complaints do.
Escalation is immediate. Recovery is one tier at a time, only after
``MIN_DWELL_S`` in the current tier, and only when the rate has fallen below the tier's exit
threshold (hysteresis: 3/4 of the entry threshold) or the window no longer holds enough
orders to judge. A suspended streamer takes no orders, so its window empties after
``WINDOW_S`` and it steps down to restricted (capped orders) to rebuild a record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from contracts import RulingCode, Tier
from services._evidence import canonical_json

__all__ = [
    "CONDUCT_WEIGHT",
    "FAULT_SEVERITY",
    "HALF_LIFE_S",
    "MIN_DWELL_S",
    "MIN_WINDOW_COMPLAINTS",
    "MIN_WINDOW_ORDERS",
    "PRIOR_SCORE",
    "SCORE_VERSION",
    "TIER_ENTER",
    "TIER_EXIT",
    "WINDOW_S",
    "Activity",
    "ActivityKind",
    "ScoreReport",
    "TierState",
    "WindowStats",
    "compute_score",
    "next_tier",
    "tier_for",
    "window_stats",
]

SCORE_VERSION = "livetrust.credit/2"  # /2: conduct (issue 8) in the fault term and window
DAY = 86_400
# Platform rating systems weight the last few weeks most (Taobao's DSR averages 180 days,
# Douyin's shop experience score 90 days); a 30-day half-life lets a shop recover within a
# quarter while a month-old counterfeit still counts half.
HALF_LIFE_S = 30 * DAY

# Priors (P) and their strengths (K, in pseudo-orders). Means are roughly what a median shop
# shows (fulfilment ~97%, complaints ~1%, QC pass ~95%); strengths of 10-20 pseudo-orders
# mean a handful of early orders cannot swing a new shop to either extreme.
P_F, K_F = 0.97, 10.0
P_C, K_C = 0.01, 20.0
P_D, K_D = 0.005, 20.0
P_Q, K_Q = 0.95, 5.0
# Term weights (sum 1): delivering and not provoking complaints matter most.
W_F, W_C, W_D, W_Q = 0.3, 0.3, 0.2, 0.2
# Rates at which a term reaches zero: the suspension threshold for complaints; for faults
# half of that (a lost dispute is a complaint found justified).
C_CAP = 0.10
D_CAP = 0.05

# How much a ruling against the seller counts, by ruling code (share of one "full" fault):
# proportional to the buyer's payout in the default table (refund + penalty, capped at 1).
FAULT_SEVERITY: dict[RulingCode, float] = {
    RulingCode.NO_FAULT: 0.0,
    RulingCode.FULL_REFUND: 0.5,
    RulingCode.LATE_DELIVERY: 0.25,
    RulingCode.QUALITY_FAILURE: 0.75,
    RulingCode.COUNTERFEIT: 1.0,
    RulingCode.MISLEADING_CLAIM: 0.75,
}

# --- circuit breaker (issue 6: > 2% warn, > 5% restricted, > 10% suspended) --------------
WINDOW_S = 30 * DAY  # rolling window, the usual monthly review period of platform rules
TIER_ENTER: dict[Tier, float] = {Tier.WARN: 0.02, Tier.RESTRICTED: 0.05, Tier.SUSPENDED: 0.10}
TIER_EXIT: dict[Tier, float] = {t: 0.75 * r for t, r in TIER_ENTER.items()}  # hysteresis
# Below 20 orders a single complaint is already 5%; below 3 complaints the rate is noise
# (one or two unhappy buyers must not restrict a shop).
MIN_WINDOW_ORDERS = 20
MIN_WINDOW_COMPLAINTS = 3
MIN_DWELL_S = 7 * DAY  # a tier holds at least a week before stepping down


class ActivityKind(StrEnum):
    ORDER = "order"  # an order was opened (denominator of the complaint rate)
    FULFILLED = "fulfilled"  # released to the seller, or settled with no fault
    UNFULFILLED = "unfulfilled"  # refunded unshipped, or settled against the seller
    COMPLAINT = "complaint"  # a dispute was opened
    FAULT = "fault"  # a ruling against the seller; weight = severity
    CLEARED = "cleared"  # a ruling for the seller (shown, not scored)
    QC_PASS = "qc_pass"
    QC_FAIL = "qc_fail"
    PERSONA_FALSE = "persona_false"  # a registered persona claim contradicted by provenance
    SCRIPT_FLAGGED = "script_flagged"  # a broadcast with high-severity negative-list findings


# Conduct weights in the fault sum (share of one "full" fault, as FAULT_SEVERITY): a claim
# the streamer signed and the provenance contradicts is as bad as a ruling for a full
# refund; a flagged broadcast (manipulation, no proven loss yet) half of that.
CONDUCT_WEIGHT: dict[ActivityKind, float] = {
    ActivityKind.PERSONA_FALSE: 0.5,
    ActivityKind.SCRIPT_FLAGGED: 0.25,
}


@dataclass(frozen=True)
class Activity:
    kind: ActivityKind
    at: int  # chain time
    weight: float = 1.0


@dataclass(frozen=True)
class WindowStats:
    orders: int
    complaints: int
    flagged: int = 0  # broadcasts flagged by the negative list: one complaint each

    @property
    def counted(self) -> int:
        """Complaints as the breaker counts them: buyers' complaints plus flagged broadcasts."""
        return self.complaints + self.flagged

    @property
    def rate(self) -> float:
        return self.counted / self.orders if self.orders else 0.0

    @property
    def judgeable(self) -> bool:
        return self.orders >= MIN_WINDOW_ORDERS


@dataclass(frozen=True)
class TierState:
    tier: Tier
    since: int


def _decay(age: float) -> float:
    return float(0.5 ** (max(0.0, age) / HALF_LIFE_S))


def window_stats(activity: Iterable[Activity], now: int) -> WindowStats:
    orders = complaints = flagged = 0
    for a in activity:
        if now - WINDOW_S < a.at <= now:
            if a.kind is ActivityKind.ORDER:
                orders += 1
            elif a.kind is ActivityKind.COMPLAINT:
                complaints += 1
            elif a.kind is ActivityKind.SCRIPT_FLAGGED:
                flagged += 1
    return WindowStats(orders, complaints, flagged)


def tier_for(stats: WindowStats) -> Tier:
    """The tier the window's complaint rate calls for (NORMAL when too few samples)."""
    if not stats.judgeable or stats.counted < MIN_WINDOW_COMPLAINTS:
        return Tier.NORMAL
    for tier in (Tier.SUSPENDED, Tier.RESTRICTED, Tier.WARN):
        if stats.rate > TIER_ENTER[tier]:
            return tier
    return Tier.NORMAL


def next_tier(state: TierState, stats: WindowStats, now: int) -> TierState:
    """Escalate at once; recover one tier per dwell period below the exit threshold."""
    target = tier_for(stats)
    if target > state.tier:
        return TierState(target, now)
    if state.tier is Tier.NORMAL or now - state.since < MIN_DWELL_S:
        return state
    if not stats.judgeable or stats.rate < TIER_EXIT[state.tier]:
        return TierState(Tier(state.tier - 1), now)
    return state


@dataclass(frozen=True)
class ScoreReport:
    """A score computation: inputs (decayed sums, window), terms, result, tier."""

    seller: str
    at: int
    score: float
    terms: dict[str, float]
    sums: dict[str, float]
    window: WindowStats
    tier: Tier
    tier_since: int

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SCORE_VERSION,
            "seller": self.seller,
            "at": self.at,
            "score": round(self.score, 4),
            "terms": {k: round(v, 6) for k, v in self.terms.items()},
            "sums": {k: round(v, 6) for k, v in self.sums.items()},
            "window": {
                "seconds": WINDOW_S,
                "orders": self.window.orders,
                "complaints": self.window.complaints,
                "flagged_broadcasts": self.window.flagged,
                "complaint_rate": round(self.window.rate, 6),
            },
            "tier": self.tier.label,
            "tier_since": self.tier_since,
        }

    def commitment(self) -> bytes:
        """The evidence hash written on chain with a tier change."""
        return hashlib.sha256(canonical_json(self.to_json())).digest()


def _rate(hits: float, trials: float, prior: float, strength: float) -> float:
    return (hits + strength * prior) / (trials + strength)


def compute_score(
    activity: Iterable[Activity], now: int
) -> tuple[float, dict[str, float], dict[str, float]]:
    """``(score, terms, decayed sums)`` for the formula in the module docstring."""
    sums = {k.value: 0.0 for k in ActivityKind}
    for a in activity:
        sums[a.kind.value] += a.weight * _decay(now - a.at)
    f = _rate(sums["fulfilled"], sums["fulfilled"] + sums["unfulfilled"], P_F, K_F)
    c = _rate(sums["complaint"], sums["order"], P_C, K_C)
    conduct = sums["persona_false"] + sums["script_flagged"]  # weights stored per activity
    d = _rate(sums["fault"] + conduct, sums["order"], P_D, K_D)
    q = _rate(sums["qc_pass"], sums["qc_pass"] + sums["qc_fail"], P_Q, K_Q)
    terms = {
        "fulfilment": f,
        "complaint_rate": c,
        "fault_rate": d,
        "qc_pass": q,
    }
    raw = W_F * f + W_C * (1 - min(1.0, c / C_CAP)) + W_D * (1 - min(1.0, d / D_CAP)) + W_Q * q
    return max(0.0, min(100.0, 100.0 * raw)), terms, sums


PRIOR_SCORE = compute_score((), 0)[0]  # a shop with no history
