"""What routes and pages share: the calls into ``provenance`` with the service's caches.

Routes and pages stay thin; anything that would otherwise be written twice (a verdict with
its cache, a bundle, totals for the dashboard) lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from services.api._errors import ApiError

if TYPE_CHECKING:
    from provenance import Profile
    from services.api._runtime import Runtime

__all__ = [
    "StateBatcher",
    "StateProbe",
    "anchors_list",
    "bundle_for",
    "cached_verdict",
    "cached_verdict_async",
    "dashboard_totals",
    "log_state",
    "profile_named",
    "verdict_bytes",
    "verify_bundle_bytes",
]


def profile_named(name: str) -> Profile:
    from provenance import PROFILES

    if name not in PROFILES:
        raise ApiError(
            "unknown_profile", f"unknown profile {name!r} (one of: {', '.join(PROFILES)})"
        )
    return PROFILES[name]


_STATE_SQL = (
    "SELECT (SELECT size FROM prov_logs WHERE log_id = {p}), "
    "(SELECT MAX(tree_size) FROM prov_anchors WHERE log_id = {p} AND state = 'confirmed')"
)


class StateProbe:
    """The (log size, anchored size) query, on the event loop, on a connection of its own.

    It runs on every verdict read: a plain DB-API cursor execute costs a fraction of a pooled
    SQLAlchemy round trip. Only the event loop's thread uses the dedicated connection (one per
    process, detached from the pool so it never starves it); calls from worker threads take
    the pooled path. The connection is in autocommit mode, so it never sits idle in a
    transaction and always sees the latest commit; a database error drops it (a new one is
    opened next time) and surfaces as ``StoreError``.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.local = threading.local()
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self.sql = _STATE_SQL.format(p=mark)
        self.pooled_sql = text(_STATE_SQL.format(p=":log"))

    def _conn(self) -> Any:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            raw = self.engine.raw_connection()
            driver = raw.driver_connection
            raw.detach()  # ours for good: the pool replaces it
            if self.engine.dialect.name == "postgresql":
                driver.autocommit = True
            else:  # sqlite3: no implicit transaction around SELECTs
                driver.isolation_level = None
            self.local.conn = driver
            conn = driver
        return conn

    def __call__(self, log_id: int) -> tuple[int, int]:

        if not _on_event_loop():
            return self.pooled(log_id)
        return self.direct(log_id)

    def pooled(self, log_id: int) -> tuple[int, int]:
        """From any worker thread, through the pool."""
        from provenance import StoreError

        try:
            with self.engine.connect() as c:
                row = c.execute(self.pooled_sql, {"log": log_id}).one()
        except Exception as exc:  # SQLAlchemy errors: translated once, here
            raise StoreError(f"database error: {exc}") from exc
        return int(row[0] or 0), int(row[1] or 0)

    def direct(self, log_id: int) -> tuple[int, int]:
        """On this thread's own connection (the event loop's, or the batcher's thread)."""
        from provenance import StoreError

        try:
            cur = self._conn().cursor()
            try:
                cur.execute(self.sql, (log_id, log_id))
                row = cur.fetchone()
            finally:
                cur.close()
        except Exception as exc:  # DB-API errors of either driver: translated once, here
            conn = getattr(self.local, "conn", None)
            self.local.conn = None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            raise StoreError(f"database error: {exc.__class__.__name__}: {exc}") from exc
        return int(row[0] or 0), int(row[1] or 0)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def log_state(rt: Runtime) -> tuple[int, int]:
    """(log size, latest confirmed anchored size): a verdict can change only when one does."""
    return rt.state_probe(rt.read_ledger.log_id)


class StateBatcher:
    """Shares one state query among every verdict read waiting for it, without staleness.

    On a networked database the state query is a round trip; run inline on the event loop it
    would serialise all reads behind it. Here a read that arrives joins the *next* query to
    start (never one already in flight, so the state it gets was read after it arrived);
    the query runs on one dedicated thread and its connection, and every read that joined
    it shares its answer: one round trip per batch of concurrent reads ("group commit" for
    reads). SQLite needs none of this: its query is a local call, run inline.
    """

    def __init__(self, probe: StateProbe) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.probe = probe
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="state")
        self.next: asyncio.Future[tuple[int, int]] | None = None
        self.running = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None

    async def get(self, log_id: int) -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new event loop (a restarted app): start afresh
            self.loop, self.next, self.running = loop, None, False
        if self.next is None:
            self.next = loop.create_future()
        fut = self.next
        if not self.running:
            self.running = True
            self.task = loop.create_task(self._drain(log_id))
        return await fut

    async def _drain(self, log_id: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.next is not None:
                fut, self.next = self.next, None
                try:
                    state = await loop.run_in_executor(self.pool, self.probe.direct, log_id)
                except Exception as exc:
                    fut.set_exception(exc)
                else:
                    fut.set_result(state)
        finally:
            self.running = False

    def close(self) -> None:
        self.pool.shutdown(wait=False)


async def cached_verdict_async(
    rt: Runtime, batch: str, profile: str
) -> tuple[bytes | None, tuple[int, int]]:
    """:func:`cached_verdict` for the event loop: on PostgreSQL the state query is shared
    through :class:`StateBatcher`, on SQLite it runs inline."""
    if rt.store.dialect == "sqlite":
        return cached_verdict(rt, batch, profile)
    state = await rt.state_batcher.get(rt.read_ledger.log_id)
    return rt.verdicts.get((batch, profile), state, time.monotonic()), state


def cached_verdict(rt: Runtime, batch: str, profile: str) -> tuple[bytes | None, tuple[int, int]]:
    """The cached verdict JSON if the log and its anchors are where they were when it was
    computed (one indexed query), plus that state for :func:`verdict_bytes`."""
    state = log_state(rt)
    return rt.verdicts.get((batch, profile), state, time.monotonic()), state


def verdict_bytes(
    rt: Runtime, batch: str, profile: str, state: tuple[int, int] | None = None
) -> bytes:
    """``livetrust batch verify --json`` as bytes, cached while the log and anchors stand still
    (and at most the key cache's lifetime)."""
    from provenance import verify_batch
    from services._origin import batch_origin_report

    prof = profile_named(profile)
    if state is None:
        hit, state = cached_verdict(rt, batch, prof.name)
        if hit is not None:
            return hit
    now = time.monotonic()
    verdict = verify_batch(rt.read_ledger, batch, rt.read_anchors, prof, rt.memo).to_json()
    origin = batch_origin_report(rt.read_ledger, batch, rt.read_anchors)
    if origin:  # as `livetrust batch verify`: only batches with a linked origin camera
        verdict["origin_evidence"] = origin
    body = json.dumps(verdict, separators=(",", ":")).encode()
    rt.verdicts.put((batch, prof.name), state, now, body)
    return body


def bundle_for(rt: Runtime, batch: str) -> bytes:
    from provenance import build_bundle, bundle_bytes

    return bundle_bytes(build_bundle(rt.read_ledger, batch, rt.chain_ref))


def verify_bundle_bytes(rt: Runtime, data: bytes, profile: str) -> dict[str, Any]:
    """A proof bundle checked against our chain only (keys and anchored roots), as an
    offline verifier would: the database is not consulted."""
    from provenance import verify_bundle

    prof = profile_named(profile)
    verdict = verify_bundle(
        data, rt.read_ledger.directory, rt.read_anchors, prof, chain=rt.chain_ref
    )
    result: dict[str, Any] = verdict.to_json()
    return result


def anchors_list(rt: Runtime, limit: int = 100) -> list[dict[str, Any]]:
    from provenance._store import ANCHORS

    t = ANCHORS
    with rt.store.read() as conn:
        rows = conn.execute(
            select(t)
            .where(t.c.log_id == rt.read_ledger.log_id)
            .order_by(t.c.tree_size.desc())
            .limit(limit)
        ).all()
    return [
        {
            "log_id": int(r.log_id),
            "tree_size": int(r.tree_size),
            "root": bytes(r.root).hex(),
            "state": str(r.state),
            "index": r.chain_index,
            "tx_hash": r.tx_hash,
            "timestamp": r.timestamp,
            "block_number": r.block_number,
            "gas_used": r.gas_used,
        }
        for r in rows
    ]


DAY_S = 86_400


def dashboard_totals(rt: Runtime, days: int = 14) -> dict[str, Any]:
    """Platform totals: actors by role, events, batches, anchors, events per day."""
    from provenance import Role
    from provenance._store import ACTORS, ANCHORS, EVENT_LOTS, EVENTS

    with rt.store.read() as conn:
        roles = conn.execute(select(ACTORS.c.role, func.count()).group_by(ACTORS.c.role)).all()
        events = int(conn.execute(select(func.count()).select_from(EVENTS)).scalar() or 0)
        batches = int(
            conn.execute(select(func.count(func.distinct(EVENT_LOTS.c.lot)))).scalar() or 0
        )
        signers = int(
            conn.execute(select(func.count(func.distinct(EVENTS.c.actor_id)))).scalar() or 0
        )
        anchors = int(
            conn.execute(
                select(func.count()).select_from(ANCHORS).where(ANCHORS.c.state == "confirmed")
            ).scalar()
            or 0
        )
        steps = conn.execute(
            select(EVENTS.c.biz_step, func.count()).group_by(EVENTS.c.biz_step)
        ).all()
        day = EVENTS.c.recorded_at // DAY_S
        since = (int(time.time()) // DAY_S - days + 1) * DAY_S
        per_day = conn.execute(
            select(day, func.count()).where(EVENTS.c.recorded_at >= since).group_by(day)
        ).all()
    size, anchored = log_state(rt)
    today = int(time.time()) // DAY_S
    counts = {int(d): int(n) for d, n in per_day}
    return {
        "actors": {Role(int(r)).label: int(n) for r, n in roles},
        "signers": signers,
        "events": events,
        "batches": batches,
        "anchors": anchors,
        "log_size": size,
        "anchored_size": anchored,
        "not_anchored": size - anchored,
        "biz_steps": {str(s or "-"): int(n) for s, n in steps},
        "events_per_day": [
            {"day": time.strftime("%Y-%m-%d", time.gmtime(d * DAY_S)), "events": counts.get(d, 0)}
            for d in range(today - days + 1, today + 1)
        ],
    }
