"""Signed-request canonicalisation: every part of the request is covered by the signature."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from services.api._signing import decode_signature, sign_request, signature_valid

KEY = Ed25519PrivateKey.generate()
PUB = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@given(
    method=st.sampled_from(["POST", "PUT", "DELETE"]),
    path=st.text(min_size=1, max_size=40).map(lambda p: "/api/v1/" + p),
    body=st.binary(max_size=200),
    ts=st.integers(0, 2**40),
)
def test_round_trip_and_every_field_is_bound(method: str, path: str, body: bytes, ts: int) -> None:
    req = sign_request(KEY, "farm:a", method, path, body, timestamp=ts)
    sig = decode_signature(req.headers()["X-LT-Signature"])
    assert signature_valid(PUB, method, path, ts, req.nonce, body, sig)
    assert not signature_valid(PUB, "GET", path, ts, req.nonce, body, sig)
    assert not signature_valid(PUB, method, path + "x", ts, req.nonce, body, sig)
    assert not signature_valid(PUB, method, path, ts + 1, req.nonce, body, sig)
    assert not signature_valid(PUB, method, path, ts, req.nonce + "0", body, sig)
    assert not signature_valid(PUB, method, path, ts, req.nonce, body + b"\0", sig)
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert not signature_valid(other, method, path, ts, req.nonce, body, sig)


def test_garbage_signature_is_invalid_not_an_exception() -> None:
    assert not signature_valid(PUB, "POST", "/x", 1, "n" * 16, b"", b"short")
    assert not signature_valid(b"\x00" * 5, "POST", "/x", 1, "n" * 16, b"", b"\x00" * 64)
