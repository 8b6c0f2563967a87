"""The disputes story for ``make demo``: three orders, balances before and after.

1. An order delivered and confirmed: the carrier signs the buyer's receipt in provenance,
   the oracle marks the order delivered on chain from it, the buyer confirms and the
   escrow releases the price to the seller.
2. An order whose batch has a cold-chain breach recorded in provenance (a temperature logger
   reading of 12.5 °C on a chilled lot): the buyer disputes, the oracle fetches the batch's
   verdict and proof bundle, rules ``quality_failure`` without a human, and the contract
   refunds the buyer plus a 1x penalty from the seller's bond.
3. A streamer whose complaint rate trips the circuit breaker: the oracle writes
   ``suspended`` on chain and the contract refuses the next order.

:func:`record_batch` (a real batch: signed events, Merkle log, anchored on chain) is also
used by tests and the benchmark.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from services.config import Settings

if TYPE_CHECKING:
    from contracts import Chain

__all__ = ["BUYER_PICKUP", "disputes_demo", "record_batch", "record_receipt"]

ETH = 10**18
DAY = 86_400
BREACH_TEMPS = (2.5, 3.1, 12.5, 3.6)  # one logger reading above the chilled range (0-8 °C)
BUYER_PICKUP = "urn:epc:id:sgln:0614141.00077.0"  # the buyer's parcel locker (an SGLN)


def _actor_key(actor_id: str) -> Any:
    from provenance import KeyPair

    return KeyPair.from_seed(b"livetrust-disputes-demo/" + actor_id.encode())


def _signer(chain: Chain, actor: str) -> Any:
    """The demo party ``actor`` (a key of DEMO_ACTORS) as a signer, registered on first use."""
    from provenance import Signer
    from services._provenance_demo import DEMO_ACTORS

    actor_id = f"{actor}-disputes"
    key = _actor_key(actor_id)
    if not chain.actors.keys(actor_id):
        chain.actors.register(actor_id, key.public_key, DEMO_ACTORS[actor], 0)
    return Signer(actor_id, key)


def record_batch(
    chain: Chain, db_url: str, tag: str, temps: tuple[float, ...] = (2.5, 3.1, 4.0, 3.6)
) -> str:
    """Record the sample strawberry story (provenance demo) with ``temps`` from the carrier's
    logger, anchor it, and return the retail lot a buyer orders."""
    from provenance import Anchorer, Ledger, Store
    from services._provenance_demo import DEMO_ACTORS, sample_story

    store = Store.open(db_url)
    try:
        signers = {actor: _signer(chain, actor) for actor in DEMO_ACTORS}
        ledger = Ledger(store, chain.actors)
        for step in sample_story(tag=tag, temps=temps):
            ledger.ingest(step.events, signers[step.actor])
        Anchorer(ledger, chain.anchors).anchor()
    finally:
        store.close()
    return f"urn:epc:class:lgtin:0614141.307346.R{tag}A"


def record_receipt(
    chain: Chain, db_url: str, lot: str, at: int, location: str = BUYER_PICKUP
) -> str:
    """The carrier signs the buyer's receipt of ``lot`` at ``location`` at unix time ``at``
    (a ``receiving`` event, anchored); returns the event's hash id."""
    import datetime as dt

    from provenance import Anchorer, Event, Ledger, Store
    from services._provenance_demo import NAMESPACES

    when = dt.datetime.fromtimestamp(at, dt.timezone(dt.timedelta(hours=8)))
    event = Event.from_json(
        {
            "type": "ObjectEvent",
            "eventTime": when.isoformat(timespec="milliseconds"),
            "eventTimeZoneOffset": "+08:00",
            "action": "OBSERVE",
            "bizStep": "receiving",
            "disposition": "in_possession",
            "quantityList": [{"epcClass": lot, "quantity": 2.0, "uom": "KGM"}],
            "readPoint": {"id": location},
            "bizLocation": {"id": location},
        },
        NAMESPACES,
    )
    store = Store.open(db_url)
    try:
        ledger = Ledger(store, chain.actors)
        ledger.ingest([event], _signer(chain, "carrier-coldline"))
        Anchorer(ledger, chain.anchors).anchor()
    finally:
        store.close()
    return str(event.hash_id)


def _eth(wei: int) -> str:
    return f"{wei / ETH:+.4f}" if wei else "0"


def disputes_demo(settings: Settings | None = None) -> dict[str, Any]:
    """Run the three orders on the configured chain and database; print; return figures."""
    from contracts import Chain, ContractReverted
    from services._orders import DisputeReason, OrderBook
    from services._provsource import LedgerSource
    from services._store import DisputeStore

    s = settings or Settings()
    console = Console()
    store = DisputeStore.open(s.db_url)
    out: dict[str, Any] = {}
    with Chain.connect(s.rpc, Path(s.home), cache=s.cache, key=s.chain_key) as chain:
        book = OrderBook(chain, store, Path(s.home), LedgerSource(s.db_url, chain))
        a = chain.accounts
        buyer, lin, wang = a[1], a[2], a[3]
        names = {buyer: "buyer", lin: "Lin (streamer shop)", wang: "Wang (streamer shop)"}
        w3 = chain.w3

        def snapshot() -> dict[str, int]:
            return {x: int(w3.eth.get_balance(x)) for x in names}  # type: ignore[arg-type]

        book.post_bond(lin, 5 * ETH)
        book.post_bond(wang, 3 * ETH)
        before = snapshot()
        bonds_before = {x: book.bond(x)["total"] for x in (lin, wang)}

        # 1. delivered (the carrier's signed receipt at the buyer's locker) and released
        good = record_batch(chain, s.db_url, "D1")
        o1 = book.create_order(
            buyer, lin, ETH // 2, 2 * DAY, 3 * DAY, good, "lin", destination=BUYER_PICKUP
        )
        book.ship(o1.order_id)
        chain.advance_time(DAY)  # a day on the road
        record_receipt(chain, s.db_url, good, chain.now())
        (delivery,) = book.sync_deliveries()["delivered"]
        book.confirm(o1.order_id)
        console.print(
            f"order {o1.order_id}: 0.5 ETH from Lin, batch {good[-10:]} verified ok; the "
            f"carrier's signed receipt at the buyer's locker -> oracle marked it delivered "
            f"({'late' if delivery['late'] else 'on time'}); buyer confirmed: "
            f"[bold]{book.order(o1.order_id).state.label}[/]"
        )

        # 2. cold-chain breach recorded in provenance -> automatic ruling
        warm = record_batch(chain, s.db_url, "D2", BREACH_TEMPS)
        o2 = book.create_order(buyer, lin, ETH, 2 * DAY, 3 * DAY, warm, "lin")
        book.ship(o2.order_id)
        book.open_dispute(o2.order_id, DisputeReason.QUALITY)
        decision = book.rule(o2.order_id)
        console.print(
            f"order {o2.order_id}: 1 ETH from Lin, batch {warm[-10:]}, shipped; buyer disputes; "
            f"oracle fetched the verdict + proof bundle and ruled "
            f"[bold red]{decision.code.label if decision.code else 'human'}[/]:"
        )
        for r in decision.reasons:
            console.print(f"  {r.rule}: {r.detail}", highlight=False)
        used = ", ".join(h[7:19] + "…" for h in decision.evidence_hashes)
        console.print(
            f"  ruling commits to evidence {used} "
            f"(on chain: 0x{decision.commitment().hex()[:16]}…)",
            highlight=False,
        )
        chain.advance_time(chain.escrow.contract.functions.appeal_window().call() + 1)
        book.settle(o2.order_id)
        refund = book.withdraw(buyer)["amount"]
        book.withdraw(lin)
        console.print(
            f"  appeal window over -> settled; buyer withdrew {refund / ETH:.2f} ETH "
            "(price back + 1x penalty from Lin's bond)"
        )

        # 3. complaints trip the breaker
        shoppers = a[4:9]
        ids = [
            book.create_order(shoppers[i % len(shoppers)], wang, ETH // 100, DAY, DAY).order_id
            for i in range(20)
        ]
        for oid in ids[:3]:
            book.open_dispute(oid, DisputeReason.QUALITY)
        score = book.score(wang)
        refused = ""
        try:
            book.create_order(buyer, wang, ETH // 100, DAY, DAY)
        except ContractReverted as exc:
            refused = exc.reason
        rate = 100 * score["window"]["complaint_rate"]
        console.print(
            f"Wang: 20 orders, 3 complaints in 30 days ({rate:.0f}% > 10%) -> tier on chain "
            f"[bold red]{score['tier_on_chain']}[/], score {score['score']:.1f}/100; "
            f"a new order is refused: [bold]{refused or 'NOT refused'}[/]"
        )

        after = snapshot()
        table = Table(title="balances before/after (ETH; wallets include gas)")
        for col in ("account", "wallet change", "bond before", "bond after"):
            table.add_column(col, justify="left" if col == "account" else "right")
        for x, label in names.items():
            bb = bonds_before.get(x)
            table.add_row(
                label,
                _eth(after[x] - before[x]),
                f"{bb / ETH:.2f}" if bb is not None else "-",
                f"{book.bond(x)['total'] / ETH:.2f}" if bb is not None else "-",
            )
        console.print(table)
        console.print(
            "buyer: -0.5 (order 0) -1 (order 1) +2 (refund + penalty); Lin: +0.5 for order 0, "
            "1 ETH penalty out of the bond for order 1."
        )
        out = {
            "released_state": book.order(o1.order_id).state.label,
            "delivery": delivery,
            "breach_ruling": decision.code.label if decision.code else None,
            "buyer_refund": refund,
            "lin_bond_after": book.bond(lin)["total"],
            "wang_tier": score["tier_on_chain"],
            "refused": refused,
        }
    store.close()
    return out
