"""Signed records in a named side log: the shape clip manifests and persona versions share.

A *side log* is a Merkle log of the provenance store under its own log id (provenance's
events are log 1, clip manifests 2, personas 3): same tables (``prov_logs``,
``prov_merkle_nodes``), same RFC 9162 hashing, anchored by the same crash-safe
``Anchorer``. Each leaf is a *signed record*: the canonical JSON
``{<leaf key>: <record JSON>, "signature": <base64>}`` of a record signed with Ed25519 over
``<domain> + <canonical record>``.

What differs per kind (the record's fields, its table, its validation on append) stays
with the kind; what is the same lives here once:

- :class:`SignedRecord`: signature check, leaf bytes and hash of a frozen dataclass with
  ``signature`` and a record (``SIGN_DOMAIN`` / ``LEAF_KEY`` class constants);
- :func:`sign_record`: sign with the record's own key (a mismatch raises the caller's error);
- :class:`SideLog`: append a leaf in the same transaction as the kind's own row (the log
  row is locked, so writers serialise), anchor, latest anchor, inclusion proofs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, select, update

from provenance._anchor import AnchoredHead, Anchorer, AnchorResult, latest_anchor
from provenance._ledger import Ledger
from provenance._merkle import InclusionProof, append_nodes, frontier_keys, leaf_hash
from provenance._registry import AnchorLedger, MemoryRegistry
from provenance._store import LOGS, DbNodeStore, Store

__all__ = ["SideLog", "SignableRecord", "SignedRecord", "record_json", "sign_record"]


def record_json(value: Any) -> bytes:
    """Canonical JSON of a record or leaf: UTF-8, keys sorted, no whitespace, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


class SignableRecord(Protocol):
    """What a signed record signs: its canonical bytes, under the key it names."""

    @property
    def public_key(self) -> bytes: ...

    @property
    def canonical(self) -> bytes: ...

    def to_json(self) -> dict[str, Any]: ...


def sign_record(
    record: SignableRecord,
    key: Ed25519PrivateKey,
    domain: bytes,
    mismatch: Callable[[str], Exception],
) -> bytes:
    """Ed25519 signature over ``domain + record.canonical``; the key must be the one the
    record names (else ``mismatch(message)`` is raised: each kind has its typed error)."""
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    if public != record.public_key:
        raise mismatch("the record names another public key than the signing key")
    return key.sign(domain + record.canonical)


class SignedRecord:
    """Mixin for a frozen dataclass ``(<record>, signature)``: subclasses set ``SIGN_DOMAIN``
    and ``LEAF_KEY`` and return the record from :attr:`body`."""

    SIGN_DOMAIN: ClassVar[bytes]
    LEAF_KEY: ClassVar[str]
    signature: bytes

    @property
    def body(self) -> SignableRecord:
        raise NotImplementedError

    def signature_ok(self) -> bool:
        try:
            pk = Ed25519PublicKey.from_public_bytes(self.body.public_key)
            pk.verify(self.signature, self.SIGN_DOMAIN + self.body.canonical)
        except (InvalidSignature, ValueError):
            return False
        return True

    def leaf_bytes(self) -> bytes:
        sig = base64.b64encode(self.signature).decode("ascii")
        return record_json({self.LEAF_KEY: self.body.to_json(), "signature": sig})

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.leaf_bytes())


class SideLog:
    """One named side log of the provenance store (see the module docstring)."""

    def __init__(self, store: Store, log_id: int) -> None:
        self.store = store
        self.log_id = log_id
        # the provenance ledger over this log id: head, proofs and the Anchorer's protocol;
        # it never ingests events here, so its key directory is never consulted
        self.ledger = Ledger(store, MemoryRegistry(), log_id=log_id)

    def append(self, leaf: bytes, insert: Callable[[Connection, int], None]) -> int:
        """In one transaction: lock the log, ``insert(conn, seq)`` the kind's row (it may
        refuse by raising), append ``leaf`` (a leaf hash) as leaf ``seq``; returns ``seq``."""
        logs = LOGS
        with self.store.begin() as conn:
            conn.execute(
                update(logs).where(logs.c.log_id == self.log_id).values(size=logs.c.size)
            )  # lock the log row: writers serialise
            size = int(
                conn.execute(select(logs.c.size).where(logs.c.log_id == self.log_id)).scalar_one()
            )
            insert(conn, size)
            nodes = DbNodeStore(conn, self.log_id)
            frontier = dict(nodes.get_nodes(frontier_keys(size))) if size else {}
            nodes.put_nodes(append_nodes(size, frontier, [leaf]))
            conn.execute(update(logs).where(logs.c.log_id == self.log_id).values(size=size + 1))
        return size

    def anchor(self, chain: AnchorLedger) -> AnchorResult:
        """Anchor the log's head: one transaction for every leaf since the last anchor."""
        return Anchorer(self.ledger, chain).anchor()

    def latest_anchor(self) -> AnchoredHead | None:
        return latest_anchor(self.ledger)

    def inclusion_proof(self, seq: int, tree_size: int) -> InclusionProof:
        return self.ledger.inclusion_proof(seq, tree_size)
