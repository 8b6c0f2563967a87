"""The embedded chain survives restarts, is owned by one process, and is shared over RPC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import Chain, ChainUnavailable, DeploymentMismatch, Role
from contracts._compile import compile_contract

SNAPSHOT = r"""
import json, sys
from pathlib import Path
from contracts import Chain, Role
home, cache, write = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "write"
with Chain.connect("embedded", home, cache=cache) as c:
    if write:
        c.actors.register("farm:p", bytes([7]) * 32, Role.FARM, 10)
        for n in range(1, 4):
            c.anchors.anchor(1, n, bytes([n]) * 32)
    blocks = [ "0x" + bytes(c.w3.eth.get_block(i)["hash"]).hex() for i in range(c.block_number + 1)]
    print(json.dumps({
        "status": c.status(),
        "accounts": c.accounts,
        "blocks": blocks,
        "anchors": [c.anchors.by_index(i).root.hex() for i in range(c.anchors.count())],
        "actor": [k.public_key.hex() for k in c.actors.keys("farm:p")],
        "valid": c.actors.key_valid_at("farm:p", bytes([7]) * 32, Role.FARM, 11),
    }))
"""


def _run(home: Path, cache: Path, mode: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", SNAPSHOT, str(home), str(cache), mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_two_processes_in_sequence_see_identical_state(tmp_path: Path, compile_cache: Path) -> None:
    first = _run(tmp_path, compile_cache, "write")
    second = _run(tmp_path, compile_cache, "read")
    assert first == second
    assert len(first["anchors"]) == 3  # type: ignore[arg-type]
    assert first["valid"] is True


def test_one_process_owns_the_embedded_chain(tmp_path: Path, compile_cache: Path) -> None:
    with Chain.connect("embedded", tmp_path, cache=compile_cache):
        with pytest.raises(ChainUnavailable, match="chain serve"):
            Chain.connect("embedded", tmp_path, cache=compile_cache)
    # released on close
    Chain.connect("embedded", tmp_path, cache=compile_cache).close()


def test_time_travel_persists(embedded_chain: Chain) -> None:
    before = embedded_chain.now()
    after = embedded_chain.advance_time(86_400)
    assert after - before >= 86_400
    home = embedded_chain.home
    embedded_chain.close()
    with Chain.connect("embedded", home) as again:
        assert again.now() == after


def test_compiled_output_is_cached_by_source_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contracts import _compile

    calls: list[str] = []
    real = _compile._compile

    def counting(name: str, source: str, key: str) -> _compile.Compiled:
        calls.append(name)
        return real(name, source, key)

    monkeypatch.setattr(_compile, "_compile", counting)
    _compile._compile_cached.cache_clear()
    a = compile_contract("AnchorRegistry", tmp_path)
    _compile._compile_cached.cache_clear()  # a second process: only the disk cache remains
    b = compile_contract("AnchorRegistry", tmp_path)
    assert calls == ["AnchorRegistry"]
    assert a == b
    assert len(list(tmp_path.glob("AnchorRegistry-*.json"))) == 1


def test_remembered_address_with_other_code_is_refused(tmp_path: Path, compile_cache: Path) -> None:
    with Chain.connect("embedded", tmp_path, cache=compile_cache) as c:
        actors = c.actors.address
        path = tmp_path / "chain" / "deployments.json"
        data = json.loads(path.read_text())
        key = next(iter(data))
        data[key]["AnchorRegistry"] = {**data[key]["ActorRegistry"], "address": actors}
        path.write_text(json.dumps(data))
    with Chain.connect("embedded", tmp_path, cache=compile_cache) as c:
        with pytest.raises(DeploymentMismatch):
            c.contract("AnchorRegistry")


def test_unreachable_node_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ChainUnavailable, match="no JSON-RPC node"):
        Chain.connect("http://127.0.0.1:9", tmp_path)
    with pytest.raises(ChainUnavailable, match="embedded"):
        Chain.connect("ftp://x", tmp_path)


def test_restart_keeps_registered_actor_valid(tmp_path: Path, compile_cache: Path) -> None:
    with Chain.connect("embedded", tmp_path, cache=compile_cache) as c:
        c.actors.register("streamer:amy", b"\x05" * 32, Role.STREAMER, 1)
    with Chain.connect("embedded", tmp_path, cache=compile_cache) as c:
        assert c.actors.key_valid_at("streamer:amy", b"\x05" * 32, Role.STREAMER, 2)
