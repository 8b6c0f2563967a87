"""The oracle on real provenance: a batch recorded, signed and anchored by the provenance
package; the oracle fetches its verdict and proof bundle itself and rules."""

from __future__ import annotations

import json
from pathlib import Path

from contracts import Chain, RulingCode
from services._disputes_demo import BREACH_TEMPS, record_batch
from services._orders import DisputeReason, OrderBook
from services._provsource import LedgerSource
from services._store import DisputeStore

ETH = 10**18


def test_breach_recorded_in_provenance_is_ruled_without_a_human(
    embedded_chain: Chain, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'livetrust.db'}"
    store = DisputeStore.open(url)
    book = OrderBook(embedded_chain, store, tmp_path, LedgerSource(url, embedded_chain))
    good = record_batch(embedded_chain, url, "T1")
    warm = record_batch(embedded_chain, url, "T2", BREACH_TEMPS)
    buyer, seller = embedded_chain.accounts[1], embedded_chain.accounts[2]
    book.post_bond(seller, 10 * ETH)

    o = book.create_order(buyer, seller, ETH, 86_400, 86_400, batch=warm)
    book.open_dispute(o.order_id, DisputeReason.QUALITY)
    d = book.rule(o.order_id)
    assert d.code is RulingCode.QUALITY_FAILURE
    assert [r.rule for r in d.reasons] == ["cold_chain_breach"]
    st = book.status(o.order_id)
    kinds = sorted(e["kind"] for e in st["evidence"])
    assert kinds == ["proof_bundle", "provenance_verdict"]
    # anyone can re-check: the filed verdict is the provenance verdict for the batch
    verdict = next(
        json.loads(Path(tmp_path / "evidence" / e["sha256"][7:]).read_text())
        for e in st["evidence"]
        if e["kind"] == "provenance_verdict"
    )
    assert {f["code"] for f in verdict["findings"]} == {"cold_chain_breach"}
    assert sorted(e["sha256"] for e in st["evidence"]) == list(d.evidence_hashes)

    clean = book.create_order(buyer, seller, ETH, 86_400, 86_400, batch=good)
    book.open_dispute(clean.order_id, DisputeReason.QUALITY)
    d = book.rule(clean.order_id)
    assert d.needs_human  # an intact batch: nothing parametric, a person decides
    store.close()
