"""``livetrust persona|script`` as a user runs them (CliRunner, a temp LIVETRUST_HOME with the
embedded chain and SQLite): register a persona, record a batch from another farm, check,
count it in the credit score, file the check as dispute evidence, screen a broadcast."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from provenance import to_document
from services._provenance_demo import DEMO_ACTORS, sample_story
from services.cli import app


@pytest.fixture
def home(tmp_path: Path, compile_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("LIVETRUST_HOME", str(h))
    monkeypatch.setenv("LIVETRUST_CACHE", str(compile_cache))
    monkeypatch.delenv("LIVETRUST_RPC", raising=False)
    monkeypatch.delenv("LIVETRUST_DB", raising=False)
    return h


def run(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return json.loads(result.output) if "--json" in args else result.output


def test_persona_register_check_record_and_dispute(home: Path, tmp_path: Path) -> None:
    run("streamer", "register", "lily", "--json")
    for actor, role in DEMO_ACTORS.items():
        run("actor", "add", actor, "--role", role.label, "--json")
    run("actor", "add", "farm-lily", "--role", "farm", "--json")
    persona = tmp_path / "persona.json"
    persona.write_text(
        json.dumps(
            {
                "display_name": "Lily from the hills",
                "claims": [{"id": "own", "type": "origin", "scope": "own", "text": "my own farm"}],
                "affiliations": [{"actor": "farm-lily", "relation": "own"}],
            }
        )
    )
    reg = run("persona", "register", "lily", str(persona), "--json")
    assert reg["version"] == 1 and reg["anchor_tx"].startswith("0x")
    again = run("persona", "register", "lily", str(persona), "--json")
    assert again["version"] == 2 and again["previous"] == reg["digest"]

    # the batch sold was harvested by farm-green-valley, not by Lily's farm
    for i, step in enumerate(sample_story(tag="0C01")):
        doc = tmp_path / f"step{i}.json"
        doc.write_text(json.dumps(to_document(step.events)))
        run("event", "import", str(doc), "--as", step.actor, "--json")
    run("anchor", "--json")
    batch = "urn:epc:class:lgtin:0614141.307346.R0C01A"
    run("bond", "post", "--seller", "2", "--amount", "10", "--json")
    order = run(
        "order", "create", "--buyer", "1", "--seller", "2", "--price", "1",
        "--batch", batch, "--streamer", "lily", "--json",
    )  # fmt: skip
    before = run("streamer", "score", "lily", "--json")

    check = run("persona", "check", "lily", "--batch", batch, "--record", "--json", code=2)
    assert check["persona"]["version"] == 2 and check["persona"]["anchored"] is True
    assert [f["code"] for f in check["findings"]] == ["persona_claim_contradicted"]
    assert "farm-green-valley" in check["findings"][0]["detail"]
    assert check["credit"]["recorded"] is True
    after = run("streamer", "score", "lily", "--json")
    assert after["score"] < before["score"]
    assert after["terms"]["fault_rate"] > before["terms"]["fault_rate"]

    # the check is dispute evidence: a misleading-claim ruling without a clip
    evidence = tmp_path / "persona-check.json"
    evidence.write_text(json.dumps({k: v for k, v in check.items() if k != "credit"}))
    oid = str(order["id"])
    run("order", "ship", oid, "--json")
    run("dispute", "open", oid, "--reason", "misleading", "--evidence", str(evidence), "--json")
    st = run("dispute", "rule", oid, "--json")
    assert st["ruling"] == "misleading_claim"
    assert "persona_contradicted" in json.dumps(st["decision"])

    # captions of one of Lily's broadcasts, attached to its manifest and counted
    seq = _manifest(home)
    captions = tmp_path / "show.srt"
    captions.write_text("1\n00:00:03,000 --> 00:00:05,000\n不下单的不是真家人\n", encoding="utf-8")
    rep = run(
        "script", "check", str(captions), "--broadcast", str(seq), "--record", "--json", code=2
    )
    assert rep["broadcast"]["manifest"] == seq and rep["credit"]["recorded"] is True
    assert rep["findings"][0]["broadcast_time"] == rep["broadcast"]["start"] + 3
    assert run("streamer", "score", "lily", "--json")["window"]["flagged_broadcasts"] == 1
    err = run("script", "check", str(captions), "--record", "--json", code=2)
    assert err["error"]["code"] == "bad_input"

    # user mistakes: one line, no traceback
    err = run("persona", "check", "nobody", "--batch", batch, "--json", code=2)
    assert err["error"]["code"] == "unknown_persona"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    err = run("persona", "register", "lily", str(bad), "--json", code=2)
    assert err["error"]["code"] == "persona_invalid"


def _manifest(home: Path) -> int:
    """A 20-second broadcast manifest of Lily's, recorded as ``clip embed`` would."""
    from provenance import Store
    from watermark import KeyStore
    from watermark._fingerprint import FINGERPRINT_BYTES
    from watermark._manifest import ManifestStore, SignedManifest, build_manifest

    keys = KeyStore(home)
    store = Store.open(f"sqlite:///{(home / 'livetrust.db').resolve()}")
    try:
        fps = [bytes([i]) * FINGERPRINT_BYTES for i in range(20)]
        m = build_manifest("lily", keys.public_key("lily"), 1_800_000_000, fps)
        signed = SignedManifest.sign(m, keys.signing_key("lily"))
        return int(ManifestStore(store).record(signed).seq)
    finally:
        store.close()
