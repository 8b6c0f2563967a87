"""The disputes part of ``make demo`` runs end to end on the embedded chain: three orders
(released after the oracle saw the carrier's receipt; cold-chain breach refunded plus a
penalty from the bond; the breaker refuses a suspended shop), balances before and after."""

from __future__ import annotations

from pathlib import Path

import pytest

from services._disputes_demo import BUYER_PICKUP, disputes_demo
from services.config import Settings

ETH = 10**18


@pytest.mark.slow
def test_three_orders(
    tmp_path: Path, compile_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = disputes_demo(Settings(home=tmp_path / "home", cache=compile_cache, rpc="embedded"))
    assert out["released_state"] == "released"
    assert out["delivery"]["location"] == BUYER_PICKUP and not out["delivery"]["late"]
    assert out["delivery"]["tx"]  # marked delivered on chain by the oracle
    assert out["breach_ruling"] == "quality_failure"
    assert out["buyer_refund"] == 2 * ETH  # price back + 1x penalty
    assert out["lin_bond_after"] == 4 * ETH  # 5 posted, 1 taken as the penalty
    assert out["wang_tier"] == "suspended" and out["refused"] == "seller suspended"
    printed = capsys.readouterr().out
    assert "balances before/after" in printed and "bond after" in printed
