"""Persona registration (人设备案): a streamer's signed claims, checked against provenance.

A **persona record** says who a streamer is and what they claim about their goods: display
name, claims (origin, certification, location), the farms they are affiliated with, and
certificates (document hash + the issuing QC/certifier actor's signature). The streamer
signs it with their registered key (the Ed25519 key ``livetrust streamer register`` put on
chain with role streamer), so the claims are attributable without a clip.

- Canonical bytes: :meth:`PersonaRecord.to_json` as provenance writes statements (UTF-8,
  keys sorted, no whitespace). Signature: Ed25519 over ``SIGN_DOMAIN + canonical``.
- Versions: every registration is a new version (1, 2, …) that names the SHA-256 of the
  previous one (``previous``), so versions form a hash chain; nothing is overwritten.
- Log: the leaf ``{"persona": …, "signature": <b64>}`` is appended to the provenance Merkle
  log machinery under its own log id :data:`PERSONA_LOG_ID` and anchored on chain by
  ``provenance.Anchorer`` (the same construction as clip manifests, log 2).
- Store: table ``svc_personas`` in the provenance database (same transaction as the log
  nodes), migrated with the other services tables (revision ``s0005``, see
  docs/institutions.md).

Checking claims against one batch (:func:`check_persona`), each claim gets a status
``supported`` / ``contradicted`` / ``unverifiable``:

=============== ================================================================= ==========
claim type      supported when                                                    else
=============== ================================================================= ==========
``origin``      every origin event (commissioning / creating_class_instance) of   contradicted
                the batch's history is signed by the streamer or, with scope
                ``own``, a farm affiliated as ``own``; with scope ``affiliated``,
                any affiliated farm
``certified``   an inspecting/sampling event signed by a QC actor whose           contradicted
                ``certificationInfo`` names the claim's ``value`` (e.g. organic)
                and whose disposition is not a failing one
``location``    an origin event's readPoint / bizLocation id, or a string in its  contradicted
                ILMD (countryOfOrigin, region), matches the claim's ``value``
=============== ================================================================= ==========

A claim is ``unverifiable`` when the batch has no origin event, or the events it rests on
fail their integrity checks (the provenance verdict already says so, and the oracle rules on
that). Every contradicted claim is a finding ``persona_claim_contradicted``; the check's JSON
(``CHECK_FORMAT``) is dispute evidence the oracle reads (rule ``persona_contradicted``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)

from contracts import Role
from provenance import AnchorResult, Ledger, Store
from provenance._registry import AnchorLedger, KeyDirectory, key_valid_at
from provenance._sidelog import SideLog, SignedRecord, sign_record
from services._errors import PersonaInvalid, UnknownPersona
from services._evidence import FAILING_QC_DISPOSITIONS, ORIGIN_STEPS, QC_STEPS, canonical_json
from services._store import migrate

__all__ = [
    "CERT_DOMAIN",
    "CHECK_FORMAT",
    "CLAIM_TYPES",
    "PERSONAS",
    "PERSONA_FORMAT",
    "PERSONA_LOG_ID",
    "SIGN_DOMAIN",
    "Affiliation",
    "Certificate",
    "ClaimResult",
    "PersonaCheck",
    "PersonaClaim",
    "PersonaRecord",
    "PersonaStore",
    "SignedPersona",
    "StoredPersona",
    "certificate_message",
    "check_persona",
    "register_persona",
]

PERSONA_FORMAT = "livetrust.persona/1"
CHECK_FORMAT = "livetrust.persona.check/1"
SIGN_DOMAIN = b"livetrust/persona/v1\n"  # domain separation from statements and manifests
CERT_DOMAIN = b"livetrust/certificate/v1\n"
PERSONA_LOG_ID = 3  # provenance events are log 1, clip manifests log 2
CLAIM_TYPES = ("origin", "certified", "location")
ORIGIN_SCOPES = ("own", "affiliated")
RELATIONS = ("own", "partner", "cooperative", "supplier")
MAX_CLAIMS = 64  # a persona is a handful of statements, not a catalogue
MAX_TEXT = 500

metadata = MetaData()
PERSONAS = Table(
    "svc_personas",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # leaf index, log 3
    Column("streamer", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", Text, nullable=False),  # canonical record JSON
    Column("signature", LargeBinary(64), nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    UniqueConstraint("streamer", "version", name="uq_svc_personas_version"),
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise PersonaInvalid(f"{what}: expected base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PersonaInvalid(f"{what}: not base64") from exc


def _str(d: Mapping[str, Any], key: str, where: str, required: bool = True) -> str | None:
    v = d.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v.strip() or len(v) > MAX_TEXT:
        raise PersonaInvalid(f"{where}: {key!r} must be a non-empty string (<= {MAX_TEXT})")
    return v.strip()


def _only(d: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(d, dict):
        raise PersonaInvalid(f"{where}: expected a JSON object")
    extra = set(d) - allowed
    if extra:
        raise PersonaInvalid(f"{where}: unknown fields {sorted(extra)}")
    return d


@dataclass(frozen=True)
class PersonaClaim:
    id: str
    type: str
    text: str
    value: str | None = None  # certified: the standard; location: the place
    scope: str | None = None  # origin: own | affiliated

    @classmethod
    def from_json(cls, data: Any, i: int) -> PersonaClaim:
        where = f"claim #{i + 1}"
        d = _only(data, {"id", "type", "text", "value", "scope"}, where)
        kind = _str(d, "type", where)
        if kind not in CLAIM_TYPES:
            raise PersonaInvalid(f"{where}: type must be one of {', '.join(CLAIM_TYPES)}")
        value = _str(d, "value", where, required=kind != "origin")
        scope = _str(d, "scope", where, required=False)
        if kind == "origin":
            scope = scope or "own"
            if scope not in ORIGIN_SCOPES:
                raise PersonaInvalid(f"{where}: origin scope must be own or affiliated")
        elif scope is not None:
            raise PersonaInvalid(f"{where}: only origin claims take a scope")
        return cls(_str(d, "id", where) or "", kind, _str(d, "text", where) or "", value, scope)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type, "text": self.text}
        if self.value is not None:
            out["value"] = self.value
        if self.scope is not None:
            out["scope"] = self.scope
        return out


@dataclass(frozen=True)
class Affiliation:
    actor: str
    relation: str

    @classmethod
    def from_json(cls, data: Any, i: int) -> Affiliation:
        where = f"affiliation #{i + 1}"
        d = _only(data, {"actor", "relation"}, where)
        rel = _str(d, "relation", where)
        if rel not in RELATIONS:
            raise PersonaInvalid(f"{where}: relation must be one of {', '.join(RELATIONS)}")
        return cls(_str(d, "actor", where) or "", rel)

    def to_json(self) -> dict[str, Any]:
        return {"actor": self.actor, "relation": self.relation}


def certificate_message(sha256: str, standard: str, subject: str) -> bytes:
    """What a certifier signs: the certificate document's hash, the standard and the holder."""
    return CERT_DOMAIN + canonical_json(
        {"sha256": sha256, "standard": standard, "subject": subject}
    )


@dataclass(frozen=True)
class Certificate:
    sha256: str  # "sha256:<hex>" of the certificate document
    standard: str  # e.g. "organic (GB/T 19630)"
    issuer: str  # a registered actor with role qc
    signature: bytes

    @classmethod
    def from_json(cls, data: Any, i: int) -> Certificate:
        where = f"certificate #{i + 1}"
        d = _only(data, {"sha256", "standard", "issuer", "signature"}, where)
        digest = _str(d, "sha256", where) or ""
        if not digest.startswith("sha256:") or len(digest) != 71:
            raise PersonaInvalid(f"{where}: sha256 must be 'sha256:' + 64 hex digits")
        return cls(
            digest,
            _str(d, "standard", where) or "",
            _str(d, "issuer", where) or "",
            _unb64(d.get("signature"), f"{where} signature"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "standard": self.standard,
            "issuer": self.issuer,
            "signature": _b64(self.signature),
        }

    def verify(self, subject: str, directory: KeyDirectory, at: int) -> str | None:
        """None when a key registered for the issuer with role qc signed it; else why not."""
        msg = certificate_message(self.sha256, self.standard, subject)
        keys = [k for k in directory.keys(self.issuer) if key_valid_at(k, at, int(Role.QC))]
        if not keys:
            return f"issuer {self.issuer!r} holds no qc key valid now"
        for k in keys:
            try:
                Ed25519PublicKey.from_public_bytes(bytes(k.public_key)).verify(self.signature, msg)
                return None
            except (InvalidSignature, ValueError):
                continue
        return f"signature does not verify with any qc key of {self.issuer!r}"


@dataclass(frozen=True)
class PersonaRecord:
    streamer: str
    version: int
    previous: str | None  # sha256 of the previous version's canonical bytes
    issued_at: int
    public_key: bytes
    display_name: str
    claims: tuple[PersonaClaim, ...]
    affiliations: tuple[Affiliation, ...]
    certificates: tuple[Certificate, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PERSONA_FORMAT,
            "streamer": self.streamer,
            "version": self.version,
            "previous": self.previous,
            "issued_at": self.issued_at,
            "key": self.public_key.hex(),
            "display_name": self.display_name,
            "claims": [c.to_json() for c in self.claims],
            "affiliations": [a.to_json() for a in self.affiliations],
            "certificates": [c.to_json() for c in self.certificates],
        }

    @property
    def canonical(self) -> bytes:
        return canonical_json(self.to_json())

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical).hexdigest()

    @staticmethod
    def parse_parts(
        data: Any,
    ) -> tuple[str, tuple[PersonaClaim, ...], tuple[Affiliation, ...], tuple[Certificate, ...]]:
        """The streamer-written part (what ``persona register FILE.json`` reads)."""
        d = _only(data, {"display_name", "claims", "affiliations", "certificates"}, "persona")
        name = _str(d, "display_name", "persona") or ""
        raw_claims = d.get("claims")
        if not isinstance(raw_claims, list) or not 0 < len(raw_claims) <= MAX_CLAIMS:
            raise PersonaInvalid(f"persona: claims must be a list of 1-{MAX_CLAIMS} claims")
        claims = tuple(PersonaClaim.from_json(c, i) for i, c in enumerate(raw_claims))
        ids = [c.id for c in claims]
        if len(set(ids)) != len(ids):
            raise PersonaInvalid("persona: claim ids must be unique")
        affs = d.get("affiliations", [])
        certs = d.get("certificates", [])
        if not isinstance(affs, list) or not isinstance(certs, list):
            raise PersonaInvalid("persona: affiliations and certificates must be lists")
        return (
            name,
            claims,
            tuple(Affiliation.from_json(a, i) for i, a in enumerate(affs)),
            tuple(Certificate.from_json(c, i) for i, c in enumerate(certs)),
        )

    @classmethod
    def from_json(cls, data: Any) -> PersonaRecord:
        """Parse a signed record's body strictly."""
        if not isinstance(data, dict) or data.get("format") != PERSONA_FORMAT:
            raise PersonaInvalid(f"expected a {PERSONA_FORMAT} record")
        own = {"format", "streamer", "version", "previous", "issued_at", "key"}
        parts = {k: v for k, v in data.items() if k not in own}
        name, claims, affs, certs = cls.parse_parts(parts)
        try:
            key = bytes.fromhex(data["key"])
            version, issued = int(data["version"]), int(data["issued_at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PersonaInvalid("persona: key, version and issued_at are required") from exc
        return cls(
            _str(data, "streamer", "persona") or "",
            version,
            data.get("previous"),
            issued,
            key,
            name,
            claims,
            affs,
            certs,
        )


@dataclass(frozen=True)
class SignedPersona(SignedRecord):
    """A persona version and its signature; leaf ``{"persona": …, "signature": …}``."""

    SIGN_DOMAIN: ClassVar[bytes] = SIGN_DOMAIN
    LEAF_KEY: ClassVar[str] = "persona"
    record: PersonaRecord
    signature: bytes

    @property
    def body(self) -> PersonaRecord:
        return self.record

    @classmethod
    def sign(cls, record: PersonaRecord, key: Ed25519PrivateKey) -> SignedPersona:
        return cls(record, sign_record(record, key, SIGN_DOMAIN, PersonaInvalid))


@dataclass(frozen=True)
class StoredPersona:
    seq: int
    signed: SignedPersona
    recorded_at: int

    @property
    def record(self) -> PersonaRecord:
        return self.signed.record

    def summary(self) -> dict[str, Any]:
        r = self.record
        return {
            "streamer": r.streamer,
            "version": r.version,
            "digest": r.digest,
            "previous": r.previous,
            "seq": self.seq,
            "log_id": PERSONA_LOG_ID,
            "claims": len(r.claims),
        }


class PersonaStore:
    """Persona versions: table ``svc_personas`` + Merkle log ``PERSONA_LOG_ID``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        migrate(store.engine)
        self.side = SideLog(store, PERSONA_LOG_ID)
        self.log = self.side.ledger

    def record(self, signed: SignedPersona) -> StoredPersona:
        """Append a version; it must be the next one and name its predecessor's digest."""
        if not signed.signature_ok():
            raise PersonaInvalid("persona signature does not verify with its own key")
        r = signed.record
        now = int(time.time())
        t = PERSONAS

        def insert(conn: Connection, seq: int) -> None:
            last = conn.execute(
                select(t.c.version, t.c.body)
                .where(t.c.streamer == r.streamer)
                .order_by(t.c.version.desc())
                .limit(1)
            ).first()
            want = 1 if last is None else int(last.version) + 1
            prev = (
                None if last is None else "sha256:" + hashlib.sha256(last.body.encode()).hexdigest()
            )
            if r.version != want or r.previous != prev:
                raise PersonaInvalid(
                    f"expected version {want} after {prev}, got {r.version} after {r.previous}"
                )
            conn.execute(
                t.insert().values(
                    seq=seq,
                    streamer=r.streamer,
                    version=r.version,
                    body=r.canonical.decode(),
                    signature=signed.signature,
                    leaf_hash=signed.leaf_hash,
                    recorded_at=now,
                )
            )

        return StoredPersona(self.side.append(signed.leaf_hash, insert), signed, now)

    def _row(self, row: Any) -> StoredPersona:
        rec = PersonaRecord.from_json(json.loads(row.body))
        return StoredPersona(
            int(row.seq), SignedPersona(rec, bytes(row.signature)), row.recorded_at
        )

    def latest(self, streamer: str) -> StoredPersona | None:
        t = PERSONAS
        with self.store.read() as conn:
            row = conn.execute(
                select(t).where(t.c.streamer == streamer).order_by(t.c.version.desc()).limit(1)
            ).first()
        return None if row is None else self._row(row)

    def get(self, streamer: str, version: int | None = None) -> StoredPersona:
        if version is None:
            found = self.latest(streamer)
        else:
            t = PERSONAS
            with self.store.read() as conn:
                row = conn.execute(
                    select(t).where(t.c.streamer == streamer, t.c.version == version)
                ).first()
            found = None if row is None else self._row(row)
        if found is None:
            what = "a persona" if version is None else f"persona version {version}"
            raise UnknownPersona(f"streamer {streamer!r} has not registered {what}")
        return found

    def history(self, streamer: str) -> list[StoredPersona]:
        t = PERSONAS
        with self.store.read() as conn:
            rows = conn.execute(
                select(t).where(t.c.streamer == streamer).order_by(t.c.version)
            ).all()
        return [self._row(r) for r in rows]

    def anchor(self, chain: AnchorLedger) -> AnchorResult:
        """Anchor the persona log's head (one transaction for every version since the last)."""
        return self.side.anchor(chain)

    def anchored(self, stored: StoredPersona, chain: AnchorLedger | None) -> dict[str, Any]:
        """Is the version's leaf in an anchored tree head that the chain confirms?"""
        head = self.side.latest_anchor()
        if head is None or head.tree_size <= stored.seq:
            return {"anchored": False, "root": None, "tx": None}
        from provenance import ProofError
        from provenance._merkle import verify_inclusion

        proof = self.side.inclusion_proof(stored.seq, head.tree_size)
        try:
            verify_inclusion(stored.signed.leaf_hash, proof, head.head.root)
        except ProofError as exc:  # the stored record or the log's nodes were altered
            return {
                "anchored": False,
                "root": head.head.root.hex(),
                "tx": head.tx_hash,
                "inclusion_error": str(exc),
            }
        on_chain = chain.by_root(head.head.root) if chain is not None else None
        ok = (
            on_chain is not None
            and on_chain.log_id == PERSONA_LOG_ID
            and on_chain.tree_size == head.tree_size
        )
        return {"anchored": ok, "root": head.head.root.hex(), "tx": head.tx_hash}


def register_persona(
    store: PersonaStore,
    streamer: str,
    draft: Any,
    signing_key: Ed25519PrivateKey,
    directory: KeyDirectory,
    now: int | None = None,
) -> StoredPersona:
    """Build the next version from the streamer's draft, check it, sign it, store it.

    Refused (``persona_invalid``): a malformed draft, a signing key not registered for the
    streamer with role streamer now, an affiliated actor not on chain, a certificate whose
    issuer is not a qc actor or whose signature does not verify.
    """
    at = int(time.time()) if now is None else now
    name, claims, affs, certs = PersonaRecord.parse_parts(draft)
    public = signing_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    if not any(
        bytes(k.public_key) == public and key_valid_at(k, at, int(Role.STREAMER))
        for k in directory.keys(streamer)
    ):
        raise PersonaInvalid(
            f"the signing key is not registered on chain for streamer {streamer!r} "
            "(livetrust streamer register)"
        )
    for a in affs:
        if not directory.keys(a.actor):
            raise PersonaInvalid(f"affiliated actor {a.actor!r} is not registered on chain")
    for c in certs:
        why = c.verify(streamer, directory, at)
        if why is not None:
            raise PersonaInvalid(f"certificate {c.sha256[:19]}…: {why}")
    last = store.latest(streamer)
    record = PersonaRecord(
        streamer,
        1 if last is None else last.record.version + 1,
        None if last is None else last.record.digest,
        at,
        public,
        name,
        claims,
        affs,
        certs,
    )
    return store.record(SignedPersona.sign(record, signing_key))


# -- checking claims against a batch -------------------------------------------------------


@dataclass(frozen=True)
class ClaimResult:
    claim: PersonaClaim
    status: str  # supported | contradicted | unverifiable
    detail: str
    events: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return self.claim.to_json() | {
            "status": self.status,
            "detail": self.detail,
            "events": list(self.events),
        }


@dataclass(frozen=True)
class PersonaCheck:
    streamer: str
    batch: str
    persona: dict[str, Any]
    record_findings: tuple[dict[str, Any], ...]
    results: tuple[ClaimResult, ...]
    provenance_ok: bool

    @property
    def contradicted(self) -> tuple[ClaimResult, ...]:
        return tuple(r for r in self.results if r.status == "contradicted")

    @property
    def ok(self) -> bool:
        return not self.contradicted and not self.record_findings

    def findings(self) -> list[dict[str, Any]]:
        out = list(self.record_findings)
        for r in self.contradicted:
            out.append(
                {
                    "code": "persona_claim_contradicted",
                    "claim": r.claim.id,
                    "type": r.claim.type,
                    "text": r.claim.text,
                    "event": r.events[0] if r.events else None,
                    "detail": r.detail,
                }
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CHECK_FORMAT,
            "streamer": self.streamer,
            "batch": self.batch,
            "persona": self.persona,
            "ok": self.ok,
            "provenance_ok": self.provenance_ok,
            "claims": [r.to_json() for r in self.results],
            "findings": self.findings(),
        }


@dataclass(frozen=True)
class _Ev:
    hash_id: str
    actor: str
    role: str
    step: str | None
    disposition: str | None
    body: Mapping[str, Any]


# provenance findings that mean an event is not what its signer wrote
_TAINT = frozenset(
    {
        "hash_mismatch",
        "signature_invalid",
        "unknown_actor",
        "key_not_valid_at_time",
        "role_not_allowed",
        "chain_broken",
    }
)


def _cert_values(body: Mapping[str, Any]) -> list[str]:
    """``certificationInfo`` (EPCIS 2.0: a string or a list) and ``*:certification`` fields."""
    out: list[str] = []
    for k, v in body.items():
        if k == "certificationInfo" or k.endswith(":certification"):
            items = v if isinstance(v, list) else [v]
            out.extend(str(i) for i in items if isinstance(i, str | dict))
    return out


def _place_values(body: Mapping[str, Any]) -> list[str]:
    out = []
    for key in ("readPoint", "bizLocation"):
        loc = body.get(key)
        if isinstance(loc, dict) and isinstance(loc.get("id"), str):
            out.append(loc["id"])
    ilmd = body.get("ilmd")
    if isinstance(ilmd, dict):
        out.extend(v for v in ilmd.values() if isinstance(v, str))
    return out


def _check_claim(
    claim: PersonaClaim, record: PersonaRecord, evs: Sequence[_Ev], tainted: set[str]
) -> ClaimResult:
    origins = [e for e in evs if e.step in ORIGIN_STEPS]
    if claim.type == "origin":
        if not origins:
            return ClaimResult(claim, "unverifiable", "the batch has no origin event")
        own = {record.streamer} | {a.actor for a in record.affiliations if a.relation == "own"}
        allowed = own if claim.scope == "own" else own | {a.actor for a in record.affiliations}
        bad = [e for e in origins if e.actor not in allowed]
        ids = tuple(e.hash_id for e in (bad or origins))
        if bad and all(e.hash_id in tainted for e in bad):
            return ClaimResult(claim, "unverifiable", "origin events fail integrity checks", ids)
        if bad:
            who = ", ".join(sorted({e.actor for e in bad}))
            return ClaimResult(
                claim,
                "contradicted",
                f"origin signed by {who}, not by the streamer's "
                f"{'own' if claim.scope == 'own' else 'affiliated'} farms "
                f"({', '.join(sorted(allowed))})",
                ids,
            )
        return ClaimResult(
            claim,
            "supported",
            f"origin signed by {', '.join(sorted({e.actor for e in origins}))}",
            ids,
        )
    if claim.type == "certified":
        want = (claim.value or "").casefold()
        certs = [
            e
            for e in evs
            if e.step in QC_STEPS
            and e.role == Role.QC.label
            and e.hash_id not in tainted
            and e.disposition not in FAILING_QC_DISPOSITIONS
            and any(want in v.casefold() for v in _cert_values(e.body))
        ]
        if certs:
            return ClaimResult(
                claim,
                "supported",
                f"certificate event by QC actor {certs[0].actor}",
                tuple(e.hash_id for e in certs),
            )
        return ClaimResult(
            claim,
            "contradicted",
            f"no intact QC-signed inspection of the batch certifies {claim.value!r}",
        )
    # location
    if not origins:
        return ClaimResult(claim, "unverifiable", "the batch has no origin event")
    want = (claim.value or "").casefold()
    hits = [e for e in origins if any(want in v.casefold() for v in _place_values(e.body))]
    if hits:
        return ClaimResult(
            claim, "supported", "origin event names the place", tuple(e.hash_id for e in hits)
        )
    places = sorted({v for e in origins for v in _place_values(e.body)})
    return ClaimResult(
        claim,
        "contradicted",
        f"origin recorded at {', '.join(places) or 'no stated place'}, not {claim.value!r}",
        tuple(e.hash_id for e in origins),
    )


def check_persona(
    personas: PersonaStore,
    ledger: Ledger,
    streamer: str,
    batch: str,
    anchors: AnchorLedger | None,
    version: int | None = None,
) -> PersonaCheck:
    """Every claim of the streamer's persona (latest or ``version``) against ``batch``."""
    from provenance import verify_batch

    stored = personas.get(streamer, version)
    record = stored.record
    record_findings: list[dict[str, Any]] = []
    if not stored.signed.signature_ok():
        record_findings.append(
            {"code": "persona_signature_invalid", "detail": "record signature does not verify"}
        )
    if not any(
        bytes(k.public_key) == record.public_key
        and key_valid_at(k, record.issued_at, int(Role.STREAMER))
        for k in ledger.directory.keys(streamer)
    ):
        record_findings.append(
            {
                "code": "persona_key_not_registered",
                "detail": f"key not registered for {streamer!r} at {record.issued_at}",
            }
        )
    story = ledger.story(batch)  # UnknownBatch (a ProvenanceError) for a batch never recorded
    verdict = verify_batch(ledger, batch, anchors)
    tainted = {f.event for f in verdict.findings if f.code in _TAINT and f.event}
    evs = [
        _Ev(
            s.hash_id,
            s.record.statement.actor,
            s.record.statement.role,
            s.event.biz_step,
            s.event.disposition,
            s.event.body,
        )
        for s in story
    ]
    results = tuple(_check_claim(c, record, evs, tainted) for c in record.claims)
    info = stored.summary() | personas.anchored(stored, anchors)
    if "inclusion_error" in info:
        record_findings.append(
            {"code": "persona_inclusion_invalid", "detail": str(info.pop("inclusion_error"))}
        )
    return PersonaCheck(streamer, batch, info, tuple(record_findings), results, verdict.ok)
