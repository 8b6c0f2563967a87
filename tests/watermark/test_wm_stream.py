"""Live marking over a loopback UDP MPEG-TS stream, bounded in time."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from conftest import START
from test_wm_video import write_clip

from watermark import StreamerKey, detect_file, stream

RECEIVE_IDLE_S = 3.0  # the receiver stops after this long without a datagram


def test_stream_udp_loopback_real_time(tmp_path: Path, alice: StreamerKey) -> None:
    src = write_clip(tmp_path / "live.mp4", 360, 640, 4.0)
    rx = tmp_path / "received.ts"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(RECEIVE_IDLE_S)
    port = sock.getsockname()[1]

    def receive() -> None:
        with rx.open("wb") as fh:
            try:
                while True:
                    fh.write(sock.recv(65536))
            except TimeoutError:
                pass
        sock.close()

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    t0 = time.monotonic()
    report = stream(str(src), f"udp://127.0.0.1:{port}?pkt_size=1316", alice, start=START)
    wall = time.monotonic() - t0
    thread.join(timeout=RECEIVE_IDLE_S + 5)
    assert report.frames == 100
    assert wall >= 3.5  # paced at real time, not as fast as possible
    det = detect_file(str(rx), [alice])
    assert det.detected and det.streamer == "alice"
    assert abs(det.segments[0].broadcast_start - START) <= 1
