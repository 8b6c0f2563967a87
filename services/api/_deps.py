"""Dependencies as ``Annotated`` aliases (full-stack-fastapi-template style)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from services.api._auth import Caller, authenticate, require_admin
from services.api._errors import ApiError
from services.api._runtime import Runtime
from services.api._uploads import MAX_BODY_BYTES, Upload, receive

__all__ = [
    "AdminDep",
    "Authed",
    "CurrentActor",
    "RuntimeDep",
    "authenticated_body",
    "get_runtime",
    "signed_path",
]


async def get_runtime(request: Request) -> Runtime:
    # async: a sync dependency would cost a thread-pool hop on every request
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def signed_path(request: Request) -> str:
    """The ``<path?query>`` line of the canonical request, as the client sent it."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    query = request.scope.get("query_string", b"")
    return path + ("?" + query.decode("latin-1") if query else "")


@dataclass(frozen=True)
class Authed:
    caller: Caller
    body: Upload


def authenticated_body(
    limit: int = MAX_BODY_BYTES,
    types: Iterable[str] | None = None,
    sniff: Callable[[bytes], bool] | None = None,
    what: str = "body",
) -> Callable[..., AsyncIterator[Authed]]:
    """A dependency: stream the body to disk (limit, content type, sniffing), then
    authenticate the caller over its hash; the file is deleted after the response."""
    allowed = tuple(types) if types is not None else None

    async def dep(request: Request, rt: RuntimeDep) -> AsyncIterator[Authed]:
        upload = await receive(request, limit, rt.settings.home, allowed)
        try:
            if sniff is not None and not sniff(upload.head):
                raise ApiError("unsupported_media_type", f"the {what} does not look like JSON")
            caller = await run_in_threadpool(
                authenticate,
                rt,
                request.method,
                signed_path(request),
                request.headers,
                upload.sha256,
            )
            yield Authed(caller, upload)
        finally:
            upload.discard()

    return dep


async def _current_actor(authed: Annotated[Authed, Depends(authenticated_body())]) -> Caller:
    return authed.caller


CurrentActor = Annotated[Caller, Depends(_current_actor)]


def _admin(request: Request, rt: RuntimeDep) -> None:
    require_admin(rt, request.headers)


AdminDep = Annotated[None, Depends(_admin)]


def role_required(*roles: str) -> Callable[..., Any]:
    """Route guard: the authenticated caller must hold one of ``roles`` (403 otherwise)."""

    def check(caller: CurrentActor) -> Caller:
        if caller.role not in roles:
            raise ApiError(
                "role_not_allowed", f"{caller.actor!r} is a {caller.role}; needs {', '.join(roles)}"
            )
        return caller

    return check
