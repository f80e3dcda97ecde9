"""The settings object: sources in their documented order, secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.settings import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in (
        "PIPELINES_KEYS",
        "PIPELINES_KEY_FILE",
        "PIPELINES_SETTINGS_FILE",
        "PIPELINES_DATA_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def test_argument_beats_file_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPELINES_DATA_DIR", "/from/env")
    monkeypatch.setenv("PIPELINES_DUCKDB_MEMORY_LIMIT", "1GB")
    config = tmp_path / "settings.toml"
    config.write_text('data_dir = "/from/file"\nduckdb_threads = 1\n')
    assert Settings().data_dir == Path("/from/env")
    from_file = Settings(settings_file=config)
    assert from_file.data_dir == Path("/from/file")
    assert from_file.duckdb_memory_limit == "1GB"  # the file does not set it: environment
    assert Settings(settings_file=config, data_dir="/from/arg").data_dir == Path("/from/arg")
    assert from_file.lake == Path("/from/file/lake")


def test_local_pipelines_toml_is_picked_up(tmp_path: Path):
    (tmp_path / "pipelines.toml").write_text('[pipelines]\nlake_dir = "/lake"\n')
    assert Settings().lake == Path("/lake")


def test_unknown_setting_in_file_is_an_error(tmp_path: Path):
    config = tmp_path / "bad.toml"
    config.write_text('data_dri = "/typo"\n')
    with pytest.raises(ValueError, match=r"unknown setting.*data_dri"):
        Settings(settings_file=config)


def test_secrets_never_show_in_repr_or_description(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPELINES_KEYS", '{"super": "SECRET-KEY-MATERIAL"}')
    settings = Settings()
    assert settings.keys is not None
    for text in (repr(settings), str(settings), str(settings.describe())):
        assert "SECRET-KEY-MATERIAL" not in text


def test_empty_environment_values_mean_unset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPELINES_KEY_FILE", "")
    monkeypatch.setenv("PIPELINES_KEYS", " ")
    settings = Settings()
    assert settings.key_file is None and settings.keys is None


def test_a_command_resolves_its_settings_once(tmp_path: Path):
    from argparse import Namespace

    from pipelines.settings import settings_for

    resolved = Settings(data_dir=tmp_path / "resolved")
    assert settings_for(Namespace(settings=resolved, data_dir="/ignored")) is resolved
    config = tmp_path / "settings.toml"
    config.write_text('data_dir = "/from/file"\nduckdb_threads = 1\n')
    # the main CLI's --settings is settings_file; a sub-CLI's is settings (a path)
    for args in (Namespace(settings_file=config), Namespace(settings=config)):
        built = settings_for(args)
        assert (built.data_dir, built.duckdb_threads) == (Path("/from/file"), 1)
    both = settings_for(Namespace(settings=config, data_dir=str(tmp_path / "arg")))
    assert (both.data_dir, both.duckdb_threads) == (tmp_path / "arg", 1)
    assert settings_for(Namespace()).data_dir == Settings().data_dir


def test_state_urls_are_postgres_secrets(monkeypatch: pytest.MonkeyPatch):
    url = "postgresql://state:pw-s3cret@db.example:5432/pipelines"
    monkeypatch.setenv("PIPELINES_AUDIT_URL", url)
    monkeypatch.setenv("PIPELINES_LINEAGE_URL", "")
    settings = Settings(lock_url=url)
    assert settings.audit_url is not None and settings.audit_url.get_secret_value() == url
    assert settings.lock_url is not None and settings.lineage_url is None
    assert "pw-s3cret" not in repr(settings) and "pw-s3cret" not in str(settings.describe())
    with pytest.raises(ValueError, match="lineage_url must be a postgresql:// URL"):
        Settings(lineage_url="http://marquez:5000")
