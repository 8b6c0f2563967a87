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
    from services._conduct import ScreeningStore
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
        NegativeListInvalid,
        PersonaInvalid,
        ScriptUnreadable,
        StoreFailed,
        UnknownAccount,
        UnknownOrder,
        UnknownPersona,
        UnknownReason,
        UnknownRuling,
        WrongState,
    )
    from services._evidence import EvidenceDoc, EvidenceKind
    from services._oracle import RULES, Decision, OrderFacts, Reason, decide, human_decision
    from services._orders import DisputeReason, OrderBook, OrderView
    from services._origin import (
        OriginEvidence,
        batch_origin_report,
        origin_evidence,
        record_origin_video,
    )
    from services._persona import (
        PersonaCheck,
        PersonaRecord,
        PersonaStore,
        SignedPersona,
        check_persona,
        register_persona,
    )
    from services._screening import (
        NegativeList,
        ScreeningReport,
        load_negative_list,
        screen_file,
        screen_lines,
    )
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
    "NegativeList",
    "NegativeListInvalid",
    "OrderBook",
    "OrderFacts",
    "OrderView",
    "OriginEvidence",
    "PersonaCheck",
    "PersonaInvalid",
    "PersonaRecord",
    "PersonaStore",
    "Reason",
    "ScoreReport",
    "ScreeningReport",
    "ScreeningStore",
    "ScriptUnreadable",
    "SignedPersona",
    "StoreFailed",
    "TierState",
    "UnknownAccount",
    "UnknownOrder",
    "UnknownPersona",
    "UnknownReason",
    "UnknownRuling",
    "WindowStats",
    "WrongState",
    "batch_origin_report",
    "check_persona",
    "compute_score",
    "decide",
    "human_decision",
    "load_negative_list",
    "next_tier",
    "origin_evidence",
    "record_origin_video",
    "register_persona",
    "screen_file",
    "screen_lines",
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
    "NegativeList": "services._screening",
    "NegativeListInvalid": "services._errors",
    "OrderBook": "services._orders",
    "OrderFacts": "services._oracle",
    "OrderView": "services._orders",
    "OriginEvidence": "services._origin",
    "PersonaCheck": "services._persona",
    "PersonaInvalid": "services._errors",
    "PersonaRecord": "services._persona",
    "PersonaStore": "services._persona",
    "RULES": "services._oracle",
    "Reason": "services._oracle",
    "ScoreReport": "services._credit",
    "ScreeningReport": "services._screening",
    "ScreeningStore": "services._conduct",
    "ScriptUnreadable": "services._errors",
    "SignedPersona": "services._persona",
    "StoreFailed": "services._errors",
    "TierState": "services._credit",
    "UnknownAccount": "services._errors",
    "UnknownOrder": "services._errors",
    "UnknownPersona": "services._errors",
    "UnknownReason": "services._errors",
    "UnknownRuling": "services._errors",
    "WindowStats": "services._credit",
    "WrongState": "services._errors",
    "batch_origin_report": "services._origin",
    "check_persona": "services._persona",
    "compute_score": "services._credit",
    "decide": "services._oracle",
    "human_decision": "services._oracle",
    "load_negative_list": "services._screening",
    "next_tier": "services._credit",
    "origin_evidence": "services._origin",
    "record_origin_video": "services._origin",
    "register_persona": "services._persona",
    "screen_file": "services._screening",
    "screen_lines": "services._screening",
    "tier_for": "services._credit",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'services' has no attribute {name!r}")
