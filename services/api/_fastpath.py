"""A read-through cache in front of the router for the hottest read: batch verdicts.

``GET /api/v1/batches/{batch}/verdict`` is what every scan of a pack and every buyer's app
asks, over and over, for data that changes only when the log grows or a new anchor lands.
This ASGI middleware answers a *cache hit* directly — the same bytes, status and content
type the route would return, after the same one-query freshness check
(:func:`services.api._views.cached_verdict_async`) — and passes everything else (misses, other
paths, other methods, unknown profiles) to FastAPI unchanged, so validation, errors and
OpenAPI stay the route's. It saves the router's matching and dependency solving, about a
third of the server's CPU per cached read (``benchmarks/bench_api.py``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from services.api._views import cached_verdict_async

__all__ = ["VerdictFastPath"]

PREFIX = "/api/v1/batches/"
SUFFIX = "/verdict"
DEFAULT_PROFILE = "chilled_produce"


class VerdictFastPath:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(PREFIX) and path.endswith(SUFFIX) and len(path) > 24:
                body = await self._hit(scope, path[len(PREFIX) : -len(SUFFIX)])
                if body is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    async def _hit(self, scope: Any, batch: str) -> bytes | None:
        runtime = scope["app"].state.runtime if "app" in scope else None
        if runtime is None:
            return None
        query = scope.get("query_string", b"")
        profile = DEFAULT_PROFILE
        if query:
            values = parse_qs(query.decode("latin-1")).get("profile")
            if values is None or len(values) != 1:
                return None
            profile = values[0]
        try:
            hit, _ = await cached_verdict_async(runtime, batch, profile)
        except Exception:  # anything unusual: let the route answer (and report) it
            return None
        return hit
