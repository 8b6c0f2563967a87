"""Persona registration: signed versions in their own anchored log, and every claim type
checked against a batch's provenance (supported and contradicted), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from contracts import Role
from provenance import Ledger, MemoryRegistry
from services._errors import PersonaInvalid, UnknownPersona
from services._persona import (
    PERSONA_LOG_ID,
    PERSONAS,
    PersonaRecord,
    PersonaStore,
    certificate_message,
    check_persona,
    register_persona,
)
from services._provenance_demo import demo_key
from tests.institutions.conftest import (
    FARM,
    OTHER_FARM,
    PARTNER_FARM,
    QC,
    STREAMER,
    STREAMER_KEY,
    record_batch,
)


def draft(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "display_name": "Lily, grower in Shouguang",
        "claims": [
            {"id": "own", "type": "origin", "scope": "own", "text": "all from my own farm"},
            {"id": "organic", "type": "certified", "value": "organic", "text": "organic"},
            {
                "id": "place",
                "type": "location",
                "value": "Shouguang",
                "text": "I grow in Shouguang",
            },
        ],
        "affiliations": [{"actor": FARM, "relation": "own"}],
    }
    d.update(over)
    return d


def register(ledger: Ledger, **over: Any) -> PersonaStore:
    personas = PersonaStore(ledger.store)
    register_persona(personas, STREAMER, draft(**over), STREAMER_KEY, ledger.directory, now=100)
    return personas


def statuses(ledger: Ledger, personas: PersonaStore, batch: str) -> dict[str, str]:
    check = check_persona(personas, ledger, STREAMER, batch, ledger.directory)  # type: ignore[arg-type]
    return {r.claim.id: r.status for r in check.results}


def test_all_claims_supported(ledger: Ledger) -> None:
    batch = record_batch(ledger, "0A01")
    personas = register(ledger)
    check = check_persona(personas, ledger, STREAMER, batch, ledger.directory)  # type: ignore[arg-type]
    assert {r.claim.id: r.status for r in check.results} == {
        "own": "supported",
        "organic": "supported",
        "place": "supported",
    }
    doc = check.to_json()
    assert doc["ok"] and doc["findings"] == [] and doc["provenance_ok"]
    assert doc["format"] == "livetrust.persona.check/1"


def test_origin_contradicted_by_another_farm(ledger: Ledger) -> None:
    batch = record_batch(ledger, "0A02", farm=OTHER_FARM)
    personas = register(ledger)
    check = check_persona(personas, ledger, STREAMER, batch, ledger.directory)  # type: ignore[arg-type]
    assert [f["code"] for f in check.findings()] == ["persona_claim_contradicted"]
    f = check.findings()[0]
    assert f["claim"] == "own" and OTHER_FARM in f["detail"] and f["event"]
    assert not check.ok


def test_affiliated_scope(ledger: Ledger) -> None:
    batch = record_batch(ledger, "0A03", farm=PARTNER_FARM)
    claims = [
        {"id": "own", "type": "origin", "scope": "own", "text": "from my own farm"},
        {"id": "partners", "type": "origin", "scope": "affiliated", "text": "from our partners"},
    ]
    affs = [{"actor": FARM, "relation": "own"}, {"actor": PARTNER_FARM, "relation": "partner"}]
    personas = register(ledger, claims=claims, affiliations=affs)
    assert statuses(ledger, personas, batch) == {"own": "contradicted", "partners": "supported"}


def test_organic_needs_a_qc_certificate_event(ledger: Ledger) -> None:
    plain = record_batch(ledger, "0A04", certification=None)
    failed = record_batch(ledger, "0A05", disposition="non_conformant")
    other = record_batch(ledger, "0A06", certification="https://certs.example/GAP/2026-3")
    personas = register(ledger)
    for batch in (plain, failed, other):
        assert statuses(ledger, personas, batch)["organic"] == "contradicted", batch


def test_location_contradicted(ledger: Ledger) -> None:
    batch = record_batch(ledger, "0A07", region="Mengzi, Yunnan")
    personas = register(ledger)
    check = check_persona(personas, ledger, STREAMER, batch, ledger.directory)  # type: ignore[arg-type]
    res = {r.claim.id: r for r in check.results}
    assert res["place"].status == "contradicted"
    assert "Mengzi" in res["place"].detail
    # a GLN or the country code is a place too
    personas2 = register(
        ledger,
        claims=[{"id": "gln", "type": "location", "value": "sgln:0614141.00001", "text": "farm"}],
    )
    assert statuses(ledger, personas2, batch) == {"gln": "supported"}


def test_versions_chain_and_are_kept(ledger: Ledger) -> None:
    personas = register(ledger)
    v2 = register_persona(
        personas, STREAMER, draft(display_name="Lily v2"), STREAMER_KEY, ledger.directory, now=200
    )
    history = personas.history(STREAMER)
    assert [p.record.version for p in history] == [1, 2]
    assert v2.record.previous == history[0].record.digest
    assert personas.get(STREAMER, 1).record.display_name == "Lily, grower in Shouguang"
    assert personas.log.size() == 2  # both leaves in log PERSONA_LOG_ID
    with pytest.raises(UnknownPersona):
        personas.get("nobody")


def test_anchored_in_its_own_log(ledger: Ledger) -> None:
    batch = record_batch(ledger, "0A08")
    personas = register(ledger)
    before = check_persona(personas, ledger, STREAMER, batch, ledger.directory)  # type: ignore[arg-type]
    assert before.persona["anchored"] is False
    result = personas.anchor(ledger.directory)  # type: ignore[arg-type]
    assert result.head is not None
    after = check_persona(personas, ledger, STREAMER, batch, ledger.directory)  # type: ignore[arg-type]
    assert after.persona["anchored"] is True and after.persona["log_id"] == PERSONA_LOG_ID


@pytest.mark.parametrize("anchored", [False, True])
def test_tampered_record_is_reported(ledger: Ledger, anchored: bool) -> None:
    batch = record_batch(ledger, "0A09")
    personas = register(ledger)
    if anchored:
        personas.anchor(ledger.directory)  # type: ignore[arg-type]
    row = personas.get(STREAMER)
    body = json.loads(row.record.canonical)
    body["display_name"] = "Lily, certified organic farmer"
    with ledger.store.begin() as conn:
        conn.execute(
            update(PERSONAS)
            .where(PERSONAS.c.seq == row.seq)
            .values(body=json.dumps(body, sort_keys=True, separators=(",", ":")))
        )
    check = check_persona(personas, ledger, STREAMER, batch, ledger.directory)  # type: ignore[arg-type]
    found = {f["code"] for f in check.findings()}
    assert "persona_signature_invalid" in found
    assert ("persona_inclusion_invalid" in found) is anchored  # leaf no longer in the tree
    assert not check.ok and check.persona["anchored"] is False


def test_register_refusals(ledger: Ledger, registry: MemoryRegistry) -> None:
    personas = PersonaStore(ledger.store)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(PersonaInvalid, match="not registered"):
        register_persona(personas, STREAMER, draft(), stranger, registry, now=100)
    with pytest.raises(PersonaInvalid, match="not registered"):
        register_persona(
            personas,
            STREAMER,
            draft(affiliations=[{"actor": "farm-ghost", "relation": "own"}]),
            STREAMER_KEY,
            registry,
            now=100,
        )
    for bad in (
        {"claims": []},
        {"claims": [{"id": "x", "type": "vibes", "text": "trust me"}]},
        {"claims": [{"id": "x", "type": "certified", "text": "certified"}]},  # no value
        {"claims": [{"id": "x", "type": "origin", "scope": "cosmic", "text": "t"}]},
        {"surprise": 1},
    ):
        with pytest.raises(PersonaInvalid):
            register_persona(personas, STREAMER, draft(**bad), STREAMER_KEY, registry, now=100)
    assert personas.latest(STREAMER) is None  # nothing half-written


def _cert(issuer: str, subject: str = STREAMER, standard: str = "organic") -> dict[str, Any]:
    digest = "sha256:" + "ab" * 32
    sig = demo_key(issuer).sign(certificate_message(digest, standard, subject))
    return {
        "sha256": digest,
        "standard": standard,
        "issuer": issuer,
        "signature": base64.b64encode(sig).decode(),
    }


def test_certificates_must_be_signed_by_a_qc_actor(ledger: Ledger) -> None:
    personas = PersonaStore(ledger.store)
    ok = register_persona(
        personas, STREAMER, draft(certificates=[_cert(QC)]), STREAMER_KEY, ledger.directory, 100
    )
    assert ok.record.certificates[0].issuer == QC
    for bad in (_cert(FARM), _cert(QC, subject="someone-else")):  # not qc / another holder
        with pytest.raises(PersonaInvalid, match="certificate"):
            register_persona(
                personas, STREAMER, draft(certificates=[bad]), STREAMER_KEY, ledger.directory, 100
            )


def test_role_registry_is_the_streamers(registry: MemoryRegistry) -> None:
    assert any(int(k.role) == int(Role.STREAMER) for k in registry.keys(STREAMER))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
drafts = st.fixed_dictionaries(
    {"display_name": json_values, "claims": json_values},
    optional={"affiliations": json_values, "certificates": json_values},
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, drafts))
def test_any_draft_parses_or_is_persona_invalid(data: Any) -> None:
    with contextlib.suppress(PersonaInvalid):  # anything else escaping is the bug
        PersonaRecord.parse_parts(data)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.builds(
            dict,
            id=st.text(alphabet="abcdefgh", min_size=1, max_size=6),
            type=st.sampled_from(["origin", "certified", "location"]),
            text=st.text(min_size=1, max_size=20).filter(str.strip),
            value=st.text(alphabet="abcxyz", min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=4,
        unique_by=lambda c: c["id"],
    )
)
def test_records_round_trip_canonically(claims: list[dict[str, Any]]) -> None:
    name, parsed, affs, certs = PersonaRecord.parse_parts({"display_name": "x", "claims": claims})
    rec = PersonaRecord(STREAMER, 1, None, 5, b"\x01" * 32, name, parsed, affs, certs)
    again = PersonaRecord.from_json(json.loads(rec.canonical))
    assert again == rec and again.digest == rec.digest
