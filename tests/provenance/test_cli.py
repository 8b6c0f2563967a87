"""``livetrust`` provenance commands end to end on the real embedded chain and SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import RETAIL_A
from typer.testing import CliRunner

from provenance import to_document
from services._provenance_demo import DEMO_ACTORS, sample_story
from services.cli import app


@pytest.mark.slow
def test_record_anchor_verify_prove_trace(tmp_path: Path, compile_cache: Path) -> None:
    runner = CliRunner()
    env = {
        "LIVETRUST_HOME": str(tmp_path / "home"),
        "LIVETRUST_CACHE": str(compile_cache),
        "LIVETRUST_RPC": "embedded",
        "LIVETRUST_DB": "",
    }

    def run(*args: str, code: int = 0) -> dict:  # type: ignore[type-arg]
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, (args, result.output)
        return json.loads(result.stdout) if "--json" in args else {}

    for actor, role in DEMO_ACTORS.items():
        out = run("actor", "add", actor, "--role", role.label, "--json")
        assert out["id"] == actor and out["role"] == role.label and len(out["public_key"]) == 64
        assert (tmp_path / "home" / "keys" / f"{actor}.pem").exists()
    again = run("actor", "add", "qc-lab-hk", "--role", "qc", "--json")  # idempotent re-run
    assert again["key_index"] == 0
    clash = run("actor", "add", "qc-lab-hk", "--role", "farm", "--json", code=2)
    assert clash["error"]["code"] == "actor_exists"
    assert len(run("actor", "list", "--json")) == 5

    story = sample_story()
    docs = []
    for i, step in enumerate(story):
        doc = tmp_path / f"step{i}.jsonld"
        doc.write_text(json.dumps(to_document(step.events)))
        docs.append(doc)
    # bad input first: nothing may be written
    bad = tmp_path / "bad.jsonld"
    bad.write_text(
        '{"type": "EPCISDocument", "epcisBody": {"eventList": [{"type": "ObjectEvent"}]}}'
    )
    assert (
        run("event", "import", str(bad), "--as", "farm-green-valley", "--json", code=2)["error"][
            "code"
        ]
        == "malformed_event"
    )
    assert (
        run("event", "import", str(docs[2]), "--as", "packer-sunrise", "--json", code=2)["error"][
            "code"
        ]
        == "role_not_allowed"
    )
    assert (
        run("event", "import", str(docs[0]), "--as", "stranger", "--json", code=2)["error"]["code"]
        == "unknown_actor"
    )
    human = runner.invoke(app, ["event", "import", str(bad), "--as", "farm-green-valley"], env=env)
    assert (
        human.exit_code == 2
        and "malformed_event" in human.output
        and "Traceback" not in human.output
    )

    imported = []
    for step, doc in zip(story, docs, strict=True):
        out = run("event", "import", str(doc), "--as", step.actor, "--json")
        imported += [e["hash_id"] for e in out["events"]]
        hashed = run("event", "hash", str(doc), "--json")
        assert [h["hash_id"] for h in hashed] == [e["hash_id"] for e in out["events"]]
    assert (
        run("event", "import", str(docs[0]), "--as", "farm-green-valley", "--json", code=2)[
            "error"
        ]["code"]
        == "replay_rejected"
    )

    v = run("batch", "verify", RETAIL_A, "--json", code=2)
    assert {f["code"] for f in v["findings"]} == {"not_anchored"}
    a = run("anchor", "--json")
    assert a["status"] == "anchored" and a["new_events"] == 8 and a["tx_hash"].startswith("0x")
    assert run("anchor", "--json")["status"] == "up_to_date"

    v = run("batch", "verify", RETAIL_A, "--json")
    assert v == {
        "ok": True,
        "batch": "https://id.gs1.org/01/30614141073468/10/R0501A",
        "events": 8,
        "anchored": True,
        "findings": [],
    }

    bundle = tmp_path / "bundle.json"
    out = run("batch", "proof", RETAIL_A, "-o", str(bundle), "--json")
    assert out["events"] == 8 and bundle.stat().st_size == out["bytes"]
    (tmp_path / "home" / "livetrust.db").rename(tmp_path / "moved.db")  # no DB for the verifier
    assert run("proof", "verify", str(bundle), "--json")["ok"] is True
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(bundle.read_bytes().replace(b'"value":4.0', b'"value":9.0'))
    bad_v = run("proof", "verify", str(tampered), "--json", code=2)
    assert {"hash_mismatch", "cold_chain_breach"} <= {f["code"] for f in bad_v["findings"]}
    (tmp_path / "moved.db").rename(tmp_path / "home" / "livetrust.db")

    trace = run("batch", "trace", "urn:epc:class:lgtin:0614141.107346.H0501", "--json")
    assert trace["backward"]["farms"] == ["farm-green-valley"]
    assert "retailer-freshmart" in trace["forward"]["retailers"]
    assert len(trace["forward"]["lots"]) == 4
    assert all(e["proof"] == "anchored" for e in trace["events"])

    audit = run("log", "audit", "--json")
    assert audit["ok"] and audit["anchors"] == 1
    head = run("log", "head", "--json")
    assert head["tree_size"] == 8 and head["anchored"]["tree_size"] == 8
    # a third party: empty home, only a JSON-RPC node serving the same chain
    from contracts._embedded import EmbeddedChain
    from contracts._rpcserver import JsonRpcServer

    embedded = EmbeddedChain(tmp_path / "home" / "chain")
    server = JsonRpcServer(embedded, port=0)
    server.start_background()
    try:
        stranger = {**env, "LIVETRUST_HOME": str(tmp_path / "stranger")}
        result = runner.invoke(
            app, ["proof", "verify", str(bundle), "--rpc", server.url, "--json"], env=stranger
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["ok"] is True
        result = runner.invoke(
            app, ["proof", "verify", str(tampered), "--rpc", server.url, "--json"], env=stranger
        )
        assert result.exit_code == 2 and json.loads(result.stdout)["ok"] is False
    finally:
        server.shutdown()
        embedded.close()
    exported = tmp_path / "export.jsonld"
    run("event", "export", RETAIL_A, "-o", str(exported), "--json")
    hashed = run("event", "hash", str(exported), "--json")
    assert [h["hash_id"] for h in hashed] == imported
