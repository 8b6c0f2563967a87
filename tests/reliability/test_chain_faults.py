"""Chain faults against a real node (anvil with ``--state``, so a restart keeps the chain):
the node stopped mid-anchor and mid-settlement and restarted, down for several anchoring
rounds, a transaction dropped from the pool, replaced by another with the same nonce, sped
up, and a nonce gap. The system retries, reconciles, and never anchors or pays twice."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from contracts import Chain
from provenance import Anchorer, AnchorFailed, Ledger, Signer, Store, audit_log
from provenance._store import ANCHORS
from services._provenance_demo import DEMO_ACTORS, demo_key, sample_story
from tests.conftest import anvil_binary
from tests.reliability._crash import hook_sends

pytestmark = pytest.mark.anvil

RECEIPT_WAIT_S = 1.5  # instead of 180 s: how long the client waits for a lost transaction


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    """One anvil whose chain survives restarts (``--state``: loaded at start, dumped on a
    graceful stop), on a fixed port so clients reconnect to the same URL."""

    def __init__(self, binary: str, state: Path) -> None:
        self.binary = binary
        self.state = state
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stops = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--silent",
                "--state",
                str(self.state),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("anvil did not start")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()  # anvil writes --state on SIGTERM
        self.proc.wait(timeout=20)
        self.proc = None
        self.stops += 1

    def rpc(self, method: str, *params: Any) -> Any:
        import requests

        r = requests.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        )
        body = r.json()
        assert "error" not in body, body
        return body.get("result")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    binary = anvil_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("anvil not installed - CI must run the chain fault tests")
        pytest.skip("anvil not installed (make test installs it from npm)")
    n = Node(binary, tmp_path / "anvil-state.json")
    n.start()
    yield n
    if n.proc is not None:
        n.proc.kill()
        n.proc.wait()


@pytest.fixture
def world(node: Node, tmp_path: Path, compile_cache: Path) -> Iterator[tuple[Chain, Ledger]]:
    """Registries on the node, the demo actors registered, one story recorded."""
    chain = Chain.connect(node.url, tmp_path / "home", cache=compile_cache)
    for actor, role in DEMO_ACTORS.items():
        chain.actors.register(actor, demo_key(actor).public_key, role, 0)
    chain.anchors.count()  # deployed before any fault is injected
    ledger = Ledger(Store.open(f"sqlite:///{tmp_path / 'ledger.db'}"), chain.actors)
    record(ledger, "0501")
    yield chain, ledger
    ledger.store.close()


def record(ledger: Ledger, tag: str) -> None:
    for step in sample_story(tag=tag):
        ledger.ingest(step.events, Signer(step.actor, demo_key(step.actor)))


def states(ledger: Ledger) -> list[tuple[int, str]]:
    with ledger.store.read() as conn:
        t = ANCHORS
        return [(r.tree_size, r.state) for r in conn.execute(select(t).order_by(t.c.id))]


def assert_anchored_once_each(chain: Chain, ledger: Ledger) -> None:
    on_chain = [chain.anchors.by_index(i) for i in range(chain.anchors.count())]
    sizes = [a.tree_size for a in on_chain]
    assert sizes == sorted(set(sizes)), f"a head anchored twice: {sizes}"
    report = audit_log(ledger, chain.anchors)
    assert report.ok, report.findings


def test_node_stopped_mid_anchor_then_restarted(node: Node, world: tuple[Chain, Ledger]) -> None:
    """The node accepts and mines the anchor, then stops before the receipt reaches us:
    the round fails, the intent survives, and after the restart the next round settles it
    from the chain without sending it again."""
    chain, ledger = world
    hook_sends(chain, lambda: None, lambda _: node.stop())
    with pytest.raises(AnchorFailed):
        Anchorer(ledger, chain.anchors).anchor()
    assert states(ledger) == [(8, "intent")]
    node.start()
    hook_sends(chain, lambda: None, lambda _: None)
    result = Anchorer(ledger, chain.anchors).anchor()  # same client, reconnects by itself
    assert result.recovered == 1 and result.status == "up_to_date"
    assert chain.anchors.count() == 1 and states(ledger) == [(8, "confirmed")]
    assert_anchored_once_each(chain, ledger)


def test_anchoring_loop_survives_a_node_outage(node: Node, world: tuple[Chain, Ledger]) -> None:
    """The service's loop keeps running while the node is down (rounds fail and are
    retried), and anchors once it is back."""
    chain, ledger = world
    node.stop()
    stop = threading.Event()
    errors: list[Exception] = []
    results: list[str] = []

    def on_error(exc: Exception) -> None:
        errors.append(exc)
        if len(errors) == 3:
            node.start()

    def on_result(r: Any) -> None:
        results.append(r.status)
        stop.set()

    loop = threading.Thread(
        target=Anchorer(ledger, chain.anchors).run, args=(stop, 0.05, on_result, on_error)
    )
    loop.start()
    loop.join(timeout=60)
    assert not loop.is_alive(), "the loop hung"
    assert len(errors) >= 3 and all(getattr(e, "code", None) for e in errors)
    assert results == ["anchored"] and chain.anchors.count() == 1
    assert_anchored_once_each(chain, ledger)


@pytest.fixture
def manual_mining(node: Node, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr("contracts._chain.RECEIPT_TIMEOUT_S", RECEIPT_WAIT_S)
    node.rpc("evm_setAutomine", False)
    yield
    node.rpc("evm_setAutomine", True)


def test_dropped_transaction_is_sent_again_once(
    node: Node, world: tuple[Chain, Ledger], manual_mining: None
) -> None:
    chain, ledger = world
    hook_sends(chain, lambda: None, lambda r: node.rpc("anvil_dropTransaction", r["result"]))
    with pytest.raises(AnchorFailed, match="no receipt"):
        Anchorer(ledger, chain.anchors).anchor()
    assert states(ledger) == [(8, "intent")] and chain.anchors.count() == 0
    node.rpc("evm_setAutomine", True)
    hook_sends(chain, lambda: None, lambda _: None)
    result = Anchorer(ledger, chain.anchors).anchor()
    assert result.status == "anchored" and result.recovered == 0
    assert chain.anchors.count() == 1 and states(ledger) == [(8, "confirmed")]
    assert_anchored_once_each(chain, ledger)


def _replace(node: Node, tx_hash: str, same_call: bool) -> str:
    """Send another transaction with the pending one's nonce and twice its fees, mine it."""
    tx = node.rpc("eth_getTransactionByHash", tx_hash)
    fee = hex(2 * int(tx["maxFeePerGas"], 16))
    replacement = {
        "from": tx["from"],
        "nonce": tx["nonce"],
        "maxFeePerGas": fee,
        "maxPriorityFeePerGas": fee,
        "gas": tx["gas"],
        **({"to": tx["to"], "input": tx["input"]} if same_call else {"to": tx["from"]}),
    }
    new: str = node.rpc("eth_sendTransaction", replacement)
    node.rpc("evm_mine")
    return new


@pytest.mark.parametrize("same_call", [False, True], ids=["cancelled", "sped-up"])
def test_replaced_transaction(
    node: Node, world: tuple[Chain, Ledger], manual_mining: None, same_call: bool
) -> None:
    """Our anchor transaction replaced by another with its nonce: cancelled (a transfer
    to self) -> the next round sends it again; sped up (the same call, higher fee) -> the
    chain holds the anchor under another hash, which the next round records."""
    chain, ledger = world
    replaced: list[str] = []
    hook_sends(
        chain, lambda: None, lambda r: replaced.append(_replace(node, r["result"], same_call))
    )
    with pytest.raises(AnchorFailed, match="no receipt"):
        Anchorer(ledger, chain.anchors).anchor()
    node.rpc("evm_setAutomine", True)
    hook_sends(chain, lambda: None, lambda _: None)
    result = Anchorer(ledger, chain.anchors).anchor()
    assert chain.anchors.count() == 1 and states(ledger) == [(8, "confirmed")]
    assert result.head is not None
    if same_call:
        assert result.recovered == 1 and result.head.tx_hash == replaced[0]
    else:
        assert result.recovered == 0 and result.head.tx_hash != replaced[0]
    assert_anchored_once_each(chain, ledger)


def test_nonce_gap_with_a_local_key(
    node: Node, world: tuple[Chain, Ledger], tmp_path: Path, compile_cache: Path
) -> None:
    """A transaction signed with our key sits in the pool with a nonce one too high (its
    predecessor was lost): our next transaction takes the missing nonce, and both mine."""
    from eth_account import Account

    chain, ledger = world
    key = Account.create()
    chain.w3.eth.send_transaction(
        {"from": chain.sender, "to": key.address, "value": 10**18}  # gas money
    )
    chain.anchors.set_anchorer(key.address, True)
    nonce = chain.w3.eth.get_transaction_count(key.address)
    gap = key.sign_transaction(
        {
            "to": key.address,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
            "nonce": nonce + 1,
            "chainId": chain.chain_id,
        }
    )
    chain.w3.eth.send_raw_transaction(gap.raw_transaction)
    signer = Chain.connect(node.url, chain.home, cache=compile_cache, key=key.key.hex())
    result = Anchorer(ledger, signer.anchors).anchor()
    assert result.status == "anchored" and chain.anchors.count() == 1
    deadline = time.monotonic() + 10
    while chain.w3.eth.get_transaction_count(key.address) < nonce + 2:
        assert time.monotonic() < deadline, "the gapped transaction never mined"
        time.sleep(0.1)
    assert_anchored_once_each(chain, ledger)


def test_node_stopped_mid_settlement_pays_once(
    node: Node, tmp_path: Path, compile_cache: Path
) -> None:
    """The node mines the settlement, then the withdrawal, and stops each time before the
    receipt arrives: the retries are refused by the contract, the order book is repaired
    from the chain, and the escrow pays the buyer exactly once."""
    import json

    from contracts import DEFAULT_ESCROW_PARAMS, ChainError, ChainUnavailable
    from services._errors import DisputeError, WrongState
    from services._orders import DisputeReason, OrderBook
    from services._store import DisputeStore
    from tests.services._docs import BATCH, breach

    eth = 10**18
    chain = Chain.connect(node.url, tmp_path / "home", cache=compile_cache)
    store = DisputeStore.open(f"sqlite:///{tmp_path / 'disputes.db'}")
    book = OrderBook(chain, store, tmp_path / "home")
    buyer, seller = chain.accounts[1], chain.accounts[2]
    book.post_bond(seller, 5 * eth)
    order = book.create_order(buyer, seller, eth, 86_400, 3 * 86_400, batch=BATCH).order_id
    book.ship(order)
    evidence = tmp_path / "verdict.json"
    evidence.write_text(json.dumps(breach()))
    book.open_dispute(order, DisputeReason.QUALITY, [evidence])
    book.rule(order)
    chain.advance_time(DEFAULT_ESCROW_PARAMS.appeal_window + 1)
    held = chain.w3.eth.get_balance(book.escrow.address)

    def interrupted(action: Any) -> None:
        hook_sends(chain, lambda: None, lambda _: node.stop())
        with pytest.raises(ChainUnavailable):
            action()
        node.start()
        hook_sends(chain, lambda: None, lambda _: None)

    interrupted(lambda: book.settle(order))
    with pytest.raises((ChainError, DisputeError)):  # already settled on chain
        book.settle(order)
    book.reconcile()
    assert book.status(order)["state"] == "settled"
    assert book.escrow.credit(buyer) == 2 * eth  # price back + 1x penalty, once

    interrupted(lambda: book.withdraw(buyer))
    with pytest.raises(WrongState):  # nothing left to withdraw: it was paid
        book.withdraw(buyer)
    assert book.escrow.credit(buyer) == 0
    assert chain.w3.eth.get_balance(book.escrow.address) == held - 2 * eth
    assert node.stops == 2
    store.close()
