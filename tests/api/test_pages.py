"""Server-rendered pages work without JavaScript: plain HTML, inline SVG, forms, redirects."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from provenance import Event
from services._origin import sensor_element
from services._provenance_demo import NAMESPACES, sample_story
from services.api import create_app
from services.config import Settings
from tests.api.conftest import ADMIN_KEY, World, populate, private_key, record_story
from watermark._fingerprint import FINGERPRINT_BYTES
from watermark._manifest import SignedManifest, build_manifest


def test_batch_page_verified_with_timeline_chart_qr_and_bundle_link(world: World) -> None:
    r = world.client.get(f"/b/{quote(world.batches['0501'], safe='')}")
    assert r.status_code == 200
    html = r.text
    assert 'id="badge" data-ok="true"' in html
    assert "Harvested" in html and "Inspected" in html and "qc-lab-hk" in html
    assert 'data-chart="temperature"' in html
    assert 'id="qr"' in html and "<svg" in html
    assert 'id="anchor-tx">0x' in html
    assert "/api/v1/proofs/" in html
    assert "<script" not in html


def test_batch_page_not_verified_gives_reasons_in_plain_words(world: World) -> None:
    html = world.client.get(f"/b/{quote(world.batches['0502'], safe='')}").text
    assert 'data-ok="false"' in html
    assert "The temperature left the safe range" in html
    assert 'data-code="cold_chain_breach"' in html


def test_batch_page_shows_the_farms_origin_camera(tmp_path: Path, compile_cache: Path) -> None:
    """Issue 8: a harvest event linking the farm's signed, anchored camera manifest shows as
    verified origin video on the batch page and in the API verdict; other batches show none.
    A world of its own: the shared one's dashboard counts must not move."""
    home = tmp_path / "home"
    app = create_app(Settings(home=home, cache=compile_cache, admin_key=ADMIN_KEY))
    with TestClient(app) as client:
        _origin_camera(populate(client, home), app.state.runtime)


def _origin_camera(world: World, rt: Any) -> None:
    farm = "farm-green-valley"
    story = sample_story(tag="0503")
    harvest = story[0].events[0]
    t = int(dt.datetime.fromisoformat(harvest.body["eventTime"]).timestamp())
    key = private_key(world.home, farm)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    fps = [bytes([i % 251]) * FINGERPRINT_BYTES for i in range(120)]
    with rt.chain_lock:
        stored = rt.manifests.record(
            SignedManifest.sign(build_manifest(farm, public, t - 60, fps), key)
        )
        rt.manifests.anchor(rt.anchors)
    body = dict(harvest.body)
    body["sensorElementList"] = [sensor_element(stored, "urn:epc:id:giai:0614141.CAM1")]
    story[0] = type(story[0])(farm, [Event.from_json(body, NAMESPACES)])
    record_story(world, "0503", story=story)
    lot = quote(world.batches["0503"], safe="")

    verdict = world.client.get(f"/api/v1/batches/{lot}/verdict").json()
    (origin,) = verdict["origin_evidence"]
    assert origin["farm"] == farm and origin["verified"], origin
    html = world.client.get(f"/b/{lot}").text
    assert 'id="origin"' in html and "<strong>verified</strong>" in html
    assert time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t - 60)) in html
    assert 'id="origin"' not in world.client.get(f"/b/{quote(world.batches['0501'], safe='')}").text


def test_qr_points_at_the_page_itself(world: World) -> None:
    html = world.client.get(f"/b/{quote(world.batches['0501'], safe='')}").text
    start = html.index('data-url="') + len('data-url="')
    url = html[start : html.index('"', start)]
    assert url.startswith("http://testserver/b/https%3A%2F%2Fid.gs1.org")
    again = world.client.get(url.removeprefix("http://testserver"))
    assert again.status_code == 200 and 'data-ok="true"' in again.text


def test_unknown_batch_page_is_404_html(world: World) -> None:
    r = world.client.get("/b/urn:epc:class:lgtin:0614141.999999.X")
    assert r.status_code == 404 and "Unknown batch" in r.text


def test_home_lookup_redirects(world: World) -> None:
    assert world.client.get("/").status_code == 200
    r = world.client.get("/b", params={"batch": world.batches["0501"]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/b/urn%3Aepc")


def test_verify_upload_job_and_polling_page(world: World) -> None:
    assert world.client.get("/verify").status_code == 200
    bundle = world.client.get(f"/api/v1/proofs/{quote(world.batches['0501'], safe='')}").content
    tampered = bundle.replace(b'"value":4.0', b'"value":9.5', 1)
    r = world.client.post(
        "/verify",
        files={"bundle": ("bundle.json", tampered, "application/json")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = r.headers["location"]
    for _ in range(100):
        html = world.client.get(page).text
        if 'http-equiv="refresh"' not in html:
            break
        time.sleep(0.05)
    assert 'data-ok="false"' in html
    assert "<strong>" in html


def test_verify_upload_refuses_non_json(world: World) -> None:
    r = world.client.post("/verify", files={"bundle": ("x.png", b"\x89PNG\r\n", "image/png")})
    assert r.status_code == 415 and "Not a proof bundle" in r.text
    r = world.client.post("/verify", data={"nothing": "here"})
    assert r.status_code == 422


def test_dashboard_page_has_charts(world: World) -> None:
    html = world.client.get("/dashboard").text
    for chart in ("events-per-day", "actors-by-role", "events-by-step"):
        assert f'data-chart="{chart}"' in html
    assert 'id="stat-events">16<' in html


def test_static_css_is_vendored(world: World) -> None:
    r = world.client.get("/static/style.css")
    assert r.status_code == 200 and "badge" in r.text
