"""Who is calling: signed requests, API keys, the registrar key; and this service's tables.

A write is made *as* an actor, proven one of two ways:

1. **Signed request** (``services.api._signing``): headers name the actor, a timestamp, a
   nonce and an Ed25519 signature over method, path, timestamp, nonce and body hash. Checks,
   in order: (a) all four headers present and well-formed; (b) the timestamp within
   ``MAX_CLOCK_SKEW_S`` of the server clock (``stale_request``); (c) the actor registered on
   chain (``unknown_actor``); (d) the signature verifies under one of the actor's on-chain
   keys (``bad_signature``); (e) that key is valid for the actor's role at the timestamp and now,
   not revoked or expired (``key_revoked``); (f) the nonce never seen for this actor within the
   skew window, remembered in the database so every worker shares it (``replayed_request``).
2. **API key** (``Authorization: Bearer lt_…``), issued once at registration; only its
   SHA-256 is stored. The actor's on-chain key must still be valid now (``key_revoked``).

The registrar (``POST /api/v1/actors``) uses the admin key (``LIVETRUST_ADMIN_KEY``, or the
one generated into ``LIVETRUST_HOME/admin.key`` on first start), compared in constant time.

The ActorRegistry is asked directly, not through a cache: a revocation takes effect on the
next request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Integer, MetaData, String, Table, delete, select
from sqlalchemy.exc import IntegrityError

from provenance._registry import key_valid_at
from services.api._errors import ApiError
from services.api._signing import (
    HEADER_ACTOR,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_CLOCK_SKEW_S,
    MAX_NONCE_CHARS,
    MIN_NONCE_CHARS,
    decode_signature,
    signature_valid_hashed,
)

if TYPE_CHECKING:
    from provenance import Store
    from services.api._runtime import Runtime

__all__ = [
    "API_ACCOUNTS",
    "API_KEY_PREFIX",
    "BUYER",
    "Caller",
    "account_of",
    "admin_key_hash",
    "authenticate",
    "create_tables",
    "issue_api_key",
    "require_admin",
]

API_KEY_PREFIX = "lt_"
API_KEY_BYTES = 32  # 256-bit secrets, as GitHub's and Stripe's tokens
ADMIN_KEY_FILE = "admin.key"

metadata = MetaData()
API_KEYS = Table(
    "api_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),  # sha256 hex of the key; never the key
    Column("actor_id", String(128), nullable=False, index=True),
    Column("created_at", Integer, nullable=False),
    Column("revoked_at", Integer, nullable=True),
)
# The escrow account each actor transacts from (custodial: the node holds it unlocked, or it is
# the service's chain key), and the buyers: consumers hold no persona key on chain, only an
# API key bound to their escrow account (role "buyer" here; ActorRegistry has no such role).
API_ACCOUNTS = Table(
    "api_accounts",
    metadata,
    Column("actor_id", String(128), primary_key=True),
    Column("account", String(42), nullable=False),
    Column("buyer", Integer, nullable=False, default=0),
)
BUYER = "buyer"
API_NONCES = Table(
    "api_nonces",
    metadata,
    Column("actor_id", String(128), primary_key=True),
    Column("nonce", String(MAX_NONCE_CHARS), primary_key=True),
    Column("seen_at", Integer, nullable=False, index=True),
)


def create_tables(store: Store) -> None:
    """The service's own tables (``api_*``) next to the ledger's; idempotent."""
    from provenance import StoreError

    try:
        metadata.create_all(store.engine, checkfirst=True)
    except Exception as exc:  # SQLAlchemy error on a broken database: translated once here
        raise StoreError(f"cannot create the API tables: {exc}") from exc


@dataclass(frozen=True)
class Caller:
    actor: str
    role: str
    method: str  # "signature" | "api_key"


def _label(role: int) -> str:
    from provenance import Role

    return Role(int(role)).label


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def issue_api_key(store: Store, actor: str) -> str:
    key = API_KEY_PREFIX + secrets.token_urlsafe(API_KEY_BYTES)
    with store.begin() as conn:
        conn.execute(
            API_KEYS.insert().values(
                key_hash=_sha256(key), actor_id=actor, created_at=int(time.time())
            )
        )
    return key


def admin_key_hash(home: Path, configured: str | None) -> str:
    """SHA-256 of the registrar key: the configured one, or one generated into the home."""
    if configured:
        return _sha256(configured)
    path = home / ADMIN_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(API_KEY_PREFIX + "admin_" + secrets.token_urlsafe(API_KEY_BYTES) + "\n")
    return _sha256(path.read_text().strip())


def _bearer(headers: Any) -> str | None:
    auth = headers.get("authorization")
    if not auth:
        return None
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError("unauthenticated", "Authorization must be 'Bearer <api key>'")
    return str(token).strip()


def require_admin(rt: Runtime, headers: Any) -> None:
    token = _bearer(headers)
    if token is None:
        raise ApiError("unauthenticated", "registering actors needs the registrar key")
    if not hmac.compare_digest(_sha256(token), rt.admin_hash):
        raise ApiError("forbidden", "this key may not register actors")


def _role_now(rt: Runtime, actor: str, t: int) -> tuple[str, list[Any]]:
    keys = list(rt.directory.keys(actor))
    if not keys:
        raise ApiError("unknown_actor", f"actor {actor!r} is not registered", status=401)
    valid = [k for k in keys if key_valid_at(k, t)]
    return _label((valid or keys)[-1].role), valid


def authenticate(rt: Runtime, method: str, path: str, headers: Any, body_sha256: str) -> Caller:
    """Step through the module docstring's checks; raise :class:`ApiError` on the first miss."""
    signed = headers.get(HEADER_SIGNATURE) is not None or headers.get(HEADER_ACTOR) is not None
    if not signed:
        token = _bearer(headers)
        if token is None:
            raise ApiError(
                "unauthenticated",
                f"sign the request ({HEADER_ACTOR}, {HEADER_TIMESTAMP}, {HEADER_NONCE}, "
                f"{HEADER_SIGNATURE}) or send 'Authorization: Bearer <api key>'",
            )
        return _by_api_key(rt, token)
    # (a) headers
    actor = headers.get(HEADER_ACTOR) or ""
    ts_text = headers.get(HEADER_TIMESTAMP) or ""
    nonce = headers.get(HEADER_NONCE) or ""
    sig_text = headers.get(HEADER_SIGNATURE) or ""
    if not (actor and ts_text and nonce and sig_text):
        raise ApiError("unauthenticated", "a signed request needs all four X-LT-* headers")
    if not ts_text.isdigit() or len(ts_text) > 12:
        raise ApiError("stale_request", f"{HEADER_TIMESTAMP} must be unix seconds")
    if not (MIN_NONCE_CHARS <= len(nonce) <= MAX_NONCE_CHARS) or not nonce.isascii():
        raise ApiError(
            "unauthenticated",
            f"{HEADER_NONCE} must be {MIN_NONCE_CHARS}-{MAX_NONCE_CHARS} ASCII characters",
        )
    try:
        sig = decode_signature(sig_text)
    except ValueError as exc:
        raise ApiError("bad_signature", f"{HEADER_SIGNATURE} is not base64url") from exc
    # (b) clock
    ts = int(ts_text)
    now = int(time.time())
    if abs(now - ts) > MAX_CLOCK_SKEW_S:
        raise ApiError(
            "stale_request",
            f"timestamp {ts} is {abs(now - ts)} s from the server clock "
            f"(at most {MAX_CLOCK_SKEW_S} s)",
        )
    # (c) registered, (d) signature under one of its keys
    keys = list(rt.directory.keys(actor))
    if not keys:
        raise ApiError("unknown_actor", f"actor {actor!r} is not registered", status=401)
    signer = [
        k
        for k in keys
        if signature_valid_hashed(bytes(k.public_key), method, path, ts, nonce, body_sha256, sig)
    ]
    if not signer:
        raise ApiError("bad_signature", f"the signature does not verify under any key of {actor!r}")
    # (e) that key valid for its role at the timestamp
    key = signer[0]
    if not (key_valid_at(key, ts) and key_valid_at(key, now)):
        raise ApiError(
            "key_revoked",
            f"{actor!r}'s key #{key.index} is revoked or not valid at {ts} (or now)",
        )
    # (f) nonce
    _remember_nonce(rt.store, actor, nonce, now)
    return Caller(actor, _label(key.role), "signature")


def _by_api_key(rt: Runtime, token: str) -> Caller:
    with rt.store.read() as conn:
        row = conn.execute(select(API_KEYS).where(API_KEYS.c.key_hash == _sha256(token))).first()
    if row is None or row.revoked_at is not None:
        raise ApiError("unauthenticated", "unknown or revoked API key")
    if _is_buyer(rt.store, row.actor_id):  # no persona key on chain to check
        return Caller(row.actor_id, BUYER, "api_key")
    role, valid = _role_now(rt, row.actor_id, int(time.time()))
    if not valid:
        raise ApiError("key_revoked", f"{row.actor_id!r} holds no valid key on chain now")
    return Caller(row.actor_id, role, "api_key")


def _is_buyer(store: Store, actor: str) -> bool:
    with store.read() as conn:
        flag = conn.execute(
            select(API_ACCOUNTS.c.buyer).where(API_ACCOUNTS.c.actor_id == actor)
        ).scalar()
    return bool(flag)


def account_of(store: Store, actor: str) -> str | None:
    """The escrow account ``actor`` transacts from (bound at registration), if any."""
    with store.read() as conn:
        account = conn.execute(
            select(API_ACCOUNTS.c.account).where(API_ACCOUNTS.c.actor_id == actor)
        ).scalar()
    return None if account is None else str(account)


def _remember_nonce(store: Store, actor: str, nonce: str, now: int) -> None:
    from provenance import StoreError

    try:
        with store.begin() as conn:
            # forget nonces older than the window: their timestamps are refused anyway
            conn.execute(
                delete(API_NONCES).where(API_NONCES.c.seen_at < now - 2 * MAX_CLOCK_SKEW_S)
            )
            conn.execute(API_NONCES.insert().values(actor_id=actor, nonce=nonce, seen_at=now))
    except StoreError as exc:
        if isinstance(exc.__cause__, IntegrityError):
            raise ApiError("replayed_request", f"nonce {nonce!r} was already used") from exc
        raise
