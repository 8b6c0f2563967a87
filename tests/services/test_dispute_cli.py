"""``livetrust order|dispute|streamer|bond|withdraw`` as a user runs them (CliRunner, a temp
LIVETRUST_HOME with the embedded chain and SQLite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from contracts import DEFAULT_ESCROW_PARAMS, Chain
from services.cli import app
from tests.services._docs import breach

ETH = 10**18


@pytest.fixture
def home(tmp_path: Path, compile_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("LIVETRUST_HOME", str(h))
    monkeypatch.setenv("LIVETRUST_CACHE", str(compile_cache))
    monkeypatch.delenv("LIVETRUST_RPC", raising=False)
    monkeypatch.delenv("LIVETRUST_DB", raising=False)
    return h


def run(*args: str, code: int = 0, json_lines: bool = False) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    if json_lines:
        return [json.loads(line) for line in result.output.splitlines()]
    return json.loads(result.output) if "--json" in args else result.output


def advance(home: Path, cache: Path, seconds: int) -> None:
    """Chain time moves on (test chains); the CLI is closed, so we may open the chain."""
    with Chain.connect("embedded", home, cache=cache) as chain:
        chain.advance_time(seconds)


def test_order_dispute_rule_settle_withdraw(home: Path, compile_cache: Path) -> None:
    run("bond", "post", "--seller", "2", "--amount", "10", "--json")
    o = run(
        "order", "create", "--buyer", "1", "--seller", "2", "--price", "1",
        "--ship-window", "1d", "--delivery-window", "2d", "--batch", "B-1",
        "--streamer", "alice", "--json",
    )  # fmt: skip
    assert o["state"] == "paid" and o["price"] == ETH and o["batch"] == "B-1"
    assert o["deliver_by"] - o["ship_by"] == 2 * 86_400
    oid = str(o["id"])
    assert run("order", "ship", oid, "--json")["state"] == "shipped"
    verdict = home.parent / "verdict.json"
    verdict.write_text(json.dumps(breach() | {"batch": "B-1"}))
    st = run("dispute", "open", oid, "--reason", "quality", "--evidence", str(verdict), "--json")
    assert st["state"] == "disputed" and len(st["evidence"]) == 1

    st = run("dispute", "rule", oid, "--json")
    assert st["state"] == "ruled" and st["ruling"] == "quality_failure"
    assert st["decision"]["reasons"][0]["rule"] == "cold_chain_breach"

    # too early: one clear line, exit 2
    err = run("dispute", "settle", oid, "--json", code=2)
    assert err["error"]["code"] == "reverted" and "appeal window" in err["error"]["message"]
    advance(home, compile_cache, DEFAULT_ESCROW_PARAMS.appeal_window + 1)
    run("dispute", "settle", oid, "--json")

    assert run("dispute", "verify", oid, "--json")["ok"]
    assert "OK" in run("dispute", "verify", oid)
    st = run("dispute", "status", oid, "--json")
    assert {"state", "ruling", "payouts", "evidence"} <= st.keys()
    assert st["state"] == "settled"
    assert [(p["party"], p["amount"]) for p in st["payouts"]] == [("buyer", 2 * ETH)]
    assert st["evidence"][0]["sha256"].startswith("sha256:")

    paid = run("withdraw", "1", "--json")
    assert paid["amount"] == 2 * ETH
    bond = run("bond", "show", "--seller", "2", "--json")
    assert (bond["total"], bond["locked"]) == (9 * ETH, 0)
    run("bond", "withdraw", "--seller", "2", "--amount", "4", "--json")
    assert run("withdraw", "2", "--json")["amount"] == 4 * ETH

    score = run("streamer", "score", "alice", "--json")
    assert score["tier"] == "normal" and 0 <= score["score"] <= 100
    assert score["window"]["complaints"] == 1
    assert "score" in run("streamer", "score", "2")  # human output


def test_human_arbiter_and_confirm(home: Path) -> None:
    run("bond", "post", "--seller", "2", "--amount", "5", "--json")
    for _ in range(2):
        run("order", "create", "--buyer", "1", "--seller", "2", "--price", "0.5", "--json")
    run("order", "ship", "0", "--json")
    run("order", "deliver", "0", "--json")
    assert run("order", "confirm", "0", "--json")["state"] == "released"
    st = run("dispute", "open", "1", "--reason", "not_received", "--json")
    st = run("dispute", "rule", "1", "--json")
    assert st["state"] == "disputed" and st["decision"]["needs_human"]
    assert st["dispute"]["status"] == "queued"
    st = run("dispute", "rule", "1", "--code", "full_refund", "--json")
    assert st["ruling"] == "full_refund"
    assert "queued" not in run("dispute", "status", "1")  # human output renders
    assert run("order", "show", "0", "--json")["state"] == "released"
    st = run("dispute", "appeal", "1", "--as", "2", "--json")
    assert st["state"] == "disputed"
    run("order", "create", "--buyer", "1", "--seller", "2", "--price", "0.5", "--json")
    err = run("order", "refund", "2", "--json", code=2)  # before the ship deadline
    assert err["error"]["code"] == "reverted" and "too early" in err["error"]["message"]
    err = run("order", "release", "2", "--json", code=2)
    assert err["error"]["code"] == "reverted"
    err = run("dispute", "default", "1", "--json", code=2)
    assert "too early" in err["error"]["message"]
    assert run("order", "reconcile", "--json")["orders"] == 3


def test_order_sync_marks_delivery_from_a_receive_event(
    home: Path, compile_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services._disputes_demo import BUYER_PICKUP, record_batch, record_receipt
    from services.config import Settings

    db = Settings().db_url
    home.mkdir(parents=True, exist_ok=True)
    with Chain.connect("embedded", home, cache=compile_cache) as chain:
        lot = record_batch(chain, db, "C1")
    run("bond", "post", "--seller", "2", "--amount", "5", "--json")
    o = run(
        "order", "create", "--buyer", "1", "--seller", "2", "--price", "1", "--batch", lot,
        "--destination", BUYER_PICKUP, "--delivery-window", "1d", "--json",
    )  # fmt: skip
    assert o["destination"] == BUYER_PICKUP and o["received_at"] is None
    run("order", "ship", "0", "--json")
    assert run("order", "sync", "--json") == {"checked": 1, "delivered": [], "waiting": [0]}
    with Chain.connect("embedded", home, cache=compile_cache) as chain:
        late = o["deliver_by"] + 5 * 3600
        chain.advance_time(late - chain.now() + 60)
        event = record_receipt(chain, db, lot, late)
    # the loop: one JSON line per round, until interrupted
    monkeypatch.setattr("time.sleep", lambda _s: (_ for _ in ()).throw(KeyboardInterrupt))
    out = run("order", "sync", "--watch", "1m", "--json", json_lines=True)
    (d,) = out[0]["delivered"]
    assert d["id"] == 0 and d["event"] == event and d["late"] and d["late_by"] == 5 * 3600
    shown = run("order", "show", "0", "--json")
    assert shown["state"] == "delivered" and shown["received_at"] == late
    assert "received at" in run("order", "show", "0")
    assert "0 delivered" in run("order", "sync")
    err = run("order", "sync", "--watch", "soon", "--json", code=2)
    assert err["error"]["code"] == "bad_input"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["order", "create", "--buyer", "1", "--seller", "2", "--price", "abc"], "bad_input"),
        (["order", "create", "--buyer", "x", "--seller", "2", "--price", "1"], "unknown_account"),
        (["order", "create", "--buyer", "1", "--seller", "2", "--price", "1"], "reverted"),
        (
            [
                "order",
                "create",
                "--buyer",
                "1",
                "--seller",
                "2",
                "--price",
                "1",
                "--ship-window",
                "soon",
            ],
            "bad_input",
        ),
        (["order", "ship", "7"], "unknown_order"),
        (["dispute", "status", "3"], "unknown_order"),
        (["dispute", "rule", "0", "--code", "maybe"], "unknown_ruling"),
        (["withdraw", "1"], "wrong_state"),
        (["bond", "post", "--seller", "2", "--amount", "2000000"], "bad_input"),
        (["streamer", "score", "nobody"], "unknown_account"),
    ],
)
def test_bad_input_is_one_line(home: Path, args: list[str], code: str) -> None:
    if args[0] == "dispute":
        run("bond", "post", "--seller", "2", "--amount", "5", "--json")
        run("order", "create", "--buyer", "1", "--seller", "2", "--price", "1", "--json")
    err = run(*args, "--json", code=2)
    assert err["error"]["code"] == code
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2


def test_bad_reason_and_missing_evidence(home: Path, tmp_path: Path) -> None:
    run("bond", "post", "--seller", "2", "--amount", "5", "--json")
    run("order", "create", "--buyer", "1", "--seller", "2", "--price", "1", "--json")
    err = run("dispute", "open", "0", "--reason", "vibes", "--json", code=2)
    assert err["error"]["code"] == "unknown_reason"
    missing = str(tmp_path / "nope.json")
    err = run("dispute", "open", "0", "--reason", "late", "--evidence", missing, "--json", code=2)
    assert err["error"]["code"] == "evidence_invalid"
