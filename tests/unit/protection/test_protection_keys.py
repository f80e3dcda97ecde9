from __future__ import annotations

import json
import pickle
import stat
from pathlib import Path

import pytest
from protection_helpers import assert_no_key_material
from pydantic import SecretStr

from pipelines.protection import (
    EnvKeyProvider,
    FileKeyProvider,
    KeyFileExistsError,
    KeyFileNotFoundError,
    KeyFilePermissionError,
    KeyLengthError,
    KeyRing,
    KeyRingFormatError,
    MissingKeyError,
    Purpose,
    StaticKeyProvider,
    UnknownKeyIdError,
    create_keyring,
    keyring_from_settings,
    rotate,
)
from pipelines.settings import Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_keyring_writes_0600_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "keys.json"
    ring = create_keyring(path)
    assert _mode(path) == 0o600
    before = path.read_bytes()
    data = json.loads(before)
    assert data["format"] == 1
    assert data["pseudonymization"]["active"] == "p1"
    assert data["encryption"]["active"] == "e1"
    assert "do not use in production" in data["note"]
    with pytest.raises(KeyFileExistsError, match=str(path)):
        create_keyring(path)
    assert path.read_bytes() == before
    loaded = FileKeyProvider(path).load()
    assert loaded.describe() == ring.describe()
    assert loaded.pseudonymization.active == ring.pseudonymization.active


def test_key_lengths(keyring: KeyRing) -> None:
    assert len(keyring.pseudonymization.active.secret) == 32
    assert len(keyring.encryption.active.secret) == 64
    assert (
        keyring.pseudonymization.active.secret != keyring.generate().pseudonymization.active.secret
    )


def test_rotate_adds_active_version_and_keeps_old(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    original = create_keyring(path)
    rotated = rotate(path, Purpose.ENCRYPTION)
    assert rotated.encryption.active_id == "e2"
    assert list(rotated.encryption.keys) == ["e1", "e2"]
    assert rotated.encryption.get("e1") == original.encryption.active
    assert rotated.pseudonymization.active == original.pseudonymization.active
    again = rotate(path, "pseudonymization")
    assert again.pseudonymization.active_id == "p2"
    assert again.encryption.active_id == "e2"
    assert _mode(path) == 0o600
    assert FileKeyProvider(path).load().describe() == again.describe()
    assert not list(tmp_path.glob(".*tmp"))


def test_fingerprint_is_short_stable_and_not_the_key(keyring: KeyRing) -> None:
    key = keyring.encryption.active
    fp = key.fingerprint()
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fp == key.fingerprint()
    assert fp not in key.secret.hex()
    assert fp != keyring.pseudonymization.active.fingerprint()
    assert keyring.describe()["encryption"] == {"active": "e1", "fingerprints": {"e1": fp}}


def test_repr_and_str_never_show_key_material(keyring: KeyRing, clean_env: Path) -> None:
    key = keyring.pseudonymization.active
    assert repr(key) == "KeyMaterial(id='p1', ****)"
    assert str(key) == repr(key)
    settings = Settings(keys=SecretStr(keyring.to_json()))
    texts = [
        repr(keyring),
        str(keyring),
        repr(keyring.encryption),
        repr(keyring.encryption.active),
        repr(StaticKeyProvider(keyring)),
        json.dumps(keyring.describe()),
        repr(settings),
        str(settings),
        json.dumps(settings.describe()),
    ]
    for text in texts:
        assert_no_key_material(text, keyring)
    assert "p1" in repr(keyring) and "e1" in repr(keyring)


def test_key_objects_cannot_be_pickled(keyring: KeyRing) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(keyring)
    with pytest.raises(TypeError):
        pickle.dumps(keyring.encryption.active)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "keys.json"
    with pytest.raises(KeyFileNotFoundError, match=r"nope/keys\.json") as info:
        FileKeyProvider(path).load()
    assert "pipelines keys init" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def _write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    path.chmod(0o600)
    return path


def _valid(keyring: KeyRing) -> dict[str, object]:
    data: dict[str, object] = json.loads(keyring.to_json())
    return data


def test_not_json_names_the_path(tmp_path: Path) -> None:
    path = _write(tmp_path / "keys.json", '{"format": 1, "pseudonymization": ')
    with pytest.raises(KeyRingFormatError, match=r"keys\.json: key ring is not valid JSON") as info:
        FileKeyProvider(path).load()
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_wrong_format_version(tmp_path: Path, keyring: KeyRing) -> None:
    data = _valid(keyring) | {"format": 2}
    with pytest.raises(KeyRingFormatError, match=r"keys\.json: unsupported key ring format 2"):
        FileKeyProvider(_write(tmp_path / "keys.json", data)).load()


def test_active_id_not_present(tmp_path: Path, keyring: KeyRing) -> None:
    data = _valid(keyring)
    data["encryption"]["active"] = "e7"  # type: ignore[index]
    with pytest.raises(KeyRingFormatError, match=r"keys\.json: .*'e7' is not among its keys"):
        FileKeyProvider(_write(tmp_path / "keys.json", data)).load()


def test_wrong_key_length_names_purpose_and_id_not_key(tmp_path: Path, keyring: KeyRing) -> None:
    data = _valid(keyring)
    short = "QUJDREVGR0hJSktMTU5PUA=="  # 16 bytes
    data["pseudonymization"]["keys"]["p1"] = short  # type: ignore[index]
    with pytest.raises(KeyLengthError) as info:
        FileKeyProvider(_write(tmp_path / "keys.json", data)).load()
    message = str(info.value)
    assert "keys.json" in message and "pseudonymization" in message and "'p1'" in message
    assert "16 bytes; expected 32" in message
    assert short not in message and "ABCDEF" not in message


def test_bad_base64_and_bad_ids_do_not_echo_values(tmp_path: Path, keyring: KeyRing) -> None:
    data = _valid(keyring)
    secret = data["encryption"]["keys"]["e1"]  # type: ignore[index]
    data["encryption"]["keys"] = {secret: "e1"}  # type: ignore[index]  # id and key swapped
    with pytest.raises(KeyRingFormatError) as info:
        FileKeyProvider(_write(tmp_path / "keys.json", data)).load()
    assert secret not in str(info.value) and str(secret)[:10] not in str(info.value)
    data["encryption"]["keys"] = {"e1": "!!not base64!!"}  # type: ignore[index]
    with pytest.raises(KeyRingFormatError, match="'e1': not valid base64"):
        FileKeyProvider(_write(tmp_path / "keys.json", data)).load()


def test_unknown_key_id(keyring: KeyRing) -> None:
    with pytest.raises(UnknownKeyIdError, match="'e9' is not in the key ring"):
        keyring.encryption.get("e9")


def test_env_provider(monkeypatch: pytest.MonkeyPatch, keyring: KeyRing) -> None:
    monkeypatch.setenv("MY_KEYS", keyring.to_json())
    assert EnvKeyProvider("MY_KEYS").load().describe() == keyring.describe()
    monkeypatch.delenv("MY_KEYS")
    with pytest.raises(MissingKeyError, match="MY_KEYS"):
        EnvKeyProvider("MY_KEYS").load()
    monkeypatch.setenv("MY_KEYS", "not json")
    with pytest.raises(KeyRingFormatError, match=r"\$MY_KEYS"):
        EnvKeyProvider("MY_KEYS").load()
    assert StaticKeyProvider(keyring).load() is keyring


def test_keyring_from_settings_prefers_keys_then_file(
    clean_env: Path, keyring: KeyRing, tmp_path: Path
) -> None:
    file_ring = create_keyring(tmp_path / "file.json")
    both = Settings(keys=SecretStr(keyring.to_json()), key_file=tmp_path / "file.json")
    assert keyring_from_settings(both).describe() == keyring.describe()
    only_file = Settings(key_file=tmp_path / "file.json")
    assert keyring_from_settings(only_file).describe() == file_ring.describe()


def test_keyring_from_env_via_settings(
    clean_env: Path, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINES_KEYS", keyring.to_json())
    assert keyring_from_settings(Settings()).describe() == keyring.describe()


def test_keyring_from_settings_without_keys_says_what_to_set(clean_env: Path) -> None:
    settings = Settings(data_dir=clean_env)
    with pytest.raises(MissingKeyError) as info:
        keyring_from_settings(settings)
    message = str(info.value)
    assert "PIPELINES_KEY_FILE" in message and "PIPELINES_KEYS" in message
    assert "pipelines keys init" in message
    assert str(settings.default_key_file) in message
    assert isinstance(info.value, KeyError)
    assert not message.startswith("'")


# Finding 7: key files -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606])
def test_key_file_readable_or_writable_by_others_is_refused_with_the_chmod(
    tmp_path: Path, mode: int
) -> None:
    path = tmp_path / "keys.json"
    create_keyring(path)
    path.chmod(mode)
    with pytest.raises(KeyFilePermissionError) as info:
        FileKeyProvider(path).load()
    message = str(info.value)
    assert str(path) in message and f"{mode:04o}" in message
    assert f"chmod 600 {path}" in message
    path.chmod(0o600)
    assert FileKeyProvider(path).load().pseudonymization.active_id == "p1"
    path.chmod(0o400)
    assert FileKeyProvider(path).load().pseudonymization.active_id == "p1"


def test_development_ring_lives_in_the_user_config_dir_not_the_data_dir(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(clean_env / "xdg"))
    settings = Settings(data_dir=clean_env / "data")
    assert (
        settings.default_key_file == clean_env / "xdg" / "commerce-pipelines" / "dev-keyring.json"
    )
    assert settings.data_dir not in settings.default_key_file.parents
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(clean_env / "home"))
    assert Settings().default_key_file == (
        clean_env / "home" / ".config" / "commerce-pipelines" / "dev-keyring.json"
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")  # the XDG spec: absolute only
    assert Settings().default_key_file.is_relative_to(clean_env / "home" / ".config")
