"""A node restart leaves the HTTP pool's kept-alive connection dead: the first request on it
is reset (CI: a read right after a restarted anvil failed with ChainUnavailable). Reads are
retried on a refused or reset connection; sends are not (the node may have taken them)."""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import requests

from contracts._chain import http_provider


class _Flaky(BaseHTTPRequestHandler):
    """Resets the first connection it gets (RST, as a dead kept-alive socket does), then
    answers every JSON-RPC request with chain id 0x539."""

    resets = 1
    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body["method"])
        if type(self).resets > 0:
            type(self).resets -= 1
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        out = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": "0x539"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[str]:
    _Flaky.resets, _Flaky.seen = 1, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_read_is_retried_after_a_reset_connection(flaky: str) -> None:
    provider = http_provider(flaky)
    assert provider.make_request("eth_chainId", [])["result"] == "0x539"
    assert _Flaky.seen == ["eth_chainId", "eth_chainId"]


def test_a_send_is_not_retried(flaky: str) -> None:
    provider = http_provider(flaky)
    with pytest.raises(requests.ConnectionError):
        provider.make_request("eth_sendTransaction", [{}])
    assert _Flaky.seen == ["eth_sendTransaction"]
