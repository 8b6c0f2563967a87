"""Serve the embedded chain as a standard Ethereum JSON-RPC endpoint on loopback.

Several processes (API workers, web3 scripts, the CLI) then share one embedded chain,
which only one process may open. Requests go through web3's eth-tester request formatting
and results are re-encoded as standard JSON-RPC quantities/data, so any Ethereum client
can talk to it. Also answers anvil's ``evm_mine`` / ``evm_setNextBlockTimestamp`` /
``evm_increaseTime`` so test tooling works the same on both.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_abi.abi import encode as abi_encode
from web3 import EthereumTesterProvider, Web3

from contracts._embedded import EmbeddedChain

__all__ = ["JsonRpcServer", "to_rpc"]

MAX_REQUEST_BYTES = 8 * 1024 * 1024  # a deploy of our largest contract is ~20 KB; 8 MB is ample
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)


def to_rpc(value: Any) -> Any:
    """eth-tester's Python values -> JSON-RPC encoding (hex quantities and data)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {k: to_rpc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_rpc(v) for v in value]
    return value


class JsonRpcServer:
    """A threaded HTTP JSON-RPC server over one :class:`EmbeddedChain` (requests serialised)."""

    def __init__(self, chain: EmbeddedChain, host: str = "127.0.0.1", port: int = 8545) -> None:
        self.chain = chain
        self._lock = threading.Lock()
        self._next_timestamp: int | None = None
        provider = EthereumTesterProvider(chain.tester)
        w3 = Web3(provider, middleware=[])
        self._request: Callable[..., Any] = provider.request_func(w3, w3.middleware_onion)
        self.httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start_background(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="livetrust-rpc", daemon=True)
        t.start()
        return t

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- dispatch ---------------------------------------------------------------------

    def handle(self, req: Any) -> dict[str, Any] | None:
        if not isinstance(req, dict) or not isinstance(req.get("method"), str):
            return _error(None, -32600, "invalid request")
        rid = req.get("id")
        method: str = req["method"]
        params = req.get("params") or []
        with self._lock:
            try:
                if method.startswith("evm_"):
                    return {"jsonrpc": "2.0", "id": rid, "result": self._evm(method, params)}
                resp = self._request(method, params)
            except Exception as exc:  # every failure becomes a JSON-RPC error, never a 500
                return self._exception(rid, exc)
        if "error" in resp:
            return {"jsonrpc": "2.0", "id": rid, "error": resp["error"]}
        return {"jsonrpc": "2.0", "id": rid, "result": to_rpc(resp.get("result"))}

    def _evm(self, method: str, params: list[Any]) -> Any:
        now = int(self.chain.tester.get_block_by_number("latest")["timestamp"])
        if method == "evm_setNextBlockTimestamp":
            self._next_timestamp = (
                int(params[0], 16) if isinstance(params[0], str) else int(params[0])
            )
            return None
        if method == "evm_increaseTime":
            delta = int(params[0], 16) if isinstance(params[0], str) else int(params[0])
            self._next_timestamp = max(now + 1, int(time.time())) + delta
            return hex(delta)
        if method == "evm_mine":
            target = self._next_timestamp
            self._next_timestamp = None
            if target is not None and target > now:
                self.chain.time_travel(target)
            else:
                self.chain.tester.mine_blocks(1)
            return "0x0"
        raise KeyError(method)

    @staticmethod
    def _exception(rid: Any, exc: Exception) -> dict[str, Any]:
        text = str(exc)
        if type(exc).__name__ == "TransactionFailed" or "revert" in text.lower():
            reason = text.removeprefix("execution reverted: ").removeprefix("execution reverted")
            data = "0x" + (ERROR_SELECTOR + abi_encode(["string"], [reason])).hex()
            return _error(rid, 3, f"execution reverted: {reason}", data)
        if isinstance(exc, KeyError):
            return _error(rid, -32601, f"method not found: {exc.args[0]}")
        return _error(rid, -32000, f"{type(exc).__name__}: {text}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length <= 0 or length > MAX_REQUEST_BYTES:
                    self._send(_error(None, -32600, f"body must be 1..{MAX_REQUEST_BYTES} bytes"))
                    return
                try:
                    payload = json.loads(self.rfile.read(length))
                except ValueError:
                    self._send(_error(None, -32700, "parse error"))
                    return
                if isinstance(payload, list):
                    out: Any = [r for r in (server.handle(p) for p in payload) if r is not None]
                else:
                    out = server.handle(payload)
                self._send(out)

            def _send(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _error(rid: Any, code: int, message: str, data: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": rid, "error": err}
