"""An interrupted contract deployment, on the embedded chain and on anvil: a process dies
(``os._exit``, what ``kill -9`` leaves) just before sending a deployment, or after sending
it and before recording the address. The next start finds the contract at the CREATE
address its intent names (code hash checked) or deploys it with the same nonce, so there is
never a second, orphaned copy; if the nonce went to another transaction meanwhile, it
deploys afresh at the next one."""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from contracts import Chain, DeploymentMismatch
from contracts._chain import create_address
from contracts._compile import compile_contract
from tests.reliability._crash import FAILED_EXIT, INJECTED_EXIT, hook_sends

NAME = "AnchorRegistry"


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def rpc(request: pytest.FixtureRequest, compile_cache: Path) -> str:
    compile_contract(NAME, compile_cache)  # compiled once, before any child forks
    return "embedded" if request.param == "embedded" else str(request.getfixturevalue("anvil_url"))


def _die_deploying(rpc: str, home: Path, cache: Path, when: str) -> None:
    """A child process deploys the AnchorRegistry and exits at once ``when`` ("before" /
    "after") its deployment transaction reaches the node."""
    pid = os.fork()
    if pid == 0:  # the child: nothing after os._exit runs, no finally, no flush
        status = FAILED_EXIT
        try:
            chain = Chain.connect(rpc, home, cache=cache)

            def die(*_: Any) -> None:
                os._exit(INJECTED_EXIT)

            hook_sends(chain, die if when == "before" else lambda: None, die)
            chain.contract(NAME)
        except BaseException:
            traceback.print_exc()
        os._exit(status)
    _, raw = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(raw) == INJECTED_EXIT, "the child did not die deploying"


def _nonce(rpc: str, home: Path, cache: Path) -> tuple[str, int]:
    with Chain.connect(rpc, home, cache=cache) as chain:
        return chain.sender, int(chain.w3.eth.get_transaction_count(chain.sender))


def _entry(home: Path) -> dict[str, Any]:
    data = json.loads((home / "chain" / "deployments.json").read_text())
    (per_chain,) = data.values()
    entry: dict[str, Any] = per_chain[NAME]
    return entry


@pytest.mark.parametrize("when", ["before", "after"], ids=["before-send", "sent-not-recorded"])
def test_restart_adopts_or_resends_the_interrupted_deployment(
    rpc: str, tmp_path: Path, compile_cache: Path, when: str
) -> None:
    home = tmp_path / "home"
    sender, nonce = _nonce(rpc, home, compile_cache)
    _die_deploying(rpc, home, compile_cache, when)
    intent = _entry(home)
    expected = create_address(sender, nonce)
    assert intent["state"] == "intent" and intent["address"].lower() == expected
    assert (intent["sender"], intent["nonce"]) == (sender, nonce)

    with Chain.connect(rpc, home, cache=compile_cache) as chain:
        address = chain.contract(NAME).address
        assert address.lower() == expected  # the intent's address: no second copy
        # one deployment transaction in all: the child's, or (if it never left) the resend
        assert chain.w3.eth.get_transaction_count(sender) == nonce + 1
        assert chain.anchors.count() == 0  # the registry answers
        entry = _entry(home)
        assert "state" not in entry and entry["code_hash"] == intent["code_hash"]
        if when == "after":
            assert entry["tx"] is None  # adopted from the chain: nothing was sent again
        else:
            receipt = chain.w3.eth.get_transaction_receipt(entry["tx"])
            assert receipt["contractAddress"].lower() == expected
            assert receipt["from"] == sender
    with Chain.connect(rpc, home, cache=compile_cache) as chain:  # and it stays adopted
        assert chain.contract(NAME).address == address
        assert chain.w3.eth.get_transaction_count(sender) == nonce + 1


def test_nonce_taken_meanwhile_deploys_at_the_next(
    rpc: str, tmp_path: Path, compile_cache: Path
) -> None:
    """Died before sending; meanwhile the sender's nonce went to another transaction: the
    intent's address can never hold code, so the restart deploys at the next nonce."""
    home = tmp_path / "home"
    sender, nonce = _nonce(rpc, home, compile_cache)
    _die_deploying(rpc, home, compile_cache, "before")
    with Chain.connect(rpc, home, cache=compile_cache) as chain:
        chain.w3.eth.send_transaction({"from": Web3.to_checksum_address(sender), "to": sender})
        address = chain.contract(NAME).address
        assert address.lower() == create_address(sender, nonce + 1)
        assert chain.w3.eth.get_transaction_count(sender) == nonce + 2
        assert not chain.w3.eth.get_code(Web3.to_checksum_address(create_address(sender, nonce)))
        assert chain.anchors.count() == 0


def test_intent_address_with_other_code_is_refused(
    rpc: str, tmp_path: Path, compile_cache: Path
) -> None:
    """An intent whose address holds another contract (an edited file, a changed source) is
    `deployment_mismatch`, never silently adopted."""
    home = tmp_path / "home"
    with Chain.connect(rpc, home, cache=compile_cache) as chain:
        other = chain.actors.address
    path = home / "chain" / "deployments.json"
    data = json.loads(path.read_text())
    (key,) = data
    data[key][NAME] = {"address": other, "state": "intent", "tx": None, "nonce": 0}
    data[key][NAME] |= {"code_hash": "0x" + "00" * 32, "sender": "0x" + "11" * 20}
    path.write_text(json.dumps(data))
    with Chain.connect(rpc, home, cache=compile_cache) as chain:
        with pytest.raises(DeploymentMismatch, match="interrupted deployment"):
            chain.contract(NAME)
