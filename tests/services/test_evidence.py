"""Evidence intake: hashing, classification by shape, malformed documents refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from services._errors import EvidenceInvalid
from services._evidence import MAX_EVIDENCE_BYTES, EvidenceDoc, EvidenceKind
from tests.services._docs import BATCH, RECV, breach, bundle, claims, clip


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (breach(), EvidenceKind.PROVENANCE_VERDICT),
        (bundle(), EvidenceKind.PROOF_BUNDLE),
        (clip(), EvidenceKind.CLIP_VERDICT),
        (claims(("origin", 1.0, "CN")), EvidenceKind.CLAIMS),
        ({"note": "the berries were mouldy"}, EvidenceKind.OTHER),
        ([1, 2, 3], EvidenceKind.OTHER),
    ],
)
def test_classified_by_shape(data: object, kind: EvidenceKind) -> None:
    assert EvidenceDoc.from_json(data).kind is kind


def test_hash_is_sha256_of_the_bytes_as_received(tmp_path: Path) -> None:
    raw = b'{"ok": true, "batch": "b", "events": 1, "anchored": true, "findings": []}\n'
    path = tmp_path / "v.json"
    path.write_bytes(raw)
    d = EvidenceDoc.from_path(path)
    assert d.sha256 == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert (d.name, d.size) == ("v.json", len(raw))


def test_binary_files_are_kept_as_other() -> None:
    d = EvidenceDoc.from_bytes(b"\x89PNG\r\n\x1a\n....", "photo.png")
    assert d.kind is EvidenceKind.OTHER and d.provenance() is None and d.claims() == ()


@pytest.mark.parametrize(
    "bad",
    [
        {"ok": False, "batch": "b", "findings": "cold_chain_breach"},  # findings not a list
        {"ok": False, "batch": "b", "findings": [{"event": None}]},  # finding without code
        {"format": "livetrust.provenance.bundle/1", "batch": "b", "events": {}},
        {"format": "livetrust.provenance.bundle/1", "events": [{"event": {}}]},  # no statement
        {"verdict": "authentic", "segments": [{"clip_start": 0}], "findings": []},
        {"claims": [{"text": "no topic"}]},
        {"claims": [{"topic": "origin", "clip_time": "soon"}]},
    ],
)
def test_malformed_known_kinds_are_refused(bad: object) -> None:
    with pytest.raises(EvidenceInvalid) as exc:
        EvidenceDoc.from_bytes(json.dumps(bad).encode(), "bad.json")
    assert exc.value.code == "evidence_invalid"


def test_too_big_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(EvidenceInvalid, match="limit"):
        EvidenceDoc.from_bytes(b"x" * (MAX_EVIDENCE_BYTES + 1))
    with pytest.raises(EvidenceInvalid, match="cannot read"):
        EvidenceDoc.from_path(tmp_path / "nope.json")


def test_bundle_facts() -> None:
    facts = EvidenceDoc.from_json(bundle(received_at=1_700_000_000, country="th")).provenance()
    assert facts is not None
    assert facts.batch == BATCH
    assert facts.received_at == 1_700_000_000
    assert facts.origin_country == "TH"
    assert [e.disposition for e in facts.qc_events] == ["conformant"]
    assert RECV in {e.hash_id for e in facts.events}
