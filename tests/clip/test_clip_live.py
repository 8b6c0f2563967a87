"""Live manifests (``watermark._live``): built from the marking pass, a signed part per
minute recorded while streaming, the rest at the end; a clip of a live broadcast received
over loopback UDP verifies authentic against the anchored parts."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from provenance import MemoryRegistry, Store
from services._clip_demo import decode_luma, encode_luma, mux_tone
from services.cli import app
from tests.clip.conftest import START, STREAMER_ROLE
from watermark import KeyStore, embed_file, stream
from watermark._clip import StoreSource, verify_clip
from watermark._fingerprint import MIN_CHANGED_CELLS, compare
from watermark._live import LiveManifest
from watermark._manifest import ManifestStore, fingerprint_video
from watermark._synth import scene_clip

RECEIVE_IDLE_S = 3.0


def _keys(home: Path) -> tuple[KeyStore, MemoryRegistry]:
    keys = KeyStore(home)
    keys.register("alice")
    reg = MemoryRegistry()
    reg.register("alice", keys.public_key("alice"), STREAMER_ROLE, START - 60)
    return keys, reg


def _store(path: Path) -> ManifestStore:
    return ManifestStore(Store.open(f"sqlite:///{path}"))


def test_a_part_per_minute_while_marking_and_the_rest_at_close(tmp_path: Path) -> None:
    """125 s of small frames: parts for 0-60 and 60-120 exist before the end (what a crash
    would leave), the last 5 s only after ``close``; the stored format is the usual one."""
    keys, _ = _keys(tmp_path / "home")
    ms = _store(tmp_path / "db.sqlite")
    live = LiveManifest(ms, "alice", START, keys.signing_key("alice"))
    rng = np.random.default_rng(1)
    recorded_at: dict[int, float] = {}
    base = rng.integers(0, 255, (72, 128), dtype=np.uint8)
    for i in range(125 * 25):
        t = i / 25
        live.frame(t, np.roll(base, i // 25, axis=1))
        for p in live.parts:
            recorded_at.setdefault(p.manifest.start, t)
    assert [(p.manifest.start - START, p.manifest.end - START) for p in live.parts] == [
        (0, 60),
        (60, 120),
    ]
    # each part is recorded as soon as its minute has passed (the next second's first frame)
    assert recorded_at == {START: 60.0, START + 60: 120.0}
    parts = live.close()
    assert [(p.manifest.start - START, p.manifest.end - START) for p in parts] == [
        (0, 60),
        (60, 120),
        (120, 125),
    ]
    assert live.close() == parts  # idempotent
    assert [r["start"] - START for r in ms.list("alice")] == [0, 60, 120]
    assert all(p.manifest.audio is None for p in parts)  # no sound was given
    assert all(p.signed.signature_ok() for p in parts)
    # each second has its own fingerprint (the picture moves every second)
    stored = ms.get(1).manifest
    assert stored.fingerprint_at(START + 61) != stored.fingerprint_at(START + 62)


def test_live_parts_equal_the_file_path_and_carry_sound(tmp_path: Path) -> None:
    """``embed_file`` with the hooks: the parts' fingerprints and loudness match what the file
    path (``fingerprint_video`` of the marked output) records, part boundaries included."""
    keys, _ = _keys(tmp_path / "home")
    src = encode_luma(scene_clip(360, 640, 7.0, seed=3), tmp_path / "cam.mp4", crf=16)
    src = mux_tone(src, tmp_path / "cam-audio.mp4", 7.0, seed=3)
    ms = _store(tmp_path / "db.sqlite")
    live = LiveManifest(ms, "alice", START, keys.signing_key("alice"), part_seconds=3)
    out = tmp_path / "marked.mp4"
    key = keys.load("alice")
    embed_file(str(src), str(out), key, START, on_frame=live.frame, on_audio=live.audio)
    parts = live.close()
    assert [(p.manifest.start - START, p.manifest.end - START) for p in parts] == [
        (0, 3),
        (3, 6),
        (6, 7),
    ]
    fps, audio = fingerprint_video(str(out))
    assert audio is not None and len(fps) == 7
    live_fps = [f for p in parts for f in p.manifest.fingerprints]
    live_audio = [row for p in parts for row in (p.manifest.audio or ())]
    for s in range(7):
        assert compare(fps[s], live_fps[s]).changed_cells < MIN_CHANGED_CELLS, s
        a, b = np.array(audio[s]), np.array(live_audio[s])
        assert len(a) == len(b) == 10 and np.median(np.abs(a - b)) <= 2.0, (s, a, b)


def _receive(sock: socket.socket, rx: Path) -> None:
    with rx.open("wb") as fh:
        try:
            while True:
                fh.write(sock.recv(65536))
        except TimeoutError:
            pass
    sock.close()


def test_udp_live_stream_records_parts_and_a_clip_verifies_authentic(tmp_path: Path) -> None:
    home = tmp_path / "home"
    keys, reg = _keys(home)
    cam = encode_luma(scene_clip(480, 854, 9.0, seed=4), tmp_path / "cam.mp4", crf=16)
    cam = mux_tone(cam, tmp_path / "cam-audio.mp4", 9.0, seed=4)
    ms = _store(tmp_path / "db.sqlite")
    live = LiveManifest(ms, "alice", START, keys.signing_key("alice"), part_seconds=3)
    during: list[int] = []

    def frame(t: float, y: np.ndarray) -> None:
        live.frame(t, y)
        during.append(len(live.parts))

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(RECEIVE_IDLE_S)
    rx = tmp_path / "received.ts"
    thread = threading.Thread(target=_receive, args=(sock, rx), daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    url = f"udp://127.0.0.1:{port}?pkt_size=1316"
    stream(str(cam), url, keys.load("alice"), start=START, on_frame=frame, on_audio=live.audio)
    thread.join(timeout=RECEIVE_IDLE_S + 5)
    assert max(during) == 2  # two parts were signed and stored while the stream ran
    parts = live.close()
    assert [(p.manifest.start - START, p.manifest.end - START) for p in parts] == [
        (0, 3),
        (3, 6),
        (6, 9),
    ]
    assert all(p.manifest.audio is not None for p in parts)
    result = ms.anchor(reg)
    assert result.status == "anchored" and reg.count() == 1  # one anchor for every part
    # a viewer's clip of the received stream, 1.5-8.5 s (three parts), re-encoded at CRF 28
    frames = decode_luma(rx)[round(1.5 * 25) : round(8.5 * 25)]
    clip = encode_luma(frames, tmp_path / "clip.mp4", crf=28)
    v = verify_clip(str(clip), keys.all(), StoreSource(ms), reg, reg)
    assert v.verdict == "authentic", v.to_json()
    seg = [s for s in v.segments if s.status == "original"]
    assert seg and seg[0].broadcast_start is not None
    assert min(s.broadcast_start or 0 for s in seg) - START <= 3  # starts in the first part
    assert max(s.broadcast_end or 0 for s in seg) - START >= 7  # ends in the last part


@pytest.mark.slow
def test_cli_stream_records_manifests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``livetrust watermark stream`` records the parts (JSON lists them), ``--no-manifest``
    does not; ``clip embed`` records while marking."""
    home = tmp_path / "home"
    _keys(home)
    monkeypatch.setenv("LIVETRUST_HOME", str(home))
    cam = encode_luma(scene_clip(360, 640, 3.0, seed=6), tmp_path / "cam.mp4", crf=16)
    runner = CliRunner()
    args = ["watermark", "stream", "--input", str(cam), "--output", str(tmp_path / "o.ts")]
    res = runner.invoke(app, [*args, "--streamer", "alice", "--start", str(START), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [(m["start"], m["seconds"]) for m in out["manifests"]] == [(START, 3)]
    res = runner.invoke(
        app, [*args, "--streamer", "alice", "--start", str(START + 10), "--no-manifest", "--json"]
    )
    assert res.exit_code == 0 and "manifests" not in json.loads(res.output), res.output
    embed = ["clip", "embed", str(cam), str(tmp_path / "m.mp4"), "--streamer", "alice"]
    res = runner.invoke(app, [*embed, "--start", str(START + 100), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["manifest"]["start"] == START + 100
    res = runner.invoke(app, ["clip", "list", "--json"])
    assert [r["start"] for r in json.loads(res.output)] == [START, START + 100]
