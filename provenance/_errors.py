"""Errors of the provenance ledger.

::

    ProvenanceError (code="provenance_error")
    ├── MalformedEvent          code="malformed_event"          not valid EPCIS 2.0 JSON/JSON-LD
    ├── UnknownActor            code="unknown_actor"            no such actor (locally or on chain)
    ├── SignatureInvalid        code="signature_invalid"        Ed25519 signature does not verify
    ├── RoleNotAllowed          code="role_not_allowed"         role may not sign this bizStep
    ├── KeyNotValidAtTime       code="key_not_valid_at_time"    key not valid at eventTime
    ├── ReplayRejected          code="replay_rejected"          Event Hash ID already recorded
    ├── UnknownBatch            code="unknown_batch"            no event names this batch
    ├── BundleMalformed         code="bundle_malformed"         a proof bundle does not parse
    ├── AnchorFailed            code="anchor_failed"            anchoring could not complete
    ├── StoreError              code="store_error"              the database refused an operation
    └── ProofError              code="proof_invalid"            a Merkle proof does not verify
        ├── InclusionProofInvalid    code="inclusion_proof_invalid"
        └── ConsistencyProofInvalid  code="consistency_proof_invalid"

Every error carries a stable ``code``; callers (CLI, API, tests) switch on ``code``, never on
message text. SQLAlchemy errors are translated once, in ``provenance._store``.
"""

from __future__ import annotations

__all__ = [
    "AnchorFailed",
    "BundleMalformed",
    "ConsistencyProofInvalid",
    "InclusionProofInvalid",
    "KeyNotValidAtTime",
    "MalformedEvent",
    "ProofError",
    "ProvenanceError",
    "ReplayRejected",
    "RoleNotAllowed",
    "SignatureInvalid",
    "StoreError",
    "UnknownActor",
    "UnknownBatch",
]


class ProvenanceError(Exception):
    """Root of every provenance error; ``code`` is stable, the message is for people."""

    code = "provenance_error"


class MalformedEvent(ProvenanceError, ValueError):
    code = "malformed_event"


class UnknownActor(ProvenanceError, LookupError):
    code = "unknown_actor"


class SignatureInvalid(ProvenanceError, ValueError):
    code = "signature_invalid"


class RoleNotAllowed(ProvenanceError, PermissionError):
    code = "role_not_allowed"


class KeyNotValidAtTime(ProvenanceError, PermissionError):
    code = "key_not_valid_at_time"


class ReplayRejected(ProvenanceError, ValueError):
    code = "replay_rejected"


class UnknownBatch(ProvenanceError, LookupError):
    code = "unknown_batch"


class BundleMalformed(ProvenanceError, ValueError):
    code = "bundle_malformed"


class AnchorFailed(ProvenanceError):
    code = "anchor_failed"


class StoreError(ProvenanceError):
    code = "store_error"


class ProofError(ProvenanceError, ValueError):
    code = "proof_invalid"


class InclusionProofInvalid(ProofError):
    code = "inclusion_proof_invalid"


class ConsistencyProofInvalid(ProofError):
    code = "consistency_proof_invalid"
