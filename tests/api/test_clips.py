"""Clip upload: sniffed, streamed to disk, detected in the background with progress."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import av
import cv2
import pytest

from tests.api.conftest import World
from watermark import KeyStore, embed_file
from watermark._synth import scene_clip

START = 1_767_225_600  # 2026-01-01T00:00:00Z


def write_clip(path: Path, seconds: float = 3.0, h: int = 240, w: int = 320) -> Path:
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": "18", "preset": "ultrafast"}
        for i, y in enumerate(scene_clip(h, w, seconds)):
            f = av.VideoFrame.from_ndarray(cv2.cvtColor(y, cv2.COLOR_GRAY2RGB), format="rgb24")
            f = f.reformat(format="yuv420p")
            f.pts = i
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path


@pytest.fixture(scope="module")
def marked(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("clips")
    key, _ = KeyStore(world.home).register("lin")
    embed_file(str(write_clip(tmp / "src.mp4")), str(tmp / "marked.mp4"), key, start=START)
    return tmp / "marked.mp4"


def poll(world: World, job: str) -> dict[str, Any]:
    for _ in range(600):
        state = world.client.get(f"/api/v1/jobs/{job}").json()
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def test_clip_job_detects_the_streamer(world: World, marked: Path) -> None:
    r = world.client.post(
        "/api/v1/clips/jobs", content=marked.read_bytes(), headers={"Content-Type": "video/mp4"}
    )
    assert r.status_code == 202, r.text
    state = poll(world, r.json()["job"])
    assert state["state"] == "done", state
    assert state["result"]["detected"] is True and state["result"]["streamer"] == "lin"


def test_clip_upload_refuses_non_video(world: World) -> None:
    r = world.client.post(
        "/api/v1/clips/jobs", content=b"{not a video}", headers={"Content-Type": "video/mp4"}
    )
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = world.client.post(
        "/api/v1/clips/jobs", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415


def test_clip_page_shows_timeline(world: World, marked: Path) -> None:
    r = world.client.post(
        "/verify",
        files={"clip": ("clip.mp4", marked.read_bytes(), "video/mp4")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    for _ in range(600):
        html = world.client.get(r.headers["location"]).text
        if 'http-equiv="refresh"' not in html:
            break
        time.sleep(0.1)
    assert 'id="clip-timeline"' in html and "lin" in html
