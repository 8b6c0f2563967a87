"""Streamer keys: a 32-byte watermark secret and an Ed25519 signing key per streamer.

Everything secret in a mark comes from the 32-byte secret through HKDF-SHA256 (RFC 5869)
with a distinct ``info`` label per use (pattern tile, chip signs, time codebook, tag), and
pseudo-random arrays come from an AES-256-CTR keystream under a derived key: nobody without
the secret can predict a pattern or compute a tag, and two secrets share nothing.

Key files live in ``$LIVETRUST_HOME/keys/streamers/``: ``NAME.wm`` (the watermark secret) and
``NAME.ed25519`` (the manifest signing key), both sealed with the key passphrase and mode 0600
(``contracts._keyfile``: scrypt + AES-256-GCM, atomic writes, exposed files refused).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from watermark._errors import KeyExists, KeyInvalid, KeyNotFound, PayloadInvalid

__all__ = [
    "KEY_FILE_MODE",
    "SECRET_BYTES",
    "KeyStore",
    "StreamerKey",
    "validate_name",
]

SECRET_BYTES = 32  # 256-bit secret: the HKDF/HMAC-SHA256 security level
KEY_FILE_MODE = 0o600  # owner read/write only: these files are the power to mark
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_name(name: str) -> str:
    """Streamer names become file names and key labels, so they are a safe, short alphabet."""
    if not _NAME_RE.match(name):
        raise PayloadInvalid(
            f"streamer name {name!r} must be 1-64 characters of letters, digits, '_', '.', '-'"
        )
    return name


@dataclass(frozen=True)
class StreamerKey:
    """A streamer's watermark secret; derives every keyed quantity of the mark."""

    name: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        validate_name(self.name)
        if len(self.secret) != SECRET_BYTES:
            raise KeyInvalid(f"expected a {SECRET_BYTES}-byte secret, got {len(self.secret)}")

    @classmethod
    def generate(cls, name: str) -> StreamerKey:
        return cls(name, secrets.token_bytes(SECRET_BYTES))

    def derive(self, label: str, length: int = 32) -> bytes:
        """HKDF-SHA256(secret, info=label): one independent subkey per use."""
        return HKDF(
            algorithm=hashes.SHA256(), length=length, salt=b"livetrust-wm", info=label.encode()
        ).derive(self.secret)

    def keystream(self, label: str, nbytes: int, block: int = 0) -> np.ndarray:
        """``nbytes`` pseudo-random bytes: AES-256-CTR of zeros under ``derive(label)``,
        from 16-byte block ``block`` on (random access into one long stream)."""
        iv = block.to_bytes(16, "big")
        enc = Cipher(algorithms.AES(self.derive(label)), modes.CTR(iv)).encryptor()
        data = enc.update(b"\0" * nbytes) + enc.finalize()
        return np.frombuffer(data, dtype=np.uint8)

    def signs(self, label: str, n: int) -> np.ndarray:
        """``n`` keyed values in {-1, +1} (float32)."""
        bits = np.unpackbits(self.keystream(label, (n + 7) // 8))[:n]
        return (bits.astype(np.float32) * 2.0 - 1.0).astype(np.float32)

    def permutation(self, label: str, n: int) -> np.ndarray:
        """A keyed permutation of ``range(n)`` (sort by 64-bit keystream words)."""
        words = self.keystream(label, 8 * n).view(np.uint64)
        return np.argsort(words, kind="stable")


class KeyStore:
    """Key files of the streamers this installation knows, under ``home/keys/streamers``."""

    def __init__(self, home: Path) -> None:
        self.dir = Path(home) / "keys" / "streamers"

    def _paths(self, name: str) -> tuple[Path, Path]:
        validate_name(name)
        return self.dir / f"{name}.wm", self.dir / f"{name}.ed25519"

    def register(self, name: str, passphrase: bytes | None = None) -> tuple[StreamerKey, bytes]:
        """Create both keys for ``name``, sealed with the passphrase (``contracts._keyfile``);
        returns the key and the raw Ed25519 public key."""
        from contracts._keyfile import resolve_passphrase, save_secret

        wm_path, sig_path = self._paths(name)
        if wm_path.exists() or sig_path.exists():
            raise KeyExists(f"streamer {name!r} already has keys in {self.dir}")
        phrase = passphrase if passphrase is not None else resolve_passphrase(confirm=True)
        key = StreamerKey.generate(name)
        signing = Ed25519PrivateKey.generate()
        seed = signing.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        public = signing.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        try:
            save_secret(
                wm_path,
                "watermark",
                key.secret,
                {"streamer": name},
                overwrite=False,
                passphrase=phrase,
            )
            save_secret(
                sig_path,
                "ed25519",
                seed,
                {"public_key": public.hex(), "streamer": name},
                overwrite=False,
                passphrase=phrase,
            )
        except FileExistsError as exc:
            raise KeyExists(f"streamer {name!r} already has keys in {self.dir}") from exc
        return key, public

    def _unseal(self, path: Path, kind: str, name: str, passphrase: bytes | None) -> bytes:
        from contracts._keyfile import KeyFileInvalid, load_secret

        try:
            secret, meta = load_secret(path, kind, passphrase)
        except FileNotFoundError:
            raise KeyNotFound(f"no {kind} key for streamer {name!r} in {self.dir}") from None
        except KeyFileInvalid as exc:
            raise KeyInvalid(str(exc)) from None
        if meta.get("streamer") != name:
            raise KeyInvalid(f"{path}: holds the key of {meta.get('streamer')!r}, not {name!r}")
        return secret

    def load(self, name: str, passphrase: bytes | None = None) -> StreamerKey:
        wm_path, _ = self._paths(name)
        return StreamerKey(name, self._unseal(wm_path, "watermark", name, passphrase))

    def signing_key(self, name: str, passphrase: bytes | None = None) -> Ed25519PrivateKey:
        _, sig_path = self._paths(name)
        seed = self._unseal(sig_path, "ed25519", name, passphrase)
        return Ed25519PrivateKey.from_private_bytes(seed)

    def public_key(self, name: str) -> bytes:
        """Raw 32-byte Ed25519 public key (what the ActorRegistry stores)."""
        return (
            self.signing_key(name)
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )

    def names(self) -> list[str]:
        if not self.dir.exists():
            return []
        return sorted(p.stem for p in self.dir.glob("*.wm"))

    def all(self) -> list[StreamerKey]:
        return [self.load(n) for n in self.names()]
