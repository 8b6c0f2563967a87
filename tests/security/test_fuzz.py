"""Fuzzing (hypothesis) of everything that parses outside input: EPCIS import, canonical
hashing, proof-bundle and clip-manifest parsing, sealed key files, watermark payload decoding.

Properties: no crash (only the package's typed errors, each with a ``code``), verifiers
return a verdict instead of raising, and decoding noise never yields a mark. CI runs
``LIVETRUST_FUZZ_EXAMPLES`` examples per test (default 100); ``make bench`` runs 10x more.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts._keyfile import KeyFileError, load_secret, write_private
from provenance import (
    Anchorer,
    Ledger,
    ProvenanceError,
    Store,
    build_bundle,
    bundle_bytes,
    parse_document,
    to_document,
    verify_bundle,
)
from provenance._signing import canonical_json
from services._provenance_demo import sample_story
from tests.provenance.conftest import RETAIL_A, record, registered
from watermark import StreamerKey, WatermarkError
from watermark._payload import (
    CONST_CODED_BITS,
    ID_Z_THRESHOLD,
    TIME_CODED_BITS,
    TIME_Z_THRESHOLD,
    ConstPayload,
    IdentityCode,
    TimeCode,
    viterbi_decode,
)

EXAMPLES = int(os.environ.get("LIVETRUST_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(doc)
    node = out
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return out


def _mutated(doc: Any) -> st.SearchStrategy[Any]:
    """``doc`` with one field (at any depth) replaced by arbitrary JSON."""
    paths = _paths(doc)
    return st.tuples(st.sampled_from(paths), json_values).map(lambda pv: _replace(doc, *pv))


STORY_DOC = to_document([e for step in sample_story() for e in step.events])


# -- EPCIS import and canonical hashing -------------------------------------------------------


def _import(doc: Any) -> None:
    try:
        events = parse_document(doc)
    except ProvenanceError as exc:
        assert exc.code == "malformed_event"
        return
    for event in events:  # whatever parses must hash and serialise deterministically
        assert event.hash_id.startswith("ni:///sha-256;")
        assert canonical_json(event.body) == canonical_json(json.loads(canonical_json(event.body)))


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_epcis_import_of_arbitrary_bytes(data: bytes) -> None:
    _import(data)


@FUZZ
@given(json_values)
def test_epcis_import_of_arbitrary_json(doc: Any) -> None:
    _import(doc)


@FUZZ
@given(_mutated(STORY_DOC))
def test_epcis_import_of_a_mutated_real_document(doc: Any) -> None:
    _import(doc)


@FUZZ
@given(json_values)
def test_canonical_json_is_deterministic_and_order_free(value: Any) -> None:
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text
    if isinstance(value, dict):
        assert canonical_json(dict(reversed(list(value.items())))) == text


# -- proof bundles and clip manifests ---------------------------------------------------------

CHAIN = {
    "chain_id": 31337,
    "genesis_hash": "0x" + "ab" * 32,
    "anchor_registry": "0x" + "11" * 20,
    "actor_registry": "0x" + "22" * 20,
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    reg = registered()
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'b.db'}")
    ledger = Ledger(store, reg)
    record(ledger, sample_story())
    Anchorer(ledger, reg).anchor()
    doc = json.loads(bundle_bytes(build_bundle(ledger, RETAIL_A, CHAIN)))
    store.close()
    return doc, reg


def _verdict(data: bytes, reg: Any) -> None:
    v = verify_bundle(data, reg, reg, chain=CHAIN)  # must not raise, whatever the input
    assert v.ok == (not v.findings)
    assert all(f.code and f.code.islower() for f in v.findings)


@FUZZ
@given(data=st.binary(max_size=300))
def test_bundle_parsing_of_arbitrary_bytes(bundle: tuple[Any, Any], data: bytes) -> None:
    _verdict(data, bundle[1])


@FUZZ
@given(data=st.data())
def test_bundle_parsing_of_a_mutated_real_bundle(bundle: tuple[Any, Any], data: Any) -> None:
    doc, reg = bundle
    mutated = data.draw(_mutated(doc))
    text = canonical_json(mutated)
    same = text == canonical_json(doc)  # bytes, not ==: False == 0 in Python, not in JSON
    v = verify_bundle(text, reg, reg, chain=CHAIN)
    assert v.ok == same, f"ok={v.ok} for a {'same' if same else 'changed'} bundle"


@FUZZ
@given(doc=json_values)
def test_manifest_bundle_parsing_of_arbitrary_json(doc: Any) -> None:
    from watermark._manifest import check_bundle

    reg = registered()
    try:
        signed, findings, _ = check_bundle(doc, reg, reg)
    except WatermarkError as exc:
        assert exc.code
        return
    assert signed is None or findings  # arbitrary JSON never passes as a manifest
    assert findings and all(f.code for f in findings)


# -- key files and watermark payloads ---------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=400) | json_values.map(lambda v: json.dumps(v).encode()))
def test_key_file_parsing(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path: Path = tmp_path_factory.mktemp("kf") / "k.pem"
    armored = (
        b"-----BEGIN LIVETRUST ENCRYPTED KEY-----\n"
        + data
        + b"\n-----END LIVETRUST ENCRYPTED KEY-----\n"
    )
    for content in (data, armored):
        write_private(path, content, overwrite=True)
        with pytest.raises(KeyFileError) as err:
            load_secret(path, "ed25519", passphrase=b"fuzz")
        assert err.value.code in {"key_invalid", "key_unencrypted", "passphrase_invalid"}


KEY = StreamerKey("alice", bytes(range(32)))
IDENTITY = IdentityCode(KEY)
TIME = TimeCode(KEY)
# each decode correlates with 2**16 keyed codewords (~0.2 s here): a fifth of the examples
DECODE = settings(FUZZ, max_examples=max(10, EXAMPLES // 5))
soft_values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32)


@DECODE
@given(st.lists(soft_values, min_size=CONST_CODED_BITS, max_size=CONST_CODED_BITS))
def test_identity_decoding_of_noise_never_yields_a_mark(soft: list[float]) -> None:
    epoch, z = IDENTITY.decode(np.asarray(soft, dtype=np.float32))
    assert 0 <= epoch < 2**16 and np.isfinite(z)
    # a random vector correlates with a keyed codeword no better than chance (bound 8.4e-8)
    assert z < ID_Z_THRESHOLD or not np.any(soft)
    bits = viterbi_decode(np.asarray(soft, dtype=np.float64))
    payload = ConstPayload.from_bits(bits[:64])
    assert not payload.verifies(KEY) or not np.any(soft)


@DECODE
@given(st.lists(soft_values, min_size=TIME_CODED_BITS, max_size=TIME_CODED_BITS))
def test_time_decoding_of_noise_stays_below_threshold(soft: list[float]) -> None:
    scores = TIME.scores(np.asarray(soft, dtype=np.float32))
    assert scores.shape == (2**16,) and np.all(np.isfinite(scores))
    norm = float(np.linalg.norm(soft)) or 1.0
    assert float(scores.max()) / norm < TIME_Z_THRESHOLD


@FUZZ
@given(st.binary(min_size=32, max_size=32))
def test_a_guessed_key_never_verifies_a_payload(guess: bytes) -> None:
    """Forging: a payload made with a guessed secret for the same streamer fails the tag."""
    forged, _ = ConstPayload.at(StreamerKey("alice", guess), 1_767_225_600)
    assert forged.verifies(KEY) == (guess == KEY.secret)
