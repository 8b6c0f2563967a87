"""Dispute oracle, credit scores, the web service and the CLI, built on the core packages.

The dispute side as a library::

    from contracts import Chain
    from services import DisputeReason, DisputeStore, OrderBook

    with Chain.connect("embedded", home) as chain:
        book = OrderBook(chain, DisputeStore.open(f"sqlite:///{home}/livetrust.db"), home)
        order = book.create_order(buyer, seller, price_wei, ship_window=86_400,
                                  delivery_window=3 * 86_400, batch=lot)
        book.open_dispute(order.order_id, DisputeReason.QUALITY, [Path("verdict.json")])
        decision = book.rule(order.order_id)   # the oracle: a ruling on chain, or a human
"""

from __future__ import annotations

from services._credit import (
    Activity,
    ActivityKind,
    ScoreReport,
    TierState,
    WindowStats,
    compute_score,
    next_tier,
    tier_for,
)
from services._errors import (
    BadInput,
    DisputeError,
    EvidenceInvalid,
    StoreFailed,
    UnknownAccount,
    UnknownOrder,
    UnknownReason,
    UnknownRuling,
    WrongState,
)
from services._evidence import EvidenceDoc, EvidenceKind
from services._oracle import RULES, Decision, OrderFacts, Reason, decide, human_decision
from services._orders import DisputeReason, OrderBook, OrderView
from services._store import DisputeStore

__all__ = [
    "RULES",
    "Activity",
    "ActivityKind",
    "BadInput",
    "Decision",
    "DisputeError",
    "DisputeReason",
    "DisputeStore",
    "EvidenceDoc",
    "EvidenceInvalid",
    "EvidenceKind",
    "OrderBook",
    "OrderFacts",
    "OrderView",
    "Reason",
    "ScoreReport",
    "StoreFailed",
    "TierState",
    "UnknownAccount",
    "UnknownOrder",
    "UnknownReason",
    "UnknownRuling",
    "WindowStats",
    "WrongState",
    "compute_score",
    "decide",
    "human_decision",
    "next_tier",
    "tier_for",
]
