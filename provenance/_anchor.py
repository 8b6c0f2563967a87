"""Anchoring tree heads on chain, crash-safe and idempotent (the audit: ``provenance._audit``).

Protocol of :meth:`Anchorer.anchor` (one transaction per tree head, any number of events):

(1) reconcile: every ``intent`` row left by an earlier run is looked up on chain by root
    (``by_root``); found -> recorded as confirmed with the chain's index, time and tx
    (``tx_of``); not found -> it was never mined and is sent again in step 4;
(2) head: the log's current size and root; nothing to do if that size is already anchored;
(3) intent: the head is written as an ``intent`` row and committed *before* anything is
    sent, so a crash after sending always leaves a row that step 1 can settle;
(4) send: one ``anchor(log_id, tree_size, root)`` transaction; the contract refuses a root it
    already holds (``already anchored``), so a resend after a lost receipt settles through
    ``by_root`` instead of anchoring twice;
(5) confirm: the receipt is recorded on the intent row.

A process killed anywhere in 3-5 therefore neither loses the anchor (the intent survives and
is reconciled), nor duplicates it (the contract refuses the root), nor mis-attributes it
(rows are matched to chain records by root, and the chain's log id and tree size must agree).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from provenance._errors import AnchorFailed, ProvenanceError, StoreError
from provenance._ledger import Ledger
from provenance._merkle import TreeHead
from provenance._registry import AnchorLedger, AnchorLike
from provenance._store import ANCHORS

__all__ = [
    "ALREADY_ANCHORED",
    "ANCHOR_INTERVAL_S",
    "AnchorResult",
    "AnchoredHead",
    "Anchorer",
    "latest_anchor",
]

ALREADY_ANCHORED = "already anchored"  # AnchorRegistry.vy revert reason for a known root
# Default period of the service's anchoring loop: one transaction a minute bounds both the
# chain cost (1,440 tx/day whatever the volume) and how long an event stays not_anchored.
ANCHOR_INTERVAL_S = 60.0
INTENT = "intent"
T = TypeVar("T")
CONFIRMED = "confirmed"


@dataclass(frozen=True)
class AnchoredHead:
    """A confirmed anchor as we recorded it."""

    log_id: int
    tree_size: int
    root: bytes
    chain_index: int
    tx_hash: str | None
    timestamp: int
    block_number: int | None = None
    gas_used: int | None = None

    @property
    def head(self) -> TreeHead:
        return TreeHead(self.tree_size, self.root)

    def to_json(self) -> dict[str, Any]:
        return {
            "log_id": self.log_id,
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "index": self.chain_index,
            "tx_hash": self.tx_hash,
            "timestamp": self.timestamp,
            "block_number": self.block_number,
            "gas_used": self.gas_used,
        }


@dataclass(frozen=True)
class AnchorResult:
    status: str  # anchored | up_to_date | empty
    head: AnchoredHead | None
    new_events: int
    recovered: int  # intents from an earlier run settled in step 1

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "new_events": self.new_events,
            "recovered": self.recovered,
            **(self.head.to_json() if self.head else {}),
        }


def _is_already_anchored(exc: Exception) -> bool:
    return getattr(exc, "reason", None) == ALREADY_ANCHORED


def _chain_step(what: str, call: Callable[[bytes], T], root: bytes) -> T:
    """A chain read of the protocol; the chain's own errors (they carry a ``code``: node
    unreachable, transaction lost) become :class:`AnchorFailed`, which the loop retries."""
    try:
        return call(root)
    except Exception as exc:
        if hasattr(exc, "code") and not isinstance(exc, ProvenanceError):
            raise AnchorFailed(f"{what} failed: {exc}") from exc
        raise


def _row_to_head(row: Any) -> AnchoredHead:
    return AnchoredHead(
        int(row.log_id),
        int(row.tree_size),
        bytes(row.root),
        int(row.chain_index),
        row.tx_hash,
        int(row.timestamp),
        row.block_number,
        row.gas_used,
    )


def latest_anchor(ledger: Ledger, at_most: int | None = None) -> AnchoredHead | None:
    """The largest confirmed anchored head of the ledger's log (optionally up to a size)."""
    t = ANCHORS
    q = select(t).where(t.c.log_id == ledger.log_id, t.c.state == CONFIRMED)
    if at_most is not None:
        q = q.where(t.c.tree_size <= at_most)
    with ledger.store.read() as conn:
        row = conn.execute(q.order_by(t.c.tree_size.desc()).limit(1)).first()
    return _row_to_head(row) if row is not None else None


class Anchorer:
    """Anchors the ledger's tree heads on an :class:`AnchorLedger` (see module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        chain: AnchorLedger,
        *,
        after_send: Callable[[], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.chain = chain
        self._after_send = after_send  # test hook: simulate a crash between 4 and 5

    def reconcile(self) -> int:
        """Step 1: settle intents left by an interrupted run; returns how many were settled."""
        t = ANCHORS
        with self.ledger.store.read() as conn:
            rows = conn.execute(
                select(t).where(t.c.log_id == self.ledger.log_id, t.c.state == INTENT)
            ).all()
        settled = 0
        for row in rows:
            root = bytes(row.root)
            found = _chain_step("reconciling an intent", self.chain.by_root, root)
            if found is not None:
                tx = _chain_step("reconciling an intent", self.chain.tx_of, root)
                self._confirm(row.id, found, tx, None, None)
                settled += 1
        return settled

    def anchor(self) -> AnchorResult:
        recovered = self.reconcile()
        head = self.ledger.head()
        previous = latest_anchor(self.ledger)
        if head.tree_size == 0:
            return AnchorResult("empty", None, 0, recovered)
        if previous is not None and previous.tree_size >= head.tree_size:
            return AnchorResult("up_to_date", previous, 0, recovered)
        row_id = self._intent(head)
        try:
            receipt = self.chain.anchor(self.ledger.log_id, head.tree_size, head.root)
        except Exception as exc:
            if not _is_already_anchored(exc):
                if hasattr(exc, "code"):
                    raise AnchorFailed(f"anchoring {head} failed: {exc}") from exc
                raise
            found = _chain_step("finding the anchor", self.chain.by_root, head.root)
            if found is None:  # pragma: no cover - contract invariant
                raise AnchorFailed(f"chain says {head} is anchored but cannot find it") from exc
            tx = _chain_step("finding the anchor", self.chain.tx_of, head.root)
            self._confirm(row_id, found, tx, None, None)
        else:
            if self._after_send is not None:
                self._after_send()
            found = _chain_step("confirming the anchor", self.chain.by_root, head.root)
            if found is None:
                raise AnchorFailed(f"anchor transaction for {head} left no record on chain")
            self._confirm(row_id, found, receipt.tx_hash, receipt.block_number, receipt.gas_used)
        done = latest_anchor(self.ledger)
        new = head.tree_size - (previous.tree_size if previous else 0)
        return AnchorResult("anchored", done, new, recovered)

    def run(
        self,
        stop: threading.Event,
        interval_s: float = ANCHOR_INTERVAL_S,
        on_result: Callable[[AnchorResult], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """The service's anchoring loop: anchor every ``interval_s`` until ``stop`` is set.

        Each round is one :meth:`anchor` (one transaction however many events arrived), so a
        crash or restart of the loop is as safe as a crash of a single ``livetrust anchor``.
        Errors of a round (chain unreachable) are reported and retried next round.
        """
        while not stop.is_set():
            try:
                result = self.anchor()
            except (AnchorFailed, StoreError) as exc:
                if on_error is not None:
                    on_error(exc)
            else:
                if on_result is not None:
                    on_result(result)
            stop.wait(interval_s)

    def _intent(self, head: TreeHead) -> int:
        t = ANCHORS
        try:
            with self.ledger.store.begin() as conn:
                existing = conn.execute(
                    select(t.c.id).where(
                        t.c.log_id == self.ledger.log_id, t.c.tree_size == head.tree_size
                    )
                ).scalar()
                if existing is not None:
                    return int(existing)
                res = conn.execute(
                    t.insert().values(
                        log_id=self.ledger.log_id,
                        tree_size=head.tree_size,
                        root=head.root,
                        state=INTENT,
                        created_at=int(time.time()),
                    )
                )
                return int(res.inserted_primary_key[0])  # type: ignore[index]
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise AnchorFailed(f"another anchorer is anchoring {head}; retry") from exc
            raise

    def _confirm(
        self,
        row_id: int,
        found: AnchorLike,
        tx_hash: str | None,
        block_number: int | None,
        gas_used: int | None,
    ) -> None:
        t = ANCHORS
        with self.ledger.store.begin() as conn:
            row = conn.execute(select(t).where(t.c.id == row_id)).one()
            if found.log_id != row.log_id or found.tree_size != row.tree_size:
                raise AnchorFailed(
                    f"expected chain anchor of log {row.log_id} size {row.tree_size}, "
                    f"found log {found.log_id} size {found.tree_size} for the same root"
                )
            conn.execute(
                update(t)
                .where(t.c.id == row_id)
                .values(
                    state=CONFIRMED,
                    chain_index=found.index,
                    tx_hash=tx_hash,
                    timestamp=found.timestamp,
                    block_number=block_number,
                    gas_used=gas_used,
                )
            )
