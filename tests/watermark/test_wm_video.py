"""PyAV file I/O, bad input, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import START
from typer.testing import CliRunner

from watermark import (
    KeyStore,
    StreamerKey,
    VideoTooLarge,
    VideoTooSmall,
    VideoUnreadable,
    WatermarkError,
    detect_file,
    embed_file,
    iter_luma,
)
from watermark._embed import Embedder
from watermark._synth import scene_clip


def write_clip(
    path: Path, height: int, width: int, seconds: float, audio: bool = True, fps: int = 25
) -> Path:
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width // 2 * 2, height // 2 * 2, "yuv420p"
        vs.options = {"crf": "18", "preset": "ultrafast"}
        ast = None
        if audio:
            ast = out.add_stream("aac", rate=48000)
            ast.layout = "mono"
        n = 0
        for i, y in enumerate(scene_clip(height, width, seconds, fps=fps)):
            f = av.VideoFrame.from_ndarray(
                cv2.cvtColor(y, cv2.COLOR_GRAY2RGB), format="rgb24"
            ).reformat(width=vs.width, height=vs.height, format="yuv420p")
            f.pts = i
            for p in vs.encode(f):
                out.mux(p)
            if ast is not None:
                samples = 48000 // fps
                t = (np.arange(samples) + n) / 48000
                a = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
                af = av.AudioFrame.from_ndarray(a, format="fltp", layout="mono")
                af.sample_rate, af.pts = 48000, n
                n += samples
                for p in ast.encode(af):
                    out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if ast is not None:
            for p in ast.encode():
                out.mux(p)
    return path


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("v") / "src.mp4", 360, 640, 4.0)


def test_embed_keeps_audio_and_timing_then_detects(
    src: Path, tmp_path: Path, alice: StreamerKey
) -> None:
    out = tmp_path / "marked.mkv"
    report = embed_file(str(src), str(out), alice, START)
    assert report.frames == 100 and (report.width, report.height) == (640, 360)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        assert abs(float(c.duration / av.time_base) - 4.0) < 0.2
    det = detect_file(str(out), [StreamerKey("bob", b"\x05" * 32), alice])
    assert det.detected and det.streamer == "alice"
    assert det.segments[0].broadcast_start in (START, START + 1)
    assert not detect_file(str(src), [alice]).detected


def test_embed_marks_the_decoded_frames_and_leaves_the_decoder_alone(
    src: Path, tmp_path: Path, alice: StreamerKey
) -> None:
    # writing the mark into the decoder's own buffers changed frames it was still
    # predicting from (frame threads): a different marked file on every run
    marked: list[np.ndarray] = []
    embed_file(
        str(src),
        str(tmp_path / "m.mp4"),
        alice,
        START,
        on_frame=lambda t, y: marked.append(y.copy()),
    )
    clean = [y.copy() for _, y in iter_luma(str(src))]
    embedder = Embedder(alice, START, *clean[0].shape)
    expected = [embedder.mark(y, i / 25) for i, y in enumerate(clean)]
    assert len(marked) == len(expected) == 100
    assert all(np.array_equal(a, b) for a, b in zip(marked, expected, strict=True))
    _, y = next(iter_luma(str(src)))
    with pytest.raises(ValueError, match="read-only"):
        y[0, 0] = 0  # a reader's view of a decoded frame cannot write into it


def test_odd_size_gives_valid_result(tmp_path: Path, alice: StreamerKey) -> None:
    src = tmp_path / "odd.mkv"
    with av.open(str(src), "w") as out:  # 853x480 via a codec that allows odd sizes
        vs = out.add_stream("ffv1", rate=25)
        vs.width, vs.height, vs.pix_fmt = 853, 480, "yuv420p"
        for i, y in enumerate(scene_clip(480, 853, 2.0)):
            f = av.VideoFrame(853, 480, "yuv420p")
            plane = np.frombuffer(f.planes[0], np.uint8).reshape(-1, f.planes[0].line_size)
            plane[:480, :853] = y
            for pl in f.planes[1:]:
                np.frombuffer(pl, np.uint8)[:] = 128
            f.pts = i
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    report = embed_file(str(src), str(tmp_path / "odd-out.mp4"), alice, START)
    assert (report.width, report.height) == (852, 480)
    det = detect_file(str(tmp_path / "odd-out.mp4"), [alice])
    assert det.detected


def test_bad_inputs_raise_typed_errors(tmp_path: Path, alice: StreamerKey) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 10)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1), np.uint8))
    huge = tmp_path / "huge.png"
    cv2.imwrite(str(huge), np.zeros((4400, 8300), np.uint8))
    cases = [
        (text, VideoUnreadable),
        (empty, VideoUnreadable),
        (tmp_path / "missing.mp4", VideoUnreadable),
        (tiny, VideoTooSmall),
        (huge, VideoTooLarge),
    ]
    for path, err in cases:
        with pytest.raises(err) as e:
            detect_file(str(path), [alice])
        assert isinstance(e.value, WatermarkError) and e.value.code
        with pytest.raises(err):
            embed_file(str(path), str(tmp_path / "o.mp4"), alice, START)


def test_cli_register_embed_detect(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.cli import app

    monkeypatch.setenv("LIVETRUST_HOME", str(tmp_path / "home"))
    run = CliRunner().invoke
    r = run(app, ["streamer", "register", "carol", "--offline", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["streamer"] == "carol"
    assert KeyStore(tmp_path / "home").names() == ["carol"]
    out = tmp_path / "m.mp4"
    r = run(app, ["watermark", "embed", str(src), str(out), "--streamer", "carol",
                  "--start", str(START), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = run(app, ["watermark", "detect", str(out), "--json"])
    doc = json.loads(r.output)
    assert doc["detected"] and doc["streamer"] == "carol"
    assert set(doc["segments"][0]) == {
        "clip_start", "clip_end", "broadcast_start", "broadcast_end", "confidence"
    }  # fmt: skip
    # --detail: the engine's detail form (rate, per-segment origin/phase/strengths, seconds)
    r = run(app, ["watermark", "detect", str(out), "--json", "--detail"])
    assert r.exit_code == 0, r.output
    full = json.loads(r.output)
    assert full["rate"] == 1.0 and full["streamer"] == "carol"
    seg = full["segments"][0]
    assert {"clip_origin", "phase", "rate", "strengths"} <= set(seg)
    assert len(seg["strengths"]) == seg["broadcast_end"] - seg["broadcast_start"]
    assert len(full["seconds"]) >= 3  # a 4 s clip: one mark per broadcast second it holds
    spans = [(s["broadcast_start"], s["broadcast_end"]) for s in full["segments"]]
    decoded = [m["broadcast"] for m in full["seconds"] if m["broadcast"] is not None]
    assert decoded and all(any(a <= b <= e for a, e in spans) for b in decoded)
    assert [(s["clip_start"], s["broadcast_start"]) for s in full["segments"]] == [
        (s["clip_start"], s["broadcast_start"]) for s in doc["segments"]
    ]  # the same detection, more said about it
    r = run(app, ["watermark", "detect", str(out), "--detail"])  # and for people
    assert r.exit_code == 0, r.output
    assert "playback rate 1.0" in r.output and "identity z" in r.output
    r = run(app, ["watermark", "detect", str(tmp_path / "nope.mp4"), "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "video_unreadable"
    r = run(app, ["watermark", "embed", str(src), str(out), "--streamer", "nobody", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "key_not_found"
    # a time the detector would never search is refused, not marked unreadably
    bad = tmp_path / "never.mp4"
    r = run(app, ["watermark", "embed", str(src), str(bad), "--streamer", "carol",
                  "--start", "1000", "--json"])  # fmt: skip
    err = json.loads(r.output)["error"]
    assert r.exit_code == 2 and err["code"] == "payload_invalid" and "2025-01-01" in err["message"]
    assert not bad.exists()
