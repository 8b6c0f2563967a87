from __future__ import annotations

import stat
from pathlib import Path

import pytest

from watermark import KeyExists, KeyInvalid, KeyNotFound, KeyStore, PayloadInvalid


def test_register_creates_private_files(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key, pub = store.register("alice")
    assert len(pub) == 32 and len(key.secret) == 32
    for suffix in (".wm", ".ed25519"):
        mode = stat.S_IMODE((tmp_path / "keys" / "streamers" / f"alice{suffix}").stat().st_mode)
        assert mode == 0o600
    assert store.load("alice") == key
    assert store.public_key("alice") == pub
    assert store.names() == ["alice"]


def test_register_twice_and_missing(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.register("alice")
    with pytest.raises(KeyExists):
        store.register("alice")
    with pytest.raises(KeyNotFound) as e:
        store.load("bob")
    assert e.value.code == "key_not_found"


def test_bad_names_and_corrupt_files(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    for bad in ("", "../x", "a b", "x" * 65):
        with pytest.raises(PayloadInvalid):
            store.register(bad)
    store.register("alice")
    (tmp_path / "keys" / "streamers" / "alice.wm").write_text("{not json")
    with pytest.raises(KeyInvalid) as e:
        store.load("alice")
    assert e.value.code == "key_invalid"


def test_keys_are_independent(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    a, _ = store.register("alice")
    b, _ = store.register("bob")
    assert a.secret != b.secret
    assert not (a.signs("sync-tile", 256) == b.signs("sync-tile", 256)).all()
    assert a.derive("x") != a.derive("y")
