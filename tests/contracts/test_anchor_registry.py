"""AnchorRegistry on every backend: writes, reads, access control, reverts, gas."""

from __future__ import annotations

import pytest

from contracts import Chain, ContractReverted

ROOT_A = bytes.fromhex("aa" * 32)
ROOT_B = bytes.fromhex("bb" * 32)

# Regression guard on a deterministic figure (gas, not time). 54,098 measured; the
# README explains the gap to the 50,000 target (see benchmarks/bench_chain.py).
STEADY_STATE_ANCHOR_GAS_MAX = 55_000


def test_anchor_then_read_by_root_and_index(chain: Chain) -> None:
    reg = chain.anchors
    r0 = reg.anchor(7, 10, ROOT_A)
    r1 = reg.anchor(7, 25, ROOT_B)
    assert (r0.index, r1.index) == (0, 1)
    assert reg.count() == 2

    a = reg.by_root(ROOT_B)
    assert a is not None
    assert (a.index, a.log_id, a.tree_size, a.root) == (1, 7, 25, ROOT_B)
    assert a.timestamp == r1.timestamp
    assert reg.by_index(0).root == ROOT_A
    assert reg.by_index(1) == a
    assert reg.tx_of(ROOT_A) == r0.tx_hash


def test_unknown_root_reads_as_none(chain: Chain) -> None:
    assert chain.anchors.by_root(b"\x01" * 32) is None
    with pytest.raises(ContractReverted):
        chain.anchors.by_index(0)


def test_a_root_is_anchored_once(chain: Chain) -> None:
    chain.anchors.anchor(1, 3, ROOT_A)
    with pytest.raises(ContractReverted) as exc:
        chain.anchors.anchor(1, 4, ROOT_A)
    assert exc.value.reason == "already anchored"
    assert exc.value.code == "reverted"
    assert chain.anchors.count() == 1


@pytest.mark.parametrize(
    ("tree_size", "root", "reason"),
    [(5, b"\x00" * 32, "empty root"), (0, ROOT_A, "empty tree")],
)
def test_rejects_meaningless_heads(chain: Chain, tree_size: int, root: bytes, reason: str) -> None:
    with pytest.raises(ContractReverted) as exc:
        chain.anchors.anchor(1, tree_size, root)
    assert exc.value.reason == reason


def test_only_authorised_anchorers_write(chain: Chain) -> None:
    reg = chain.anchors
    outsider = chain.accounts[3]
    fn = reg.contract.functions.anchor(1, 1, ROOT_A)
    with pytest.raises(ContractReverted) as exc:
        chain.transact(fn, sender=outsider)
    assert exc.value.reason == "not anchorer"

    # only the admin may authorise
    with pytest.raises(ContractReverted) as exc:
        chain.transact(reg.contract.functions.set_anchorer(outsider, True), sender=outsider)
    assert exc.value.reason == "not admin"

    reg.set_anchorer(outsider, True)
    chain.transact(fn, sender=outsider)
    assert reg.by_root(ROOT_A) is not None

    reg.set_anchorer(outsider, False)
    with pytest.raises(ContractReverted):
        chain.transact(reg.contract.functions.anchor(1, 2, ROOT_B), sender=outsider)


def test_admin_transfer(chain: Chain) -> None:
    c = chain.anchors.contract
    new_admin = chain.accounts[2]
    chain.transact(c.functions.transfer_admin(new_admin))
    assert chain.call(c.functions.admin()) == new_admin
    with pytest.raises(ContractReverted):
        chain.transact(c.functions.set_anchorer(chain.accounts[4], True))
    with pytest.raises(ContractReverted) as exc:
        chain.transact(c.functions.transfer_admin("0x" + "00" * 20), sender=new_admin)
    assert exc.value.reason == "zero admin"


def test_anchored_event_carries_the_head(chain: Chain) -> None:
    r = chain.anchors.anchor(9, 42, ROOT_A)
    logs = chain.anchors.contract.events.Anchored().get_logs(from_block=r.block_number)
    assert len(logs) == 1
    args = logs[0]["args"]
    assert (args["log_id"], args["index"], bytes(args["root"]), args["tree_size"]) == (
        9,
        0,
        ROOT_A,
        42,
    )


def test_steady_state_anchor_gas(chain: Chain) -> None:
    chain.anchors.anchor(1, 1, b"\x01" * 32)  # first anchor pays for the counter slot
    gas = [chain.anchors.anchor(1, n, bytes([n]) * 32).gas_used for n in range(2, 5)]
    assert len(set(gas)) == 1, gas
    assert gas[0] <= STEADY_STATE_ANCHOR_GAS_MAX


def test_is_anchored(chain: Chain) -> None:
    c = chain.anchors.contract
    assert chain.call(c.functions.is_anchored(ROOT_A)) is False
    chain.anchors.anchor(1, 1, ROOT_A)
    assert chain.call(c.functions.is_anchored(ROOT_A)) is True


@pytest.mark.slow
def test_registry_invariants_hold_for_random_sequences(
    compile_cache,
    tmp_path_factory,  # type: ignore[no-untyped-def]
) -> None:
    """Append-only: count == accepted anchors, every accepted head reads back unchanged,
    duplicates and unauthorised writers never change state."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    ops = st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 3), st.booleans()), min_size=1, max_size=12
    )

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ops)
    def check(sequence: list[tuple[int, int, bool]]) -> None:
        home = tmp_path_factory.mktemp("anchors")
        with Chain.connect("embedded", home, cache=compile_cache) as c:
            outsider = c.accounts[6]
            accepted: dict[bytes, tuple[int, int]] = {}
            for root_n, log_id, authorised in sequence:
                root = bytes([root_n + 1]) * 32
                size = len(accepted) + 1
                fn = c.anchors.contract.functions.anchor(log_id, size, root)
                try:
                    c.transact(fn, sender=None if authorised else outsider)
                except ContractReverted as exc:
                    assert exc.reason == ("already anchored" if authorised else "not anchorer")
                    assert not authorised or root in accepted
                    continue
                assert authorised and root not in accepted
                accepted[root] = (log_id, size)
            assert c.anchors.count() == len(accepted)
            for i, (root, (log_id, size)) in enumerate(accepted.items()):
                got = c.anchors.by_root(root)
                assert got is not None
                assert (got.index, got.log_id, got.tree_size) == (i, log_id, size)
                assert c.anchors.by_index(i).root == root

    check()
