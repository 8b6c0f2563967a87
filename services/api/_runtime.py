"""What a running server holds: settings, one chain connection, the stores, the worker.

Opened once per process in the app's lifespan. The embedded chain can be owned by one
process only, so multi-worker deployments point ``LIVETRUST_RPC`` at ``livetrust chain
serve`` or an external node; the API itself stays stateless apart from these handles and
two caches (verdicts by tree size, verifier keys for a minute) that are safe to lose.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from services.api._jobs import Jobs
from services.config import Settings

if TYPE_CHECKING:
    from contracts import Chain
    from provenance import CachedAnchors, Ledger, Store, VerifiedRecords
    from provenance._registry import (
        AnchorLedger,
        AnchorLike,
        KeyDirectory,
        KeyRecordLike,
        ReceiptLike,
    )
    from services._orders import OrderBook
    from services._store import DisputeStore
    from services.api._auth import AdminKey
    from services.api._views import StateBatcher, StateProbe
    from watermark._manifest import ManifestStore

__all__ = ["Runtime", "VerdictCache"]

log = logging.getLogger("livetrust.api")
T = TypeVar("T")

# Verdicts kept in memory; one entry is a few KB of JSON, so this bounds the cache at a few MB.
VERDICT_CACHE_SIZE = 4096


class _Locked:
    """Serialises calls into the chain client: py-evm (the embedded chain) is not thread-safe
    and FastAPI runs sync routes on a thread pool."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock

    def _do(self, fn: Callable[[], T]) -> T:
        with self._lock:
            return fn()


class LockedDirectory(_Locked):
    def __init__(self, lock: threading.RLock, inner: KeyDirectory) -> None:
        super().__init__(lock)
        self.inner = inner

    def keys(self, actor_id: str) -> Sequence[KeyRecordLike]:
        return self._do(lambda: self.inner.keys(actor_id))


class LockedAnchors(_Locked):
    def __init__(self, lock: threading.RLock, inner: AnchorLedger) -> None:
        super().__init__(lock)
        self.inner = inner

    def anchor(self, log_id: int, tree_size: int, root: bytes) -> ReceiptLike:
        return self._do(lambda: self.inner.anchor(log_id, tree_size, root))

    def count(self) -> int:
        return self._do(self.inner.count)

    def by_index(self, index: int) -> AnchorLike:
        return self._do(lambda: self.inner.by_index(index))

    def by_root(self, root: bytes) -> AnchorLike | None:
        return self._do(lambda: self.inner.by_root(root))

    def tx_of(self, root: bytes) -> str | None:
        return self._do(lambda: self.inner.tx_of(root))


class VerdictCache:
    """Verdict JSON per (batch, profile), valid while the log size and latest anchor are the
    ones it was computed at and for at most ``ttl`` seconds (the key cache's lifetime, so a
    revoked key shows up in a verdict as soon as a fresh verifier would see it)."""

    def __init__(self, ttl: float, capacity: int = VERDICT_CACHE_SIZE) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], tuple[tuple[int, int], float, bytes]] = {}

    def get(self, key: tuple[str, str], state: tuple[int, int], now: float) -> bytes | None:
        with self._lock:
            hit = self._items.get(key)
        if hit is None or hit[0] != state or now - hit[1] >= self.ttl:
            return None
        return hit[2]

    def put(self, key: tuple[str, str], state: tuple[int, int], now: float, body: bytes) -> None:
        with self._lock:
            self._items[key] = (state, now, body)
            if len(self._items) > self.capacity:
                self._items.pop(next(iter(self._items)))


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # One re-entrant lock guards lazy opening and every chain call: a single lock cannot
        # be taken in two orders, so request threads and the anchoring loop cannot deadlock.
        self._lock = threading.RLock()
        self.chain_lock = self._lock
        self._lazy: dict[str, Any] = {}
        self._closers: list[Callable[[], None]] = []
        self._chain: Chain | None = None
        self._store: Store | None = None
        self.jobs = Jobs(lambda: self.service_store)
        self.verdicts = VerdictCache(self.settings.key_cache_ttl_s)
        self._anchor_stop = threading.Event()
        self._anchor_thread: threading.Thread | None = None
        self.last_anchor: dict[str, Any] | None = None
        self._generated_admin_key: str | None = None

    @property
    def chain(self) -> Chain:
        """The chain, connected on first use (a server must start even if the node is down)."""
        if self._chain is not None:
            return self._chain
        with self._lock:
            if self._chain is None:
                from contracts import Chain

                s = self.settings
                self._chain = Chain.connect(s.rpc, s.home, cache=s.cache, key=s.chain_key)
            return self._chain

    @property
    def store(self) -> Store:
        """The provenance store (migrated on first use), plus this service's own tables."""
        if self._store is not None:  # no lock once open: the event loop must never wait
            return self._store
        with self._lock:
            if self._store is None:
                from provenance import Store
                from services.api._auth import create_tables

                store = Store.open(self.settings.db_url)
                create_tables(store)
                self._store = store
            return self._store

    def _once(self, name: str, make: Callable[[], T]) -> T:
        """Build a handle on first use, under the runtime's one lock (read without it after:
        the event loop must never wait for a thread that holds the lock over a chain call)."""
        if name in self._lazy:
            value_: T = self._lazy[name]
            return value_
        with self._lock:
            if name not in self._lazy:
                self._lazy[name] = make()
            value: T = self._lazy[name]
            return value

    @property
    def directory(self) -> LockedDirectory:
        """The ActorRegistry, uncached: request authentication and ingest must see revocations
        at once."""
        return self._once("directory", lambda: LockedDirectory(self._lock, self.chain.actors))

    @property
    def anchors(self) -> LockedAnchors:
        return self._once("anchors", lambda: LockedAnchors(self._lock, self.chain.anchors))

    @property
    def ledger(self) -> Ledger:
        """Ledger for writes (ingest checks authority against the chain, uncached)."""
        from provenance import Ledger

        return self._once("ledger", lambda: Ledger(self.store, self.directory))

    @property
    def read_ledger(self) -> Ledger:
        """Ledger for verification reads: keys cached ``key_cache_ttl_s`` (a revocation shows
        within that time), found anchors cached (the registry is append-only)."""
        from provenance import CachedDirectory, Ledger

        return self._once(
            "read_ledger",
            lambda: Ledger(
                self.store, CachedDirectory(self.directory, self.settings.key_cache_ttl_s)
            ),
        )

    @property
    def service_store(self) -> DisputeStore:
        """The ``svc_`` tables (orders, disputes, credit, jobs), migrated on first use."""
        from services._store import DisputeStore

        def make() -> DisputeStore:
            store = DisputeStore.open(self.settings.db_url)
            self._closers.append(store.close)
            return store

        return self._once("service_store", make)

    @property
    def book(self) -> OrderBook:
        """Orders, disputes and credit (``services._orders``) on the same chain and database;
        callers hold ``chain_lock`` around it (it talks to the chain directly)."""
        from services._orders import OrderBook
        from services._provsource import LedgerSource

        def make() -> OrderBook:
            source = LedgerSource(self.settings.db_url, self.chain)
            return OrderBook(self.chain, self.service_store, self.settings.home, source)

        return self._once("book", make)

    @property
    def manifests(self) -> ManifestStore:
        """Signed broadcast manifests (``watermark._manifest``) in the provenance store."""
        from watermark._manifest import ManifestStore

        return self._once("manifests", lambda: ManifestStore(self.store))

    @property
    def state_probe(self) -> StateProbe:
        from services.api._views import StateProbe

        return self._once("state_probe", lambda: StateProbe(self.store.engine))

    @property
    def state_batcher(self) -> StateBatcher:
        from services.api._views import StateBatcher

        def make() -> StateBatcher:
            batcher = StateBatcher(self.state_probe)
            self._closers.append(batcher.close)
            return batcher

        return self._once("state_batcher", make)

    @property
    def read_anchors(self) -> CachedAnchors:
        from provenance import CachedAnchors

        return self._once("read_anchors", lambda: CachedAnchors(self.anchors))

    @property
    def memo(self) -> VerifiedRecords:
        from provenance import VerifiedRecords

        return self._once("memo", VerifiedRecords)

    @property
    def chain_ref(self) -> dict[str, Any]:
        from provenance import chain_reference

        return self._once("chain_ref", lambda: dict(chain_reference(self.chain)))

    @property
    def admin_key(self) -> AdminKey:
        """The registrar key's salted hash (``services.api._auth``), loaded once."""
        return self._once("admin_key", self._load_admin_key)

    def _load_admin_key(self) -> AdminKey:
        from services.api._auth import load_admin_key

        key, self._generated_admin_key = load_admin_key(self.settings.home, self.settings.admin_key)
        return key

    def pop_generated_admin_key(self) -> str | None:
        """The registrar key this start generated (none was configured or stored), once: the
        operator's only chance to see it. Loads the key file first (its errors surface here)."""
        self.admin_key  # noqa: B018
        key, self._generated_admin_key = self._generated_admin_key, None
        return key

    @cached_property
    def started(self) -> float:
        import time

        return time.time()

    # -- anchoring loop --------------------------------------------------------------------

    def start_anchoring(self) -> None:
        """Anchor the log every ``anchor_interval_s`` seconds in a daemon thread."""
        interval = self.settings.anchor_interval_s
        if interval <= 0 or self._anchor_thread is not None:
            return
        self._anchor_stop = threading.Event()
        from provenance import Anchorer

        def on_result(result: Any) -> None:
            self.last_anchor = result.to_json()
            if result.status == "anchored":
                log.info("anchored %s new events (size %s)", result.new_events, result.head)

        def on_error(exc: Exception) -> None:
            log.warning("anchoring round failed: %s", exc)

        def loop() -> None:
            # provenance's loop retries its own errors; anything else (the chain unreachable
            # at start, a dropped connection) is reported and the loop restarts next period
            while not self._anchor_stop.is_set():
                try:
                    Anchorer(self.ledger, self.anchors).run(
                        self._anchor_stop, interval, on_result, on_error
                    )
                except Exception as exc:
                    on_error(exc)
                    self._anchor_stop.wait(interval)

        self._anchor_thread = threading.Thread(target=loop, name="anchor-loop", daemon=True)
        self._anchor_thread.start()

    def close(self) -> None:
        self._anchor_stop.set()
        if self._anchor_thread is not None:
            self._anchor_thread.join(timeout=10)
            self._anchor_thread = None
        self.jobs.close()
        with self._lock:
            for close in self._closers:
                close()
            self._closers.clear()
            if self._store is not None:
                self._store.close()
                self._store = None
        with self._lock:
            if self._chain is not None:
                self._chain.close()
                self._chain = None
            self._lazy.clear()
