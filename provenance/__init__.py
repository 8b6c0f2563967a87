"""Provenance ledger: signed EPCIS events, hash chains, the Merkle log, verdicts."""

from __future__ import annotations

from provenance._errors import *  # noqa: F403
from provenance._merkle import (
    ConsistencyProof,
    InclusionProof,
    MerkleLog,
    TreeHead,
    verify_consistency,
    verify_inclusion,
)
