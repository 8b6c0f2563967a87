"""Orders, disputes and the trust index through the API and pages (docs/disputes.md)."""

from __future__ import annotations

from typing import Any

import pytest

from services._orders import DisputeReason
from tests.api.conftest import World

ETH = 10**18
DAY = 86_400


@pytest.fixture(scope="module")
def disputed(world: World) -> dict[str, Any]:
    """Order 0: released; order 1: a cold-chain breach batch, disputed and ruled by the
    oracle; both sold by one streamer's shop."""
    rt: Any = world.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.chain_lock:
        book = rt.book
        a = rt.chain.accounts
        buyer, seller = a[1], a[2]
        book.post_bond(seller, 5 * ETH)
        o0 = book.create_order(
            buyer, seller, ETH // 2, 2 * DAY, 3 * DAY, world.batches["0501"], "lin"
        )
        book.ship(o0.order_id)
        book.deliver(o0.order_id)
        book.confirm(o0.order_id)
        o1 = book.create_order(buyer, seller, ETH, 2 * DAY, 3 * DAY, world.batches["0502"], "lin")
        book.ship(o1.order_id)
        book.open_dispute(o1.order_id, DisputeReason.QUALITY)
        book.rule(o1.order_id)
    return {"released": o0.order_id, "ruled": o1.order_id, "seller": seller}


def test_order_json(world: World, disputed: dict[str, Any]) -> None:
    r = world.client.get(f"/api/v1/orders/{disputed['ruled']}").json()
    assert r["state"] == "ruled" and r["ruling"] == "quality_failure"
    assert r["dispute"]["reason"] == "quality"
    assert {e["kind"] for e in r["evidence"]} >= {"provenance_verdict", "proof_bundle"}
    assert r["payouts"][0]["party"] == "buyer"
    ok = world.client.get(f"/api/v1/orders/{disputed['released']}").json()
    assert ok["state"] == "released"
    missing = world.client.get("/api/v1/orders/999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_order"


def test_streamer_trust_index(world: World, disputed: dict[str, Any]) -> None:
    s = world.client.get(f"/api/v1/streamers/{disputed['seller']}").json()
    assert s["streamer"] == "lin" and 0 <= s["score"] <= 100
    assert s["window"]["orders"] == 2 and s["window"]["complaints"] == 1
    assert world.client.get("/api/v1/streamers/0xnope").status_code == 404
    listed = world.client.get("/api/v1/streamers").json()
    assert [x["seller"] for x in listed] == [disputed["seller"]]
    d = world.client.get("/api/v1/dashboard").json()
    assert d["streamers"][0]["seller"] == disputed["seller"]


def test_order_and_dashboard_pages(world: World, disputed: dict[str, Any]) -> None:
    html = world.client.get(f"/orders/{disputed['ruled']}").text
    assert 'id="order-state">ruled<' in html and "cold_chain_breach" in html
    assert 'id="payouts"' in html
    assert world.client.get("/orders/999").status_code == 404
    assert world.client.get("/orders/abc").status_code == 404
    dash = world.client.get("/dashboard").text
    assert 'data-chart="trust-history"' in dash and "lin" in dash
    # the raw 30-day count and the smoothed score term are labelled as what they are
    assert "complaints, last 30 days (raw count)" in dash and "1 of 2 orders (50%)" in dash
    assert "complaint rate (score term, smoothed)" in dash
