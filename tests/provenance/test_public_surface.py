"""The package surface is what we meant: everything in ``__all__`` exists, nothing private
leaks, and every error has a stable code."""

from __future__ import annotations

import provenance
from provenance import FINDING_CODES, ROLE_TABLE, ProvenanceError, Role


def test_all_names_exist_and_are_public() -> None:
    for name in provenance.__all__:
        assert hasattr(provenance, name), name
        assert not name.startswith("_")
    assert sorted(provenance.__all__) == sorted(set(provenance.__all__))


def test_every_error_has_its_own_code() -> None:
    errors = [getattr(provenance, n) for n in provenance.__all__]
    errors = [e for e in errors if isinstance(e, type) and issubclass(e, ProvenanceError)]
    codes = [e.code for e in errors]
    assert len(errors) >= 13 and len(codes) == len(set(codes))


def test_issue_finding_codes_are_all_defined() -> None:
    required = {
        "signature_invalid",
        "unknown_actor",
        "role_not_allowed",
        "key_not_valid_at_time",
        "chain_broken",
        "missing_step",
        "quantity_not_conserved",
        "cold_chain_breach",
        "time_out_of_order",
        "not_anchored",
        "inclusion_proof_invalid",
        "root_not_on_chain",
    }
    assert required <= set(FINDING_CODES)


def test_role_table_only_qc_inspects_only_logistics_ships() -> None:
    assert ROLE_TABLE["inspecting"] == {Role.QC}
    assert ROLE_TABLE["shipping"] == {Role.LOGISTICS}
    assert all(r in Role for roles in ROLE_TABLE.values() for r in roles)
