"""The clip section of ``make demo`` on the embedded chain, then the CLI on its home:
``clip list / export / verify --json`` (from the store and offline from a bundle)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services._clip_demo import clip_demo
from services.cli import app
from services.config import Settings


@pytest.mark.slow
def test_demo_then_cli(
    tmp_path: Path, compile_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, cache=compile_cache, rpc="embedded")
    said: list[str] = []
    out = clip_demo(settings, say=said.append)
    genuine, edited = out.values()
    assert genuine["verdict"] == "authentic", genuine
    assert edited["verdict"] == "altered", edited
    assert {"cut", "altered"} <= {f["code"] for f in edited["findings"]}
    cut = next(f for f in edited["findings"] if f["code"] == "cut")
    assert abs(cut["clip_time"] - 2.0) <= 1.0
    assert genuine["manifest"]["anchor_tx"].startswith("0x")
    assert any("authentic" in s for s in said)

    monkeypatch.setenv("LIVETRUST_HOME", str(home))
    monkeypatch.setenv("LIVETRUST_CACHE", str(compile_cache))
    runner = CliRunner()
    res = runner.invoke(app, ["clip", "list", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["streamer"] == "demo-clip-streamer"
    bundle = tmp_path / "bundle.json"
    res = runner.invoke(app, ["clip", "export", "0", "-o", str(bundle), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["anchored"], res.output
    edited_clip = home / "demo-clip" / "edited.mp4"
    report = tmp_path / "report.html"
    args = ["clip", "verify", str(edited_clip), "--manifest", str(bundle), "--html", str(report)]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0 and json.loads(res.output) == edited, res.output
    assert "<svg" in report.read_text()
    res = runner.invoke(app, ["clip", "verify", str(tmp_path / "nope.mp4"), "--json"])
    assert res.exit_code == 2
    assert json.loads(res.output)["error"]["code"] == "video_unreadable"
