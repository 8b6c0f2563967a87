"""Provenance ledger: signed EPCIS events, hash chains, the Merkle log, verdicts."""

from __future__ import annotations

from provenance._anchor import AnchoredHead, Anchorer, AnchorResult
from provenance._audit import AuditReport, audit_log
from provenance._bundle import (
    BUNDLE_FORMAT,
    batch_evidence,
    build_bundle,
    bundle_bytes,
    bundle_chain,
    bundle_gzip,
    chain_reference,
    verify_batch,
    verify_bundle,
)
from provenance._epcis import Event, canonical_id, parse_document, to_document
from provenance._errors import (
    AnchorFailed,
    BundleMalformed,
    ConsistencyProofInvalid,
    InclusionProofInvalid,
    KeyNotValidAtTime,
    MalformedEvent,
    ProofError,
    ProvenanceError,
    ReplayRejected,
    RoleNotAllowed,
    SignatureInvalid,
    StoreError,
    UnknownActor,
    UnknownBatch,
)
from provenance._hashid import event_hash_id, prehash_string
from provenance._ledger import IngestResult, Ledger, Signer, StoredEvent
from provenance._merkle import (
    ConsistencyProof,
    InclusionProof,
    MerkleLog,
    TreeHead,
    verify_consistency,
    verify_inclusion,
)
from provenance._registry import (
    AnchorLedger,
    CachedAnchors,
    CachedDirectory,
    KeyDirectory,
    MemoryRegistry,
)
from provenance._roles import ROLE_TABLE, Role
from provenance._signing import KeyPair, verify_signature
from provenance._store import Store
from provenance._trace import trace_batch
from provenance._verify import (
    DEFAULT_PROFILE,
    FINDING_CODES,
    PROFILES,
    Finding,
    Profile,
    Verdict,
    VerifiedRecords,
    check_evidence,
)

__all__ = [
    "BUNDLE_FORMAT",
    "DEFAULT_PROFILE",
    "FINDING_CODES",
    "PROFILES",
    "ROLE_TABLE",
    "AnchorFailed",
    "AnchorLedger",
    "AnchorResult",
    "AnchoredHead",
    "Anchorer",
    "AuditReport",
    "BundleMalformed",
    "CachedAnchors",
    "CachedDirectory",
    "ConsistencyProof",
    "ConsistencyProofInvalid",
    "Event",
    "Finding",
    "InclusionProof",
    "InclusionProofInvalid",
    "IngestResult",
    "KeyDirectory",
    "KeyNotValidAtTime",
    "KeyPair",
    "Ledger",
    "MalformedEvent",
    "MemoryRegistry",
    "MerkleLog",
    "Profile",
    "ProofError",
    "ProvenanceError",
    "ReplayRejected",
    "Role",
    "RoleNotAllowed",
    "SignatureInvalid",
    "Signer",
    "Store",
    "StoreError",
    "StoredEvent",
    "TreeHead",
    "UnknownActor",
    "UnknownBatch",
    "Verdict",
    "VerifiedRecords",
    "audit_log",
    "batch_evidence",
    "build_bundle",
    "bundle_bytes",
    "bundle_chain",
    "bundle_gzip",
    "canonical_id",
    "chain_reference",
    "check_evidence",
    "event_hash_id",
    "parse_document",
    "prehash_string",
    "to_document",
    "trace_batch",
    "verify_batch",
    "verify_bundle",
    "verify_consistency",
    "verify_inclusion",
    "verify_signature",
]
