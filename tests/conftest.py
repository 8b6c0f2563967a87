"""Shared fixtures: one chain test suite runs on several backends, as web3.py does.

Backends: ``embedded`` (py-evm in process, persisted in a temp home), ``served`` (the same
embedded chain behind our JSON-RPC server) and ``anvil`` (a real external node from npm,
started on a free loopback port). anvil is skipped with a printed reason when absent, except
under CI, where a missing node is a failure: CI must run every backend.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from contracts import Chain
from contracts._keyfile import PASSPHRASE_ENV
from services.api._local import free_port, stop_process

# Private keys are sealed with a passphrase (contracts._keyfile); the suite and the CLI
# processes it starts read it from the environment, never from a prompt.
os.environ.setdefault(PASSPHRASE_ENV, "livetrust-test-passphrase")

# No per-example deadline: CI shares two cores with other work, so a 200 ms deadline fails
# on scheduling noise, not on our code; speed is measured in `make bench`, not asserted here.
settings.register_profile("livetrust", deadline=None)
settings.load_profile("livetrust")


def anvil_binary() -> str | None:
    explicit = os.environ.get("LIVETRUST_ANVIL")
    if explicit and Path(explicit).exists():
        return explicit
    local = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    return shutil.which("anvil")


@pytest.fixture(scope="session")
def compile_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vyper-cache")


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    binary = anvil_binary()
    if binary is None:
        reason = "anvil not installed (make test installs it from npm @foundry-rs/anvil)"
        if os.environ.get("CI"):
            pytest.fail(reason + " - CI must run the external-node tests")
        pytest.skip(reason)
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"anvil exited with {proc.returncode}")
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("anvil did not start within 30 s")
    yield url
    stop_process(proc)


@pytest.fixture(params=["embedded", "served", "anvil"])
def chain(request: pytest.FixtureRequest, tmp_path: Path, compile_cache: Path) -> Iterator[Chain]:
    """A chain with fresh livetrust contracts, on each backend in turn."""
    backend = request.param
    home = tmp_path / "home"
    if backend == "embedded":
        c = Chain.connect("embedded", home, cache=compile_cache)
        yield c
        c.close()
    elif backend == "served":
        from contracts._embedded import EmbeddedChain
        from contracts._rpcserver import JsonRpcServer

        embedded = EmbeddedChain(tmp_path / "served-chain")
        server = JsonRpcServer(embedded, port=0)
        server.start_background()
        c = Chain.connect(server.url, home, cache=compile_cache)
        yield c
        server.shutdown()
        embedded.close()
    else:
        url = request.getfixturevalue("anvil_url")
        yield Chain.connect(url, home, cache=compile_cache)


@pytest.fixture
def embedded_chain(tmp_path: Path, compile_cache: Path) -> Iterator[Chain]:
    """Only the in-process chain (for tests about persistence or time travel internals)."""
    c = Chain.connect("embedded", tmp_path / "home", cache=compile_cache)
    yield c
    c.close()
