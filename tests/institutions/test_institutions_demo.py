"""The demo section and ``livetrust origin record`` on real video (embedded chain, SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services._institutions_demo import institutions_demo
from services.cli import app
from services.config import Settings


@pytest.fixture
def home(tmp_path: Path, compile_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("LIVETRUST_HOME", str(h))
    monkeypatch.setenv("LIVETRUST_CACHE", str(compile_cache))
    monkeypatch.delenv("LIVETRUST_RPC", raising=False)
    monkeypatch.delenv("LIVETRUST_DB", raising=False)
    return h


@pytest.mark.slow
def test_demo_shows_a_flagged_line_a_verified_camera_and_a_contradicted_claim(
    home: Path,
) -> None:
    out = institutions_demo(Settings())
    assert out == {"flagged_lines": 2, "origin_verified": True, "contradicted": ["own-farm"]}


def test_origin_record_cli(home: Path, tmp_path: Path) -> None:
    from watermark._demo import write_luma_clip
    from watermark._synth import scene_clip

    runner = CliRunner()
    res = runner.invoke(app, ["actor", "add", "farm-a", "--role", "farm", "--json"])
    assert res.exit_code == 0, res.output
    src = write_luma_clip(tmp_path / "cam.mp4", scene_clip(240, 432, 3.0), 432, 240)
    dst = tmp_path / "cam-marked.mp4"
    res = runner.invoke(
        app,
        ["origin", "record", str(src), str(dst), "--farm", "farm-a", "--start", "1777586400",
         "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["farm"] == "farm-a" and doc["start"] == 1_777_586_400 and dst.exists()
    report = doc["sensorElement"]["sensorReport"][0]
    assert report["type"] == "lt:OriginVideo" and report["stringValue"] == doc["digest"]
    res = runner.invoke(app, ["origin", "record", str(src), str(dst), "--farm", "nobody", "--json"])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"]["code"] == "unknown_actor"
