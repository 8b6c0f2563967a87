"""The order and dispute book: escrow calls on chain, context in the store, oracle wiring.

:class:`OrderBook` is what the CLI, the demo and the benchmark drive. Every state change is
a transaction on ``DisputeEscrow`` first; only a mined transaction is recorded in the store,
together with what the chain cannot hold (batch, evidence files, ruling reasons) and the
activity the credit score is computed from. After every complaint, ruling and settlement
the seller's score is recomputed and, when the circuit-breaker tier changes, written on
chain with the hash of the score computation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from web3 import Web3

from contracts import ContractReverted, OrderState, RulingCode, Tier
from services._credit import (
    CONDUCT_WEIGHT,
    FAULT_SEVERITY,
    Activity,
    ActivityKind,
    ScoreReport,
    TierState,
    compute_score,
    next_tier,
    window_stats,
)
from services._errors import (
    BadInput,
    EvidenceInvalid,
    UnknownAccount,
    UnknownOrder,
    UnknownReason,
    UnknownRuling,
    WrongState,
)
from services._evidence import FAILING_QC_DISPOSITIONS, EvidenceDoc, canonical_json
from services._oracle import (
    LATE_GRACE_S,
    Decision,
    OrderFacts,
    decide,
    human_decision,
    receipt_in,
)
from services._store import ACTIVITY, DISPUTES, EVIDENCE, ORDERS, RULINGS, SCORES, TIERS

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from contracts import Chain, DisputeEscrow, Order, Receipt
    from services._store import DisputeStore

__all__ = [
    "DisputeReason",
    "OrderBook",
    "OrderView",
    "ProvenanceSource",
    "parse_account",
    "parse_duration",
    "parse_eth",
    "parse_reason",
    "parse_ruling",
]

WEI_PER_ETH = 10**18
BPS = 10_000  # as in DisputeEscrow.vy
MAX_URI = 256  # DisputeEscrow's Evidence.evidence is String[256]
# A receive event may be stamped a little ahead of the chain's clock (the carrier's scanner
# and the node disagree); one dated further ahead is not a delivery yet.
CLOCK_SKEW_S = 300
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


class DisputeReason(IntEnum):
    """Why the buyer disputes (stored on chain as ``reason``). The oracle rules on evidence,
    not on the reason: a buyer who says "late" but shows a cold-chain breach is refunded as
    for a quality failure."""

    LATE = 1
    QUALITY = 2
    COUNTERFEIT = 3
    MISLEADING = 4
    NOT_RECEIVED = 5
    OTHER = 9

    @property
    def label(self) -> str:
        return self.name.lower()


# --- parsing user input --------------------------------------------------------------------


def parse_account(chain: Chain, ref: str) -> str:
    """An account index into the node's unlocked accounts (test chains) or a 0x address."""
    ref = ref.strip()
    if ref.isdigit():
        accounts = chain.accounts
        i = int(ref)
        if i >= len(accounts):
            raise UnknownAccount(f"account index {i}: the node has {len(accounts)} accounts")
        return accounts[i]
    if Web3.is_address(ref):
        return str(Web3.to_checksum_address(ref))
    raise UnknownAccount(f"{ref!r} is neither an account index nor a 0x address")


def parse_eth(text: str) -> int:
    """``"0.5"`` ETH -> wei; refuses anything that is not a positive whole number of wei."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise BadInput(f"amount {text!r} is not a number of ETH") from exc
    wei = value * WEI_PER_ETH
    if not value.is_finite() or wei <= 0 or wei != wei.to_integral_value():
        raise BadInput(f"amount {text!r} must be positive and a whole number of wei")
    return int(wei)


def parse_duration(text: str) -> int:
    """``"90"`` seconds, ``"30m"``, ``"36h"``, ``"3d"``, ``"1w"`` -> seconds (> 0)."""
    m = _DURATION.match(text)
    if not m:
        raise BadInput(f"duration {text!r}: use seconds or a number with s, m, h, d or w")
    seconds = int(float(m.group(1)) * _UNITS[m.group(2)])
    if seconds <= 0:
        raise BadInput(f"duration {text!r} must be positive")
    return seconds


def _parse_enum(text: str, enum: type[IntEnum], error: type[Exception], what: str) -> Any:
    t = text.strip().lower().replace("-", "_")
    if t.isdigit():
        try:
            return enum(int(t))
        except ValueError:
            pass
    for member in enum:
        if member.name.lower() == t:
            return member
    names = ", ".join(m.name.lower() for m in enum)
    raise error(f"unknown {what} {text!r}; one of: {names}")


def parse_reason(text: str) -> DisputeReason:
    return _parse_enum(text, DisputeReason, UnknownReason, "dispute reason")  # type: ignore[no-any-return]


def parse_ruling(text: str) -> RulingCode:
    return _parse_enum(text, RulingCode, UnknownRuling, "ruling code")  # type: ignore[no-any-return]


# --- views ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderView:
    order_id: int
    buyer: str
    seller: str
    price: int
    state: OrderState
    ruling: int
    ship_by: int
    deliver_by: int
    deadline: int
    batch: str | None
    streamer: str | None
    tx: str | None = None
    destination: str | None = None
    received_at: int | None = None  # the provenance receive event that delivered it
    receipt_event: str | None = None

    @classmethod
    def of(
        cls,
        o: Order,
        batch: str | None,
        streamer: str | None,
        tx: str | None = None,
        destination: str | None = None,
        received_at: int | None = None,
        receipt_event: str | None = None,
    ) -> OrderView:
        """The chain's order ``o`` (money, state, deadlines: the source of truth) with what
        only the book knows (batch, streamer, delivery receipt)."""
        return cls(
            o.order_id,
            o.buyer,
            o.seller,
            o.price,
            o.state,
            o.ruling,
            o.ship_by,
            o.deliver_by,
            o.deadline,
            batch,
            streamer,
            tx,
            destination,
            received_at,
            receipt_event,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.order_id,
            "state": self.state.label,
            "buyer": self.buyer,
            "seller": self.seller,
            "streamer": self.streamer,
            "price": self.price,
            "batch": self.batch,
            "ship_by": self.ship_by,
            "deliver_by": self.deliver_by,
            "deadline": self.deadline,
            "ruling": RulingCode(self.ruling).label if self.ruling else None,
            "tx": self.tx,
            "destination": self.destination,
            "received_at": self.received_at,
            "receipt_event": self.receipt_event,
        }


class ProvenanceSource(Protocol):
    """Where the oracle fetches provenance evidence for a batch: ``[(file name, bytes)]``
    (a verdict, a proof bundle), e.g. :class:`services._provsource.LedgerSource`."""

    def evidence_for(self, batch: str) -> list[tuple[str, bytes]]: ...


# --- the book ------------------------------------------------------------------------------


class OrderBook:
    def __init__(
        self,
        chain: Chain,
        store: DisputeStore,
        home: Path,
        provenance: ProvenanceSource | None = None,
    ) -> None:
        self.chain = chain
        self.store = store
        self.evidence_dir = Path(home) / "evidence"
        self.provenance = provenance

    @property
    def escrow(self) -> DisputeEscrow:
        return self.chain.escrow

    @property
    def _addr(self) -> str:
        return self.escrow.address

    def account(self, ref: str) -> str:
        return parse_account(self.chain, ref)

    def seller_of(self, ref: str) -> str:
        """A streamer: account index, address, or the streamer id given on its orders."""
        try:
            return self.account(ref)
        except UnknownAccount:
            with self.store.begin() as conn:
                row = conn.execute(
                    select(ORDERS.c.seller).where(ORDERS.c.streamer == ref).limit(1)
                ).first()
            if row is None:
                raise UnknownAccount(
                    f"{ref!r} is not an account index, an address or a known streamer id"
                ) from None
            return str(row.seller)

    # -- reads -----------------------------------------------------------------------------

    def _chain_order(self, order_id: int) -> Order:
        if order_id < 0:
            raise UnknownOrder(f"no order {order_id} in the escrow at {self._addr}")
        try:
            return self.escrow.order(order_id)
        except ContractReverted as exc:
            if "unknown order" in exc.reason:
                raise UnknownOrder(f"no order {order_id} in the escrow at {self._addr}") from exc
            raise

    def _row(self, conn: Connection, table: Any, order_id: int) -> Any:
        return conn.execute(
            select(table).where(table.c.escrow == self._addr, table.c.order_id == order_id)
        ).first()

    def order(self, order_id: int) -> OrderView:
        """The order as the chain has it now, with the book's context; the cache follows."""
        o = self._chain_order(order_id)
        with self.store.begin() as conn:
            row = self._row(conn, ORDERS, order_id)
            if row is None:
                self._import(conn, o)
                row = self._row(conn, ORDERS, order_id)
            elif row.state != int(o.state):
                conn.execute(
                    ORDERS.update().where(ORDERS.c.id == row.id).values(state=int(o.state))
                )
        return OrderView.of(
            o,
            row.batch,
            row.streamer,
            row.tx,
            row.destination,
            row.received_at,
            row.receipt_event,
        )

    def _import(self, conn: Connection, o: Order, created_at: int | None = None) -> None:
        conn.execute(
            ORDERS.insert().values(
                escrow=self._addr,
                order_id=o.order_id,
                buyer=o.buyer,
                seller=o.seller,
                price=str(o.price),
                ship_by=o.ship_by,
                deliver_by=o.deliver_by,
                state=int(o.state),
                created_at=created_at if created_at is not None else self.chain.now(),
            )
        )

    def _ref(self, order_id: int) -> str:
        return f"{self._addr}:{order_id}"

    def _activity(
        self,
        conn: Connection,
        seller: str,
        kind: ActivityKind,
        at: int,
        ref: str,
        weight: float = 1.0,
    ) -> None:
        """Record once: (seller, kind, ref) is unique, so replays never double count."""
        t = ACTIVITY
        exists = conn.execute(
            select(t.c.id).where(t.c.seller == seller, t.c.kind == kind.value, t.c.ref == ref)
        ).first()
        if exists is None:
            conn.execute(
                t.insert().values(seller=seller, kind=kind.value, at=at, weight=weight, ref=ref)
            )

    # -- orders ----------------------------------------------------------------------------

    def create_order(
        self,
        buyer: str,
        seller: str,
        price: int,
        ship_window: int,
        delivery_window: int,
        batch: str | None = None,
        streamer: str | None = None,
        destination: str | None = None,
    ) -> OrderView:
        """The buyer opens and pays an order into escrow in one transaction.

        ``destination`` (an EPCIS location id such as an SGLN) is where the goods go: a
        receive event of ``batch`` there marks the order delivered (:meth:`sync_deliveries`).
        """
        self._can_pay(buyer, price)
        order_id, receipt = self.escrow.open_order(
            buyer, seller, price, ship_window, delivery_window
        )
        o = self.escrow.order(order_id)
        with self.store.begin() as conn:
            conn.execute(
                ORDERS.insert().values(
                    escrow=self._addr,
                    order_id=order_id,
                    buyer=o.buyer,
                    seller=o.seller,
                    streamer=streamer,
                    price=str(o.price),
                    batch=batch,
                    ship_by=o.ship_by,
                    deliver_by=o.deliver_by,
                    state=int(o.state),
                    created_at=receipt.timestamp,
                    tx=receipt.tx_hash,
                    destination=destination,
                )
            )
            self._activity(conn, seller, ActivityKind.ORDER, receipt.timestamp, self._ref(order_id))
        return OrderView.of(o, batch, streamer, receipt.tx_hash, destination)

    def _sync_state(self, order_id: int) -> OrderView:
        return self.order(order_id)

    def ship(self, order_id: int, sender: str | None = None) -> OrderView:
        o = self._chain_order(order_id)
        self.escrow.ship(order_id, sender or o.seller)
        return self._sync_state(order_id)

    def deliver(self, order_id: int, sender: str | None = None) -> OrderView:
        """Seller (or the oracle, from a provenance receive event) records delivery."""
        o = self._chain_order(order_id)
        self.escrow.mark_delivered(order_id, sender or o.seller)
        return self._sync_state(order_id)

    def sync_deliveries(self) -> dict[str, Any]:
        """The oracle marks orders delivered from provenance receive events.

        For every order with a batch that is paid or shipped and not yet seen received, the
        batch's verdict and proof bundle come from the ledger, and
        :func:`services._oracle.delivery_receipt` picks the receive event that is this
        order's delivery (intact, at its destination, not before payment). A shipped order
        with such an event is marked delivered on chain by the oracle's account (the buyer's
        confirm window starts); the event's time is kept and compared with ``deliver_by``
        (the ``late_delivery`` rule reads the same event if the buyer disputes). Orders
        delivered by their seller get the event recorded too. Idempotent: run it after
        ingesting events, from cron, or as ``livetrust order sync --watch``.
        """
        if self.provenance is None:
            raise WrongState("no provenance ledger to read receive events from")
        watched = (OrderState.PAID, OrderState.SHIPPED, OrderState.DELIVERED)
        with self.store.begin() as conn:
            rows = conn.execute(
                select(ORDERS)
                .where(
                    ORDERS.c.escrow == self._addr,
                    ORDERS.c.batch.is_not(None),
                    ORDERS.c.received_at.is_(None),
                    ORDERS.c.state.in_([int(s) for s in watched]),
                )
                .order_by(ORDERS.c.order_id)
            ).all()
        now = self.chain.now()
        evidence: dict[str, list[EvidenceDoc]] = {}  # one verdict + bundle per batch
        delivered: list[dict[str, Any]] = []
        waiting: list[int] = []
        for row in rows:
            o = self._chain_order(row.order_id)
            if o.state not in watched:
                self.order(row.order_id)  # the cache follows the chain
                continue
            if row.batch not in evidence:
                evidence[row.batch] = [
                    EvidenceDoc.from_bytes(raw, name)
                    for name, raw in self.provenance.evidence_for(row.batch)
                ]
            facts = OrderFacts(
                order_id=o.order_id,
                seller=o.seller,
                deliver_by=o.deliver_by,
                disputed_at=0,
                rule_by=o.deadline,
                batch=row.batch,
                opened_at=row.created_at,
                destination=row.destination,
            )
            receipt = receipt_in(facts, evidence[row.batch])
            if (
                receipt is None
                or receipt.time is None
                or receipt.time > now + CLOCK_SKEW_S  # a receipt dated in the future
                or o.state is OrderState.PAID  # the seller has not shipped on chain
            ):
                waiting.append(o.order_id)
                continue
            tx = None
            if o.state is OrderState.SHIPPED:
                try:
                    tx = self.escrow.mark_delivered(o.order_id, self.chain.sender).tx_hash
                except ContractReverted:
                    # the seller (or a dispute) got there first: record the receipt only if
                    # the order is delivered now; a revert for any other cause (our account
                    # is no oracle any more) is the operator's to see
                    now_state = self._chain_order(o.order_id).state
                    if now_state is OrderState.SHIPPED:
                        raise
                    if now_state is not OrderState.DELIVERED:
                        self.order(o.order_id)
                        continue
            with self.store.begin() as conn:
                conn.execute(
                    ORDERS.update()
                    .where(ORDERS.c.id == row.id)
                    .values(
                        state=int(OrderState.DELIVERED),
                        received_at=receipt.time,
                        receipt_event=receipt.hash_id,
                        delivered_tx=tx,
                    )
                )
            late_by = receipt.time - o.deliver_by
            delivered.append(
                {
                    "id": o.order_id,
                    "event": receipt.hash_id,
                    "location": receipt.location,
                    "received_at": receipt.time,
                    "deliver_by": o.deliver_by,
                    "late": late_by > LATE_GRACE_S,
                    "late_by": max(0, late_by),
                    "tx": tx,
                }
            )
        return {"checked": len(rows), "delivered": delivered, "waiting": waiting}

    def confirm(self, order_id: int, sender: str | None = None) -> OrderView:
        """The buyer accepts the goods: the seller is paid (a fulfilled order)."""
        o = self._chain_order(order_id)
        r = self.escrow.confirm(order_id, sender or o.buyer)
        with self.store.begin() as conn:
            self._activity(conn, o.seller, ActivityKind.FULFILLED, r.timestamp, self._ref(order_id))
        return self._sync_state(order_id)

    # -- disputes --------------------------------------------------------------------------

    def _keep(self, doc: EvidenceDoc, raw: bytes) -> Path:
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        path = self.evidence_dir / doc.sha256.removeprefix("sha256:")
        if not path.exists():
            path.write_bytes(raw)
        return path

    def _load_docs(self, paths: Sequence[Path]) -> list[tuple[EvidenceDoc, bytes]]:
        out = []
        for p in paths:
            try:
                raw = Path(p).read_bytes()
            except OSError as exc:
                raise EvidenceInvalid(f"cannot read evidence file {p}: {exc.strerror}") from exc
            out.append((EvidenceDoc.from_bytes(raw, Path(p).name), raw))
        return out

    def _record_evidence(
        self,
        conn: Connection,
        order_id: int,
        docs: Sequence[tuple[EvidenceDoc, bytes]],
        party: str | None,
        at: int,
        tx: str | None,
    ) -> None:
        for doc, raw in docs:
            if self._evidence_row(conn, order_id, doc.sha256) is not None:
                continue
            conn.execute(
                EVIDENCE.insert().values(
                    escrow=self._addr,
                    order_id=order_id,
                    sha256=doc.sha256,
                    kind=doc.kind.value,
                    name=doc.name[:300],
                    size=doc.size,
                    path=str(self._keep(doc, raw)),
                    party=party,
                    added_at=at,
                    tx=tx,
                )
            )

    def _evidence_row(self, conn: Connection, order_id: int, sha: str) -> Any:
        t = EVIDENCE
        return conn.execute(
            select(t.c.id).where(
                t.c.escrow == self._addr, t.c.order_id == order_id, t.c.sha256 == sha
            )
        ).first()

    def _uri(self, order_id: int) -> str:
        return f"livetrust://evidence/{self._addr}/{order_id}"[:MAX_URI]

    def open_dispute(
        self,
        order_id: int,
        reason: DisputeReason,
        evidence: Sequence[Path] = (),
        sender: str | None = None,
    ) -> dict[str, Any]:
        """The buyer disputes; evidence files are hashed, kept, and committed on chain."""
        o = self._chain_order(order_id)
        docs = self._load_docs(evidence)
        hashes = sorted({d.sha256 for d, _ in docs})
        # ERC-1497: the Evidence event's hash commits to every file (sorted hashes, canonical)
        commitment = hashlib.sha256(canonical_json(hashes)).digest() if hashes else b"\0" * 32
        buyer = sender or o.buyer
        r = self.escrow.dispute(order_id, buyer, int(reason), commitment, self._uri(order_id))
        after = self.escrow.order(order_id)
        with self.store.begin() as conn:
            if self._row(conn, ORDERS, order_id) is None:
                self._import(conn, o)
            conn.execute(
                DISPUTES.insert().values(
                    escrow=self._addr,
                    order_id=order_id,
                    reason=int(reason),
                    opened_at=r.timestamp,
                    rule_by=after.deadline,
                    status="open",
                    tx=r.tx_hash,
                )
            )
            self._record_evidence(conn, order_id, docs, buyer, r.timestamp, r.tx_hash)
            self._activity(conn, o.seller, ActivityKind.COMPLAINT, r.timestamp, self._ref(order_id))
        self.rescore(o.seller)
        return self.status(order_id)

    def add_evidence(
        self, order_id: int, evidence: Sequence[Path], sender: str | None = None
    ) -> dict[str, Any]:
        """More evidence for an open dispute, each file announced on chain (ERC-1497)."""
        o = self._chain_order(order_id)
        party = sender or o.buyer
        for doc, raw in self._load_docs(evidence):
            r = self.escrow.submit_evidence(
                order_id, party, bytes.fromhex(doc.sha256[7:]), self._uri(order_id)
            )
            with self.store.begin() as conn:
                self._record_evidence(conn, order_id, [(doc, raw)], party, r.timestamp, r.tx_hash)
        return self.status(order_id)

    def evidence(self, order_id: int) -> list[EvidenceDoc]:
        """The dispute's evidence files, re-read and re-hashed (a changed file is refused)."""
        with self.store.begin() as conn:
            rows = conn.execute(
                select(EVIDENCE)
                .where(EVIDENCE.c.escrow == self._addr, EVIDENCE.c.order_id == order_id)
                .order_by(EVIDENCE.c.id)
            ).all()
        docs = []
        for row in rows:
            doc = EvidenceDoc.from_path(Path(row.path))
            if doc.sha256 != row.sha256:
                raise EvidenceInvalid(
                    f"evidence file {row.path} changed: expected {row.sha256}, "
                    f"computed {doc.sha256}"
                )
            docs.append(EvidenceDoc(doc.sha256, doc.kind, row.name, doc.size, doc.data))
        return docs

    def _facts(self, o: Order) -> OrderFacts:
        with self.store.begin() as conn:
            orow = self._row(conn, ORDERS, o.order_id)
            drow = self._row(conn, DISPUTES, o.order_id)
        opened = drow.opened_at if drow is not None else self.chain.now()
        return OrderFacts(
            order_id=o.order_id,
            seller=o.seller,
            deliver_by=o.deliver_by,
            disputed_at=opened,
            rule_by=o.deadline,
            batch=orow.batch if orow is not None else None,
            streamer=orow.streamer if orow is not None else None,
            opened_at=orow.created_at if orow is not None else None,
            destination=orow.destination if orow is not None else None,
        )

    def _gather(self, order_id: int, batch: str | None) -> list[EvidenceDoc]:
        """Evidence the oracle fetches itself: the batch's provenance, when it has a source."""
        if self.provenance is None or not batch:
            return []
        docs = [
            (EvidenceDoc.from_bytes(raw, name), raw)
            for name, raw in self.provenance.evidence_for(batch)
        ]
        now = self.chain.now()
        with self.store.begin() as conn:
            self._record_evidence(conn, order_id, docs, self.chain.sender, now, None)
        return [d for d, _ in docs]

    def decide(self, order_id: int, code: RulingCode | None = None) -> Decision:
        """What the oracle (or, with ``code``, a human arbiter) decides, without sending it."""
        return self._decide(order_id, code, None)[0]

    def _decide(
        self, order_id: int, code: RulingCode | None, arbiter: str | None
    ) -> tuple[Decision, list[EvidenceDoc]]:
        o = self._chain_order(order_id)
        facts = self._facts(o)
        self._gather(order_id, facts.batch)
        docs = self.evidence(order_id)
        if code is not None:
            return human_decision(facts, docs, code, arbiter or self.chain.sender), docs
        return decide(facts, docs), docs

    def recheck(self, order_id: int) -> dict[str, Any]:
        """Re-derive the latest ruling from its evidence files and compare it with the
        ``evidence_hash`` of the order's last ``Ruling`` event on chain.

        Uses exactly the files the decision lists (evidence filed later is not part of it),
        re-hashed from disk; a human ruling is re-derived with the recorded arbiter."""
        o = self._chain_order(order_id)
        events = list(
            self.escrow.contract.events.Ruling().get_logs(
                argument_filters={"dispute_id": order_id}, from_block=0
            )
        )
        with self.store.begin() as conn:
            row = conn.execute(
                select(RULINGS)
                .where(
                    RULINGS.c.escrow == self._addr,
                    RULINGS.c.order_id == order_id,
                    RULINGS.c.tx.is_not(None),
                )
                .order_by(RULINGS.c.id.desc())
            ).first()
        if not events:
            raise WrongState(f"order {order_id} has no ruling on chain")
        on_chain = "0x" + bytes(events[-1]["args"]["evidence_hash"]).hex()
        chain_code = int(events[-1]["args"]["ruling"])
        if row is None:
            return {
                "ok": False,
                "order": order_id,
                "ruling": RulingCode(chain_code).label,
                "on_chain": on_chain,
                "recomputed": None,
                "evidence": [],
                "missing": [],
                "detail": "the book has no decision for this ruling",
            }
        stored = json.loads(row.decision)
        wanted = set(stored["evidence"])
        docs = [d for d in self.evidence(order_id) if d.sha256 in wanted]
        facts = self._facts(o)
        if stored["reasons"] and stored["reasons"][0]["rule"] == "arbiter":
            d = human_decision(facts, docs, RulingCode(row.code), row.arbiter)
        else:
            d = decide(facts, docs)
        recomputed = "0x" + d.commitment().hex()
        missing = sorted(wanted - {x.sha256 for x in docs})
        ok = recomputed == on_chain and d.code is not None and int(d.code) == chain_code
        return {
            "ok": ok,
            "order": order_id,
            "ruling": RulingCode(chain_code).label,
            "on_chain": on_chain,
            "recomputed": recomputed,
            "evidence": sorted(wanted),
            "missing": missing,
            "detail": "ruling re-derived from its evidence"
            if ok
            else "recomputed decision differs from the one committed on chain",
        }

    def rule(
        self, order_id: int, code: RulingCode | None = None, arbiter: str | None = None
    ) -> Decision:
        """Run the oracle now (or record a human arbiter's ``code``) and rule on chain.

        A decision that needs a human is recorded and queued (no transaction)."""
        o = self._chain_order(order_id)
        if o.state is not OrderState.DISPUTED:
            raise WrongState(f"order {order_id} is {o.state.label}, not disputed")
        d, docs = self._decide(order_id, code, arbiter)
        now = self.chain.now()
        receipt: Receipt | None = None
        if d.code is not None:
            receipt = self.escrow.rule(order_id, int(d.code), d.commitment(), arbiter)
            now = receipt.timestamp
        with self.store.begin() as conn:
            conn.execute(
                RULINGS.insert().values(
                    escrow=self._addr,
                    order_id=order_id,
                    code=int(d.code) if d.code else None,
                    needs_human=d.needs_human,
                    decision=json.dumps(d.to_json()),
                    commitment="0x" + d.commitment().hex(),
                    arbiter=arbiter or self.chain.sender,
                    tx=receipt.tx_hash if receipt else None,
                    at=now,
                )
            )
            conn.execute(
                DISPUTES.update()
                .where(DISPUTES.c.escrow == self._addr, DISPUTES.c.order_id == order_id)
                .values(
                    status="queued" if d.needs_human else "ruled",
                    human_deadline=d.human_deadline,
                )
            )
            if d.code is not None:
                self._outcome(conn, o.seller, order_id, d.code, now)
            self._qc_activity(conn, o.seller, docs, now)
        if d.code is not None:
            self.rescore(o.seller)
        return d

    def _qc_activity(
        self, conn: Connection, seller: str, docs: Sequence[EvidenceDoc], now: int
    ) -> None:
        """QC inspections seen in the dispute's provenance count towards the QC pass rate."""
        for doc in docs:
            facts = doc.provenance()
            if facts is None:
                continue
            for e in facts.qc_events:
                failed = e.disposition in FAILING_QC_DISPOSITIONS
                kind = ActivityKind.QC_FAIL if failed else ActivityKind.QC_PASS
                self._activity(conn, seller, kind, e.time or now, f"qc:{e.hash_id}")

    def _outcome(
        self, conn: Connection, seller: str, order_id: int, code: RulingCode | None, at: int
    ) -> None:
        """The ruling's effect on the score; an appeal's new ruling replaces the old one."""
        ref = self._ref(order_id)
        kinds = [ActivityKind.FAULT.value, ActivityKind.CLEARED.value]
        conn.execute(
            ACTIVITY.delete().where(
                ACTIVITY.c.seller == seller, ACTIVITY.c.ref == ref, ACTIVITY.c.kind.in_(kinds)
            )
        )
        if code is None:
            return
        severity = FAULT_SEVERITY[code]
        kind = ActivityKind.FAULT if severity > 0 else ActivityKind.CLEARED
        self._activity(conn, seller, kind, at, ref, severity or 1.0)

    # -- timeouts: every state has a way out ------------------------------------------------

    def refund_unshipped(self, order_id: int, sender: str | None = None) -> OrderView:
        """Not shipped by the deadline: anyone triggers the buyer's full refund."""
        o = self._chain_order(order_id)
        r = self.escrow.refund_unshipped(order_id, sender)
        with self.store.begin() as conn:
            ref = self._ref(order_id)
            self._activity(conn, o.seller, ActivityKind.UNFULFILLED, r.timestamp, ref)
        self.rescore(o.seller)
        return self._sync_state(order_id)

    def release_expired(self, order_id: int, sender: str | None = None) -> OrderView:
        """The buyer stayed silent past the confirm window: anyone releases to the seller."""
        o = self._chain_order(order_id)
        r = self.escrow.release_expired(order_id, sender)
        with self.store.begin() as conn:
            self._activity(conn, o.seller, ActivityKind.FULFILLED, r.timestamp, self._ref(order_id))
        self.rescore(o.seller)
        return self._sync_state(order_id)

    def default_rule(self, order_id: int, sender: str | None = None) -> dict[str, Any]:
        """Nobody ruled within the ruling window: anyone applies the default ruling. It is
        the platform's failure, not the seller's, so it is not scored as a fault."""
        self.escrow.default_rule(order_id, sender)
        with self.store.begin() as conn:
            conn.execute(
                DISPUTES.update()
                .where(DISPUTES.c.escrow == self._addr, DISPUTES.c.order_id == order_id)
                .values(status="ruled")
            )
        return self.status(order_id)

    def appeal(self, order_id: int, sender: str) -> dict[str, Any]:
        """A party appeals within the appeal window (once): the dispute is open again."""
        o = self._chain_order(order_id)
        r = self.escrow.appeal(order_id, sender)
        after = self.escrow.order(order_id)
        with self.store.begin() as conn:
            conn.execute(
                DISPUTES.update()
                .where(DISPUTES.c.escrow == self._addr, DISPUTES.c.order_id == order_id)
                .values(status="open", rule_by=after.deadline, human_deadline=None)
            )
            self._outcome(conn, o.seller, order_id, None, r.timestamp)
        self.rescore(o.seller)
        return self.status(order_id)

    def settle(self, order_id: int, sender: str | None = None) -> dict[str, Any]:
        """After the appeal window: the contract pays out the ruling (pull payments)."""
        o = self._chain_order(order_id)
        r = self.escrow.settle(order_id, sender)
        kind = (
            ActivityKind.FULFILLED if o.ruling == RulingCode.NO_FAULT else ActivityKind.UNFULFILLED
        )
        with self.store.begin() as conn:
            self._activity(conn, o.seller, kind, r.timestamp, self._ref(order_id))
            conn.execute(
                DISPUTES.update()
                .where(DISPUTES.c.escrow == self._addr, DISPUTES.c.order_id == order_id)
                .values(status="settled")
            )
        self.rescore(o.seller)
        return self.status(order_id)

    def _payout_table(self, code: int) -> tuple[int, int]:
        refund_bps, penalty_bps, _enabled = self.chain.call(self.escrow.fn.payout(code))
        return int(refund_bps), int(penalty_bps)

    def payouts(self, o: OrderView | Order) -> list[dict[str, Any]]:
        """Who gets what from this order (final once settled / released / refunded)."""
        if o.state is OrderState.RELEASED:
            return [{"to": o.seller, "party": "seller", "amount": o.price}]
        if o.state is OrderState.REFUNDED:
            return [{"to": o.buyer, "party": "buyer", "amount": o.price}]
        if o.state in (OrderState.RULED, OrderState.SETTLED) and o.ruling:
            refund_bps, penalty_bps = self._payout_table(o.ruling)
            refund = o.price * refund_bps // BPS
            penalty = o.price * penalty_bps // BPS
            out: list[dict[str, Any]] = [
                {"to": o.buyer, "party": "buyer", "amount": refund + penalty},
                {"to": o.seller, "party": "seller", "amount": o.price - refund},
            ]
            return [p for p in out if p["amount"] > 0]
        return []

    def status(self, order_id: int) -> dict[str, Any]:
        """``livetrust dispute status``: state, ruling, payouts, evidence, the decision."""
        view = self.order(order_id)
        with self.store.begin() as conn:
            drow = self._row(conn, DISPUTES, order_id)
            erows = conn.execute(
                select(EVIDENCE)
                .where(EVIDENCE.c.escrow == self._addr, EVIDENCE.c.order_id == order_id)
                .order_by(EVIDENCE.c.id)
            ).all()
            rrow = conn.execute(
                select(RULINGS)
                .where(RULINGS.c.escrow == self._addr, RULINGS.c.order_id == order_id)
                .order_by(RULINGS.c.id.desc())
            ).first()
        return {
            "id": order_id,
            "state": view.state.label,
            "ruling": RulingCode(view.ruling).label if view.ruling else None,
            "payouts": self.payouts(view),
            "paid": view.state in (OrderState.SETTLED, OrderState.RELEASED, OrderState.REFUNDED),
            "evidence": [
                {
                    "sha256": e.sha256,
                    "kind": e.kind,
                    "name": e.name,
                    "party": e.party,
                    "tx": e.tx,
                }
                for e in erows
            ],
            "dispute": None
            if drow is None
            else {
                "reason": DisputeReason(drow.reason).label
                if drow.reason in DisputeReason._value2member_map_
                else drow.reason,
                "opened_at": drow.opened_at,
                "rule_by": drow.rule_by,
                "status": drow.status,
                "human_deadline": drow.human_deadline,
            },
            "decision": None
            if rrow is None
            else {
                **json.loads(rrow.decision),
                "commitment": rrow.commitment,
                "tx": rrow.tx,
            },
            "deadline": view.deadline,
            "order": view.to_json(),
        }

    # -- money -----------------------------------------------------------------------------

    def _can_pay(self, account: str, amount: int) -> None:
        """Refuse a payment the account cannot cover before the node does (eth-tester's
        balance error is not a revert and would surface untranslated)."""
        balance = int(self.chain.w3.eth.get_balance(account))  # type: ignore[arg-type]
        if balance < amount:
            raise BadInput(
                f"{account} has {balance / WEI_PER_ETH:.6f} ETH, "
                f"cannot pay {amount / WEI_PER_ETH:.6f} ETH plus gas"
            )

    def post_bond(self, seller: str, amount: int) -> dict[str, Any]:
        self._can_pay(seller, amount)
        r = self.escrow.post_bond(seller, amount)
        return self.bond(seller) | {"tx": r.tx_hash}

    def withdraw_bond(self, seller: str, amount: int) -> dict[str, Any]:
        """Unlocked bond -> the seller's withdrawable credit (then ``withdraw``)."""
        r = self.escrow.withdraw_bond(seller, amount)
        return self.bond(seller) | {"tx": r.tx_hash}

    def bond(self, seller: str) -> dict[str, Any]:
        total, locked = self.escrow.bond_of(seller)
        return {
            "seller": seller,
            "total": total,
            "locked": locked,
            "free": total - locked,
            "credit": self.escrow.credit(seller),
        }

    def withdraw(self, account: str) -> dict[str, Any]:
        amount = self.escrow.credit(account)
        if amount == 0:
            raise WrongState(f"{account} has nothing to withdraw")
        r = self.escrow.withdraw(account)
        return {"account": account, "amount": amount, "tx": r.tx_hash}

    # -- credit ----------------------------------------------------------------------------

    def activity(self, seller: str) -> list[Activity]:
        with self.store.begin() as conn:
            rows = conn.execute(select(ACTIVITY).where(ACTIVITY.c.seller == seller)).all()
        return [Activity(ActivityKind(r.kind), r.at, r.weight) for r in rows]

    def _tier_state(self, conn: Connection, seller: str) -> TierState:
        row = conn.execute(select(TIERS).where(TIERS.c.seller == seller)).first()
        if row is None:
            return TierState(Tier.NORMAL, 0)
        return TierState(Tier(row.tier), row.since)

    def rescore(self, seller: str, write: bool = True, check_chain: bool = False) -> ScoreReport:
        """Recompute the seller's score and tier; write a changed tier on chain.

        The chain's tier is read only when the tier changes or ``check_chain`` (reconcile,
        ``streamer score``) asks: each read is an eth_call, the dominant cost per dispute."""
        now = self.chain.now()
        acts = self.activity(seller)
        score, terms, sums = compute_score(acts, now)
        stats = window_stats(acts, now)
        with self.store.begin() as conn:
            state = self._tier_state(conn, seller)
        new = next_tier(state, stats, now)
        report = ScoreReport(seller, now, score, terms, sums, stats, new.tier, new.since)
        if not write:
            return report
        tx = None
        if (new.tier != state.tier or check_chain) and new.tier != self.escrow.tier(seller):
            tx = self.escrow.set_tier(seller, new.tier, report.commitment()).tx_hash
        with self.store.begin() as conn:
            if new != state:
                conn.execute(TIERS.delete().where(TIERS.c.seller == seller))
                conn.execute(
                    TIERS.insert().values(seller=seller, tier=int(new.tier), since=new.since)
                )
            conn.execute(
                SCORES.insert().values(
                    seller=seller,
                    at=now,
                    score=score,
                    tier=int(new.tier),
                    report=json.dumps(report.to_json()),
                    commitment="0x" + report.commitment().hex(),
                    tx=tx,
                )
            )
        return report

    def score(self, seller: str) -> dict[str, Any]:
        """``livetrust streamer score``: the current computation plus the on-chain tier."""
        report = self.rescore(seller, check_chain=True)
        with self.store.begin() as conn:
            history = conn.execute(
                select(SCORES.c.at, SCORES.c.score, SCORES.c.tier)
                .where(SCORES.c.seller == seller)
                .order_by(SCORES.c.id.desc())
                .limit(10)
            ).all()
        return report.to_json() | {
            "commitment": "0x" + report.commitment().hex(),
            "tier_on_chain": self.escrow.tier(seller).label,
            "history": [
                {"at": h.at, "score": round(h.score, 4), "tier": Tier(h.tier).label}
                for h in history
            ],
        }

    def record_conduct(self, seller: str, kind: ActivityKind, ref: str) -> ScoreReport:
        """A conduct finding (issue 8: a contradicted persona claim, a flagged broadcast) into
        the seller's activity, once per ``ref``, weighted by ``CONDUCT_WEIGHT``; rescored."""
        with self.store.begin() as conn:
            self._activity(conn, seller, kind, self.chain.now(), ref, CONDUCT_WEIGHT[kind])
        return self.rescore(seller)

    # -- reconcile -------------------------------------------------------------------------

    def reconcile(self) -> dict[str, Any]:
        """Re-read every order from the chain; repair states, missing rows and activity."""
        count = self.escrow.order_count()
        imported = updated = 0
        sellers: set[str] = set()
        now = self.chain.now()
        for oid in range(count):
            o = self.escrow.order(oid)
            sellers.add(o.seller)
            ref = self._ref(oid)
            with self.store.begin() as conn:
                row = self._row(conn, ORDERS, oid)
                if row is None:
                    self._import(conn, o, now)
                    imported += 1
                    at = now
                elif row.state != int(o.state):
                    conn.execute(
                        ORDERS.update().where(ORDERS.c.id == row.id).values(state=int(o.state))
                    )
                    updated += 1
                    at = row.created_at
                else:
                    at = row.created_at
                if o.state is not OrderState.CREATED and o.state is not OrderState.CANCELLED:
                    self._activity(conn, o.seller, ActivityKind.ORDER, at, ref)
                if o.state is OrderState.RELEASED:
                    self._activity(conn, o.seller, ActivityKind.FULFILLED, now, ref)
                elif o.state is OrderState.REFUNDED:
                    self._activity(conn, o.seller, ActivityKind.UNFULFILLED, now, ref)
                if o.state in (OrderState.DISPUTED, OrderState.RULED, OrderState.SETTLED):
                    self._activity(conn, o.seller, ActivityKind.COMPLAINT, now, ref)
                    if self._row(conn, DISPUTES, oid) is None:
                        conn.execute(
                            DISPUTES.insert().values(
                                escrow=self._addr,
                                order_id=oid,
                                reason=o.reason,
                                opened_at=now,
                                rule_by=o.deadline,
                                status="open",
                            )
                        )
                if o.state in (OrderState.RULED, OrderState.SETTLED) and o.ruling:
                    sev = FAULT_SEVERITY.get(RulingCode(o.ruling), 0.0)
                    kind = ActivityKind.FAULT if sev > 0 else ActivityKind.CLEARED
                    self._activity(conn, o.seller, kind, now, ref, sev or 1.0)
                    status = "settled" if o.state is OrderState.SETTLED else "ruled"
                    conn.execute(
                        DISPUTES.update()
                        .where(DISPUTES.c.escrow == self._addr, DISPUTES.c.order_id == oid)
                        .values(status=status)
                    )
                if o.state is OrderState.SETTLED:
                    kind = (
                        ActivityKind.FULFILLED
                        if o.ruling == RulingCode.NO_FAULT
                        else ActivityKind.UNFULFILLED
                    )
                    self._activity(conn, o.seller, kind, now, ref)
        tiers = {}
        for s in sorted(sellers):
            tiers[s] = self.rescore(s, check_chain=True).tier.label
        return {"orders": count, "imported": imported, "updated": updated, "tiers": tiers}
