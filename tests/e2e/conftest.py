"""A real server (uvicorn in a subprocess on a free loopback port) with the demo world, and
headless Debian chromium driven by Playwright (``executable_path``; no browser download).

Without chromium the browser tests are skipped with the reason printed, except under
``CI=true``, where a missing browser fails: CI must run them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.api._local import LocalServer
from services.api._local import start_server as _start
from tests.api.conftest import ADMIN_KEY, World, populate

CHROMIUM = os.environ.get("LIVETRUST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SERVER_START_S = 60


def start_server(home: Path, cache: Path, extra_env: dict[str, str]) -> LocalServer:
    env = {
        "LIVETRUST_HOME": str(home),
        "LIVETRUST_CACHE": str(cache),
        "LIVETRUST_ADMIN_KEY": ADMIN_KEY,
        **extra_env,
    }
    return _start(env, home.parent / "server.log", timeout_s=SERVER_START_S)


ETH = 10**18
DAY = 86_400


def seed_orders(rpc: str, home: Path, cache: Path, world: World) -> dict[str, Any]:
    """A released order and a disputed cold-chain-breach order, made by this process on the
    chain the server uses (as an operator's CLI would), in the same database."""
    from contracts import Chain
    from services._orders import DisputeReason, OrderBook
    from services._provsource import LedgerSource
    from services._store import DisputeStore
    from services.config import Settings

    db = Settings(home=home).db_url
    store = DisputeStore.open(db)
    try:
        with Chain.connect(rpc, home, cache=cache) as chain:
            book = OrderBook(chain, store, home, LedgerSource(db, chain))
            buyer, seller = chain.accounts[1], chain.accounts[2]
            book.post_bond(seller, 5 * ETH)
            ok = book.create_order(
                buyer, seller, ETH // 2, 2 * DAY, 3 * DAY, world.batches["0501"], "lin"
            )
            book.ship(ok.order_id)
            book.deliver(ok.order_id)
            book.confirm(ok.order_id)
            bad = book.create_order(
                buyer, seller, ETH, 2 * DAY, 3 * DAY, world.batches["0502"], "lin"
            )
            book.ship(bad.order_id)
            book.open_dispute(bad.order_id, DisputeReason.QUALITY)
            book.rule(bad.order_id)
            book.rescore(seller)
            return {"released": ok.order_id, "ruled": bad.order_id, "seller": seller}
    finally:
        store.close()


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory, compile_cache: Path) -> Iterator[World]:
    """The server on a chain served over JSON-RPC (as `livetrust chain serve` does), so this
    process can act on the same chain, as several workers or the CLI would."""
    from contracts._embedded import EmbeddedChain
    from contracts._rpcserver import JsonRpcServer

    root = tmp_path_factory.mktemp("live")
    home = root / "home"
    home.mkdir(parents=True)
    embedded = EmbeddedChain(root / "served-chain")
    node = JsonRpcServer(embedded, port=0)
    node.start_background()
    server = start_server(home, compile_cache, {"LIVETRUST_RPC": node.url})
    url = server.url
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            world = populate(client, home)  # type: ignore[arg-type]
            world.batches["url"] = url
            world.batches["rpc"] = node.url
            world.orders = seed_orders(node.url, home, compile_cache, world)
            yield world
    finally:
        server.stop()
        node.shutdown()
        embedded.close()


# per module, not per session: Playwright's sync API keeps an event loop running on the
# thread until it stops, and under pytest-xdist the worker that ran the browser tests can go
# on to a test that calls asyncio.run() (tests/api/test_service.py did, and failed)
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        reason = f"chromium not installed at {CHROMIUM} (make test installs Debian chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " - CI must run the browser tests")
        print(f"SKIP browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 412, "height": 915}, device_scale_factor=1)
    pg = context.new_page()
    yield pg
    context.close()
