"""Errors of the dispute services (orders, disputes, oracle, credit score, store).

::

    DisputeError (code="dispute_error")
    ├── BadInput         code="bad_input"         an argument does not parse (amount, window)
    ├── UnknownAccount   code="unknown_account"   neither an address nor an account index
    ├── UnknownOrder     code="unknown_order"     no such order in the escrow
    ├── UnknownReason    code="unknown_reason"    dispute reason not in the reason table
    ├── UnknownRuling    code="unknown_ruling"    ruling code not in the payout table
    ├── EvidenceInvalid  code="evidence_invalid"  evidence unreadable, too big, or malformed
    ├── WrongState       code="wrong_state"       the order/dispute does not allow this now
    ├── StoreFailed      code="store_failed"      the database refused a read or write
    ├── NegativeListInvalid code="negative_list_invalid"  a negative-list rule is malformed
    ├── ScriptUnreadable code="script_unreadable" (a BadInput) not a text script/caption
    ├── PersonaInvalid   code="persona_invalid"   (a BadInput) persona record malformed/unsigned
    └── UnknownPersona   code="unknown_persona"   no persona registered for the streamer

Chain errors (``contracts.ChainError``) pass through unchanged: they carry their own codes.
SQLAlchemy errors are translated once, in ``services._store``.
"""

from __future__ import annotations

__all__ = [
    "BadInput",
    "DisputeError",
    "EvidenceInvalid",
    "NegativeListInvalid",
    "PersonaInvalid",
    "ScriptUnreadable",
    "StoreFailed",
    "UnknownAccount",
    "UnknownOrder",
    "UnknownPersona",
    "UnknownReason",
    "UnknownRuling",
    "WrongState",
]


class DisputeError(Exception):
    """Root of every dispute-service error; ``code`` is stable, the message is for people."""

    code = "dispute_error"


class BadInput(DisputeError, ValueError):
    code = "bad_input"


class UnknownAccount(DisputeError, ValueError):
    code = "unknown_account"


class UnknownOrder(DisputeError, LookupError):
    code = "unknown_order"


class UnknownReason(DisputeError, ValueError):
    code = "unknown_reason"


class UnknownRuling(DisputeError, ValueError):
    code = "unknown_ruling"


class EvidenceInvalid(DisputeError, ValueError):
    code = "evidence_invalid"


class WrongState(DisputeError):
    code = "wrong_state"


class StoreFailed(DisputeError):
    code = "store_failed"


# -- institutions (issue 8): negative list screening, persona registration ------------------


class NegativeListInvalid(DisputeError, ValueError):
    """The negative list file does not parse or a rule is malformed."""

    code = "negative_list_invalid"


class ScriptUnreadable(BadInput):
    """A script or caption file cannot be read as text."""

    code = "script_unreadable"


class PersonaInvalid(BadInput):
    """A persona record does not parse, is not signed by the streamer's key, or a claim is
    malformed."""

    code = "persona_invalid"


class UnknownPersona(DisputeError, LookupError):
    code = "unknown_persona"
