"""Credit score and circuit breaker: properties (hypothesis) and the documented thresholds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import Tier
from services._credit import (
    HALF_LIFE_S,
    MIN_DWELL_S,
    MIN_WINDOW_COMPLAINTS,
    MIN_WINDOW_ORDERS,
    PRIOR_SCORE,
    TIER_ENTER,
    TIER_EXIT,
    WINDOW_S,
    Activity,
    ActivityKind,
    ScoreReport,
    TierState,
    WindowStats,
    compute_score,
    next_tier,
    tier_for,
    window_stats,
)

NOW = 10**9
EPS = 1e-9

activities = st.lists(
    st.builds(
        Activity,
        st.sampled_from(list(ActivityKind)),
        st.integers(NOW - 400 * 86_400, NOW + 86_400),
        st.floats(0.0, 1.0),
    ),
    max_size=60,
)
at = st.integers(NOW - 200 * 86_400, NOW)


def score(acts: list[Activity]) -> float:
    return compute_score(acts, NOW)[0]


@given(activities)
def test_score_is_bounded(acts: list[Activity]) -> None:
    s, terms, _ = compute_score(acts, NOW)
    assert 0.0 <= s <= 100.0
    assert all(0.0 <= v <= 1.0 + EPS for v in terms.values())


GOOD = (ActivityKind.FULFILLED, ActivityKind.ORDER, ActivityKind.QC_PASS)
BAD = (
    ActivityKind.UNFULFILLED,
    ActivityKind.COMPLAINT,
    ActivityKind.FAULT,
    ActivityKind.QC_FAIL,
)


@given(activities, st.sampled_from(GOOD), at)
def test_good_news_never_lowers_the_score(acts: list[Activity], kind: ActivityKind, t: int) -> None:
    assert score([*acts, Activity(kind, t)]) >= score(acts) - EPS


@given(activities, st.sampled_from(BAD), at, st.floats(0.0, 1.0))
def test_bad_news_never_raises_the_score(
    acts: list[Activity], kind: ActivityKind, t: int, w: float
) -> None:
    assert score([*acts, Activity(kind, t, w)]) <= score(acts) + EPS


@given(activities, st.sampled_from(BAD), st.integers(1, 300 * 86_400))
def test_old_bad_news_hurts_less(acts: list[Activity], kind: ActivityKind, age: int) -> None:
    recent = score([*acts, Activity(kind, NOW)])
    old = score([*acts, Activity(kind, NOW - age)])
    assert old >= recent - EPS


def test_prior_for_a_new_shop_and_decay_half_life() -> None:
    assert score([]) == PRIOR_SCORE
    assert 85 < PRIOR_SCORE < 100  # a new shop starts trusted but not perfect
    _, _, sums = compute_score([Activity(ActivityKind.ORDER, NOW - HALF_LIFE_S)], NOW)
    assert abs(sums["order"] - 0.5) < 1e-12


def test_a_few_complaints_do_not_sink_a_new_shop_but_many_do() -> None:
    one = [Activity(ActivityKind.ORDER, NOW), Activity(ActivityKind.COMPLAINT, NOW)]
    many = [Activity(ActivityKind.ORDER, NOW)] * 20 + [Activity(ActivityKind.COMPLAINT, NOW)] * 10
    assert score(one) > 70
    assert score(many) < score(one)


# -- circuit breaker ---------------------------------------------------------------------------


def test_thresholds_as_documented() -> None:
    assert TIER_ENTER == {Tier.WARN: 0.02, Tier.RESTRICTED: 0.05, Tier.SUSPENDED: 0.10}
    assert all(TIER_EXIT[t] < TIER_ENTER[t] for t in TIER_ENTER)
    n = 100
    assert tier_for(WindowStats(n, 2)) is Tier.NORMAL  # 2% is not > 2% (and < 3 complaints)
    assert tier_for(WindowStats(n, 3)) is Tier.WARN
    assert tier_for(WindowStats(n, 6)) is Tier.RESTRICTED
    assert tier_for(WindowStats(n, 11)) is Tier.SUSPENDED


def test_minimum_samples() -> None:
    assert tier_for(WindowStats(MIN_WINDOW_ORDERS - 1, 10)) is Tier.NORMAL
    assert tier_for(WindowStats(MIN_WINDOW_ORDERS, MIN_WINDOW_COMPLAINTS - 1)) is Tier.NORMAL
    assert tier_for(WindowStats(MIN_WINDOW_ORDERS, MIN_WINDOW_COMPLAINTS)) is Tier.SUSPENDED


def test_window_counts_only_the_last_30_days() -> None:
    acts = [
        Activity(ActivityKind.ORDER, NOW - WINDOW_S - 1),
        Activity(ActivityKind.ORDER, NOW - 10),
        Activity(ActivityKind.COMPLAINT, NOW),
        Activity(ActivityKind.FAULT, NOW),
    ]
    assert window_stats(acts, NOW) == WindowStats(1, 1)


stats = st.builds(WindowStats, st.integers(0, 500), st.integers(0, 80))
states = st.builds(TierState, st.sampled_from(list(Tier)), st.integers(NOW - 60 * 86_400, NOW))


@given(states, stats)
def test_escalation_is_immediate_and_tiers_never_skip_down(s: TierState, w: WindowStats) -> None:
    new = next_tier(s, w, NOW)
    target = tier_for(w)
    if target > s.tier:
        assert new == TierState(target, NOW)
    else:
        assert new.tier in (s.tier, Tier(max(0, s.tier - 1)))
    if new.tier < s.tier:
        assert NOW - s.since >= MIN_DWELL_S  # recovery only after the dwell time
        assert new.since == NOW


@given(stats)
def test_escalation_is_monotone_in_complaints(w: WindowStats) -> None:
    worse = WindowStats(w.orders, w.complaints + 1)
    assert tier_for(worse) >= tier_for(w)


def test_hysteresis_holds_between_exit_and_entry() -> None:
    s = TierState(Tier.RESTRICTED, NOW - 30 * 86_400)
    between = WindowStats(1000, int(1000 * (TIER_EXIT[Tier.RESTRICTED] + 0.005)))  # 4.25%
    assert tier_for(between) is Tier.WARN  # would not enter restricted at this rate...
    assert next_tier(s, between, NOW) == s  # ...but does not leave it either
    below = WindowStats(1000, 30)  # 3% < exit 3.75%
    assert next_tier(s, below, NOW) == TierState(Tier.WARN, NOW)


def test_recovery_path_of_a_suspended_streamer() -> None:
    """Suspended -> (no orders: window empties) -> restricted -> warn -> normal, a week each."""
    s = TierState(Tier.SUSPENDED, NOW)
    empty = WindowStats(0, 0)
    assert next_tier(s, empty, NOW + MIN_DWELL_S - 1) == s
    t = NOW + MIN_DWELL_S
    path = []
    for _ in range(4):
        s = next_tier(s, empty, t)
        path.append(s.tier)
        t += MIN_DWELL_S
    assert path == [Tier.RESTRICTED, Tier.WARN, Tier.NORMAL, Tier.NORMAL]


@settings(max_examples=50)
@given(activities)
def test_score_report_commitment_is_stable(acts: list[Activity]) -> None:
    s, terms, sums = compute_score(acts, NOW)
    w = window_stats(acts, NOW)
    a = ScoreReport("0xS", NOW, s, terms, sums, w, tier_for(w), NOW)
    b = ScoreReport("0xS", NOW, s, dict(terms), dict(sums), w, tier_for(w), NOW)
    assert a.commitment() == b.commitment() and len(a.commitment()) == 32
