"""A real server on this machine, for the browser tests and the load benchmark.

``livetrust serve`` is what deployments run; tests and ``benchmarks/bench_api.py`` need the
same app in its own process (uvicorn, a real socket) on a free loopback port, started and
stopped the same way every time, the demo parties registered on it, plus a throwaway
PostgreSQL database. One place for that.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "LocalServer",
    "free_port",
    "fresh_pg_database",
    "register_demo_actors",
    "start_server",
    "stop_process",
]

LOOPBACK = "127.0.0.1"
SERVER_START_S = 120.0  # first start compiles the contracts (cached after) on a busy machine
STOP_GRACE_S = 15.0


def free_port() -> int:
    """A TCP port free on the loopback interface now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn and anvil shut down cleanly), SIGKILL after a grace period."""
    proc.terminate()
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class LocalServer:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        stop_process(self.proc)


def start_server(
    env: Mapping[str, str],
    log: Path,
    *,
    args: Sequence[str] = (),
    timeout_s: float = SERVER_START_S,
) -> LocalServer:
    """``uvicorn services.api:create_app`` on a free loopback port with ``env`` added to
    this process's environment (``LIVETRUST_*`` settings); returns once ``/api/v1/health``
    answers. Output goes to ``log``; a server that exits or never answers raises
    ``RuntimeError`` with the log."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "services.api:create_app",
                "--factory",
                "--host",
                LOOPBACK,
                "--port",
                str(port),
                "--log-level",
                "warning",
                *args,
            ],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                return LocalServer(proc, url, log)
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_process(proc)
    raise RuntimeError(f"server did not answer within {timeout_s:.0f} s: {log.read_text()}")


def register_demo_actors(client: httpx.Client, admin_key: str) -> dict[str, str]:
    """Register the demo story's parties (``DEMO_ACTORS``) through ``POST /api/v1/actors``
    with the registrar's ``admin_key``; returns each actor's API key, by actor id. A refused
    registration raises ``httpx.HTTPStatusError``.

    The load benchmark and the soak test both need a server's writers before they record
    batches through the API, with keys (not signatures) as their clients authenticate."""
    from services._provenance_demo import DEMO_ACTORS

    keys: dict[str, str] = {}
    for actor, role in DEMO_ACTORS.items():
        r = client.post(
            "/api/v1/actors",
            json={"id": actor, "role": role.label},
            headers={"Authorization": f"Bearer {admin_key}"},
        )
        r.raise_for_status()
        keys[actor] = str(r.json()["api_key"])
    return keys


@contextlib.contextmanager
def fresh_pg_database(url: str, prefix: str = "livetrust_test_") -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``url`` (a SQLAlchemy URL); yields
    its URL and drops it afterwards."""
    import psycopg

    name = prefix + uuid.uuid4().hex[:10]
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.rpartition("/")[0] + "/" + name
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
