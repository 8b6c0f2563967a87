"""The web service: JSON API under ``/api/v1`` (OpenAPI at ``/docs``) and server-rendered pages.

Routes are thin: parse, call the packages, shape the response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from services.api._errors import ApiError, install_error_handlers
from services.api._runtime import Runtime
from services.config import Settings

__all__ = ["API_PREFIX", "ApiError", "create_app"]

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = Runtime(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        runtime.close()

    app = FastAPI(
        title="livetrust",
        version="0.1.0",
        description="Verifiable provenance, watermarked broadcasts and automatic disputes.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)

    from services.api.routes import chain

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(chain.router)

    @api.get("/health", tags=["meta"], summary="Liveness")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(api)
    return app
