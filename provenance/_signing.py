"""Ed25519 signing of event statements, and the canonical bytes that are signed and logged.

What is signed is a :class:`Statement`: the event's Hash ID, a digest of the event exactly as
stored (so fields the Event Hash ID ignores, such as ``eventID``, are covered too), the hash
IDs of its predecessors in every batch it touches (the hash chain), and who signs with which
key in which role. Its canonical form is UTF-8 JSON with sorted keys and no whitespace,
prefixed by a domain tag so a signature can never be replayed as some other message.

The Merkle log leaf for an event is the canonical JSON of ``{"statement": …, "signature": …}``
(:meth:`SignedRecord.leaf_bytes`); an inclusion proof therefore proves statement and
signature, and the statement proves the event.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts._keyfile import load_secret, save_secret
from provenance._errors import SignatureInvalid, UnknownActor

__all__ = [
    "KEY_SIZE",
    "STATEMENT_DOMAIN",
    "KeyPair",
    "SignedRecord",
    "Statement",
    "canonical_json",
    "content_digest",
    "content_digest_of",
    "verify_signature",
]

KEY_SIZE = 32  # Ed25519 raw public key (RFC 8032)
SIGNATURE_SIZE = 64
STATEMENT_DOMAIN = b"livetrust/provenance/statement/v1\n"  # domain separation tag
STATEMENT_VERSION = 1


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
# strings json.dumps(ensure_ascii=False) writes verbatim between quotes: no quote, backslash
# or control character (it escapes exactly those)
_PLAIN_STRING = re.compile(r'[^"\\\x00-\x1f]*')


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8, numbers as parsed."""
    if not value and isinstance(value, dict):
        return b"{}"
    return _CANONICAL.encode(value).encode("utf-8")


def _json_string(text: str) -> str:
    """``json.dumps(text, ensure_ascii=False)``, without the encoder for plain strings."""
    if _PLAIN_STRING.fullmatch(text):
        return '"' + text + '"'
    return json.dumps(text, ensure_ascii=False)


def content_digest(event_json: Any, namespaces: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of the event and its namespace prefixes."""
    data = canonical_json({"event": event_json, "namespaces": namespaces})
    return "sha256:" + hashlib.sha256(data).hexdigest()


def content_digest_of(event_canonical: bytes, namespaces_canonical: bytes) -> str:
    """:func:`content_digest` from already-canonical parts (keys ``event`` < ``namespaces``)."""
    data = b'{"event":' + event_canonical + b',"namespaces":' + namespaces_canonical + b"}"
    return "sha256:" + hashlib.sha256(data).hexdigest()


class KeyPair:
    """An actor's Ed25519 key (private part stays in LIVETRUST_HOME/keys).

    Keys are stored and loaded with ``cryptography`` (PKCS#8 PEM); signing and verification
    run in libsodium (PyNaCl), about twice as fast as OpenSSL's Ed25519 here (both RFC 8032,
    same signatures: Ed25519 signing is deterministic).
    """

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        seed = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        self.public_key, self._secret = nacl.bindings.crypto_sign_seed_keypair(seed)

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        """Deterministic key from 32 bytes (tests, demos, benchmarks)."""
        return cls(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest()))

    def sign(self, message: bytes) -> bytes:
        signed: bytes = nacl.bindings.crypto_sign(message, self._secret)
        return signed[:SIGNATURE_SIZE]

    def __repr__(self) -> str:  # never the private part
        return f"KeyPair(public_key={self.public_key.hex()})"

    def save(self, path: Path, passphrase: bytes | None = None) -> None:
        """Seal the key with the passphrase into ``path`` (mode 0600, atomic; see
        ``contracts._keyfile``)."""
        seed = self._private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        meta = {"public_key": self.public_key.hex()}
        save_secret(path, "ed25519", seed, meta, overwrite=True, passphrase=passphrase)

    @classmethod
    def load(cls, path: Path, passphrase: bytes | None = None) -> KeyPair:
        """Open a sealed key file; refuses one that group or others may read
        (``KeyFileExposed``) or that was written without a passphrase (``KeyFileUnencrypted``)."""
        try:
            seed, _ = load_secret(path, "ed25519", passphrase)
        except FileNotFoundError:
            raise UnknownActor(f"no key file {path}") from None
        return cls(Ed25519PrivateKey.from_private_bytes(seed))


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise :class:`SignatureInvalid` unless ``signature`` is ``public_key``'s over ``message``."""
    if len(public_key) != KEY_SIZE:
        raise SignatureInvalid(f"expected a {KEY_SIZE}-byte Ed25519 key, got {len(public_key)}")
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureInvalid(
            f"expected a {SIGNATURE_SIZE}-byte signature, got {len(signature)} bytes"
        )
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except nacl.exceptions.CryptoError:  # BadSignatureError, or a key libsodium refuses
        raise SignatureInvalid(
            f"expected a signature by key {public_key.hex()[:16]}…, computed a mismatch"
        ) from None


@dataclass(frozen=True)
class Statement:
    """What an actor signs for one event (see module docstring)."""

    event: str  # Event Hash ID
    content: str  # sha256:<hex> of the stored event JSON + namespaces
    prev: tuple[str, ...]  # hash ids of predecessors in the batch lineage, sorted
    actor: str
    key: bytes  # Ed25519 raw public key
    role: str  # role label the actor holds on chain

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATEMENT_VERSION,
            "event": self.event,
            "content": self.content,
            "prev": list(self.prev),
            "actor": self.actor,
            "key": self.key.hex(),
            "role": self.role,
        }

    @classmethod
    def from_json(cls, data: Any) -> Statement:
        from provenance._errors import BundleMalformed

        try:
            if data["v"] != STATEMENT_VERSION or set(data) != {
                "v",
                "event",
                "content",
                "prev",
                "actor",
                "key",
                "role",
            }:
                raise ValueError("unexpected statement fields or version")
            prev = data["prev"]
            if not isinstance(prev, list) or not all(isinstance(p, str) for p in prev):
                raise ValueError("prev must be a list of hash ids")
            for f in ("event", "content", "actor", "key", "role"):
                if not isinstance(data[f], str):
                    raise ValueError(f"{f} must be a string")
            key = bytes.fromhex(data["key"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleMalformed(f"statement: {exc}") from None
        return cls(data["event"], data["content"], tuple(prev), data["actor"], key, data["role"])

    @functools.cached_property
    def canonical(self) -> bytes:
        """Canonical JSON of the statement (computed once): ``canonical_json(to_json())``,
        written field by field in sorted key order (the JSON encoder is the larger part of
        ingest's per-event cost otherwise; equality is tested)."""
        q = _json_string
        return (
            f'{{"actor":{q(self.actor)},"content":{q(self.content)},"event":{q(self.event)},'
            f'"key":"{self.key.hex()}","prev":[{",".join(map(q, self.prev))}],'
            f'"role":{q(self.role)},"v":{STATEMENT_VERSION}}}'
        ).encode()

    def to_bytes(self) -> bytes:
        return STATEMENT_DOMAIN + self.canonical


@dataclass(frozen=True)
class SignedRecord:
    """A statement with its signature: one Merkle log leaf."""

    statement: Statement
    signature: bytes

    def leaf_bytes(self) -> bytes:
        """``{"signature":…,"statement":…}`` in canonical JSON (keys sorted, no whitespace)."""
        signature = base64.b64encode(self.signature).decode()
        return (
            b'{"signature":"'
            + signature.encode()
            + b'","statement":'
            + self.statement.canonical
            + b"}"
        )

    def verify(self) -> None:
        verify_signature(self.statement.key, self.statement.to_bytes(), self.signature)
