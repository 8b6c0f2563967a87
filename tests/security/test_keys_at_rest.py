"""Private keys at rest: sealed with the passphrase, 0600 from the first byte, refused when
exposed, never printed; plain keys of earlier versions refused until `livetrust keys encrypt`.
The registrar key: only its salted hash at rest, shown once, the same refusals and migration."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from contracts import _keyfile
from contracts._keyfile import (
    PASSPHRASE_ENV,
    PASSPHRASE_FILE_ENV,
    KeyFileExposed,
    KeyFileInvalid,
    KeyFileUnencrypted,
    PassphraseInvalid,
    PassphraseRequired,
    load_secret,
    write_private,
)
from provenance import KeyPair
from services.cli import app
from watermark import KeyStore

PHRASE = os.environ[PASSPHRASE_ENV]  # set for the whole suite by tests/conftest.py


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _seed(key: KeyPair) -> bytes:
    return key._private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _leaks(text: str, secret: bytes) -> bool:
    forms = (secret.hex(), base64.b64encode(secret).decode(), PHRASE)
    return any(f in text for f in forms)


def test_actor_key_sealed_0600_and_round_trips(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = tmp_path / "keys" / "farm.pem"
    key.save(path)
    data = path.read_text()
    assert data.startswith("-----BEGIN LIVETRUST ENCRYPTED KEY-----")
    assert not _leaks(data, _seed(key))
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert KeyPair.load(path).public_key == key.public_key
    assert [p.name for p in path.parent.iterdir()] == ["farm.pem"]  # no temp file left


def test_streamer_keys_sealed_and_bound_to_the_name(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key, pub = store.register("alice")
    for suffix in (".wm", ".ed25519"):
        f = store.dir / f"alice{suffix}"
        assert _mode(f) == 0o600
        assert not _leaks(f.read_text(), key.secret)
    assert store.load("alice") == key and store.public_key("alice") == pub
    # a file copied under another streamer's name does not pass as that streamer's key
    os.link(store.dir / "alice.wm", store.dir / "bob.wm")
    with pytest.raises(Exception) as e:
        store.load("bob")
    assert e.value.code == "key_invalid"  # type: ignore[attr-defined]


def test_wrong_passphrase_and_altered_header_fail_without_echoing(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = tmp_path / "k.pem"
    key.save(path)
    with pytest.raises(PassphraseInvalid) as e:
        KeyPair.load(path, passphrase=b"not-the-passphrase")
    assert e.value.code == "passphrase_invalid" and PHRASE not in str(e.value)
    # the header is authenticated: claim another public key, keep the ciphertext
    text = path.read_text().splitlines()
    doc = json.loads(base64.b64decode("".join(text[1:-1])))
    doc["meta"]["public_key"] = "00" * 32
    body = base64.encodebytes(json.dumps(doc).encode()).decode()
    write_private(path, f"{text[0]}\n{body}{text[-1]}\n".encode(), overwrite=True)
    with pytest.raises(PassphraseInvalid):
        KeyPair.load(path)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o602])
def test_group_or_world_access_is_refused(tmp_path: Path, mode: int) -> None:
    key = KeyPair.generate()
    path = tmp_path / "k.pem"
    key.save(path)
    os.chmod(path, mode)
    with pytest.raises(KeyFileExposed) as e:
        KeyPair.load(path)
    assert e.value.code == "key_file_exposed" and "chmod 600" in str(e.value)
    store = KeyStore(tmp_path)
    store.register("alice")
    os.chmod(store.dir / "alice.ed25519", mode)
    with pytest.raises(KeyFileExposed):
        store.signing_key("alice")


def test_writes_are_atomic_and_private_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, bool]] = []
    real_replace, real_link = os.replace, os.link

    def spy(fn):  # type: ignore[no-untyped-def]
        def wrapped(src, dst, *a, **kw):  # type: ignore[no-untyped-def]
            # at the moment the final name appears, the content is complete and 0600
            seen.append((_mode(Path(src)), Path(src).read_bytes().endswith(b"KEY-----\n")))
            return fn(src, dst, *a, **kw)

        return wrapped

    monkeypatch.setattr(_keyfile.os, "replace", spy(real_replace))
    monkeypatch.setattr(_keyfile.os, "link", spy(real_link))
    old = os.umask(0)
    try:
        KeyPair.generate().save(tmp_path / "a.pem")
        KeyStore(tmp_path).register("alice")
    finally:
        os.umask(old)
    assert seen == [(0o600, True)] * 3
    for f in [tmp_path / "a.pem", *(tmp_path / "keys" / "streamers").iterdir()]:
        assert _mode(f) == 0o600
    # create-only never clobbers: a second register keeps the first keys
    first = (tmp_path / "keys" / "streamers" / "alice.wm").read_bytes()
    with pytest.raises(FileExistsError):
        write_private(tmp_path / "keys" / "streamers" / "alice.wm", b"x", overwrite=False)
    assert (tmp_path / "keys" / "streamers" / "alice.wm").read_bytes() == first
    assert not list(tmp_path.rglob("*.tmp"))


def test_passphrase_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = KeyPair.generate()
    path = tmp_path / "k.pem"
    key.save(path)
    monkeypatch.delenv(PASSPHRASE_ENV)
    _keyfile._cache.clear()
    with pytest.raises(PassphraseRequired) as e:  # no env, no terminal under pytest
        KeyPair.load(path)
    assert PASSPHRASE_ENV in str(e.value)
    secret_file = tmp_path / "passphrase"
    secret_file.write_text(PHRASE + "\n")
    monkeypatch.setenv(PASSPHRASE_FILE_ENV, str(secret_file))
    assert KeyPair.load(path).public_key == key.public_key
    monkeypatch.setenv(PASSPHRASE_FILE_ENV, str(tmp_path / "missing"))
    with pytest.raises(PassphraseRequired):
        KeyPair.load(path, passphrase=None)


def test_crafted_files_are_rejected_quickly(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = tmp_path / "k.pem"
    key.save(path)
    text = path.read_text().splitlines()
    doc = json.loads(base64.b64decode("".join(text[1:-1])))
    for field, value in [("n", 2**30), ("n", 3), ("r", 1000), ("p", 99), ("n", "16384")]:
        bad = json.loads(json.dumps(doc))
        bad["kdf"][field] = value
        body = base64.encodebytes(json.dumps(bad).encode()).decode()
        write_private(path, f"{text[0]}\n{body}{text[-1]}\n".encode(), overwrite=True)
        with pytest.raises(KeyFileInvalid):
            KeyPair.load(path)
    write_private(path, b"garbage", overwrite=True)
    with pytest.raises(KeyFileInvalid):
        load_secret(path, "ed25519")


def test_secrets_never_in_repr_logs_or_json(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = KeyPair.generate()
    key.save(tmp_path / "k.pem")
    KeyPair.load(tmp_path / "k.pem")
    assert not _leaks(repr(key), _seed(key)) and key.public_key.hex() in repr(key)
    env = {"LIVETRUST_HOME": str(tmp_path / "home")}
    out = CliRunner().invoke(app, ["streamer", "register", "alice", "--offline", "--json"], env=env)
    assert out.exit_code == 0, out.output
    wm = KeyStore(tmp_path / "home").load("alice")
    signing = KeyStore(tmp_path / "home").signing_key("alice")
    seed = signing.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert not _leaks(repr(wm), wm.secret)
    for text in (out.output, caplog.text):
        assert (
            not _leaks(text, wm.secret) and not _leaks(text, seed) and not _leaks(text, _seed(key))
        )


def test_cli_writer_refuses_exposed_key_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("served with an exposed key"))
    env = {"LIVETRUST_HOME": str(tmp_path)}
    KeyStore(tmp_path).register("alice")
    os.chmod(tmp_path / "keys" / "streamers" / "alice.wm", 0o644)
    runner = CliRunner()
    args = ["watermark", "embed", "in.mp4", "out.mp4", "--streamer", "alice"]
    human = runner.invoke(app, args, env=env)
    assert human.exit_code == 2
    lines = human.stderr.strip().splitlines() if human.stderr else human.output.strip().splitlines()
    assert len(lines) == 1 and "[key_file_exposed]" in lines[0] and "Traceback" not in human.output
    machine = runner.invoke(app, [*args, "--json"], env=env)
    assert json.loads(machine.stdout)["error"]["code"] == "key_file_exposed"
    # `livetrust serve` checks every key file before it starts
    served = runner.invoke(app, ["serve", "--port", "1"], env=env)
    assert served.exit_code == 2 and "key_file_exposed" in served.output
    bad = runner.invoke(app, ["keys", "status", "--json"], env=env)
    assert bad.exit_code == 2
    rows = {Path(r["path"]).name: r for r in json.loads(bad.stdout)}
    assert rows["alice.wm"]["exposed"] and rows["alice.wm"]["mode"] == "0644"
    assert rows["alice.ed25519"] == rows["alice.ed25519"] | {"state": "encrypted", "exposed": False}


def test_plain_keys_of_earlier_versions_are_refused_then_migrated(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    (keys / "streamers").mkdir(parents=True)
    plain = Ed25519PrivateKey.generate()
    pem = plain.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (keys / "farm.pem").write_bytes(pem)
    os.chmod(keys / "farm.pem", 0o600)
    secret = bytes(range(32))
    legacy = {"format": "livetrust-wm-key-v1", "streamer": "alice", "secret": secret.hex()}
    (keys / "streamers" / "alice.wm").write_text(json.dumps(legacy))
    os.chmod(keys / "streamers" / "alice.wm", 0o644)  # written loosely by hand
    os.chmod(keys / "farm.pem", 0o600)
    with pytest.raises(KeyFileUnencrypted) as e:
        KeyPair.load(keys / "farm.pem")
    assert "livetrust keys encrypt" in str(e.value)
    env = {"LIVETRUST_HOME": str(tmp_path)}
    runner = CliRunner()
    out = runner.invoke(app, ["keys", "encrypt", "--json"], env=env)
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.stdout)["sealed"]) == 2
    assert not _leaks(out.output, secret)
    pub = plain.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert KeyPair.load(keys / "farm.pem").public_key == pub
    assert KeyStore(tmp_path).load("alice").secret == secret
    status = runner.invoke(app, ["keys", "status", "--json"], env=env)
    assert status.exit_code == 0
    assert {r["state"] for r in json.loads(status.stdout)} == {"encrypted"}
    again = runner.invoke(app, ["keys", "encrypt", "--json"], env=env)
    assert json.loads(again.stdout) == {"sealed": [], "already_sealed": 2}


# -- the registrar key (services/api/_auth.py) ------------------------------------------------

REGISTER = "/api/v1/actors"
BAD_BODY = {"id": "../etc", "role": "farm"}  # passes the registrar check, then 422


def _registrar_answers(home: Path, compile_cache: Path, key: str) -> tuple[int, int]:
    """(status with ``key``, status with another key) of a registration the registrar check
    passes and the body check refuses: no chain write needed to tell the two apart."""
    from fastapi.testclient import TestClient

    from services.api import create_app
    from services.config import Settings

    with TestClient(create_app(Settings(home=home, cache=compile_cache))) as client:
        right = client.post(REGISTER, json=BAD_BODY, headers={"Authorization": f"Bearer {key}"})
        wrong = client.post(REGISTER, json=BAD_BODY, headers={"Authorization": "Bearer lt_x"})
    return right.status_code, wrong.status_code


def test_registrar_key_is_shown_once_and_kept_only_as_a_salted_hash(
    tmp_path: Path,
    compile_cache: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from services.api._auth import ADMIN_KEY_FORMAT, AdminKey

    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    with_key = _registrar_answers(home, compile_cache, "lt_not_yet_known")
    shown = capsys.readouterr().err
    (key,) = [w for w in shown.split() if w.startswith("lt_admin_")]
    assert with_key == (403, 403)
    path = home / "admin.key"
    doc = json.loads(path.read_text())
    assert _mode(path) == 0o600 and doc["format"] == ADMIN_KEY_FORMAT
    assert key not in path.read_text() and key not in caplog.text
    assert AdminKey.from_file(path, path.read_bytes()).matches(key)
    # the next start shows nothing and takes the same key
    assert _registrar_answers(home, compile_cache, key) == (422, 403)
    assert "lt_admin_" not in capsys.readouterr().err
    # salted: the same key gives another file in another home
    assert AdminKey.of(key).to_file() != AdminKey.of(key).to_file()


def test_new_registrar_key_from_the_cli_replaces_the_old(
    tmp_path: Path, compile_cache: Path
) -> None:
    env = {"LIVETRUST_HOME": str(tmp_path)}
    first = CliRunner().invoke(app, ["keys", "admin", "--json"], env=env)
    second = CliRunner().invoke(app, ["keys", "admin"], env=env)
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    old = json.loads(first.stdout)["admin_key"]
    (new,) = [w for w in second.output.split() if w.startswith("lt_admin_")]
    assert old != new and old not in (tmp_path / "admin.key").read_text()
    assert _mode(tmp_path / "admin.key") == 0o600
    assert _registrar_answers(tmp_path, compile_cache, new) == (422, 403)
    assert _registrar_answers(tmp_path, compile_cache, old)[0] == 403


@pytest.mark.parametrize("mode", [0o644, 0o620, 0o604])
def test_exposed_registrar_key_file_is_refused(
    tmp_path: Path, compile_cache: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    """Group or others may read or write it: refused like every key file (whoever can write
    it can name their own registrar key)."""
    import uvicorn

    from services.api._auth import load_admin_key, new_admin_key

    new_admin_key(tmp_path, replace=False)
    os.chmod(tmp_path / "admin.key", mode)
    with pytest.raises(KeyFileExposed, match="chmod 600"):
        load_admin_key(tmp_path, None)
    with pytest.raises(KeyFileExposed):
        _registrar_answers(tmp_path, compile_cache, "lt_x")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("served with an exposed key"))
    served = CliRunner().invoke(
        app, ["serve", "--port", "1"], env={"LIVETRUST_HOME": str(tmp_path)}
    )
    assert served.exit_code == 2 and "key_file_exposed" in served.output
    assert "Traceback" not in served.output
    # status names it (and fails) instead of refusing to look
    status = CliRunner().invoke(
        app, ["keys", "status", "--json"], env={"LIVETRUST_HOME": str(tmp_path)}
    )
    (row,) = json.loads(status.stdout)
    assert status.exit_code == 2 and row["kind"] == "registrar" and row["exposed"]
    assert row["mode"] == f"{mode:04o}" and row["state"] == "hashed"


def test_plain_registrar_key_of_an_earlier_version_is_refused_then_migrated(
    tmp_path: Path, compile_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An earlier version wrote the key itself into admin.key: refused with the command that
    fixes it; `livetrust keys encrypt` replaces it by its hash, and the same key still works."""
    import uvicorn

    from services.api._auth import load_admin_key

    old = "lt_admin_" + "k" * 43
    (tmp_path / "admin.key").write_text(old + "\n")
    os.chmod(tmp_path / "admin.key", 0o600)
    with pytest.raises(KeyFileUnencrypted, match="livetrust keys encrypt"):
        load_admin_key(tmp_path, None)
    env = {"LIVETRUST_HOME": str(tmp_path)}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("served with a plain key"))
    served = CliRunner().invoke(app, ["serve", "--port", "1"], env=env)
    assert served.exit_code == 2 and "key_unencrypted" in served.output
    assert old not in served.output
    status = CliRunner().invoke(app, ["keys", "status", "--json"], env=env)
    assert status.exit_code == 2 and json.loads(status.stdout)[0]["state"] == "unencrypted"
    assert old not in status.output
    out = CliRunner().invoke(app, ["keys", "encrypt", "--json"], env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["admin_key_hashed"] == str(tmp_path / "admin.key")
    assert old not in out.output and old not in (tmp_path / "admin.key").read_text()
    assert _mode(tmp_path / "admin.key") == 0o600
    assert _registrar_answers(tmp_path, compile_cache, old) == (422, 403)
    again = CliRunner().invoke(app, ["keys", "encrypt", "--json"], env=env)
    assert json.loads(again.stdout) == {"sealed": [], "already_sealed": 0}
    status = CliRunner().invoke(app, ["keys", "status", "--json"], env=env)
    assert status.exit_code == 0 and json.loads(status.stdout)[0]["state"] == "hashed"


def test_registrar_key_file_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    from services.api._auth import load_admin_key

    for junk in ("", "{}", '{"format": "livetrust-admin-key-sha256-v1", "salt": "zz"}', "\x00"):
        write_private(tmp_path / "admin.key", junk.encode(), overwrite=True)
        with pytest.raises(KeyFileInvalid):
            load_admin_key(tmp_path, None)
