"""The provenance ledger as the oracle's evidence source.

For an order's batch the oracle asks the ledger for a fresh verdict
(``provenance.verify_batch``: signatures, hash chains, inclusion proofs, the on-chain root)
and the portable proof bundle (``provenance.build_bundle``), and files both as evidence of
the dispute. Their bytes are what the ruling's commitment hashes, so anyone can re-check the
ruling: ``livetrust proof verify`` on the same bundle gives the same findings, and the
oracle's rules applied to them give the same ruling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance import (
    Ledger,
    Store,
    UnknownBatch,
    build_bundle,
    bundle_bytes,
    chain_reference,
    verify_batch,
)
from services._evidence import canonical_json

if TYPE_CHECKING:
    from contracts import Chain

__all__ = ["LedgerSource"]


class LedgerSource:
    """``evidence_for(batch)`` from the provenance store at ``db_url`` and its chain."""

    def __init__(self, db_url: str, chain: Chain) -> None:
        self._db_url = db_url
        self._chain = chain

    def evidence_for(self, batch: str) -> list[tuple[str, bytes]]:
        """``[(name, bytes)]``: the batch's verdict and proof bundle; [] for an unknown batch."""
        store = Store.open(self._db_url)
        try:
            ledger = Ledger(store, self._chain.actors)
            try:
                verdict = verify_batch(ledger, batch, self._chain.anchors)
                bundle = build_bundle(ledger, batch, chain_reference(self._chain))
            except UnknownBatch:
                return []
            return [
                ("provenance-verdict.json", canonical_json(verdict.to_json())),
                ("proof-bundle.json", bundle_bytes(bundle)),
            ]
        finally:
            store.close()
