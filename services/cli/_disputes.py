"""``livetrust order|dispute|streamer|bond ...`` and ``livetrust withdraw``: escrow and disputes.

Thin commands: parse, call :class:`services._orders.OrderBook`, print (rich for people,
``--json`` for scripts). Accounts are an index into the node's unlocked accounts (test
chains) or a 0x address; amounts are ETH; windows are seconds or ``30m``/``36h``/``3d``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from services.cli._output import USER_ERROR_EXIT, console, emit, user_errors
from services.config import Settings

__all__ = ["bond_app", "dispute_app", "order_app", "streamer_app", "withdraw"]

order_app = typer.Typer(
    help="Escrow orders: create, ship, deliver (or sync from provenance), confirm.",
    no_args_is_help=True,
)
dispute_app = typer.Typer(
    help="Disputes: open with evidence, oracle ruling, settlement.", no_args_is_help=True
)
streamer_app = typer.Typer(
    help="Streamers: credit score and circuit-breaker tier.", no_args_is_help=True
)
bond_app = typer.Typer(help="Seller bonds that fund penalties.", no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="machine-readable output")
AS_OPT = typer.Option(
    None, "--as", help="sending account (index or address); default: the party who acts"
)
ORDER_ARG = typer.Argument(..., help="order id (also the dispute id)", min=0)
WEI_PER_ETH = 10**18


@contextlib.contextmanager
def _book(json_out: bool) -> Iterator[Any]:
    """The configured chain + dispute store as an OrderBook; typed errors -> one line."""
    from services._orders import OrderBook
    from services._store import DisputeStore
    from services.cli._chain import open_chain

    s = Settings()
    with user_errors(json_out):
        s.home.mkdir(parents=True, exist_ok=True)
        store = DisputeStore.open(s.db_url)
        try:
            with open_chain(s) as chain:
                yield OrderBook(chain, store, s.home, provenance=_provenance_source(s, chain))
        finally:
            store.close()


def _provenance_source(settings: Settings, chain: Any) -> Any:
    """The provenance ledger in the same database: the oracle fetches batch evidence there."""
    from services._provsource import LedgerSource

    return LedgerSource(settings.db_url, chain)


def _eth(wei: int) -> str:
    return f"{wei / WEI_PER_ETH:.6f}".rstrip("0").rstrip(".") + " ETH"


def _print_order(d: dict[str, Any]) -> None:
    console.print(
        f"order [bold]{d['id']}[/] {d['state']}: {_eth(d['price'])} "
        f"buyer {d['buyer']} -> seller {d['seller']}"
        + (f", batch {d['batch']}" if d.get("batch") else ""),
        highlight=False,
    )
    console.print(f"  ship by {d['ship_by']}, deliver by {d['deliver_by']}", highlight=False)
    if d.get("destination"):
        console.print(f"  to {d['destination']}", highlight=False)
    if d.get("received_at"):
        console.print(
            f"  received at {d['received_at']} (event {d['receipt_event']})", highlight=False
        )


def _print_sync(d: dict[str, Any]) -> None:
    for x in d["delivered"]:
        late = f"[red]{x['late_by'] / 3600:.1f} h late[/]" if x["late"] else "[green]on time[/]"
        console.print(
            f"order [bold]{x['id']}[/] delivered: received at {x['received_at']} "
            f"({x['location']}), promised by {x['deliver_by']}: {late}",
            highlight=False,
        )
    console.print(
        f"{d['checked']} order(s) checked, {len(d['delivered'])} delivered, "
        f"{len(d['waiting'])} waiting for a receive event or for shipping",
        highlight=False,
    )


def _print_status(d: dict[str, Any]) -> None:
    console.print(
        f"order [bold]{d['id']}[/] {d['state']}"
        + (f", ruling [bold]{d['ruling']}[/]" if d["ruling"] else ""),
        highlight=False,
    )
    dec = d.get("decision")
    if dec:
        if dec["needs_human"]:
            console.print(
                f"  [yellow]queued for a human arbiter[/] until {dec['human_deadline']}",
                highlight=False,
            )
        for r in dec["reasons"]:
            console.print(f"  [red]{r['rule']}[/] -> {r['code']}: {r['detail']}", highlight=False)
        for n in dec["notes"]:
            console.print(f"  note: {n}", highlight=False)
        console.print(f"  commitment {dec['commitment']}", highlight=False)
    if d["payouts"]:
        t = Table("to", "party", "amount", title="payouts" + ("" if d["paid"] else " (pending)"))
        for p in d["payouts"]:
            t.add_row(p["to"], p["party"], _eth(p["amount"]))
        console.print(t)
    for e in d["evidence"]:
        console.print(f"  evidence {e['sha256'][:23]}… {e['kind']} {e['name']}", highlight=False)


# -- orders -----------------------------------------------------------------------------------


@order_app.command("create")
def order_create(
    buyer: str = typer.Option(..., "--buyer", help="buyer account (index or address); pays"),
    seller: str = typer.Option(..., "--seller", help="seller (streamer's shop) account"),
    price: str = typer.Option(..., "--price", help="price in ETH, paid into escrow"),
    ship_window: str = typer.Option("2d", "--ship-window", help="time to ship"),
    delivery_window: str = typer.Option("3d", "--delivery-window", help="ship -> delivery SLA"),
    batch: str | None = typer.Option(None, "--batch", help="provenance batch the order ships"),
    streamer: str | None = typer.Option(None, "--streamer", help="streamer id of the seller"),
    destination: str | None = typer.Option(
        None,
        "--destination",
        help="EPCIS location the goods go to (an SGLN): a receive event of the batch there "
        "marks the order delivered (`order sync`)",
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """The buyer opens an order and pays the price into escrow in one transaction."""
    from services._orders import parse_duration, parse_eth

    with _book(json_out) as book:
        view = book.create_order(
            book.account(buyer),
            book.account(seller),
            parse_eth(price),
            parse_duration(ship_window),
            parse_duration(delivery_window),
            batch=batch,
            streamer=streamer,
            destination=destination,
        )
        data = view.to_json()
    emit(data, json_out, _print_order)


def _order_step(step: str, order_id: int, sender: str | None, json_out: bool) -> None:
    with _book(json_out) as book:
        who = book.account(sender) if sender else None
        data = getattr(book, step)(order_id, who).to_json()
    emit(data, json_out, _print_order)


@order_app.command("ship")
def order_ship(
    order_id: int = ORDER_ARG, sender: str | None = AS_OPT, json_out: bool = JSON_OPT
) -> None:
    """The seller ships (before the ship deadline, else the buyer can be refunded)."""
    _order_step("ship", order_id, sender, json_out)


@order_app.command("deliver")
def order_deliver(
    order_id: int = ORDER_ARG, sender: str | None = AS_OPT, json_out: bool = JSON_OPT
) -> None:
    """Record delivery by hand (the seller; `order sync` does it from receive events)."""
    _order_step("deliver", order_id, sender, json_out)


@order_app.command("confirm")
def order_confirm(
    order_id: int = ORDER_ARG, sender: str | None = AS_OPT, json_out: bool = JSON_OPT
) -> None:
    """The buyer accepts the goods: escrow releases the price to the seller."""
    _order_step("confirm", order_id, sender, json_out)


@order_app.command("refund")
def order_refund(
    order_id: int = ORDER_ARG, sender: str | None = AS_OPT, json_out: bool = JSON_OPT
) -> None:
    """Not shipped by the deadline: refund the buyer in full (anyone may call)."""
    _order_step("refund_unshipped", order_id, sender, json_out)


@order_app.command("release")
def order_release(
    order_id: int = ORDER_ARG, sender: str | None = AS_OPT, json_out: bool = JSON_OPT
) -> None:
    """Buyer silent past the confirm window: release the price to the seller (anyone)."""
    _order_step("release_expired", order_id, sender, json_out)


@order_app.command("show")
def order_show(order_id: int = ORDER_ARG, json_out: bool = JSON_OPT) -> None:
    """The order as the chain has it, with the book's context (batch, streamer)."""
    with _book(json_out) as book:
        data = book.order(order_id).to_json()
    emit(data, json_out, _print_order)


@order_app.command("sync")
def order_sync(
    watch: str | None = typer.Option(
        None, "--watch", help="keep syncing every interval (e.g. 60, 5m) until interrupted"
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """The oracle marks orders delivered from their batch's signed receive events.

    A shipped order whose batch has an intact receive event at the order's destination
    (after payment) moves to delivered on chain, sent by the oracle's account; the event's
    time against the promised delivery time is what the late-delivery rule uses. With
    ``--watch`` it runs as a loop (one JSON line per round under ``--json``)."""
    import time

    from services._orders import parse_duration

    with _book(json_out) as book:
        if watch is None:
            emit(book.sync_deliveries(), json_out, _print_sync)
            return
        every = parse_duration(watch)
        try:
            while True:
                data = book.sync_deliveries() | {"at": book.chain.now()}
                if json_out:
                    print(json.dumps(data), flush=True)
                else:
                    _print_sync(data)
                time.sleep(every)
        except KeyboardInterrupt:
            return


@order_app.command("reconcile")
def order_reconcile(json_out: bool = JSON_OPT) -> None:
    """Re-read every order from the chain (the source of truth) and repair the store."""
    with _book(json_out) as book:
        data = book.reconcile()
    emit(data, json_out)


# -- disputes ---------------------------------------------------------------------------------


@dispute_app.command("open")
def dispute_open(
    order_id: int = ORDER_ARG,
    reason: str = typer.Option(
        ..., "--reason", help="late|quality|counterfeit|misleading|not_received|other"
    ),
    evidence: list[Path] = typer.Option(  # noqa: B008 - typer's idiom
        [], "--evidence", help="evidence file (repeatable): verdict, proof bundle, clip report"
    ),
    sender: str | None = AS_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """The buyer disputes an open order; evidence files are hashed and committed on chain."""
    from services._orders import parse_reason

    with _book(json_out) as book:
        data = book.open_dispute(
            order_id,
            parse_reason(reason),
            evidence,
            book.account(sender) if sender else None,
        )
    emit(data, json_out, _print_status)


@dispute_app.command("evidence")
def dispute_evidence(
    order_id: int = ORDER_ARG,
    files: list[Path] = typer.Argument(..., help="evidence files"),  # noqa: B008
    sender: str | None = AS_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Add evidence to an open dispute (each file's hash goes on chain, ERC-1497)."""
    with _book(json_out) as book:
        data = book.add_evidence(order_id, files, book.account(sender) if sender else None)
    emit(data, json_out, _print_status)


@dispute_app.command("status")
def dispute_status(order_id: int = ORDER_ARG, json_out: bool = JSON_OPT) -> None:
    """State, ruling, payouts, evidence and the decision behind the ruling."""
    with _book(json_out) as book:
        data = book.status(order_id)
    emit(data, json_out, _print_status)


@dispute_app.command("rule")
def dispute_rule(
    order_id: int = ORDER_ARG,
    code: str | None = typer.Option(
        None,
        "--code",
        help="human arbiter's ruling: no_fault|full_refund|late_delivery|quality_failure|"
        "counterfeit|misleading_claim",
    ),
    sender: str | None = typer.Option(None, "--as", help="arbiter account; default: oracle"),
    json_out: bool = JSON_OPT,
) -> None:
    """Run the oracle on the evidence now and rule on chain (or queue for a human)."""
    from services._orders import parse_ruling

    with _book(json_out) as book:
        parsed = parse_ruling(code) if code else None
        book.rule(order_id, parsed, book.account(sender) if sender else None)
        data = book.status(order_id)
    emit(data, json_out, _print_status)


@dispute_app.command("appeal")
def dispute_appeal(
    order_id: int = ORDER_ARG,
    sender: str = typer.Option(..., "--as", help="buyer or seller account appealing"),
    json_out: bool = JSON_OPT,
) -> None:
    """Appeal a ruling within the appeal window (once): the dispute is open again."""
    with _book(json_out) as book:
        data = book.appeal(order_id, book.account(sender))
    emit(data, json_out, _print_status)


@dispute_app.command("default")
def dispute_default(order_id: int = ORDER_ARG, json_out: bool = JSON_OPT) -> None:
    """Nobody ruled in time: apply the contract's default ruling (anyone may call)."""
    with _book(json_out) as book:
        data = book.default_rule(order_id)
    emit(data, json_out, _print_status)


@dispute_app.command("verify")
def dispute_verify(order_id: int = ORDER_ARG, json_out: bool = JSON_OPT) -> None:
    """Re-derive the ruling from its evidence files and compare with the chain's commitment."""
    with _book(json_out) as book:
        data = book.recheck(order_id)

    def human(d: dict[str, Any]) -> None:
        colour = "green" if d["ok"] else "red"
        console.print(
            f"[bold {colour}]{'OK' if d['ok'] else 'MISMATCH'}[/] order {d['order']} "
            f"ruling {d['ruling']}: {d['detail']}",
            highlight=False,
        )
        console.print(f"  on chain   {d['on_chain']}\n  recomputed {d['recomputed']}")

    emit(data, json_out, human)
    if not data["ok"]:
        raise typer.Exit(USER_ERROR_EXIT)


@dispute_app.command("settle")
def dispute_settle(order_id: int = ORDER_ARG, json_out: bool = JSON_OPT) -> None:
    """After the appeal window: the contract pays the ruling (then `livetrust withdraw`)."""
    with _book(json_out) as book:
        data = book.settle(order_id)
    emit(data, json_out, _print_status)


# -- streamers, bonds, withdrawals ---------------------------------------------------------------


@streamer_app.command("score")
def streamer_score(
    streamer: str = typer.Argument(..., help="seller account (index/address) or streamer id"),
    json_out: bool = JSON_OPT,
) -> None:
    """Credit score (recomputed now) and circuit-breaker tier, on chain and in the book."""
    with _book(json_out) as book:
        data = book.score(book.seller_of(streamer))

    def human(d: dict[str, Any]) -> None:
        console.print(
            f"{d['seller']}: score [bold]{d['score']:.1f}[/]/100, tier [bold]{d['tier']}[/] "
            f"(on chain: {d['tier_on_chain']})",
            highlight=False,
        )
        w = d["window"]
        console.print(
            f"  last 30 days: {w['orders']} orders, {w['complaints']} complaints "
            f"({100 * w['complaint_rate']:.1f}%)",
            highlight=False,
        )
        for k, v in d["terms"].items():
            console.print(f"  {k:<15}{v:.4f}", highlight=False)

    emit(data, json_out, human)


def _bond_cmd(action: str, seller: str, amount: str | None, json_out: bool) -> None:
    from services._orders import parse_eth

    with _book(json_out) as book:
        who = book.account(seller)
        if action == "post":
            data = book.post_bond(who, parse_eth(amount or ""))
        elif action == "withdraw":
            data = book.withdraw_bond(who, parse_eth(amount or ""))
        else:
            data = book.bond(who)

    def human(d: dict[str, Any]) -> None:
        console.print(
            f"bond of {d['seller']}: {_eth(d['total'])} ({_eth(d['locked'])} locked by open "
            f"orders, {_eth(d['free'])} free); withdrawable {_eth(d['credit'])}",
            highlight=False,
        )

    emit(data, json_out, human)


SELLER_OPT = typer.Option(..., "--seller", help="seller account (index or address)")
AMOUNT_OPT = typer.Option(..., "--amount", help="ETH")


@bond_app.command("post")
def bond_post(
    seller: str = SELLER_OPT, amount: str = AMOUNT_OPT, json_out: bool = JSON_OPT
) -> None:
    """Post (add to) a seller bond; each open order locks 3x its price of it."""
    _bond_cmd("post", seller, amount, json_out)


@bond_app.command("withdraw")
def bond_withdraw(
    seller: str = SELLER_OPT, amount: str = AMOUNT_OPT, json_out: bool = JSON_OPT
) -> None:
    """Move unlocked bond to the seller's withdrawable credit (then `livetrust withdraw`)."""
    _bond_cmd("withdraw", seller, amount, json_out)


@bond_app.command("show")
def bond_show(seller: str = SELLER_OPT, json_out: bool = JSON_OPT) -> None:
    """A seller's bond: total, locked by open orders, free; and withdrawable credit."""
    _bond_cmd("show", seller, None, json_out)


def withdraw(
    account: str = typer.Argument(..., help="account (index or address) to pay out"),
    json_out: bool = JSON_OPT,
) -> None:
    """Pull everything the escrow owes ACCOUNT (refunds, penalties, sales, bond)."""
    with _book(json_out) as book:
        data = book.withdraw(book.account(account))
    emit(
        data,
        json_out,
        lambda d: console.print(f"paid {_eth(d['amount'])} to {d['account']}", highlight=False),
    )
