"""The provenance part of ``make demo`` runs end to end on the embedded chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from services._provenance_demo import provenance_demo
from services.config import Settings


@pytest.mark.slow
def test_demo_story(tmp_path: Path, compile_cache: Path) -> None:
    settings = Settings(home=tmp_path / "home", cache=compile_cache, rpc="embedded")
    out = provenance_demo(settings)
    assert out["events"] == 8 and out["verdict_ok"] and out["bundle_ok"]
    assert not out["tampered_ok"]
    assert {"hash_mismatch", "cold_chain_breach"} <= set(out["tampered_codes"])
    assert (tmp_path / "home" / "keys" / "farm-green-valley.pem").exists()
