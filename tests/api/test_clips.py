"""Clip upload: sniffed, streamed to disk, verified in the background with progress, against
a broadcast whose signed manifest the service holds and the chain anchors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services._clip_demo import Edit, edit_clip, publish_broadcast
from services.api import create_app
from services.config import Settings
from tests.api.conftest import ADMIN_KEY

START = 1_767_225_600  # 2026-01-01T00:00:00Z
SIZE = (854, 480)  # as the clip tests and the demo: the size the fingerprints are tuned on
SECONDS = 8.0


@dataclass
class Studio:
    client: TestClient
    genuine: Path
    cut: Path


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, compile_cache: Path) -> Iterator[Studio]:
    """A service that holds streamer lin's keys and her anchored broadcast manifest; a
    re-encoded copy of the broadcast and one with 2 s cut out of its middle."""
    work = tmp_path_factory.mktemp("clips")
    home = work / "home"
    app = create_app(Settings(home=home, cache=compile_cache, admin_key=ADMIN_KEY))
    with TestClient(app) as client:
        rt: Any = app.state.runtime
        with rt.chain_lock:
            marked, _, _ = publish_broadcast(
                work, home, "lin", START, rt.chain.actors, rt.anchors, rt.manifests, SECONDS, SIZE
            )
        genuine = edit_clip(marked, work / "genuine.mp4", crf=23)
        cut = edit_clip(marked, work / "cut.mp4", [Edit("cut", 3.0, 5.0)], crf=23)
        yield Studio(client, genuine, cut)


def poll(client: TestClient, job: str) -> dict[str, Any]:
    for _ in range(1200):
        state = client.get(f"/api/v1/jobs/{job}").json()
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def submit(client: TestClient, clip: Path) -> dict[str, Any]:
    r = client.post(
        "/api/v1/clips/jobs", content=clip.read_bytes(), headers={"Content-Type": "video/mp4"}
    )
    assert r.status_code == 202, r.text
    state = poll(client, r.json()["job"])
    assert state["state"] == "done", state
    result: dict[str, Any] = state["result"]
    return result


def test_genuine_clip_is_authentic_with_broadcast_times(studio: Studio) -> None:
    v = submit(studio.client, studio.genuine)
    assert v["verdict"] == "authentic" and v["streamer"] == "lin", v
    marked = [s for s in v["segments"] if s["status"] == "original"]
    assert marked and all(START <= s["broadcast_start"] < START + SECONDS for s in marked)
    assert v["manifest"]["anchor_tx"].startswith("0x")


def test_clip_upload_refuses_non_video(studio: Studio) -> None:
    r = studio.client.post(
        "/api/v1/clips/jobs", content=b"{not a video}", headers={"Content-Type": "video/mp4"}
    )
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = studio.client.post(
        "/api/v1/clips/jobs", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415


def test_cut_clip_on_the_page_is_edited_with_its_timeline(studio: Studio) -> None:
    """The browser path (form upload, progress page, verdict page) with a clip that had 2 s
    cut out: the page shows what the job's JSON says, through the clip report."""
    r = studio.client.post(
        "/verify",
        files={"clip": ("clip.mp4", studio.cut.read_bytes(), "video/mp4")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    seen_progress = False
    for _ in range(1200):
        html = studio.client.get(r.headers["location"]).text
        if 'http-equiv="refresh"' not in html:
            break
        seen_progress = seen_progress or 'class="progress"' in html
        time.sleep(0.1)
    assert seen_progress
    job = studio.client.get("/api/v1/jobs/" + r.headers["location"].rsplit("/", 1)[1]).json()
    assert job["result"]["verdict"] == "edited", job["result"]
    assert "cut" in {f["code"] for f in job["result"]["findings"]}
    assert 'data-verdict="edited"' in html and "streamer lin" in html
    assert 'id="clip-report"' in html and 'aria-label="clip timeline"' in html
    assert "#009E73" in html  # original segments in the report's colour
    assert "2026-01-01 00:00:0" in html  # original broadcast times, UTC
    assert "<code>cut</code>" in html
