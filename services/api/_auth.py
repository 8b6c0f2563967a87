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

The registrar (``POST /api/v1/actors``) uses the admin key: ``LIVETRUST_ADMIN_KEY``, or one
generated on first start and shown once. Only a salted hash of it is kept at rest
(``LIVETRUST_HOME/admin.key``, mode 0600, refused when group or others may read or write it
as every key file is: whoever can write it can make themselves registrar). A plain key left
by an earlier version is refused (``key_unencrypted``) until ``livetrust keys encrypt``
replaces it by its hash; the key itself stays valid. Compared in constant time.

The ActorRegistry is asked directly, not through a cache: a revocation takes effect on the
next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from provenance._registry import key_valid_at
from services._store import API_ACCOUNTS, API_KEYS, API_NONCES
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
    from contracts._keyfile import KeyFileInfo
    from provenance import Store
    from services.api._runtime import Runtime

__all__ = [
    "ADMIN_KEY_FILE",
    "API_ACCOUNTS",
    "API_KEY_PREFIX",
    "BUYER",
    "AdminKey",
    "Caller",
    "account_of",
    "admin_key_file_info",
    "admin_key_file_state",
    "authenticate",
    "create_tables",
    "hash_plain_admin_key",
    "issue_api_key",
    "load_admin_key",
    "new_admin_key",
    "require_admin",
]

API_KEY_PREFIX = "lt_"
API_KEY_BYTES = 32  # 256-bit secrets, as GitHub's and Stripe's tokens
ADMIN_KEY_FILE = "admin.key"
ADMIN_KEY_FORMAT = "livetrust-admin-key-sha256-v1"
# The generated key carries 256 random bits, so a salted SHA-256 can be neither inverted nor
# searched: a slow KDF protects low-entropy passwords, which this is not (as GitHub and
# Stripe store their tokens). The salt makes two files of one key differ, so nothing can be
# matched across homes or backups.
ADMIN_SALT_BYTES = 16
ADMIN_FILE_MAX_BYTES = 4096  # a hash file is ~150 bytes; read no more of a stranger's file

BUYER = "buyer"


def create_tables(store: Store) -> None:
    """The service's own tables (``api_*``, defined with the ``svc_`` ones in
    ``services._store`` and Alembic-migrated with them) next to the ledger's; idempotent."""
    from provenance import StoreError
    from services._errors import StoreFailed
    from services._store import migrate

    try:
        migrate(store.engine)
    except StoreFailed as exc:
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


@dataclass(frozen=True)
class AdminKey:
    """What the service keeps of the registrar key: a salt and SHA-256(salt || key)."""

    salt: bytes
    digest: bytes

    @classmethod
    def of(cls, key: str) -> AdminKey:
        salt = secrets.token_bytes(ADMIN_SALT_BYTES)
        return cls(salt, hashlib.sha256(salt + key.encode()).digest())

    def matches(self, token: str) -> bool:
        return hmac.compare_digest(hashlib.sha256(self.salt + token.encode()).digest(), self.digest)

    def to_file(self) -> bytes:
        doc = {"format": ADMIN_KEY_FORMAT, "salt": self.salt.hex(), "sha256": self.digest.hex()}
        return (json.dumps(doc) + "\n").encode()

    @classmethod
    def from_file(cls, path: Path, data: bytes) -> AdminKey:
        from contracts._keyfile import KeyFileInvalid, KeyFileUnencrypted

        text = data.decode("utf-8", "replace").strip()
        if text.startswith(API_KEY_PREFIX):
            raise KeyFileUnencrypted(
                f"{path} holds the registrar key in clear (written by an earlier version); "
                "run `livetrust keys encrypt` to keep only its salted hash (the key stays valid)"
            )
        try:
            doc = json.loads(text)
            if doc["format"] != ADMIN_KEY_FORMAT:
                raise ValueError(doc["format"])
            salt, digest = bytes.fromhex(doc["salt"]), bytes.fromhex(doc["sha256"])
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyFileInvalid(f"{path} is not a livetrust registrar key file") from exc
        if len(salt) != ADMIN_SALT_BYTES or len(digest) != hashlib.sha256().digest_size:
            raise KeyFileInvalid(f"{path} is not a livetrust registrar key file")
        return cls(salt, digest)


def _admin_path(home: Path) -> Path:
    return home / ADMIN_KEY_FILE


def _read_admin_file(path: Path) -> bytes:
    from contracts._keyfile import check_private

    check_private(path)
    with open(path, "rb") as fh:
        return fh.read(ADMIN_FILE_MAX_BYTES)


def new_admin_key(home: Path, *, replace: bool) -> str:
    """Generate a registrar key, store only its salted hash (0600, atomically), return the
    key: the caller shows it once. ``replace=False`` fails with ``FileExistsError`` if a key
    file exists."""
    from contracts._keyfile import write_private

    key = API_KEY_PREFIX + "admin_" + secrets.token_urlsafe(API_KEY_BYTES)
    write_private(_admin_path(home), AdminKey.of(key).to_file(), overwrite=replace)
    return key


def load_admin_key(home: Path, configured: str | None) -> tuple[AdminKey, str | None]:
    """The registrar key to check against: the configured one, or the hash in the home.

    Without either, one is generated (:func:`new_admin_key`) and returned as the second item,
    for the caller to show once; otherwise that item is None. Raises the key-file errors of
    :mod:`contracts._keyfile`: ``key_file_exposed``, ``key_unencrypted`` (a plain key of an
    earlier version), ``key_invalid``."""
    if configured:
        return AdminKey.of(configured), None
    path = _admin_path(home)
    if not path.exists():
        try:
            key = new_admin_key(home, replace=False)
            return AdminKey.from_file(path, _read_admin_file(path)), key
        except FileExistsError:  # another worker generated it first: use theirs
            pass
    return AdminKey.from_file(path, _read_admin_file(path)), None


def admin_key_file_state(home: Path) -> str | None:
    """``hashed``, ``plain`` (an earlier version's key in clear) or None (no file); checks
    the file's mode first (``key_file_exposed``)."""
    from contracts._keyfile import KeyFileUnencrypted

    path = _admin_path(home)
    if not path.exists():
        return None
    try:
        AdminKey.from_file(path, _read_admin_file(path))
    except KeyFileUnencrypted:
        return "plain"
    return "hashed"


def admin_key_file_info(home: Path) -> KeyFileInfo | None:
    """What ``livetrust keys status`` shows of the registrar key file: its mode and state
    (``hashed``, ``unencrypted``: an earlier version's key in clear, or ``invalid``), read
    without refusing an exposed file, since status is where one learns that it is."""
    from contracts._keyfile import KeyFileInfo, KeyFileInvalid, KeyFileUnencrypted

    path = _admin_path(home)
    if not path.exists():
        return None
    mode = stat.S_IMODE(os.stat(path).st_mode)
    with open(path, "rb") as fh:
        data = fh.read(ADMIN_FILE_MAX_BYTES)
    try:
        AdminKey.from_file(path, data)
        state = "hashed"
    except KeyFileUnencrypted:
        state = "unencrypted"
    except KeyFileInvalid:
        state = "invalid"
    return KeyFileInfo(path, "registrar", mode, state)


def hash_plain_admin_key(home: Path) -> bool:
    """Migration: replace a plain registrar key file by its salted hash, in place (0600,
    atomically); the key keeps working. True if a plain file was replaced."""
    from contracts._keyfile import write_private

    path = _admin_path(home)
    if admin_key_file_state(home) != "plain":
        return False
    key = _read_admin_file(path).decode().strip()
    write_private(path, AdminKey.of(key).to_file(), overwrite=True)
    return True


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
    if not rt.admin_key.matches(token):
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
