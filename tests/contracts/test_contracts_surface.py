"""The chain package's surface is what we meant, and every error has its own stable code."""

from __future__ import annotations

import contracts
from contracts import ChainError


def test_all_names_exist_and_are_public() -> None:
    for name in contracts.__all__:
        assert hasattr(contracts, name), name
        assert not name.startswith("_")
    assert len(contracts.__all__) == len(set(contracts.__all__))


def test_every_error_has_its_own_code() -> None:
    errors = [getattr(contracts, n) for n in contracts.__all__]
    errors = [e for e in errors if isinstance(e, type) and issubclass(e, ChainError)]
    codes = [e.code for e in errors]
    assert len(errors) == 7
    assert len(codes) == len(set(codes))


def test_every_contract_source_compiles_from_the_package(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert contracts.contract_names() == ["ActorRegistry", "AnchorRegistry", "DisputeEscrow"]
    for name in contracts.contract_names():
        c = contracts.compile_contract(name, tmp_path)
        assert c.bytecode.startswith("0x") and len(c.runtime) > 100
        # EIP-170: deployed code must stay under 24,576 bytes
        assert (len(c.runtime) - 2) // 2 < 24_576
