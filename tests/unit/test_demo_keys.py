"""``make demo``'s key ring: created in the user's config dir, never in the data directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pipelines.demo import ensure_keyring
from pipelines.protection import FileKeyProvider, create_keyring
from pipelines.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for var in ("PIPELINES_KEYS", "PIPELINES_KEY_FILE", "PIPELINES_SETTINGS_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return Settings(data_dir=tmp_path / "data")


def test_demo_creates_its_ring_in_the_config_dir(settings: Settings, tmp_path: Path) -> None:
    env = ensure_keyring(settings)
    path = tmp_path / "config" / "commerce-pipelines" / "dev-keyring.json"
    assert env == {"PIPELINES_KEY_FILE": str(path)}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (settings.data_dir / "keys").exists()
    assert ensure_keyring(settings) == env  # reused


def test_demo_moves_a_ring_left_in_the_data_dir(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    legacy = settings.data_dir / "keys" / "dev-keyring.json"
    ring = create_keyring(legacy)
    env = ensure_keyring(settings)
    assert not legacy.exists()
    moved = Path(env["PIPELINES_KEY_FILE"])
    assert FileKeyProvider(moved).load().describe() == ring.describe()
    assert "Moved the development key ring" in capsys.readouterr().out
