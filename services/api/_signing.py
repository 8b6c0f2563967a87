"""Signed API requests: each actor signs method, path, timestamp, nonce and body hash.

The construction follows the shape of AWS SigV4 / HTTP Message Signatures (RFC 9421)
reduced to what we need: a canonical string

    LIVETRUST-ED25519-V1
    <METHOD>
    <path?query>
    <unix timestamp>
    <nonce>
    <sha256 hex of the body>

signed with the actor's registered Ed25519 key, sent as headers. The server checks the
signature against the keys the ActorRegistry says were valid for that actor at that time,
rejects timestamps outside a skew window, and remembers nonces for that window, so a
captured request cannot be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "HEADER_ACTOR",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "MAX_CLOCK_SKEW_S",
    "SCHEME",
    "SignedRequest",
    "canonical_request",
    "canonical_request_hashed",
    "decode_signature",
    "sign_request",
    "signature_valid",
    "signature_valid_hashed",
]

SCHEME = "LIVETRUST-ED25519-V1"
HEADER_ACTOR = "X-LT-Actor"
HEADER_TIMESTAMP = "X-LT-Timestamp"
HEADER_NONCE = "X-LT-Nonce"
HEADER_SIGNATURE = "X-LT-Signature"
# Five minutes, as Kerberos and AWS SigV4 allow: wide enough for unsynchronised clocks,
# short enough that the nonce memory stays small.
MAX_CLOCK_SKEW_S = 300
MIN_NONCE_CHARS = 16
MAX_NONCE_CHARS = 128


def canonical_request(method: str, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    return canonical_request_hashed(
        method, path, timestamp, nonce, hashlib.sha256(body).hexdigest()
    )


def canonical_request_hashed(
    method: str, path: str, timestamp: int, nonce: str, body_sha256: str
) -> bytes:
    """The same canonical string from the body's SHA-256 (hex): the server hashes an upload
    while streaming it to disk and never holds it in memory."""
    return "\n".join([SCHEME, method.upper(), path, str(timestamp), nonce, body_sha256]).encode()


@dataclass(frozen=True)
class SignedRequest:
    actor: str
    timestamp: int
    nonce: str
    signature: bytes

    def headers(self) -> dict[str, str]:
        return {
            HEADER_ACTOR: self.actor,
            HEADER_TIMESTAMP: str(self.timestamp),
            HEADER_NONCE: self.nonce,
            HEADER_SIGNATURE: base64.urlsafe_b64encode(self.signature).decode().rstrip("="),
        }


def sign_request(
    key: Ed25519PrivateKey,
    actor: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> SignedRequest:
    """What a client does: returns the headers to send with the request."""
    ts = int(time.time()) if timestamp is None else timestamp
    n = nonce or secrets.token_hex(16)
    sig = key.sign(canonical_request(method, path, ts, n, body))
    return SignedRequest(actor, ts, n, sig)


def decode_signature(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode())


def signature_valid(
    public_key: bytes, method: str, path: str, timestamp: int, nonce: str, body: bytes, sig: bytes
) -> bool:
    return signature_valid_hashed(
        public_key, method, path, timestamp, nonce, hashlib.sha256(body).hexdigest(), sig
    )


def signature_valid_hashed(
    public_key: bytes,
    method: str,
    path: str,
    timestamp: int,
    nonce: str,
    body_sha256: str,
    sig: bytes,
) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            sig, canonical_request_hashed(method, path, timestamp, nonce, body_sha256)
        )
    except (InvalidSignature, ValueError):
        return False
    return True
