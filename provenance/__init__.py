"""Provenance ledger: signed EPCIS events, hash chains, the Merkle log, verdicts."""
