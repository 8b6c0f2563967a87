"""Proof bundles: verified with no database; every single-field change and every byte change
gives ok=false with a specific finding."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import RETAIL_A, record, registered

from provenance import (
    Anchorer,
    Ledger,
    MemoryRegistry,
    Store,
    build_bundle,
    bundle_bytes,
    verify_bundle,
)
from services._provenance_demo import sample_story

CHAIN = {
    "chain_id": 31337,
    "genesis_hash": "0x" + "ab" * 32,
    "anchor_registry": "0x" + "11" * 20,
    "actor_registry": "0x" + "22" * 20,
}


def check(data: bytes, reg: MemoryRegistry):  # type: ignore[no-untyped-def]
    return verify_bundle(data, reg, reg, chain=CHAIN)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, MemoryRegistry]:
    tmp = tmp_path_factory.mktemp("bundle")
    reg = registered()
    store = Store.open(f"sqlite:///{tmp / 'b.db'}")
    ledger = Ledger(store, reg)
    record(ledger, sample_story())
    Anchorer(ledger, reg).anchor()
    data = bundle_bytes(build_bundle(ledger, RETAIL_A, CHAIN))
    store.close()
    (tmp / "b.db").unlink()  # the verifier below has no database at all
    return data, reg


def test_bundle_verifies_offline(bundle: tuple[bytes, MemoryRegistry]) -> None:
    data, reg = bundle
    v = check(data, reg)
    assert v.ok and v.anchored and v.events == 8, v.findings
    assert len(data) < 16_000  # a few KB for the 8-event demo batch
    doc = json.loads(data)
    assert doc["format"] == "livetrust.provenance.bundle/3"
    assert doc["anchor"]["tx_hash"].startswith("0x")
    assert {s["actor"] for s in doc["signers"]} == {s.actor for s in sample_story()}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))
    else:
        yield prefix


def _mutate(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.0
    if value is None:
        return "x"
    if value == "":
        return "0"
    last = value[-1]
    return value[:-1] + (
        "1"
        if last == "0"
        else "0"
        if last.isdigit() or last in "abcdef"
        else "q"
        if last != "q"
        else "r"
    )


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for p in path[:-1]:
        doc = doc[p]
    doc[path[-1]] = value


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def test_every_single_field_change_fails_with_a_specific_finding(
    bundle: tuple[bytes, MemoryRegistry],
) -> None:
    data, reg = bundle
    original = json.loads(data)
    paths = list(_paths(original))
    assert len(paths) > 150
    for path in paths:
        doc = json.loads(data)
        _set(doc, path, _mutate(_get(doc, path)))
        v = check(bundle_bytes(doc), reg)
        assert not v.ok, f"change at {path} went unnoticed"
        assert v.codes - {"bundle_not_canonical"}, f"change at {path}: only {v.codes}"


def test_dropping_any_event_fails(bundle: tuple[bytes, MemoryRegistry]) -> None:
    data, reg = bundle
    n = len(json.loads(data)["events"])
    found = []
    for i in range(n):
        doc = json.loads(data)
        del doc["events"][i]
        v = check(bundle_bytes(doc), reg)
        assert not v.ok, f"dropping event {i} went unnoticed"
        found.append(v.codes)
    assert any("chain_broken" in c for c in found)
    assert any("missing_step" in c for c in found)


def test_byte_changes_fail(bundle: tuple[bytes, MemoryRegistry]) -> None:
    data, reg = bundle
    rng = random.Random(20260501)
    for pos in rng.sample(range(len(data)), 250):
        bit = 1 << rng.randrange(8)
        changed = data[:pos] + bytes([data[pos] ^ bit]) + data[pos + 1 :]
        v = check(changed, reg)
        assert not v.ok, f"byte {pos} flipped ({data[pos - 20 : pos + 20]!r}) went unnoticed"


def test_whitespace_and_key_order_edits_are_not_canonical(
    bundle: tuple[bytes, MemoryRegistry],
) -> None:
    data, reg = bundle
    pretty = json.dumps(json.loads(data), indent=1).encode()
    assert check(pretty, reg).codes == {"bundle_not_canonical"}


@pytest.mark.parametrize("text", [b"", b"{", b"[]", b'{"format": "other"}', b"\xff\xfe"])
def test_garbage_is_bundle_malformed(text: bytes, bundle: tuple[bytes, MemoryRegistry]) -> None:
    v = verify_bundle(text, bundle[1], bundle[1])
    assert v.codes == {"bundle_malformed"} and not v.ok


def test_bundle_against_an_unanchored_chain(bundle: tuple[bytes, MemoryRegistry]) -> None:
    data, _ = bundle
    v = verify_bundle(data, registered(), registered(), chain=CHAIN)
    assert v.codes == {"root_not_on_chain"}
    other = {**CHAIN, "chain_id": 1}
    assert verify_bundle(data, bundle[1], bundle[1], chain=other).codes == {"anchor_mismatch"}


def test_bundle_file_path(bundle: tuple[bytes, MemoryRegistry], tmp_path: Path) -> None:
    p = tmp_path / "bundle.json"
    p.write_bytes(bundle[0])
    assert verify_bundle(p, bundle[1], bundle[1]).ok


def test_gzipped_bundle_verifies_and_byte_changes_fail(
    bundle: tuple[bytes, MemoryRegistry],
) -> None:
    import gzip

    data, reg = bundle
    packed = gzip.compress(data, mtime=0)
    assert len(packed) < len(data) / 2
    assert check(packed, reg).ok
    rng = random.Random(7)
    for pos in rng.sample(range(len(packed)), 150):
        changed = packed[:pos] + bytes([packed[pos] ^ (1 << rng.randrange(8))]) + packed[pos + 1 :]
        assert not check(changed, reg).ok, f"gzip byte {pos} flipped went unnoticed"
    assert check(packed[:-5], reg).codes == {"bundle_malformed"}


def test_gzip_bomb_is_malformed(bundle: tuple[bytes, MemoryRegistry]) -> None:
    import gzip

    from provenance._bundle import MAX_BUNDLE_BYTES

    bomb = gzip.compress(b" " * (MAX_BUNDLE_BYTES + 1), mtime=0)
    assert check(bomb, bundle[1]).codes == {"bundle_malformed"}


def test_dispute_evidence_reads_a_real_bundle(bundle: tuple[bytes, MemoryRegistry]) -> None:
    from services._evidence import EvidenceDoc, EvidenceKind

    data, _ = bundle
    doc = EvidenceDoc.from_bytes(data, "proof-bundle.json")
    assert doc.kind is EvidenceKind.PROOF_BUNDLE
    facts = doc.provenance()
    assert facts is not None
    ids = [e.hash_id for e in facts.events]
    expected = [s.hash_id for s in json_events(data)]
    assert ids == expected


def json_events(data: bytes) -> list[Any]:
    from provenance import Event

    doc = json.loads(data)
    return [
        Event.from_json(e["event"], doc["namespaces"][e["namespaces"]] if "namespaces" in e else {})
        for e in doc["events"]
    ]


@pytest.mark.parametrize("old", ["livetrust.provenance.bundle/1", "livetrust.provenance.bundle/2"])
def test_retired_formats_are_refused_by_name(
    old: str, bundle: tuple[bytes, MemoryRegistry]
) -> None:
    doc = json.loads(bundle[0])
    doc["format"] = old
    v = check(bundle_bytes(doc), bundle[1])
    assert v.codes == {"bundle_malformed"}
    assert "no longer read" in v.findings[0].detail


def test_proof_is_one_multiproof_against_one_tree_head(
    bundle: tuple[bytes, MemoryRegistry],
) -> None:
    """Shared nodes once: the proof holds exactly the multiproof hashes of the events'
    leaves, fewer than their audit paths together; one tree head in the anchor."""
    import base64

    from provenance._merkle import inclusion_ranges, multiproof_ranges

    doc = json.loads(bundle[0])
    size = doc["anchor"]["tree_size"]
    leaves = [e["leaf"] for e in doc["events"]]
    proof = base64.b64decode(doc["proof"])
    assert len(proof) == 32 * len(multiproof_ranges(leaves, size))
    paths = {r for i in leaves for r in inclusion_ranges(i, size)}
    assert len(proof) // 32 < len(paths)
    assert "tree_head" not in doc and {"root", "tree_size"} <= set(doc["anchor"])
    # a proof one hash short or long is an inclusion failure, not a crash
    for changed in ([proof[:-32]] if proof else []) + [proof + bytes(32)]:
        doc["proof"] = base64.b64encode(changed).decode()
        assert "inclusion_proof_invalid" in check(bundle_bytes(doc), bundle[1]).codes
