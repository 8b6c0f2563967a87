"""``livetrust chain status`` and ``livetrust chain serve`` as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from contracts import Chain
from services.cli import app


def test_status_json(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LIVETRUST_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["chain", "status", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["rpc"] == "embedded"
    assert isinstance(doc["chain_id"], int) and doc["block"] >= 2
    assert set(doc["contracts"]) == {"AnchorRegistry", "ActorRegistry"}
    assert all(a.startswith("0x") and len(a) == 42 for a in doc["contracts"].values())
    # a second run sees the same deployment
    again = json.loads(CliRunner().invoke(app, ["chain", "status", "--json"]).output)
    assert again["contracts"] == doc["contracts"]


def test_status_unreachable_node_is_one_line(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LIVETRUST_HOME", str(tmp_path))
    monkeypatch.setenv("LIVETRUST_RPC", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["chain", "status", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output)["error"]["code"] == "chain_unavailable"


def test_chain_serve_shares_one_chain(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LIVETRUST_HOME": str(tmp_path / "server")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "chain", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "chain serve did not start"
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        # two clients, one chain: what one anchors the other reads
        a = Chain.connect(url, tmp_path / "client-a")
        r = a.anchors.anchor(3, 5, b"\x33" * 32)
        b = Chain.connect(url, tmp_path / "client-b")
        b._contracts["AnchorRegistry"] = b.w3.eth.contract(
            address=a.anchors.address, abi=a.anchors.contract.abi
        )
        got = b.anchors.by_root(b"\x33" * 32)
        assert got is not None and got.timestamp == r.timestamp
    finally:
        proc.terminate()
        proc.wait(timeout=10)
