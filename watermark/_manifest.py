"""Broadcast manifests: signed per-second fingerprints, stored and anchored in a Merkle log.

A manifest covers one broadcast: streamer id, the streamer's Ed25519 public key, start and
end (unix seconds, end exclusive), one fingerprint per second (``watermark._fingerprint``)
and the audio loudness envelope when the broadcast has audio.

- Canonical bytes: the JSON of :meth:`Manifest.to_json` written as provenance writes its
  statements (UTF-8, keys sorted, no whitespace), fingerprints as standard base64.
- Signature: Ed25519 over ``SIGN_DOMAIN + canonical bytes`` with the streamer's signing key
  (``KeyStore.signing_key``); the key must be registered for the streamer, role streamer,
  in the on-chain ActorRegistry at the broadcast start.
- Log: the leaf is the canonical ``{"manifest": …, "signature": <b64>}``, appended to the
  provenance Merkle log machinery (RFC 9162 hashing, stored subtrees in ``prov_merkle_nodes``)
  under its own log id ``CLIP_LOG_ID``; ``provenance.Anchorer`` anchors its tree head, so
  one transaction covers every manifest (any number of streams' minutes) recorded since the
  previous anchor.
- Store: table ``clip_manifests`` in the provenance store (Alembic migration ``0002_clip``).
- Export: a bundle (``BUNDLE_FORMAT``) with the manifest, signature, inclusion proof, tree
  head and anchor, checkable with no database (:func:`check_bundle`).

Checks of a manifest bundle (:func:`check_bundle`) list every problem as a finding:
(1) ``manifest_malformed`` does not parse / is not canonical; (2) ``signature_invalid``;
(3) ``identity_mismatch`` key not registered for the streamer at the broadcast time;
(4) ``inclusion_proof_invalid`` leaf not in the tree head; (5) ``not_anchored`` no anchor
covers the leaf yet, ``root_not_on_chain`` the claimed root is not anchored (for that log
and size), ``anchor_mismatch`` anchor index, time or transaction differ from the chain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import av
import av.error
import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)

from provenance import AnchorResult, InclusionProof, Store, TreeHead
from provenance._merkle import verify_inclusion
from provenance._registry import AnchorLedger, KeyDirectory, key_valid_at
from provenance._sidelog import SideLog, SignedRecord, record_json, sign_record
from watermark._errors import VideoUnreadable, WatermarkError
from watermark._fingerprint import (
    FINGERPRINT_BYTES,
    GRID_COLS,
    GRID_ROWS,
    WINDOW_STEPS_PER_SECOND,
    WindowFeatures,
    audio_envelope,
    second_fingerprints,
)
from watermark._video import iter_luma

__all__ = [
    "BUNDLE_FORMAT",
    "CLIP_LOG_ID",
    "MANIFESTS",
    "MANIFEST_FORMAT",
    "MAX_MANIFEST_SECONDS",
    "SIGN_DOMAIN",
    "STREAMER_ROLE",
    "Finding",
    "Manifest",
    "ManifestError",
    "ManifestExists",
    "ManifestMalformed",
    "ManifestNotFound",
    "ManifestStore",
    "SignedManifest",
    "StoredManifest",
    "audio_envelopes",
    "build_manifest",
    "canonical_json",
    "check_bundle",
    "fingerprint_video",
    "record_manifest",
]

MANIFEST_FORMAT = "livetrust.clip.manifest/1"
BUNDLE_FORMAT = "livetrust.clip.manifest-bundle/1"
SIGN_DOMAIN = b"livetrust/clip/manifest/v1\n"  # domain separation from provenance statements
CLIP_LOG_ID = 2  # provenance's events are log 1; manifests get their own log (same tables)
STREAMER_ROLE = 6  # contracts.Role.STREAMER (checked against the enum in the tests)
FARM_ROLE = 1  # contracts.Role.FARM: farms mark origin cameras the same way (issue 8)
# who may sign a manifest a clip is checked against: streamers, and farms for origin cameras
CAMERA_ROLES = (STREAMER_ROLE, FARM_ROLE)
MAX_MANIFEST_SECONDS = 24 * 3600  # one manifest per broadcast day: ~24 MB of fingerprints
AUDIO_PER_SECOND = 10  # loudness values per second (0.1 s each)
AUDIO_RATE = 8000  # Hz: loudness needs no more
_FP_PARAMS = {"grid": [GRID_COLS, GRID_ROWS], "bytes": FINGERPRINT_BYTES, "version": 1}

metadata = MetaData()
MANIFESTS = Table(
    "clip_manifests",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # leaf index in the log
    Column("streamer", String(64), nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("end", BigInteger, nullable=False),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("body", Text, nullable=False),  # canonical manifest JSON
    Column("signature", LargeBinary(64), nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    UniqueConstraint("streamer", "start", name="uq_clip_manifests_start"),
    Index("ix_clip_manifests_streamer", "streamer", "start"),
)


class ManifestError(WatermarkError):
    code = "manifest_error"


class ManifestMalformed(ManifestError, ValueError):
    code = "manifest_malformed"


class ManifestExists(ManifestError, ValueError):
    code = "manifest_exists"


class ManifestNotFound(ManifestError, LookupError):
    code = "manifest_not_found"


canonical_json = record_json  # UTF-8, keys sorted, no whitespace (provenance's form)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ManifestMalformed(f"{what}: expected base64 text, got {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ManifestMalformed(f"{what}: not base64") from exc


def _int(data: Mapping[str, Any], name: str) -> int:
    v = data.get(name)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ManifestMalformed(f"{name}: expected a non-negative integer, got {v!r}")
    return v


@dataclass(frozen=True)
class Finding:
    """A machine-readable problem: ``code``, the clip time it concerns (if any), a sentence."""

    code: str
    detail: str
    clip_time: float | None = None

    def to_json(self) -> dict[str, Any]:
        t = None if self.clip_time is None else round(self.clip_time, 2)
        return {"code": self.code, "clip_time": t, "detail": self.detail}


@dataclass(frozen=True)
class Manifest:
    """What a streamer signs about one broadcast (see the module docstring)."""

    streamer: str
    public_key: bytes
    start: int
    end: int
    fingerprints: tuple[bytes, ...]
    audio: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise ManifestMalformed(f"expected a 32-byte Ed25519 key, got {len(self.public_key)}")
        if not 0 < self.end - self.start <= MAX_MANIFEST_SECONDS:
            raise ManifestMalformed(
                f"expected 0 < end - start <= {MAX_MANIFEST_SECONDS}, got {self.start}..{self.end}"
            )
        if len(self.fingerprints) != self.end - self.start:
            raise ManifestMalformed(
                f"expected {self.end - self.start} fingerprints (one per second), "
                f"got {len(self.fingerprints)}"
            )
        for i, fp in enumerate(self.fingerprints):
            if len(fp) != FINGERPRINT_BYTES:
                raise ManifestMalformed(
                    f"fingerprint {i}: expected {FINGERPRINT_BYTES} bytes, got {len(fp)}"
                )
        if self.audio is not None:
            if len(self.audio) != len(self.fingerprints):
                raise ManifestMalformed("expected one audio envelope per second")
            for row in self.audio:
                if len(row) > AUDIO_PER_SECOND or not all(-90 <= v <= 0 for v in row):
                    raise ManifestMalformed("audio envelope values must be -90..0 dBFS")

    def covers(self, t: int) -> bool:
        return self.start <= t < self.end

    def fingerprint_at(self, t: int) -> bytes:
        return self.fingerprints[t - self.start]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "streamer": self.streamer,
            "key": self.public_key.hex(),
            "start": self.start,
            "end": self.end,
            "fingerprint": dict(_FP_PARAMS),
            "fingerprints": [_b64(f) for f in self.fingerprints],
            "audio": None if self.audio is None else [list(a) for a in self.audio],
        }

    @property
    def canonical(self) -> bytes:
        return canonical_json(self.to_json())

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical).hexdigest()

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """Parse strictly: unknown or missing fields, wrong types -> ``ManifestMalformed``."""
        if not isinstance(data, dict):
            raise ManifestMalformed("manifest: expected a JSON object")
        expected = {"format", "streamer", "key", "start", "end", "fingerprint"}
        expected |= {"fingerprints", "audio"}
        if set(data) != expected:
            raise ManifestMalformed(f"manifest: expected fields {sorted(expected)}")
        if data["format"] != MANIFEST_FORMAT:
            raise ManifestMalformed(f"manifest: expected format {MANIFEST_FORMAT!r}")
        if data["fingerprint"] != _FP_PARAMS:
            raise ManifestMalformed(f"manifest: expected fingerprint parameters {_FP_PARAMS}")
        streamer = data["streamer"]
        if not isinstance(streamer, str) or not streamer:
            raise ManifestMalformed("manifest: streamer must be a non-empty string")
        try:
            key = bytes.fromhex(data["key"]) if isinstance(data["key"], str) else b""
        except ValueError:
            key = b""
        fps = data["fingerprints"]
        if not isinstance(fps, list):
            raise ManifestMalformed("manifest: fingerprints must be a list")
        audio = data["audio"]
        if audio is not None and not (
            isinstance(audio, list)
            and all(
                isinstance(r, list)
                and all(isinstance(v, int) and not isinstance(v, bool) for v in r)
                for r in audio
            )
        ):
            raise ManifestMalformed("manifest: audio must be null or lists of integers")
        return cls(
            streamer,
            key,
            _int(data, "start"),
            _int(data, "end"),
            tuple(_unb64(f, "fingerprint") for f in fps),
            None if audio is None else tuple(tuple(r) for r in audio),
        )


@dataclass(frozen=True)
class SignedManifest(SignedRecord):
    """A manifest and its signature; leaf ``{"manifest": …, "signature": …}`` of log 2."""

    SIGN_DOMAIN: ClassVar[bytes] = SIGN_DOMAIN
    LEAF_KEY: ClassVar[str] = "manifest"
    manifest: Manifest
    signature: bytes

    @property
    def body(self) -> Manifest:
        return self.manifest

    @classmethod
    def sign(cls, manifest: Manifest, key: Ed25519PrivateKey) -> SignedManifest:
        return cls(manifest, sign_record(manifest, key, SIGN_DOMAIN, ManifestMalformed))


@dataclass(frozen=True)
class StoredManifest:
    seq: int
    signed: SignedManifest
    recorded_at: int

    @property
    def manifest(self) -> Manifest:
        return self.signed.manifest


class ManifestStore:
    """Manifests in the provenance store: table ``clip_manifests`` + Merkle log ``CLIP_LOG_ID``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.side = SideLog(store, CLIP_LOG_ID)
        self.log = self.side.ledger

    def record(self, signed: SignedManifest) -> StoredManifest:
        """Append a signed manifest (signature checked first); one per streamer and start."""
        if not signed.signature_ok():
            raise ManifestMalformed("manifest signature does not verify with its own key")
        m = signed.manifest
        now = int(time.time())
        t = MANIFESTS

        def insert(conn: Connection, seq: int) -> None:
            overlap = conn.execute(
                select(t.c.seq).where(
                    t.c.streamer == m.streamer, t.c.start < m.end, t.c.end > m.start
                )
            ).first()
            if overlap is not None:
                raise ManifestExists(
                    f"streamer {m.streamer!r} already has a manifest overlapping "
                    f"{m.start}..{m.end} (#{overlap[0]})"
                )
            conn.execute(
                t.insert().values(
                    seq=seq,
                    streamer=m.streamer,
                    start=m.start,
                    end=m.end,
                    public_key=m.public_key,
                    body=m.canonical.decode(),
                    signature=signed.signature,
                    leaf_hash=signed.leaf_hash,
                    recorded_at=now,
                )
            )

        return StoredManifest(self.side.append(signed.leaf_hash, insert), signed, now)

    def _row(self, row: Any) -> StoredManifest:
        m = Manifest.from_json(json.loads(row.body))
        return StoredManifest(
            int(row.seq), SignedManifest(m, bytes(row.signature)), row.recorded_at
        )

    def get(self, seq: int) -> StoredManifest:
        with self.store.read() as conn:
            row = conn.execute(select(MANIFESTS).where(MANIFESTS.c.seq == seq)).first()
        if row is None:
            raise ManifestNotFound(f"no manifest #{seq}")
        return self._row(row)

    def covering(self, streamer: str, t: int) -> StoredManifest | None:
        """The streamer's manifest whose broadcast contains second ``t``."""
        m = MANIFESTS
        with self.store.read() as conn:
            row = conn.execute(
                select(m).where(m.c.streamer == streamer, m.c.start <= t, m.c.end > t).limit(1)
            ).first()
        return None if row is None else self._row(row)

    def list(self, streamer: str | None = None) -> list[dict[str, Any]]:
        m = MANIFESTS
        q = select(m.c.seq, m.c.streamer, m.c.start, m.c.end).order_by(m.c.seq)
        if streamer is not None:
            q = q.where(m.c.streamer == streamer)
        with self.store.read() as conn:
            return [
                {"id": r.seq, "streamer": r.streamer, "start": r.start, "end": r.end}
                for r in conn.execute(q)
            ]

    def anchor(self, chain: AnchorLedger) -> AnchorResult:
        """Anchor the manifest log's head (one transaction for every manifest since the last)."""
        return self.side.anchor(chain)

    def bundle(self, seq: int) -> dict[str, Any]:
        """Everything an offline verifier needs for manifest ``seq`` (see ``check_bundle``)."""
        stored = self.get(seq)
        anchored = self.side.latest_anchor()
        out: dict[str, Any] = {
            "format": BUNDLE_FORMAT,
            "log_id": CLIP_LOG_ID,
            "manifest": stored.manifest.to_json(),
            "signature": _b64(stored.signed.signature),
            "proof": None,
            "tree_head": None,
            "anchor": None,
        }
        if anchored is not None and anchored.tree_size > seq:
            proof = self.side.inclusion_proof(seq, anchored.tree_size)
            out["proof"] = {"leaf_index": seq, "tree_size": anchored.tree_size}
            out["proof"]["path"] = [p.hex() for p in proof.path]
            out["tree_head"] = anchored.head.to_json()
            out["anchor"] = {
                "index": anchored.chain_index,
                "timestamp": anchored.timestamp,
                "tx_hash": anchored.tx_hash,
            }
        return out


def _registered(
    directory: KeyDirectory, m: Manifest, role: int | tuple[int, ...] = STREAMER_ROLE
) -> bool:
    roles = (role,) if isinstance(role, int) else role
    return any(
        bytes(k.public_key) == m.public_key and any(key_valid_at(k, m.start, r) for r in roles)
        for k in directory.keys(m.streamer)
    )


def check_bundle(
    bundle: Any,
    directory: KeyDirectory | None,
    chain: AnchorLedger | None,
    role: int | tuple[int, ...] = STREAMER_ROLE,
) -> tuple[SignedManifest | None, list[Finding], dict[str, Any]]:
    """Run every check of the module docstring; (manifest or None, findings, anchor info).

    ``directory`` / ``chain`` None skip the registration / on-chain checks (and say so with
    ``identity_mismatch`` / ``not_anchored``: nothing unverified passes silently). ``role``
    is the role (or any of the roles) the signing key must hold: streamer for broadcasts,
    farm for a farm's origin camera (``services._origin``, issue 8), either for a clip.
    """
    findings: list[Finding] = []
    info: dict[str, Any] = {"root": None, "anchor_tx": None}
    # (1) parse
    try:
        if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
            raise ManifestMalformed(f"expected a {BUNDLE_FORMAT} document")
        if bundle.get("log_id") != CLIP_LOG_ID:
            raise ManifestMalformed(f"expected log_id {CLIP_LOG_ID}")
        expected = {"format", "log_id", "manifest", "signature", "proof", "tree_head", "anchor"}
        if set(bundle) != expected:
            raise ManifestMalformed(f"bundle: expected fields {sorted(expected)}")
        manifest = Manifest.from_json(bundle["manifest"])
        if canonical_json(bundle["manifest"]) != manifest.canonical:
            raise ManifestMalformed("manifest is not in canonical form")
        signed = SignedManifest(manifest, _unb64(bundle["signature"], "signature"))
    except ManifestMalformed as exc:
        return None, [Finding("manifest_malformed", str(exc))], info
    m = manifest
    # (2) signature
    if not signed.signature_ok():
        findings.append(
            Finding(
                "signature_invalid",
                f"manifest signature does not verify with key {m.public_key.hex()[:16]}…",
            )
        )
    # (3) registration
    if directory is None:
        findings.append(Finding("identity_mismatch", "no registry to check the streamer's key"))
    elif not _registered(directory, m, role):
        findings.append(
            Finding(
                "identity_mismatch",
                f"key {m.public_key.hex()[:16]}… is not registered for streamer "
                f"{m.streamer!r} in the role this check needs at broadcast start {m.start}",
            )
        )
    # (4) inclusion
    proof, head = bundle.get("proof"), bundle.get("tree_head")
    if proof is None or head is None:
        findings.append(
            Finding("not_anchored", "manifest is newer than the last anchored tree head")
        )
        return signed, findings, info
    try:
        if set(proof) != {"leaf_index", "tree_size", "path"} or set(head) != {"tree_size", "root"}:
            raise ValueError("unexpected fields in proof or tree_head")
        th = TreeHead.from_json(head)
        ip = InclusionProof.from_json(proof)
        if ip.tree_size != th.tree_size:
            raise ValueError(f"proof for size {ip.tree_size}, tree head of size {th.tree_size}")
        verify_inclusion(signed.leaf_hash, ip, th.root)
    except (WatermarkError, ValueError, TypeError, AttributeError) as exc:
        findings.append(Finding("inclusion_proof_invalid", f"inclusion proof: {exc}"))
        return signed, findings, info
    info["root"] = th.root.hex()
    # (5) anchor
    claimed = bundle.get("anchor") or {}
    info["anchor_tx"] = claimed.get("tx_hash") if isinstance(claimed, dict) else None
    if chain is None:
        findings.append(Finding("not_anchored", "no chain to check the anchor on"))
        return signed, findings, info
    found = chain.by_root(th.root)
    if found is None or found.log_id != CLIP_LOG_ID or found.tree_size != th.tree_size:
        findings.append(
            Finding(
                "root_not_on_chain",
                f"root {th.root.hex()[:16]}… of size {th.tree_size} is not anchored for log "
                f"{CLIP_LOG_ID}",
            )
        )
        return signed, findings, info
    tx = chain.tx_of(th.root)
    if (
        not isinstance(claimed, dict)
        or set(claimed) != {"index", "timestamp", "tx_hash"}
        or (
            claimed.get("index"),
            claimed.get("timestamp"),
            claimed.get("tx_hash"),
        )
        != (found.index, found.timestamp, tx)
    ):
        findings.append(
            Finding(
                "anchor_mismatch",
                f"expected anchor #{found.index} at {found.timestamp} in tx {tx}, "
                f"bundle says {claimed!r}",
            )
        )
    info["anchor_tx"] = tx
    return signed, findings, info


def build_manifest(
    streamer: str,
    public_key: bytes,
    start: int,
    fingerprints: Sequence[bytes],
    audio: Sequence[Sequence[int]] | None = None,
) -> Manifest:
    n = len(fingerprints)
    if n == 0:
        raise ManifestMalformed("a manifest needs at least one second of video")
    return Manifest(
        streamer,
        public_key,
        start,
        start + n,
        tuple(fingerprints),
        None if audio is None else tuple(tuple(a) for a in audio[:n]),
    )


def fingerprint_video(
    path: str, progress: Callable[[float, float], None] | None = None
) -> tuple[list[bytes], list[list[int]] | None]:
    """Per-second fingerprints of a video file (and its audio envelope if it has audio)."""
    windows = WindowFeatures(every=WINDOW_STEPS_PER_SECOND)  # whole seconds only
    last = -1.0
    for t, y in iter_luma(path):
        windows.add(t, y)
        last = t
    if last < 0:
        raise VideoUnreadable(f"{path}: no video frames")
    seconds = max(1, math.floor(last + 1e-6) + 1)
    fps = second_fingerprints(windows.finish(), seconds)
    return fps, audio_envelopes(path, seconds)


def audio_envelopes(path: str, seconds: int) -> list[list[int]] | None:
    """Loudness per 0.1 s for each second of the first audio stream, or None without audio."""
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoUnreadable(f"cannot open {path}: {exc}") from exc
    try:
        if not container.streams.audio:
            return None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        chunks: list[np.ndarray] = []
        total = 0
        limit = seconds * AUDIO_RATE
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                a = out.to_ndarray().reshape(-1).astype(np.float32)
                chunks.append(a)
                total += len(a)
            if total >= limit:
                break
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoUnreadable(f"cannot decode audio of {path}: {exc}") from exc
    finally:
        container.close()
    samples = np.concatenate(chunks)[:limit] if chunks else np.zeros(0, np.float32)
    env = audio_envelope(samples, AUDIO_RATE)
    rows = [env[s * AUDIO_PER_SECOND : (s + 1) * AUDIO_PER_SECOND] for s in range(seconds)]
    return [r if r else [-90] for r in rows]


def record_manifest(
    store: ManifestStore,
    video: str,
    streamer: str,
    start: int,
    signing_key: Ed25519PrivateKey,
) -> StoredManifest:
    """Fingerprint ``video`` (the broadcast as sent), sign and store its manifest."""
    fps, audio = fingerprint_video(video)
    public = signing_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    manifest = build_manifest(streamer, public, start, fps, audio)
    return store.record(SignedManifest.sign(manifest, signing_key))
