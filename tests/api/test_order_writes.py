"""Order lifecycle and disputes over the API: who may do what, and the order it leaves behind.

Every write is made from the caller's escrow account; each refusal is checked to leave the
order untouched."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api import create_app
from services.config import Settings
from tests.api.conftest import ADMIN_KEY, World

ETH = 10**18
DAY = 86_400


def code(r: Any) -> str:
    return str(r.json()["error"]["code"])


def enrol(w: World, actor: str, role: str, account: str | None) -> Any:
    body: dict[str, Any] = {"id": actor, "role": role}
    if account is not None:
        body["account"] = account
    return w.client.post(
        "/api/v1/actors", json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )


@pytest.fixture(scope="module")
def market(
    api_db: str | None, tmp_path_factory: pytest.TempPathFactory, compile_cache: Path
) -> Iterator[World]:
    """Two buyers, a streamer's shop with a bond, a farm, an arbiter with an arbiter account
    (the deployer's) and one without; on SQLite and PostgreSQL."""
    with _market(tmp_path_factory, compile_cache, api_db) as w:
        yield w


@contextlib.contextmanager
def _market(
    tmp_path_factory: pytest.TempPathFactory, compile_cache: Path, db: str | None
) -> Iterator[World]:
    home = tmp_path_factory.mktemp("market") / "home"
    app = create_app(Settings(home=home, cache=compile_cache, db=db, admin_key=ADMIN_KEY))
    with TestClient(app) as c:
        w = World(c, home)
        for actor, role, account in (
            ("ann", "buyer", "1"),
            ("bob", "buyer", "2"),
            ("shop-lin", "streamer", "3"),
            ("farm-x", "farm", "4"),
            ("arbiter-ada", "arbiter", "0"),
            ("arbiter-eve", "arbiter", "5"),
        ):
            r = enrol(w, actor, role, account)
            assert r.status_code == 201, r.text
            w.api_keys[actor] = r.json()["api_key"]
        rt: Any = app.state.runtime
        with rt.chain_lock:
            rt.book.post_bond(rt.chain.accounts[3], 10 * ETH)
        yield w


def post(w: World, actor: str | None, path: str, body: Any = None, **kw: Any) -> Any:
    headers = w.bearer(actor) if actor else {}
    if isinstance(body, bytes):
        return w.client.post(path, content=body, headers=headers, **kw)
    return w.client.post(path, json=body, headers=headers, **kw)


def new_order(w: World, price: int = ETH // 10) -> int:
    body = {
        "seller": "shop-lin",
        "price_wei": price,
        "ship_window_s": DAY,
        "delivery_window_s": DAY,
    }
    r = post(w, "ann", "/api/v1/orders", body)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "paid" and r.json()["price"] == price
    return int(r.json()["id"])


def state(w: World, order_id: int) -> str:
    return str(w.client.get(f"/api/v1/orders/{order_id}").json()["state"])


def test_registration_binds_escrow_accounts(market: World) -> None:
    rt: Any = market.client.app.state.runtime  # type: ignore[attr-defined]
    ann = market.client.get("/api/v1/actors/ann")
    assert ann.status_code == 404  # a buyer is no persona on chain
    r = enrol(market, "carol", "buyer", None)
    assert r.status_code == 422 and code(r) == "bad_account"
    r = enrol(market, "carol", "buyer", "1")  # ann's account
    assert r.status_code == 409 and code(r) == "conflict"
    r = enrol(market, "carol", "buyer", "0x" + "12" * 20)  # not an account the node holds
    assert r.status_code == 422 and code(r) == "bad_account"
    r = enrol(market, "carol", "buyer", "99")
    assert r.status_code == 422 and code(r) == "bad_account"
    r = enrol(market, "ann", "streamer", "6")
    assert r.status_code == 409 and code(r) == "conflict"
    r = enrol(market, "carol", "buyer", "6")
    assert r.status_code == 201
    assert r.json()["account"] == rt.chain.accounts[6] and r.json()["public_key"] is None


def test_lifecycle_each_step_by_its_party(market: World) -> None:
    oid = new_order(market)
    # nobody else moves the order, and a refusal leaves it as it was
    r = post(market, None, f"/api/v1/orders/{oid}/ship")
    assert r.status_code == 401 and code(r) == "unauthenticated"
    r = post(market, "ann", f"/api/v1/orders/{oid}/ship")
    assert r.status_code == 403 and code(r) == "not_order_party"
    assert state(market, oid) == "paid"
    assert post(market, "shop-lin", f"/api/v1/orders/{oid}/ship").json()["state"] == "shipped"
    r = post(market, "ann", f"/api/v1/orders/{oid}/deliver")
    assert r.status_code == 403 and code(r) == "not_order_party"
    assert post(market, "shop-lin", f"/api/v1/orders/{oid}/deliver").json()["state"] == (
        "delivered"
    )
    for who in ("bob", "shop-lin"):
        r = post(market, who, f"/api/v1/orders/{oid}/confirm")
        assert r.status_code == 403 and code(r) == "not_order_party"
    assert state(market, oid) == "delivered"
    done = post(market, "ann", f"/api/v1/orders/{oid}/confirm").json()
    assert done["state"] == "released"
    page = market.client.get(f"/api/v1/orders/{oid}").json()
    assert page["payouts"] == [{"to": done["seller"], "party": "seller", "amount": ETH // 10}]


def test_order_creation_refusals(market: World) -> None:
    body = {"seller": "shop-lin", "price_wei": ETH, "ship_window_s": DAY, "delivery_window_s": DAY}
    r = post(market, "farm-x", "/api/v1/orders", body)
    assert r.status_code == 403 and code(r) == "role_not_allowed"
    r = post(market, "ann", "/api/v1/orders", body | {"seller": "farm-x"})
    assert r.status_code == 404 and code(r) == "unknown_account"
    r = post(market, "ann", "/api/v1/orders", body | {"seller": "bob"})
    assert r.status_code == 404 and code(r) == "unknown_account"
    r = post(market, "ann", "/api/v1/orders", body | {"price_wei": 0})
    assert r.status_code == 422 and code(r) == "invalid_request"
    plain = {**market.bearer("ann"), "Content-Type": "text/plain"}
    r = market.client.post("/api/v1/orders", content=b"not json", headers=plain)
    assert r.status_code == 415 and code(r) == "unsupported_media_type"
    r = post(market, None, "/api/v1/orders", body)
    assert r.status_code == 401
    r = post(market, "ann", "/api/v1/orders/999/confirm")
    assert r.status_code == 404 and code(r) == "unknown_order"


def test_dispute_only_by_the_buyer_then_ruled_by_an_arbiter(market: World) -> None:
    oid = new_order(market, ETH // 5)
    post(market, "shop-lin", f"/api/v1/orders/{oid}/ship")
    photo = b"\x89PNG\r\n\x1a\n a photo of a bruised mango"
    url = f"/api/v1/orders/{oid}/dispute?reason=quality&name=mango.png"
    for who, status, err in (
        ("bob", 403, "not_order_party"),
        ("shop-lin", 403, "not_order_party"),
        (None, 401, "unauthenticated"),
    ):
        r = post(market, who, url, photo)
        assert r.status_code == status and code(r) == err
    r = post(market, "ann", f"/api/v1/orders/{oid}/dispute?reason=grumpy", photo)
    assert r.status_code == 422 and code(r) == "unknown_reason"
    r = post(market, "ann", f"/api/v1/orders/{oid}/dispute?reason=quality&name=../x", photo)
    assert r.status_code == 422 and code(r) == "invalid_request"
    assert state(market, oid) == "shipped"

    s = post(market, "ann", url, photo).json()
    # no batch, no rule fires: queued for a human with a deadline inside the ruling window
    assert s["state"] == "disputed" and s["dispute"]["status"] == "queued"
    assert s["decision"]["needs_human"] and s["dispute"]["human_deadline"] > 0
    sha = "sha256:" + hashlib.sha256(photo).hexdigest()
    [ev] = [e for e in s["evidence"] if e["sha256"] == sha]
    assert ev["name"] == "mango.png" and ev["tx"] and ev["party"] == s["order"]["buyer"]

    chat = json.dumps({"chat": "the mango was fine when it left"}).encode()
    r = post(market, "bob", f"/api/v1/orders/{oid}/evidence?name=chat.json", chat)
    assert r.status_code == 403 and code(r) == "not_order_party"
    s = post(market, "shop-lin", f"/api/v1/orders/{oid}/evidence?name=chat.json", chat).json()
    seller_ev = [e for e in s["evidence"] if e["name"] == "chat.json"]
    assert seller_ev and seller_ev[0]["party"] == s["order"]["seller"]

    ruling = {"code": "quality_failure"}
    r = post(market, "ann", f"/api/v1/orders/{oid}/ruling", ruling)
    assert r.status_code == 403 and code(r) == "role_not_allowed"
    r = post(market, "arbiter-eve", f"/api/v1/orders/{oid}/ruling", ruling)
    assert r.status_code == 403 and code(r) == "forbidden"  # no arbiter account on chain
    r = post(market, "arbiter-ada", f"/api/v1/orders/{oid}/ruling", {"code": "maybe"})
    assert r.status_code == 422 and code(r) == "unknown_ruling"
    assert state(market, oid) == "disputed"

    s = post(market, "arbiter-ada", f"/api/v1/orders/{oid}/ruling", ruling).json()
    assert s["state"] == "ruled" and s["ruling"] == "quality_failure"
    assert s["decision"]["reasons"][0]["rule"] == "arbiter" and s["decision"]["tx"]
    assert s["payouts"][0] == {"to": s["order"]["buyer"], "party": "buyer", "amount": 2 * ETH // 5}
    r = post(market, "arbiter-ada", f"/api/v1/orders/{oid}/ruling", ruling)
    assert r.status_code == 409 and code(r) == "wrong_state"
    r = post(market, "ann", f"/api/v1/orders/{oid}/evidence?name=late.txt", b"too late")
    assert r.status_code == 409 and code(r) == "wrong_state"

    html = market.client.get(f"/orders/{oid}").text
    assert "mango.png" in html and sha[7:23] in html and 'id="order-state">ruled<' in html
    # every transaction on the page links to its decoded events
    assert f'href="/api/v1/chain/tx/{s["decision"]["tx"]}"' in html
    assert f'href="/api/v1/chain/tx/{ev["tx"]}"' in html
    ruled = market.client.get(f"/api/v1/chain/tx/{s['decision']['tx']}").json()
    assert ruled["status"] == "success"
    [ruling] = [e for e in ruled["events"] if e["event"] == "Ruling"]
    assert ruling["contract"] == "DisputeEscrow" and ruling["args"]["dispute_id"] == oid
    assert ruling["args"]["evidence_hash"] == s["decision"]["commitment"]
    opened = market.client.get(f"/api/v1/chain/tx/{ev['tx']}").json()
    assert {"Dispute", "Evidence"} <= {e["event"] for e in opened["events"]}


def test_transaction_lookup_refusals(market: World) -> None:
    for bad in ("0x1234", "nothex", "0x" + "g" * 64):
        r = market.client.get(f"/api/v1/chain/tx/{bad}")
        assert r.status_code == 404 and code(r) == "unknown_tx"
    r = market.client.get("/api/v1/chain/tx/0x" + "ab" * 32)
    assert r.status_code == 404 and code(r) == "unknown_tx"


def test_ruling_needs_a_queued_dispute(market: World) -> None:
    oid = new_order(market)
    r = post(market, "arbiter-ada", f"/api/v1/orders/{oid}/ruling", {"code": "no_fault"})
    assert r.status_code == 409 and code(r) == "wrong_state"
    r = post(market, "ann", f"/api/v1/orders/{oid}/evidence", b"x")
    assert r.status_code == 409 and code(r) == "wrong_state"
    r = post(market, "ann", f"/api/v1/orders/{oid}/dispute?reason=late", b"")
    assert r.json()["evidence"] == [] and r.json()["dispute"]["status"] == "queued"
