"""Public reads: verdicts, traces, events, bundles, anchors, actors, dashboard."""

from __future__ import annotations

from urllib.parse import quote

from tests.api.conftest import World


def q(batch: str) -> str:
    return quote(batch, safe="")


def test_verdict_ok_for_the_anchored_story(world: World) -> None:
    r = world.client.get(f"/api/v1/batches/{q(world.batches['0501'])}/verdict")
    assert r.status_code == 200
    v = r.json()
    assert v["ok"] is True, v
    assert v["anchored"] is True
    assert v["batch"].startswith("https://id.gs1.org/01/")


def test_verdict_lists_every_problem(world: World) -> None:
    v = world.client.get(f"/api/v1/batches/{q(world.batches['0502'])}/verdict").json()
    assert v["ok"] is False
    codes = {f["code"] for f in v["findings"]}
    assert {"cold_chain_breach", "not_anchored"} <= codes


def test_verdict_accepts_digital_link_with_slashes_and_profiles(world: World) -> None:
    dl = world.client.get(f"/api/v1/batches/{q(world.batches['0501'])}/verdict").json()["batch"]
    r = world.client.get(f"/api/v1/batches/{dl}/verdict?profile=ambient")
    assert r.status_code == 200 and r.json()["ok"] is True
    bad = world.client.get(f"/api/v1/batches/{dl}/verdict?profile=frozen")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_profile"


def test_verdict_is_cached_until_the_log_changes(world: World) -> None:
    rt = world.client.app.state.runtime  # type: ignore[attr-defined]
    path = f"/api/v1/batches/{q(world.batches['0501'])}/verdict"
    first = world.client.get(path).content
    calls = []
    import provenance

    original = provenance.verify_batch

    def counting(*a: object, **k: object) -> object:
        calls.append(1)
        return original(*a, **k)  # type: ignore[arg-type]

    provenance.verify_batch = counting  # type: ignore[assignment]
    try:
        assert world.client.get(path).content == first
        assert calls == []
        rt.verdicts._items.clear()
        assert world.client.get(path).content == first
        assert calls == [1]
        # served from the cache in front of the router: same bytes, status and type
        r = world.client.get(path + "?profile=chilled_produce")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.content == first and calls == [1]
    finally:
        provenance.verify_batch = original  # type: ignore[assignment]


def test_unknown_batch_is_404_with_code(world: World) -> None:
    r = world.client.get("/api/v1/batches/urn:epc:class:lgtin:0614141.999999.NOPE/verdict")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "unknown_batch"


def test_trace_and_events(world: World) -> None:
    b = q(world.batches["0501"])
    t = world.client.get(f"/api/v1/batches/{b}/trace").json()
    assert t["backward"]["farms"] == ["farm-green-valley"]
    assert t["anchor"]["tx_hash"].startswith("0x")
    doc = world.client.get(f"/api/v1/batches/{b}/events").json()
    assert doc["type"] == "EPCISDocument"
    assert len(doc["epcisBody"]["eventList"]) == 8


def test_bundle_download_and_verify_round_trip(world: World) -> None:
    r = world.client.get(f"/api/v1/proofs/{q(world.batches['0501'])}")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    bundle = r.content
    v = world.client.post(
        "/api/v1/proofs/verify", content=bundle, headers={"Content-Type": "application/json"}
    ).json()
    assert v["ok"] is True, v
    warm = bundle.replace(b'"value":4.0', b'"value":9.5', 1)
    assert warm != bundle
    bad = world.client.post(
        "/api/v1/proofs/verify", content=warm, headers={"Content-Type": "application/json"}
    ).json()
    assert bad["ok"] is False
    assert bad["findings"]


def test_bundle_verify_rejects_wrong_type_and_non_json(world: World) -> None:
    r = world.client.post(
        "/api/v1/proofs/verify", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = world.client.post(
        "/api/v1/proofs/verify", content=b"\x00\x01PK", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 415
    r = world.client.post(
        "/api/v1/proofs/verify",
        content=b'{"nope": 1}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200
    assert r.json()["findings"][0]["code"] == "bundle_malformed"


def test_bundle_size_limit(world: World, monkeypatch: object) -> None:
    from services.api import _uploads
    from services.api.routes import proofs

    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setattr(proofs, "MAX_BUNDLE_BYTES", 1024 * 1024)
    try:
        r = world.client.post(
            "/api/v1/proofs/verify", content=big, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

        def chunks():  # no Content-Length: cut off while streaming
            for _ in range(4):
                yield b" " * (512 * 1024)

        r = world.client.post(
            "/api/v1/proofs/verify", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
    finally:
        mp.undo()
    assert not list((world.home / "uploads").iterdir())
    assert _uploads.MAX_BUNDLE_BYTES == 16 * 1024 * 1024


def test_bundle_job_progress(world: World) -> None:
    import time

    bundle = world.client.get(f"/api/v1/proofs/{q(world.batches['0501'])}").content
    r = world.client.post(
        "/api/v1/proofs/jobs", content=bundle, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 202
    job = r.json()["job"]
    for _ in range(100):
        state = world.client.get(f"/api/v1/jobs/{job}").json()
        if state["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert state["state"] == "done", state
    assert state["progress"] == 1.0
    assert state["result"]["ok"] is True
    missing = world.client.get("/api/v1/jobs/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_job"


def test_anchors_actors_dashboard(world: World) -> None:
    a = world.client.get("/api/v1/anchors").json()
    assert a["anchors"][0]["state"] == "confirmed"
    assert a["log_size"] > a["anchored_size"] > 0
    actors = world.client.get("/api/v1/actors").json()
    assert {x["id"] for x in actors} >= {"farm-green-valley", "qc-lab-hk"}
    assert "api_key" not in actors[0]
    keys = world.client.get("/api/v1/actors/qc-lab-hk").json()
    assert keys["keys"][0]["role"] == "qc"
    assert world.client.get("/api/v1/actors/nobody").status_code == 404
    d = world.client.get("/api/v1/dashboard").json()["platform"]
    assert d["events"] == 16 and d["anchors"] == 1 and d["actors"]["farm"] == 1
    assert sum(x["events"] for x in d["events_per_day"]) == 16
