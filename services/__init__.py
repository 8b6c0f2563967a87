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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Lazy re-exports (PEP 562): ``import services.cli`` must not pay for web3 and SQLAlchemy
# (seconds at start-up) when a command does not need them.
_WHERE: dict[str, str] = {
    "Activity": "services._credit",
    "ActivityKind": "services._credit",
    "BadInput": "services._errors",
    "Decision": "services._oracle",
    "DisputeError": "services._errors",
    "DisputeReason": "services._orders",
    "DisputeStore": "services._store",
    "EvidenceDoc": "services._evidence",
    "EvidenceInvalid": "services._errors",
    "EvidenceKind": "services._evidence",
    "OrderBook": "services._orders",
    "OrderFacts": "services._oracle",
    "OrderView": "services._orders",
    "RULES": "services._oracle",
    "Reason": "services._oracle",
    "ScoreReport": "services._credit",
    "StoreFailed": "services._errors",
    "TierState": "services._credit",
    "UnknownAccount": "services._errors",
    "UnknownOrder": "services._errors",
    "UnknownReason": "services._errors",
    "UnknownRuling": "services._errors",
    "WindowStats": "services._credit",
    "WrongState": "services._errors",
    "compute_score": "services._credit",
    "decide": "services._oracle",
    "human_decision": "services._oracle",
    "next_tier": "services._credit",
    "tier_for": "services._credit",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'services' has no attribute {name!r}")
