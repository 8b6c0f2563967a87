"""JSON errors with a stable ``code``: the one place package errors become HTTP responses.

Every response for a user mistake is ``{"error": {"code": ..., "message": ...}}`` with a
4xx status; the status comes from the code, so clients branch on ``code``, never on text.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "install_error_handlers", "status_for"]

# Codes whose meaning maps to a specific HTTP status; any other typed error is a 422
# (well-formed request, unacceptable content) or 503 for an unreachable chain/db.
STATUS_BY_CODE: dict[str, int] = {
    "unauthenticated": 401,
    "bad_signature": 401,
    "stale_request": 401,
    "replayed_request": 401,
    "key_revoked": 401,
    "forbidden": 403,
    "role_not_allowed": 403,
    "key_not_valid_at_time": 403,
    "not_order_party": 403,
    "not_found": 404,
    "unknown_batch": 404,
    "unknown_actor": 404,
    "unknown_order": 404,
    "unknown_account": 404,
    "wrong_state": 409,
    "unknown_job": 404,
    "unknown_tx": 404,
    "conflict": 409,
    "replay_rejected": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "chain_unavailable": 503,
    "store_unavailable": 503,
    "store_error": 503,
    "store_failed": 503,
    # the service's own signing keys cannot be opened: its configuration, not the request
    "passphrase_required": 503,
    "passphrase_invalid": 503,
    "key_file_exposed": 503,
    "key_unencrypted": 503,
}


def status_for(code: str) -> int:
    return STATUS_BY_CODE.get(code, 422)


class ApiError(Exception):
    """Raised by routes and dependencies for request-level failures."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status or status_for(code)


def _body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if extra:
        err.update(extra)
    return {"error": err}


def _typed_roots() -> tuple[type[Exception], ...]:
    roots: list[type[Exception]] = []
    for module, name in (
        ("contracts", "ChainError"),
        ("contracts._keyfile", "KeyFileError"),
        ("provenance", "ProvenanceError"),
        ("watermark", "WatermarkError"),
        ("services._errors", "DisputeError"),
    ):
        try:
            mod = __import__(module, fromlist=[name])
            roots.append(getattr(mod, name))
        except (ImportError, AttributeError):
            continue
    return tuple(roots)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.code, str(exc)), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return JSONResponse(
            _body("invalid_request", "request does not match the schema", {"details": details}),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code)

    for root in _typed_roots():

        async def _typed(_: Request, exc: Exception) -> JSONResponse:
            code = str(getattr(exc, "code", "error"))
            return JSONResponse(_body(code, str(exc)), status_code=status_for(code))

        app.add_exception_handler(root, _typed)
