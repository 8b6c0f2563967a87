"""ActorRegistry on every backend, plus a stateful property test against a Python model."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from contracts import Chain, ContractReverted, KeyRecord, Role

K1 = b"\x01" * 32
K2 = b"\x02" * 32
K3 = b"\x03" * 32


def test_register_and_validity_window(chain: Chain) -> None:
    reg = chain.actors
    reg.register("farm:shouguang-1", K1, Role.FARM, valid_from=1000, valid_until=2000)
    [key] = reg.keys("farm:shouguang-1")
    assert key == KeyRecord(0, K1, Role.FARM, 1000, 2000, 0)
    assert not reg.key_valid_at("farm:shouguang-1", K1, Role.FARM, 999)
    assert reg.key_valid_at("farm:shouguang-1", K1, Role.FARM, 1000)
    assert reg.key_valid_at("farm:shouguang-1", K1, Role.FARM, 1999)
    assert not reg.key_valid_at("farm:shouguang-1", K1, Role.FARM, 2000)
    # wrong role, wrong key, unknown actor
    assert not reg.key_valid_at("farm:shouguang-1", K1, Role.QC, 1500)
    assert not reg.key_valid_at("farm:shouguang-1", K2, Role.FARM, 1500)
    assert not reg.key_valid_at("nobody", K1, Role.FARM, 1500)


def test_rotation_keeps_old_signatures_valid(chain: Chain) -> None:
    reg = chain.actors
    reg.register("qc:lab", K1, Role.QC, valid_from=100)
    reg.rotate("qc:lab", K2, valid_from=500)
    old, new = reg.keys("qc:lab")
    assert (old.valid_until, new.valid_from, new.role) == (500, 500, Role.QC)
    assert reg.key_valid_at("qc:lab", K1, Role.QC, 499)
    assert not reg.key_valid_at("qc:lab", K1, Role.QC, 500)
    assert reg.key_valid_at("qc:lab", K2, Role.QC, 500)
    assert not reg.key_valid_at("qc:lab", K2, Role.QC, 499)
    with pytest.raises(ContractReverted) as exc:
        reg.rotate("qc:lab", K3, valid_from=400)
    assert exc.value.reason == "rotation before current key"


def test_revocation_from_a_time_and_earliest_wins(chain: Chain) -> None:
    reg = chain.actors
    reg.register("logistics:coldco", K1, Role.LOGISTICS, valid_from=100)
    reg.revoke("logistics:coldco", 0, at=300)
    assert reg.key_valid_at("logistics:coldco", K1, Role.LOGISTICS, 299)
    assert not reg.key_valid_at("logistics:coldco", K1, Role.LOGISTICS, 300)
    reg.revoke("logistics:coldco", 0, at=400)  # a later revocation does not un-revoke
    assert reg.keys("logistics:coldco")[0].revoked_at == 300
    reg.revoke("logistics:coldco", 0, at=200)
    assert not reg.key_valid_at("logistics:coldco", K1, Role.LOGISTICS, 250)
    with pytest.raises(ContractReverted) as exc:
        reg.revoke("logistics:coldco", 5, at=1)
    assert exc.value.reason == "unknown key"


def test_revoke_now_uses_block_time(chain: Chain) -> None:
    reg = chain.actors
    reg.register("retailer:shop", K1, Role.RETAILER, valid_from=1)
    r = reg.revoke("retailer:shop", 0)
    assert reg.keys("retailer:shop")[0].revoked_at == r.timestamp


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"public_key": b"\x00" * 32}, "empty key"),
        ({"valid_until": 50}, "bad validity period"),
    ],
)
def test_register_rejects_bad_records(chain: Chain, kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {
        "actor_id": "farm:x",
        "public_key": K1,
        "role": Role.FARM,
        "valid_from": 100,
        "valid_until": 0,
    }
    args.update(kwargs)
    with pytest.raises(ContractReverted) as exc:
        chain.actors.register(**args)  # type: ignore[arg-type]
    assert exc.value.reason == reason


def test_bad_role_and_duplicate(chain: Chain) -> None:
    c = chain.actors.contract
    with pytest.raises(ContractReverted) as exc:
        chain.transact(c.functions.register(b"\x09" * 32, "x", K1, 8, 0, 0))
    assert exc.value.reason == "bad role"
    chain.actors.register("farm:dup", K1, Role.FARM, 1)
    with pytest.raises(ContractReverted) as exc:
        chain.actors.register("farm:dup", K2, Role.FARM, 1)
    assert exc.value.reason == "actor exists"
    with pytest.raises(ContractReverted) as exc:
        chain.actors.rotate("farm:nobody", K2, 5)
    assert exc.value.reason == "unknown actor"


def test_only_registrars_write(chain: Chain) -> None:
    reg = chain.actors
    outsider = chain.accounts[5]
    fn = reg.contract.functions.register(b"\x07" * 32, "o", K1, 1, 1, 0)
    with pytest.raises(ContractReverted) as exc:
        chain.transact(fn, sender=outsider)
    assert exc.value.reason == "not registrar"
    with pytest.raises(ContractReverted) as exc:
        chain.transact(reg.contract.functions.set_registrar(outsider, True), sender=outsider)
    assert exc.value.reason == "not admin"
    reg.set_registrar(outsider, True)
    chain.transact(fn, sender=outsider)
    assert chain.call(reg.contract.functions.actor_count()) == 1


def test_role_parse() -> None:
    assert Role.parse("QC") is Role.QC
    assert Role.parse(" streamer ") is Role.STREAMER
    with pytest.raises(ValueError, match="one of"):
        Role.parse("king")


# --- stateful property test: the contract agrees with KeyRecord.valid_at -----------------

ACTORS = ["a", "b", "c"]
KEYS = [bytes([i]) * 32 for i in range(1, 5)]


@pytest.mark.slow
def test_registry_matches_model(compile_cache, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """Random register/rotate/revoke sequences; every query agrees with the Python model."""

    class Machine(RuleBasedStateMachine):
        @initialize()
        def setup(self) -> None:
            home = tmp_path_factory.mktemp("actors")
            self.chain = Chain.connect("embedded", home, cache=compile_cache)
            self.model: dict[str, list[KeyRecord]] = {}

        def teardown(self) -> None:
            self.chain.close()

        @rule(
            actor=st.sampled_from(ACTORS),
            key=st.sampled_from(KEYS),
            role=st.sampled_from(list(Role)),
            start=st.integers(1, 1000),
            length=st.one_of(st.just(0), st.integers(1, 1000)),
        )
        def register(self, actor: str, key: bytes, role: Role, start: int, length: int) -> None:
            until = start + length if length else 0
            try:
                self.chain.actors.register(actor, key, role, start, until)
                assert actor not in self.model
                self.model[actor] = [KeyRecord(0, key, role, start, until, 0)]
            except ContractReverted as exc:
                assert actor in self.model and exc.reason == "actor exists"

        @rule(actor=st.sampled_from(ACTORS), key=st.sampled_from(KEYS), start=st.integers(1, 3000))
        def rotate(self, actor: str, key: bytes, start: int) -> None:
            try:
                self.chain.actors.rotate(actor, key, start)
            except ContractReverted:
                keys = self.model.get(actor)
                assert keys is None or start <= keys[-1].valid_from
                return
            keys = self.model[actor]
            last = keys[-1]
            if last.valid_until == 0 or last.valid_until > start:
                keys[-1] = KeyRecord(
                    last.index, last.public_key, last.role, last.valid_from, start, last.revoked_at
                )
            keys.append(KeyRecord(len(keys), key, last.role, start, 0, 0))

        @rule(actor=st.sampled_from(ACTORS), index=st.integers(0, 3), at=st.integers(1, 3000))
        def revoke(self, actor: str, index: int, at: int) -> None:
            try:
                self.chain.actors.revoke(actor, index, at)
            except ContractReverted:
                assert index >= len(self.model.get(actor, []))
                return
            k = self.model[actor][index]
            if k.revoked_at == 0 or at < k.revoked_at:
                self.model[actor][index] = KeyRecord(
                    k.index, k.public_key, k.role, k.valid_from, k.valid_until, at
                )

        @rule(
            actor=st.sampled_from(ACTORS),
            key=st.sampled_from(KEYS),
            role=st.sampled_from(list(Role)),
            t=st.integers(0, 3500),
        )
        def query(self, actor: str, key: bytes, role: Role, t: int) -> None:
            expected = any(
                k.public_key == key and k.valid_at(t, role) for k in self.model.get(actor, [])
            )
            assert self.chain.actors.key_valid_at(actor, key, role, t) == expected

        @invariant()
        def records_agree(self) -> None:
            for actor, keys in self.model.items():
                assert self.chain.actors.keys(actor) == keys

    run = Machine.TestCase
    run.settings = settings(
        max_examples=12,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    run().runTest()


def test_get_key_unknown_and_admin_transfer(chain: Chain) -> None:
    c = chain.actors.contract
    with pytest.raises(ContractReverted) as exc:
        chain.call(c.functions.get_key(b"\x01" * 32, 0))
    assert exc.value.reason == "unknown key"
    new_admin = chain.accounts[1]
    chain.transact(c.functions.transfer_admin(new_admin))
    with pytest.raises(ContractReverted) as exc:
        chain.actors.set_registrar(chain.accounts[2], True)
    assert exc.value.reason == "not admin"
    chain.transact(c.functions.set_registrar(chain.accounts[2], True), sender=new_admin)
    assert chain.call(c.functions.is_registrar(chain.accounts[2])) is True


def test_registration_event_keeps_the_human_id(chain: Chain) -> None:
    r = chain.actors.register("farm:寿光-greenhouse-7", K1, Role.FARM, 1)
    logs = chain.actors.contract.events.ActorRegistered().get_logs(from_block=r.block_number)
    assert logs[0]["args"]["name"] == "farm:寿光-greenhouse-7"
    assert logs[0]["args"]["role"] == Role.FARM
