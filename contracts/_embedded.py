"""The embedded chain: eth-tester's py-evm backend on a persistent key-value store.

py-evm keeps every trie node, header and receipt in one key-value database. eth-tester
builds its chain on an in-memory one; we put a SQLite table under it instead, committed
after every mined block, so a restart reopens the chain at its head: same accounts
(eth-tester's deterministic test keys), contract addresses, block hashes and state. Restart
cost does not grow with history (no journal replay), and a process killed mid-block loses
only that uncommitted block, never leaves a half-written one.

Only one process may own the chain at a time (a file lock); others share it through
``livetrust chain serve`` (JSON-RPC).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.db.chain import ChainDB
from eth.exceptions import CanonicalHeadNotFound
from eth_tester import EthereumTester
from eth_tester.backends.pyevm.main import (
    PyEVMBackend,
    generate_genesis_state_for_keys,
    get_default_account_keys,
    get_default_genesis_params,
    setup_tester_chain,
)

from contracts._errors import ChainUnavailable

__all__ = ["EmbeddedChain", "SqliteKV"]

# Read cache entries: trie nodes are immutable by hash, so caching them is always correct;
# 200k entries is ~40 MB, far more than the working set of our contracts.
READ_CACHE_ENTRIES = 200_000


class SqliteKV(BaseDB):
    """py-evm ``DatabaseAPI`` on one SQLite table; writes become durable on :meth:`commit`."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path), isolation_level="DEFERRED", check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL with WAL survives a killed process (not a power cut): what we need here.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
        self._conn.commit()
        self._cache: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        value = bytes(row[0])
        if len(self._cache) < READ_CACHE_ENTRIES:
            self._cache[key] = value
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))
        self._cache[key] = value

    def __delitem__(self, key: bytes) -> None:
        cur = self._conn.execute("DELETE FROM kv WHERE k = ?", (key,))
        self._cache.pop(key, None)
        if cur.rowcount == 0:
            raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        if key in self._cache:
            return True
        return self._conn.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None

    def __iter__(self) -> Iterator[bytes]:
        for (k,) in self._conn.execute("SELECT k FROM kv"):
            yield bytes(k)

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM kv").fetchone()[0])

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()
        self._cache.clear()

    def close(self) -> None:
        self._conn.commit()
        self._conn.close()


class _PersistentBackend(PyEVMBackend):  # type: ignore[misc]
    """PyEVMBackend whose chain lives in a :class:`SqliteKV` and is reopened at its head."""

    def __init__(self, kv: SqliteKV) -> None:
        self._kv = kv
        super().__init__()

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        # setup_tester_chain defines the chain class (VM schedule, chain id) inside itself;
        # build a throwaway in-memory chain just to get that class.
        account_keys, scratch = setup_tester_chain()
        chain_class = type(scratch)
        base_db = AtomicDB(self._kv)
        try:
            ChainDB(base_db).get_canonical_head()
            chain = chain_class(base_db)
        except CanonicalHeadNotFound:
            chain = chain_class.from_genesis(
                base_db,
                get_default_genesis_params(),
                generate_genesis_state_for_keys(get_default_account_keys()),
            )
            self._kv.commit()
        self.account_keys = account_keys
        self.chain = chain

    def mine_blocks(self, num_blocks: int = 1, coinbase: Any = None) -> Any:
        kwargs = {} if coinbase is None else {"coinbase": coinbase}
        try:
            hashes = super().mine_blocks(num_blocks, **kwargs)
        except BaseException:
            self._kv.rollback()
            raise
        self._kv.commit()
        return hashes


class EmbeddedChain:
    """An eth-tester chain persisted under ``directory``, owned by this process while open."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._lock_fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock_fd)
            raise ChainUnavailable(
                f"the embedded chain in {directory} is in use by another process; share it "
                "with `livetrust chain serve` and LIVETRUST_RPC=http://127.0.0.1:8545"
            ) from exc
        self.kv = SqliteKV(directory / "chain.sqlite")
        self.backend = _PersistentBackend(self.kv)
        self.tester = EthereumTester(backend=self.backend, auto_mine_transactions=True)

    def time_travel(self, to_timestamp: int) -> None:
        """Mine an empty block stamped ``to_timestamp`` (later blocks follow it)."""
        chain = self.backend.chain
        chain.header = chain.header.copy(timestamp=to_timestamp)
        self.backend.mine_blocks()

    def close(self) -> None:
        if self._lock_fd < 0:
            return
        self.kv.close()
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = -1
