"""The web service: JSON API under ``/api/v1`` (OpenAPI at ``/docs``) and server-rendered pages.

Routes are thin: parse, call the packages, shape the response. Writes are authenticated
(``services.api._auth``); reads of public verification data need no login.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from services.api._errors import ApiError, install_error_handlers
from services.api._fastpath import VerdictFastPath
from services.api._runtime import Runtime
from services.config import Settings

__all__ = ["API_PREFIX", "ApiError", "create_app"]

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; ``settings`` default to the environment (``LIVETRUST_*``, livetrust.toml)."""
    runtime = Runtime(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime.settings.admin_key is None:
            generated = runtime.pop_generated_admin_key()  # a bad key file stops the start here
            path = (runtime.settings.home / "admin.key").resolve()
            if generated is not None:
                # shown once, on the console: never through logging (log files outlive the
                # terminal and reach other people); only its salted hash is kept
                sys.stderr.write(
                    f"\nlivetrust: the registrar key for POST /api/v1/actors, shown once "
                    f"(only its salted hash is kept, in {path}; `livetrust keys admin` makes a "
                    f"new one):\n\n    {generated}\n\n"
                )
                sys.stderr.flush()
            else:
                logging.getLogger("livetrust.api").info("registrar key: salted hash in %s", path)
        runtime.start_anchoring()
        yield
        runtime.close()

    app = FastAPI(
        title="livetrust",
        version="0.1.0",
        description=(
            "Verifiable provenance, watermarked broadcasts and automatic disputes. Public "
            "reads need no login; writes are signed requests (X-LT-* headers, Ed25519) or "
            "carry an API key (`Authorization: Bearer lt_…`). Errors are "
            '`{"error": {"code", "message"}}` with a stable code.'
        ),
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(VerdictFastPath)

    from services.api import pages
    from services.api.routes import (
        actors,
        anchors,
        batches,
        chain,
        clips,
        dashboard,
        events,
        jobs,
        orders,
        proofs,
    )
    from services.web import STATIC

    # batches first: verdict reads are the hot path and routes are matched in order
    for module in (batches, proofs, events, actors, anchors, jobs, orders, clips, dashboard, chain):
        app.include_router(module.router, prefix=API_PREFIX)
    meta = APIRouter(prefix=API_PREFIX, tags=["meta"])

    @meta.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(meta)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app
