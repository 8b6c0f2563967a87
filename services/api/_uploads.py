"""Request bodies and uploads: size limits, content types, sniffing, streamed to disk.

Every POST body goes through :func:`receive`: the declared ``Content-Length`` is checked
before anything is read, then the body is streamed to a file under ``LIVETRUST_HOME/uploads``
in the chunks the server receives, hashed on the way (the signed-request check needs only the
SHA-256) and cut off with ``payload_too_large`` the moment it passes the route's limit, so a
large or endless upload never sits in memory. The first bytes are sniffed: a JSON upload must
start with ``{`` or ``[``, an MP4 with an ``ftyp`` box, Matroska/WebM with the EBML magic.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from services.api._errors import ApiError

__all__ = [
    "JSON_TYPES",
    "MAX_BODY_BYTES",
    "MAX_BUNDLE_BYTES",
    "MAX_CLIP_BYTES",
    "MAX_EPCIS_BYTES",
    "Upload",
    "receive",
    "sniff_json",
    "stream_to_disk",
]

# Limits. A proof bundle is ~1 KB per event (docs/provenance.md figures), so 16 MB holds a
# history of >10,000 events; an EPCIS capture of 8 MB is what GS1's reference repositories
# accept per request order of magnitude; a clip of 200 MB is ~3 minutes of 1080p H.264.
MAX_BODY_BYTES = 64 * 1024  # any other POST (JSON commands)
MAX_EPCIS_BYTES = 8 * 1024 * 1024
MAX_BUNDLE_BYTES = 16 * 1024 * 1024
MAX_CLIP_BYTES = 200 * 1024 * 1024
SNIFF_BYTES = 64
JSON_TYPES = ("application/json", "application/ld+json")


@dataclass(frozen=True)
class Upload:
    path: Path
    size: int
    sha256: str
    content_type: str
    head: bytes

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def upload_dir(home: Path) -> Path:
    d = home / "uploads"
    d.mkdir(parents=True, exist_ok=True)
    return d


def media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()


async def stream_to_disk(
    chunks: AsyncIterator[bytes], limit: int, directory: Path, content_type: str
) -> Upload:
    fd, name = tempfile.mkstemp(dir=directory, suffix=".upload")
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > limit:
                    raise ApiError("payload_too_large", f"upload exceeds {limit:,} bytes")
                if len(head) < SNIFF_BYTES:
                    head = (head + chunk)[:SNIFF_BYTES]
                digest.update(chunk)
                fh.write(chunk)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return Upload(path, size, digest.hexdigest(), content_type, head)


async def receive(
    request: Request, limit: int, home: Path, types: Iterable[str] | None = None
) -> Upload:
    """Stream the body to disk (see module docstring), or raise ``payload_too_large`` /
    ``unsupported_media_type``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError("payload_too_large", f"body of {int(declared):,} bytes > {limit:,}")
    ctype = media_type(request)
    allowed = tuple(types) if types is not None else None
    if allowed is not None and ctype not in allowed:
        raise ApiError(
            "unsupported_media_type",
            f"expected Content-Type {' or '.join(allowed)}, got {ctype or 'none'}",
        )
    return await stream_to_disk(request.stream(), limit, upload_dir(home), ctype)


def sniff_json(head: bytes) -> bool:
    text = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    return text[:1] in (b"{", b"[")


def sniff_video(head: bytes) -> str | None:
    """Container of a video upload from its magic bytes (ISO BMFF or Matroska/WebM)."""
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    return None
