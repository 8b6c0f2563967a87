from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watermark import ConstPayload, PayloadInvalid, StreamerKey, TimeCode
from watermark._detect import Detector
from watermark._embed import Embedder
from watermark._payload import (
    CONST_CODED_BITS,
    CONST_INFO_BITS,
    EPOCH_SECONDS,
    ID_FALSE_ACCEPT,
    ID_Z_THRESHOLD,
    MARK_TIME_FLOOR,
    TIME_CODED_BITS,
    TIME_GROUPS,
    IdentityCode,
    check_mark_time,
    conv_encode,
    false_alarm,
    id_threshold,
    plausible_epochs,
    streamer_tag,
    time_false_alarm,
    viterbi_decode,
)

KEY = StreamerKey("alice", b"\x01" * 32)
OTHER = StreamerKey("alice", b"\x02" * 32)


def test_bit_budget() -> None:
    assert CONST_INFO_BITS == 64
    assert CONST_CODED_BITS == 3 * (64 + 6)
    assert TIME_CODED_BITS == 128


@given(st.integers(0, 2**32 - 1))
def test_payload_bits_round_trip(t: int) -> None:
    p, counter = ConstPayload.at(KEY, t)
    assert counter == t & 0xFFFF
    assert ConstPayload.from_bits(p.bits()) == p
    assert p.verifies(KEY)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**31))
def test_viterbi_corrects_noise(t: int, seed: int) -> None:
    p, _ = ConstPayload.at(KEY, t)
    coded = conv_encode(p.bits())
    rng = np.random.default_rng(seed)
    soft = (2.0 * coded - 1.0) + rng.normal(0.0, 0.5, coded.size)  # Es/N0 = 6 dB
    assert ConstPayload.from_bits(viterbi_decode(soft)) == p


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31))
def test_viterbi_is_scale_invariant_and_survives_erasures(seed: int) -> None:
    p, _ = ConstPayload.at(KEY, 1_767_225_600 + seed % 1000)
    coded = conv_encode(p.bits()).astype(float) * 2 - 1
    coded[np.random.default_rng(seed).choice(coded.size, 40, replace=False)] = 0.0
    assert ConstPayload.from_bits(viterbi_decode(coded * 1e-6)) == p


def test_tag_depends_on_key_and_name() -> None:
    p, _ = ConstPayload.at(KEY, 1_767_225_600)
    assert not p.verifies(OTHER)
    bob = StreamerKey("bob", KEY.secret)
    assert not p.verifies(bob)
    forged = ConstPayload(p.streamer, p.epoch + 1, p.tag)
    assert not forged.verifies(KEY)


def test_streamer_field_is_name_hash() -> None:
    p, _ = ConstPayload.at(KEY, 0)
    assert p.streamer == streamer_tag("alice")


@pytest.mark.parametrize("t", [-1, 2**32])
def test_time_out_of_range(t: int) -> None:
    with pytest.raises(PayloadInvalid) as e:
        ConstPayload.at(KEY, t)
    assert e.value.code == "payload_invalid"


def test_time_code_ml_decodes_and_is_keyed() -> None:
    tc, other = TimeCode(KEY), TimeCode(OTHER)
    rng = np.random.default_rng(1)
    for counter in (0, 1, 777, 65535):
        word = tc.encode(counter).astype(float) * 2 - 1
        assert np.array_equal(word, tc.codebook[counter])
        # neighbours differ in one group only, so exact ML needs a cleaner word than a
        # random code would; +-1 s is what the detector is asked for
        soft = word + rng.normal(0.0, 0.4, word.size)
        assert int(np.argmax(tc.scores(soft))) == counter
        soft = word + rng.normal(0.0, 1.5, word.size)
        c = int(np.argmax(tc.scores(soft)))
        assert min((c - counter) % EPOCH_SECONDS, (counter - c) % EPOCH_SECONDS) <= 2
    assert not np.array_equal(tc.codebook[5], other.codebook[5])


@settings(max_examples=50, deadline=None)
@given(st.integers(0, EPOCH_SECONDS - 1))
def test_time_code_rewrites_one_group_per_second(counter: int) -> None:
    """The rolling code: second c + 1 rewrites group (c + 1) % TIME_GROUPS only (what keeps
    the re-encoder's cost and the evidence per group), and words TIME_GROUPS seconds apart
    share no group (independent random words), across the epoch's wrap too."""
    tc = TimeCode(KEY)
    a, b = tc.encode(counter), tc.encode((counter + 1) % EPOCH_SECONDS)
    n = TIME_CODED_BITS // TIME_GROUPS
    changed = {i // n for i in np.flatnonzero(a != b)}
    assert changed <= {(counter + 1) % TIME_GROUPS}
    far = tc.encode((counter + TIME_GROUPS) % EPOCH_SECONDS)
    same = [
        np.array_equal(a[g * n : (g + 1) * n], far[g * n : (g + 1) * n]) for g in range(TIME_GROUPS)
    ]
    assert sum(same) <= 2  # a 16-bit group repeats by chance with p = 2**-16 each


def test_false_alarm_bound() -> None:
    assert time_false_alarm(6.0) < 1e-4
    assert time_false_alarm(0.0) == 1.0


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_pattern_products_match_numpy(rows: int, inner: int, transposed: bool, seed: int) -> None:
    """The renders go through OpenCV's gemm (no BLAS threads); same numbers as numpy's @."""
    from watermark._patterns import sandwich

    rng = np.random.default_rng(seed)
    r = rng.normal(size=(inner, rows) if transposed else (rows, inner))
    x = rng.normal(size=(inner, inner)).astype(np.float32)
    want = r.T @ x @ r if transposed else r @ x @ r.T
    assert np.allclose(sandwich(r, x, transposed=transposed), want, rtol=1e-9, atol=1e-9)


# --- the epochs a mark can carry, and the identity bar they allow --------------------------
NOW = 1_796_400_000.0  # 2026-12-04


@given(st.integers(1, 1 << 16))
def test_identity_bar_keeps_the_full_search_false_accept_bound(k: int) -> None:
    """Whatever the number of epochs searched, the union bound stays 8.4e-8 per attempt; the
    bar falls as the search narrows (7.0 over all 2**16, lower over fewer)."""
    z = id_threshold(k)
    assert false_alarm(z, k) == pytest.approx(ID_FALSE_ACCEPT, rel=1e-6)
    assert z <= ID_Z_THRESHOLD + 1e-9
    if k < 1 << 15:
        assert z < id_threshold(2 * k)


def test_plausible_epochs_run_from_the_floor_to_a_day_ahead() -> None:
    e = plausible_epochs(NOW)
    assert e.start == MARK_TIME_FLOOR >> 16 and (int(NOW) + 86_400) >> 16 == e.stop - 1
    assert 900 < len(e) < 1000 and 6.3 < id_threshold(len(e)) < 6.45
    assert plausible_epochs(0.0) == range(MARK_TIME_FLOOR >> 16, (MARK_TIME_FLOOR >> 16) + 1)


def test_the_embedder_refuses_times_the_detector_would_not_search() -> None:
    check_mark_time(MARK_TIME_FLOOR, NOW)
    check_mark_time(int(NOW) + 86_000, NOW)
    with pytest.raises(PayloadInvalid, match="before 1735689600"):
        check_mark_time(MARK_TIME_FLOOR - 1, NOW)
    with pytest.raises(PayloadInvalid, match="more than a day ahead"):
        check_mark_time(int(NOW) + 90_000, NOW)
    with pytest.raises(PayloadInvalid, match="before"):
        Embedder(KEY, 0, 64, 64)


def _soft_at(epoch: int, z: float, seed: int) -> np.ndarray:
    """Constant soft bits whose codeword correlation for ``epoch`` is about ``z``."""
    word = IdentityCode(KEY).codebook[epoch].astype(np.float64)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, word.size)
    noise -= word * (noise @ word) / (word @ word)  # orthogonal: the z is exactly set
    amp = z * np.linalg.norm(noise) / np.sqrt(word.size * (word.size - z * z))
    return np.asarray(amp * word + noise)


def test_detector_accepts_a_weak_identity_only_among_plausible_epochs() -> None:
    """A z of 6.6 clears the narrowed bar (6.38) but not the full search's 7.0; the same
    strength on an epoch outside the searched range is never accepted."""
    det = Detector(KEY, now=NOW)
    inside = 1_767_225_600 >> 16
    soft = _soft_at(inside, 6.6, 1)
    assert IdentityCode(KEY).decode(soft)[1] == pytest.approx(6.6, abs=1e-3)
    p = det.decode_identity(soft)
    assert p is not None and p.epoch == inside and p.verifies(KEY)
    assert IdentityCode(KEY).decode(soft)[1] < ID_Z_THRESHOLD  # the old bar missed it
    outside = (MARK_TIME_FLOOR >> 16) - 5
    strong = _soft_at(outside, 12.0, 2)
    assert IdentityCode(KEY).decode(strong) == (outside, pytest.approx(12.0, abs=1e-3))
    assert det.decode_identity(strong) is None
    assert det.decode_identity(_soft_at(inside, 6.2, 3)) is None


@settings(max_examples=20, deadline=None)
@given(st.integers(0, (1 << 16) - 40), st.integers(1, 40))
def test_identity_rows_are_the_codebook_s(lo: int, n: int) -> None:
    """The detector builds only the epochs it searches (``IdentityCode.rows``); they are the
    whole book's rows, and a single codeword read from them or afresh is the same."""
    book = _FULL_BOOK.codebook
    code = IdentityCode(KEY)
    assert np.array_equal(code.rows(lo, lo + n), book[lo : lo + n])
    assert np.array_equal(code.codeword(lo + n - 1), book[lo + n - 1])
    assert np.array_equal(IdentityCode(KEY).codeword(lo), book[lo])


_FULL_BOOK = IdentityCode(KEY)
