"""Private keys at rest: passphrase-sealed files, written 0600 atomically, refused when exposed.

Every private key livetrust keeps (actor Ed25519 keys, streamer manifest-signing keys and
watermark secrets) is stored the same way, so there is one place to audit:

- **Sealed**: the raw 32-byte secret is encrypted with AES-256-GCM under a key derived from
  the passphrase by scrypt (RFC 7914; N=2**15, r=8, p=1: the "interactive" cost recommended by
  the scrypt paper and Go's x/crypto/scrypt, ~0.1 s here). The file's header (kind, KDF
  parameters, public metadata such as the public key or streamer name) is the AEAD's
  associated data, so a changed header fails like a wrong passphrase. The document is JSON in
  an RFC 7468 text armor (``-----BEGIN LIVETRUST ENCRYPTED KEY-----``). Standard encrypted
  PKCS#8 PEM was not used: ``cryptography`` writes it with PBKDF2 at 2,048 iterations.
- **0600, atomically**: written to a temporary file created 0600 with ``O_EXCL`` in the same
  directory, fsynced, then linked (create) or renamed (replace) into place: there is no moment
  when the final path exists with other permissions or partial content. Key directories are
  created 0700.
- **Refused when exposed**: loading a key file whose mode lets group or others read or write
  it raises :class:`KeyFileExposed` (as ssh refuses an unprotected identity file).
- **Passphrase**: ``LIVETRUST_KEY_PASSPHRASE``, else the first line of the file named by
  ``LIVETRUST_KEY_PASSPHRASE_FILE`` (docker/systemd secrets), else a prompt on a terminal,
  else :class:`PassphraseRequired`. It is never logged, printed or put in an error message.

Plain files written by earlier versions (unencrypted PKCS#8 PEM, ``livetrust-wm-key-v1`` JSON)
are refused with :class:`KeyFileUnencrypted`; ``livetrust keys encrypt`` seals them in place.

::

    KeyFileError (code="key_file_error")
    ├── PassphraseRequired   code="passphrase_required"  no passphrase configured, no terminal
    ├── PassphraseInvalid    code="passphrase_invalid"   wrong passphrase, or the file was altered
    ├── KeyFileExposed       code="key_file_exposed"     group/others may read or write the file
    ├── KeyFileUnencrypted   code="key_unencrypted"      a plain key from an earlier version
    └── KeyFileInvalid       code="key_invalid"          not a livetrust key file of this kind
"""

from __future__ import annotations

import base64
import binascii
import getpass
import json
import os
import secrets
import stat
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = [
    "KEY_DIR_MODE",
    "KEY_FILE_MODE",
    "PASSPHRASE_ENV",
    "PASSPHRASE_FILE_ENV",
    "KeyFileError",
    "KeyFileExposed",
    "KeyFileInfo",
    "KeyFileInvalid",
    "KeyFileUnencrypted",
    "PassphraseInvalid",
    "PassphraseRequired",
    "check_private",
    "inspect",
    "load_secret",
    "resolve_passphrase",
    "save_secret",
    "seal_plain_file",
    "write_private",
]

KEY_FILE_MODE = 0o600  # owner read/write only
KEY_DIR_MODE = 0o700
PASSPHRASE_ENV = "LIVETRUST_KEY_PASSPHRASE"
PASSPHRASE_FILE_ENV = "LIVETRUST_KEY_PASSPHRASE_FILE"
ARMOR_BEGIN = "-----BEGIN LIVETRUST ENCRYPTED KEY-----"
ARMOR_END = "-----END LIVETRUST ENCRYPTED KEY-----"
FORMAT_VERSION = 1
KINDS = ("ed25519", "watermark")
SECRET_BYTES = 32  # both kinds hold a 32-byte secret (Ed25519 seed, watermark secret)
# scrypt "interactive" parameters (Percival 2009; Go x/crypto/scrypt docs: N=32768, r=8, p=1)
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
# bounds on what a file may ask for, so a crafted file cannot make a load eat memory or time
MAX_SCRYPT_N = 2**20
MAX_SCRYPT_R = 16
MAX_SCRYPT_P = 4
MAX_KEY_FILE_BYTES = 64 * 1024
_LEGACY_WM_FORMAT = "livetrust-wm-key-v1"
_CACHE_LIMIT = 4096


class KeyFileError(Exception):
    """Root of every key-file error; ``code`` is stable, the message is for people."""

    code = "key_file_error"


class PassphraseRequired(KeyFileError, PermissionError):
    code = "passphrase_required"


class PassphraseInvalid(KeyFileError, PermissionError):
    code = "passphrase_invalid"


class KeyFileExposed(KeyFileError, PermissionError):
    code = "key_file_exposed"


class KeyFileUnencrypted(KeyFileError, PermissionError):
    code = "key_unencrypted"


class KeyFileInvalid(KeyFileError, ValueError):
    code = "key_invalid"


# -- passphrase -------------------------------------------------------------------------------

_prompted: bytes | None = None  # a passphrase typed at the prompt, asked once per process
_lock = threading.Lock()


def resolve_passphrase(*, confirm: bool = False) -> bytes:
    """The passphrase from the environment, a secrets file, or a terminal prompt (see module
    docstring). ``confirm`` asks twice when prompting for a key about to be created."""
    global _prompted
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env.encode()
    file = os.environ.get(PASSPHRASE_FILE_ENV)
    if file:
        try:
            line = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise PassphraseRequired(
                f"{PASSPHRASE_FILE_ENV} names {file}, which cannot be read ({exc.strerror})"
            ) from None
        if line and line[0]:
            return line[0].encode()
        raise PassphraseRequired(f"{PASSPHRASE_FILE_ENV} names {file}, whose first line is empty")
    with _lock:
        if _prompted is not None:
            return _prompted
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise PassphraseRequired(
                f"private keys are encrypted: set {PASSPHRASE_ENV} (or {PASSPHRASE_FILE_ENV}) "
                "or run in a terminal to be asked"
            )
        typed = getpass.getpass("livetrust key passphrase: ")
        if confirm and getpass.getpass("repeat passphrase: ") != typed:
            raise PassphraseRequired("the two passphrases differ")
        if not typed:
            raise PassphraseRequired("the passphrase must not be empty")
        _prompted = typed.encode()
        return _prompted


# -- files ------------------------------------------------------------------------------------


def check_private(path: Path) -> None:
    """Raise :class:`KeyFileExposed` if group or others may read or write ``path``."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise KeyFileExposed(
            f"key file {path} is accessible by group or others (mode {mode:04o}); "
            f"livetrust will not use it: run `chmod 600 {path}` (and rotate the key if others "
            "may have read it)"
        )


def write_private(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically (see module docstring).

    ``overwrite=False`` fails with ``FileExistsError`` when ``path`` exists, like ``O_EXCL``.
    """
    path.parent.mkdir(mode=KEY_DIR_MODE, parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, KEY_FILE_MODE)
    try:
        try:
            os.fchmod(fd, KEY_FILE_MODE)  # whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic create-if-absent: FileExistsError if present
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_private(path: Path) -> bytes:
    check_private(path)
    with open(path, "rb") as fh:
        data = fh.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileInvalid(f"{path}: larger than any livetrust key file")
    return data


# -- sealing ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _aad(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def _seal(kind: str, secret: bytes, meta: dict[str, str], passphrase: bytes) -> bytes:
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "kind": kind,
        "meta": dict(meta),
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
        "cipher": {"name": "aes-256-gcm", "nonce": _b64(nonce)},
    }
    key = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    doc = header | {"ciphertext": _b64(AESGCM(key).encrypt(nonce, secret, _aad(header)))}
    body = base64.encodebytes(json.dumps(doc, sort_keys=True).encode()).decode()
    return f"{ARMOR_BEGIN}\n{body}{ARMOR_END}\n".encode()


def _parse(path: Path, data: bytes, kind: str) -> dict[str, Any]:
    """The sealed document in ``data``, checked for shape and bounds (not yet decrypted)."""
    text = data.decode("ascii", errors="replace").strip()
    if text.startswith("-----BEGIN PRIVATE KEY-----") or _LEGACY_WM_FORMAT in text:
        raise KeyFileUnencrypted(
            f"{path} holds a private key without a passphrase (written by an earlier version); "
            "run `livetrust keys encrypt` to seal it"
        )
    if not (text.startswith(ARMOR_BEGIN) and text.endswith(ARMOR_END)):
        raise KeyFileInvalid(f"{path}: not a livetrust encrypted key file")
    try:
        doc = json.loads(base64.b64decode(text[len(ARMOR_BEGIN) : -len(ARMOR_END)], validate=False))
        kdf, cipher = doc["kdf"], doc["cipher"]
        if set(doc) != {"v", "kind", "meta", "kdf", "cipher", "ciphertext"}:
            raise ValueError("unexpected fields")
        if doc["v"] != FORMAT_VERSION or doc["kind"] != kind:
            raise ValueError(f"expected a version {FORMAT_VERSION} {kind} key, got {doc['kind']}")
        if kdf.get("name") != "scrypt" or cipher.get("name") != "aes-256-gcm":
            raise ValueError("unsupported KDF or cipher")
        n, r, p = kdf["n"], kdf["r"], kdf["p"]
        if not all(type(x) is int for x in (n, r, p)):
            raise ValueError("scrypt parameters must be integers")
        if not (2 <= n <= MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= MAX_SCRYPT_R):
            raise ValueError("scrypt parameters out of bounds")
        if not 1 <= p <= MAX_SCRYPT_P:
            raise ValueError("scrypt parameters out of bounds")
        if not isinstance(doc["meta"], dict) or not all(
            isinstance(v, str) for v in doc["meta"].values()
        ):
            raise ValueError("meta must map names to strings")
        for b64 in (kdf["salt"], cipher["nonce"], doc["ciphertext"]):
            base64.b64decode(b64, validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise KeyFileInvalid(f"{path}: not a valid livetrust {kind} key file ({exc})") from None
    if len(base64.b64decode(cipher["nonce"])) != 12:
        raise KeyFileInvalid(f"{path}: AES-GCM nonce must be 12 bytes")
    return dict(doc)


def _open(path: Path, doc: dict[str, Any], passphrase: bytes) -> bytes:
    header = {k: v for k, v in doc.items() if k != "ciphertext"}
    kdf = doc["kdf"]
    key = _derive(passphrase, base64.b64decode(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
    try:
        secret = AESGCM(key).decrypt(
            base64.b64decode(doc["cipher"]["nonce"]),
            base64.b64decode(doc["ciphertext"]),
            _aad(header),
        )
    except InvalidTag:
        raise PassphraseInvalid(
            f"cannot decrypt {path}: wrong passphrase ({PASSPHRASE_ENV}), or the file was altered"
        ) from None
    if len(secret) != SECRET_BYTES:
        raise KeyFileInvalid(f"{path}: expected a {SECRET_BYTES}-byte secret")
    return secret


# Unsealed secrets by (file identity, passphrase): a process decrypts each key once (scrypt is
# deliberately slow), and any rewrite of the file changes its identity. The process holds the
# secret in memory anyway while it signs.
_cache: dict[tuple[Any, ...], tuple[bytes, dict[str, str]]] = {}


def load_secret(
    path: Path, kind: str, passphrase: bytes | None = None
) -> tuple[bytes, dict[str, str]]:
    """The 32-byte secret and public metadata sealed in ``path``.

    Raises ``FileNotFoundError`` if absent, :class:`KeyFileExposed` if group/others may access
    it, :class:`KeyFileUnencrypted` for a plain key of an earlier version,
    :class:`KeyFileInvalid` if it is not a ``kind`` key file, :class:`PassphraseInvalid` if the
    passphrase does not open it.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    data = _read_private(path)
    st = os.stat(path)
    phrase = passphrase if passphrase is not None else resolve_passphrase()
    ident = (str(path.resolve()), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, kind, phrase)
    hit = _cache.get(ident)
    if hit is not None:
        return hit[0], dict(hit[1])
    doc = _parse(path, data, kind)
    secret = _open(path, doc, phrase)
    with _lock:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[ident] = (secret, dict(doc["meta"]))
    return secret, dict(doc["meta"])


def save_secret(
    path: Path,
    kind: str,
    secret: bytes,
    meta: dict[str, str],
    *,
    overwrite: bool,
    passphrase: bytes | None = None,
) -> None:
    """Seal ``secret`` (32 bytes) with the passphrase and write it 0600, atomically."""
    if kind not in KINDS or len(secret) != SECRET_BYTES:
        raise ValueError(f"a {kind} key file holds a {SECRET_BYTES}-byte secret")
    phrase = passphrase if passphrase is not None else resolve_passphrase(confirm=True)
    write_private(path, _seal(kind, secret, meta, phrase), overwrite=overwrite)


@dataclass(frozen=True)
class KeyFileInfo:
    """What ``livetrust keys status`` reports about one file (never the secret)."""

    path: Path
    kind: str
    mode: int
    state: str  # "encrypted" | "unencrypted" | "invalid"

    @property
    def exposed(self) -> bool:
        return bool(self.mode & 0o077)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "kind": self.kind,
            "mode": f"{self.mode:04o}",
            "state": self.state,
            "exposed": self.exposed,
        }


def inspect(path: Path, kind: str) -> KeyFileInfo:
    """State and mode of a key file, without decrypting it or refusing an exposed one."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    try:
        with open(path, "rb") as fh:
            _parse(path, fh.read(MAX_KEY_FILE_BYTES + 1), kind)
        state = "encrypted"
    except KeyFileUnencrypted:
        state = "unencrypted"
    except KeyFileInvalid:
        state = "invalid"
    return KeyFileInfo(path, kind, mode, state)


def seal_plain_file(path: Path, kind: str, passphrase: bytes | None = None) -> bool:
    """Migrate one key file of an earlier version in place: seal it with the passphrase and
    make it 0600. Returns False when it is already sealed (only its mode is fixed)."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_KEY_FILE_BYTES + 1)
    try:
        _parse(path, data, kind)
    except KeyFileUnencrypted:
        pass
    else:
        os.chmod(path, KEY_FILE_MODE)
        return False
    secret, meta = _plain_secret(path, data, kind)
    save_secret(path, kind, secret, meta, overwrite=True, passphrase=passphrase)
    return True


def _plain_secret(path: Path, data: bytes, kind: str) -> tuple[bytes, dict[str, str]]:
    """The secret of an earlier version's plain file: PKCS#8 PEM or ``livetrust-wm-key-v1``."""
    try:
        if kind == "ed25519":
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("not an Ed25519 key")
            seed = key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            public = key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            return seed, {"public_key": public.hex()}
        doc = json.loads(data)
        if doc.get("format") != _LEGACY_WM_FORMAT:
            raise ValueError("unknown format")
        return bytes.fromhex(doc["secret"]), {"streamer": str(doc["streamer"])}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyFileInvalid(f"{path}: cannot read the plain {kind} key ({exc})") from None
