"""The store suite, run on SQLite and PostgreSQL: migrations, atomic ingest with specific
error codes and nothing partially written, hash chains, Merkle nodes served from the DB."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import PACKS, RETAIL_A, record, registered
from sqlalchemy import create_engine, func, select

from provenance import (
    KeyPair,
    Ledger,
    MerkleLog,
    Signer,
    Store,
    parse_document,
    verify_inclusion,
)
from provenance._merkle import leaf_hash
from provenance._store import EventLotRow, EventRow, LotHeadRow, MerkleNodeRow
from services._provenance_demo import demo_key, sample_story


def counts(store: Store) -> tuple[int, int, int, int]:
    with store.read() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t.__table__)).scalar_one())
            for t in (EventRow, EventLotRow, LotHeadRow, MerkleNodeRow)
        )


def test_migrations_are_idempotent(store: Store) -> None:
    store.migrate()
    store.migrate()
    assert counts(store) == (0, 0, 0, 0)


def test_story_records_chains_and_log(store: Store) -> None:
    ledger = Ledger(store, registered())
    record(ledger, sample_story())
    assert ledger.size() == 8
    story = ledger.story(RETAIL_A)
    assert [s.seq for s in story] == list(range(8))
    # each event commits to the previous event of every lot it names
    by_seq = {s.seq: s for s in story}
    assert by_seq[1].record.statement.prev == (by_seq[0].hash_id,)  # harvest -> pack
    assert by_seq[2].record.statement.prev == (by_seq[1].hash_id,)  # pack -> QC
    assert by_seq[7].record.statement.prev == (by_seq[3].hash_id,)  # split commits to pallet-in
    # the DB's Merkle nodes give the same root and proofs as an in-memory log
    mem = MerkleLog()
    mem.extend_hashes(s.leaf_hash for s in story)
    assert ledger.head().root == mem.root()
    for s in story:
        assert s.leaf_hash == leaf_hash(s.record.leaf_bytes())
        proof = ledger.inclusion_proof(s.seq)
        assert proof == mem.inclusion_proof(s.seq)
        verify_inclusion(s.leaf_hash, proof, mem.root())
    assert ledger.consistency_proof(3, 8) == mem.consistency_proof(3, 8)


def test_batch_ids_accept_urn_or_digital_link(store: Store) -> None:
    ledger = Ledger(store, registered())
    record(ledger, sample_story())
    dl = "https://id.gs1.org/01/30614141073468/10/R0501A"
    assert [s.seq for s in ledger.story(dl)] == [s.seq for s in ledger.story(RETAIL_A)]


def _bad(ledger: Ledger, store: Store, events, signer: Signer, code: str) -> None:  # type: ignore[no-untyped-def]
    before = counts(store)
    size = ledger.size()
    with pytest.raises(Exception) as info:
        ledger.ingest(events, signer)
    assert getattr(info.value, "code", None) == code, info.value
    assert counts(store) == before
    assert ledger.size() == size


def test_bad_input_is_rejected_with_a_code_and_leaves_no_trace(store: Store) -> None:
    reg = registered()
    ledger = Ledger(store, reg)
    story = sample_story()
    record(ledger, story[:1])  # the harvest is in
    packer = Signer("packer-sunrise", demo_key("packer-sunrise"))
    qc_events = story[2].events
    # wrong role: the packer may not sign an inspection, even mixed with a valid event
    _bad(ledger, store, story[1].events + qc_events, packer, "role_not_allowed")
    # unknown actor
    _bad(ledger, store, story[1].events, Signer("nobody", KeyPair.from_seed(b"x")), "unknown_actor")
    # right actor, unregistered key (e.g. a forged or stolen-then-rotated key)
    _bad(
        ledger,
        store,
        story[1].events,
        Signer("packer-sunrise", KeyPair.from_seed(b"y")),
        "key_not_valid_at_time",
    )
    # key revoked before the event happened
    reg.revoke("packer-sunrise", 0, at=story[1].events[0].timestamp - 60)
    _bad(ledger, store, story[1].events, packer, "key_not_valid_at_time")
    # replay of a recorded event, and a duplicate inside one import
    farm = Signer("farm-green-valley", demo_key("farm-green-valley"))
    _bad(ledger, store, story[0].events, farm, "replay_rejected")
    other = sample_story(tag="0777")[0].events
    _bad(ledger, store, other + other, farm, "replay_rejected")


def test_malformed_documents_are_rejected_before_ingest() -> None:
    from provenance import MalformedEvent

    good = sample_story()[0].events[0].body
    cases = {
        "not json": "{",
        "no events": json.dumps({"type": "EPCISDocument", "epcisBody": {"eventList": []}}),
        "no action": json.dumps({k: v for k, v in good.items() if k != "action"}),
        "bad time": json.dumps({**good, "eventTime": "yesterday"}),
        "naive time": json.dumps({**good, "eventTime": "2026-05-01T06:00:00"}),
        "bad offset": json.dumps({**good, "eventTimeZoneOffset": "8h"}),
        "bad type": json.dumps({**good, "type": "PartyEvent"}),
        "bad quantity": json.dumps(
            {**good, "quantityList": [{"epcClass": "x", "quantity": "lots"}]}
        ),
        "transformation with action": json.dumps(
            {
                "type": "TransformationEvent",
                "eventTime": "2026-05-01T06:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "action": "ADD",
                "inputEPCList": ["urn:epc:id:sgtin:0614141.107346.1"],
            }
        ),
    }
    for name, text in cases.items():
        with pytest.raises(MalformedEvent) as info:
            parse_document(text)
        assert info.value.code == "malformed_event", name


def test_a_failed_ingest_midway_rolls_back(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database failure while writing leaves nothing behind either."""
    from provenance import StoreError
    from provenance._store import DbNodeStore

    ledger = Ledger(store, registered())
    record(ledger, sample_story()[:1])
    before = counts(store)

    def boom(self, nodes):  # type: ignore[no-untyped-def]
        raise StoreError("disk full (simulated)")

    monkeypatch.setattr(DbNodeStore, "put_nodes", boom)
    step = sample_story()[1]
    with pytest.raises(StoreError):
        ledger.ingest(step.events, Signer(step.actor, demo_key(step.actor)))
    assert counts(store) == before
    monkeypatch.undo()
    ledger.ingest(step.events, Signer(step.actor, demo_key(step.actor)))
    assert ledger.size() == 2


def test_lot_heads_follow_split_and_merge(store: Store) -> None:
    ledger = Ledger(store, registered())
    record(ledger, sample_story())
    story = {s.seq: s for s in ledger.story(RETAIL_A)}
    from provenance import canonical_id

    heads = ledger.heads([canonical_id(PACKS), canonical_id(RETAIL_A)])
    assert heads[canonical_id(PACKS)] == story[7].hash_id
    assert heads[canonical_id(RETAIL_A)] == story[7].hash_id


def test_concurrent_imports_serialise(store: Store) -> None:
    """Two writers at once: both land, the log stays gapless and every proof verifies."""
    import threading

    ledger = Ledger(store, registered())
    stories = [sample_story(tag=f"07{i}0", day=f"2026-05-0{i + 1}") for i in range(4)]
    errors: list[BaseException] = []

    def write(story) -> None:  # type: ignore[no-untyped-def]
        try:
            record(ledger, story)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in stories]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert ledger.size() == 32
    mem = MerkleLog()
    mem.extend_hashes(s.leaf_hash for s in ledger.events(list(range(32))))
    assert ledger.head().root == mem.root()
    # same event from two writers at once: exactly one wins, the other is a replay
    step = sample_story(tag="0990")[0]
    outcomes: list[str] = []

    def dup() -> None:
        try:
            ledger.ingest(step.events, Signer(step.actor, demo_key(step.actor)))
            outcomes.append("ok")
        except Exception as exc:
            outcomes.append(getattr(exc, "code", repr(exc)))

    pair = [threading.Thread(target=dup) for _ in range(2)]
    for t in pair:
        t.start()
    for t in pair:
        t.join()
    assert sorted(outcomes) == ["ok", "replay_rejected"]


def test_replay_is_found_beyond_one_in_clause(store: Store) -> None:
    """Lookups run ``MAX_IN_CLAUSE`` values per query: a replay in a later chunk, and lot
    heads of a large import, are still found."""
    from benchmarks.bench_provenance import _logger_events
    from provenance import ReplayRejected
    from provenance._store import MAX_IN_CLAUSE

    ledger = Ledger(store, registered())
    carrier = Signer("carrier-coldline", demo_key("carrier-coldline"))
    n = MAX_IN_CLAUSE + 100
    first = _logger_events(n, 0, lots=n)  # every event on its own pallet: n lot heads
    ledger.ingest(first, carrier)
    fresh = _logger_events(n, n, lots=n)  # same pallets: every head is replaced
    ledger.ingest(fresh, carrier)
    heads = ledger.heads(named_lot(e) for e in fresh)
    assert len(heads) == n and set(heads.values()) == {e.hash_id for e in fresh}
    # proofs for every leaf: one node read of more keys than one IN clause holds
    mem = MerkleLog()
    mem.extend_hashes(s.leaf_hash for s in ledger.events(list(range(2 * n))))
    proofs, root = ledger.inclusion_proofs_and_root(range(2 * n), 2 * n)
    assert root == mem.root()
    assert proofs == mem.inclusion_proofs(range(2 * n), 2 * n)
    replayed = [*_logger_events(n, 2 * n, lots=n)[:-1], first[-1]]
    before = counts(store)
    with pytest.raises(ReplayRejected, match=re.escape(first[-1].hash_id)):
        ledger.ingest(replayed, carrier)
    assert counts(store) == before


def named_lot(event: object) -> str:
    from provenance._ledger import named_lots

    return named_lots(event.relations)[0]  # type: ignore[attr-defined]


def test_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    """A ledger stamped with a revision this release does not know is a typed error, not
    Alembic's own exception."""
    from provenance import StoreError

    url = f"sqlite:///{tmp_path / 'newer.db'}"
    Store.open(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE prov_alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(StoreError) as err:
        Store.open(url)
    assert err.value.code == "store_error"
    assert "9999" in str(err.value)


@pytest.mark.parametrize("schema", ['x"; DROP SCHEMA public; --', "Upper", "9lead", "a" * 64])
def test_bad_schema_name_is_refused_before_connecting(schema: str) -> None:
    """The schema name is spliced into ``CREATE SCHEMA`` and ``search_path`` (which folds
    case): anything but a plain lower-case identifier is refused, with no server needed."""
    from provenance import StoreError

    with pytest.raises(StoreError) as err:
        Store.open("postgresql+psycopg://nobody@127.0.0.1:1/none", schema=schema)
    assert err.value.code == "store_error"
    assert "bad schema name" in str(err.value)


def test_database_passwords_never_reach_error_messages() -> None:
    """Store errors reach logs and terminals: a URL's password is masked in them."""
    from provenance import StoreError

    with pytest.raises(StoreError) as err:
        Store.connect("nosuchdialect+x://bob:s3cret-pw@db.example/ledger")
    assert "s3cret-pw" not in str(err.value) and "bob:***@db.example" in str(err.value)
