"""The key ring encrypted at rest under a key-encryption key (KEK), and rotating the KEK."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import pytest
from protection_helpers import assert_no_key_material

from pipelines.protection import (
    FileKeyProvider,
    KeyRing,
    MissingKeyError,
    Purpose,
    create_keyring,
    keyring_from_settings,
    rotate,
)
from pipelines.protection.command import register
from pipelines.protection.kek import KekError, kek_fingerprint, new_kek, parse_kek, seal
from pipelines.settings import Settings


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="pipelines")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


@pytest.fixture
def ring_file(clean_env: Path) -> tuple[Path, KeyRing]:
    path = clean_env / "keys.json"
    return path, create_keyring(path)


def test_encrypted_ring_holds_no_key_material_and_needs_the_kek(
    ring_file: tuple[Path, KeyRing], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, ring = ring_file
    kek = new_kek()
    monkeypatch.setenv("PIPELINES_KEK", kek)
    assert _run("keys", "encrypt", "--path", str(path)) == 0
    text = path.read_text()
    assert_no_key_material(text, ring)
    assert json.loads(text)["kek"] == kek_fingerprint(parse_kek(kek, "test"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FileKeyProvider(path).load().describe() == ring.describe()
    assert keyring_from_settings(Settings(key_file=path)).describe() == ring.describe()

    monkeypatch.delenv("PIPELINES_KEK")
    with pytest.raises(MissingKeyError, match="PIPELINES_KEK or the Airflow Variable"):
        FileKeyProvider(path).load()
    monkeypatch.setenv("PIPELINES_KEK", new_kek())
    with pytest.raises(KekError, match="encrypted under the KEK with fingerprint"):
        FileKeyProvider(path).load()


def test_rotate_kek_command_rewraps_without_changing_the_keys(
    ring_file: tuple[Path, KeyRing],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, ring = ring_file
    old, new = new_kek(), new_kek()
    monkeypatch.setenv("PIPELINES_KEK", old)
    assert _run("keys", "encrypt", "--path", str(path)) == 0
    assert _run("keys", "encrypt", "--path", str(path)) == 1  # already encrypted
    assert "rotate-kek" in capsys.readouterr().err

    assert _run("keys", "rotate-kek", "--path", str(path)) == 1
    assert "PIPELINES_KEK_NEW" in capsys.readouterr().err
    monkeypatch.setenv("PIPELINES_KEK_NEW", new)
    assert _run("keys", "rotate-kek", "--path", str(path)) == 0
    out = capsys.readouterr().out
    assert kek_fingerprint(parse_kek(new, "t")) in out and old not in out and new not in out

    with pytest.raises(KekError):
        FileKeyProvider(path).load()  # the old KEK no longer opens it
    monkeypatch.setenv("PIPELINES_KEK", new)
    loaded = FileKeyProvider(path).load()
    assert loaded.describe() == ring.describe()
    assert loaded.encryption.active == ring.encryption.active


def test_tampered_envelope_fails(ring_file: tuple[Path, KeyRing]) -> None:
    path, ring = ring_file
    kek = parse_kek(new_kek(), "t")
    envelope = json.loads(seal(ring.to_json(), kek))
    envelope["ciphertext"] = envelope["ciphertext"][:-8] + "AAAAAAA="
    path.write_text(json.dumps(envelope))
    with pytest.MonkeyPatch.context() as mp:
        import base64

        mp.setenv("PIPELINES_KEK", base64.b64encode(kek).decode())
        with pytest.raises(KekError, match="does not authenticate"):
            FileKeyProvider(path).load()


def test_rotating_a_key_keeps_the_ring_encrypted(
    ring_file: tuple[Path, KeyRing], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = ring_file
    monkeypatch.setenv("PIPELINES_KEK", new_kek())
    assert _run("keys", "encrypt", "--path", str(path)) == 0
    rotated = rotate(path, Purpose.ENCRYPTION)
    assert json.loads(path.read_text())["format"] == "pipelines-keyring-encrypted/1"
    assert_no_key_material(path.read_text(), rotated)
    assert FileKeyProvider(path).load().encryption.active_id == "e2"


def test_the_kek_can_come_from_airflows_secrets_backend(
    ring_file: tuple[Path, KeyRing], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Airflow's Variable lookup (here its environment backend, ``AIRFLOW_VAR_*``; Vault or a
    cloud secret manager when configured) serves the KEK when ``PIPELINES_KEK`` is unset."""
    path, ring = ring_file
    kek = new_kek()
    monkeypatch.setenv("PIPELINES_KEK", kek)
    assert _run("keys", "encrypt", "--path", str(path)) == 0
    monkeypatch.delenv("PIPELINES_KEK")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("AIRFLOW_VAR_PIPELINES_KEK", kek)
    assert FileKeyProvider(path).load().describe() == ring.describe()
