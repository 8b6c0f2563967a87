"""The provenance ledger as the oracle's evidence source (when ``provenance`` offers it).

For an order's batch the oracle asks the ledger for a fresh verdict
(``provenance.verify_batch``: signatures, hash chains, inclusion proofs, the on-chain root)
and the portable proof bundle (``provenance.build_bundle``), and files both as evidence of
the dispute. Their bytes are what the ruling's commitment hashes, so anyone can re-check the
ruling with ``livetrust proof verify`` on the same bundle.

The package is reached through ``importlib`` so this module type-checks and imports on trees
where the provenance package has not landed; :meth:`LedgerSource.open` then returns None and
the oracle works from the verdict/bundle JSON files attached to the dispute.
"""

from __future__ import annotations

import importlib
from typing import Any

from services._evidence import canonical_json
from services.config import Settings

__all__ = ["LedgerSource"]


class LedgerSource:
    def __init__(self, prov: Any, settings: Settings, chain: Any) -> None:
        self._prov = prov
        self._settings = settings
        self._chain = chain

    @classmethod
    def open(cls, settings: Settings, chain: Any) -> LedgerSource | None:
        try:
            prov = importlib.import_module("provenance")
        except ImportError:  # pragma: no cover - package absent
            return None
        needed = ("Ledger", "Store", "verify_batch", "build_bundle", "bundle_bytes")
        if not all(hasattr(prov, name) for name in needed):
            return None
        return cls(prov, settings, chain)

    def evidence_for(self, batch: str) -> list[tuple[str, bytes]]:
        """``[(name, bytes)]``: the batch's verdict and proof bundle; [] for an unknown batch."""
        p = self._prov
        store = p.Store.open(self._settings.db_url)
        try:
            ledger = p.Ledger(store, self._chain.actors)
            try:
                verdict = p.verify_batch(ledger, batch, self._chain.anchors)
                bundle = p.build_bundle(ledger, batch)
            except p.ProvenanceError as exc:
                if getattr(exc, "code", "") == "unknown_batch":
                    return []
                raise
            return [
                ("provenance-verdict.json", canonical_json(verdict.to_json())),
                ("proof-bundle.json", bytes(p.bundle_bytes(bundle))),
            ]
        finally:
            store.close()
