"""The public surface of the dispute services is what we meant, and every error has a code."""

from __future__ import annotations

import services
from services import _errors

EXPECTED = {
    "RULES", "Activity", "ActivityKind", "BadInput", "Decision", "DisputeError",
    "DisputeReason", "DisputeStore", "EvidenceDoc", "EvidenceInvalid", "EvidenceKind",
    "OrderBook", "OrderFacts", "OrderView", "Reason", "ScoreReport",
    "StoreFailed", "TierState", "UnknownAccount", "UnknownOrder",
    "UnknownReason", "UnknownRuling", "WindowStats", "WrongState", "compute_score", "decide",
    "human_decision", "next_tier", "tier_for",
    # institutions (issue 8): personas, the negative list, origin cameras
    "NegativeList", "NegativeListInvalid", "OriginEvidence", "PersonaCheck", "PersonaInvalid",
    "PersonaRecord", "PersonaStore", "ScreeningReport", "ScreeningStore", "ScriptUnreadable",
    "SignedPersona", "UnknownPersona", "batch_origin_report", "check_persona",
    "load_negative_list", "origin_evidence", "record_origin_video", "register_persona",
    "screen_file", "screen_lines",
}  # fmt: skip


def test_exported_members() -> None:
    assert set(services.__all__) == EXPECTED, set(services.__all__) ^ EXPECTED
    assert all(hasattr(services, name) for name in EXPECTED)


def test_every_error_has_a_distinct_stable_code() -> None:
    classes = [getattr(_errors, n) for n in _errors.__all__]
    assert all(issubclass(c, services.DisputeError) for c in classes)
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes)
    assert all(c == c.lower() and " " not in c for c in codes)


def test_cli_start_up_does_not_load_the_chain_stack() -> None:
    """``livetrust --help`` stays fast: web3 and SQLAlchemy load only when a command runs."""
    import subprocess
    import sys

    code = "import sys, services.cli; print('web3' in sys.modules, 'sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
