"""``pipelines findings list|ack|resolve|accept`` and ``pipelines policy check``."""

from __future__ import annotations

import json

import pytest

from pipelines.cli import main
from pipelines.policy import PurposeRefused
from pipelines.policy.enforce import enforce_purpose
from pipelines.protection.keys import KeyRing
from pipelines.settings import Settings


@pytest.fixture
def refused(settings: Settings, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("PIPELINES_KEYS", keyring.to_json())
    with pytest.raises(PurposeRefused):
        enforce_purpose(Settings(data_dir=settings.data_dir), "seller_features", "churn")
    return ["--data-dir", str(settings.data_dir)]


def _listed(args: list[str], capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict]:
    assert main([*args, "findings", "list", "--format", "json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_list_ack_and_accept_through_the_cli(refused, capsys):
    [row] = _listed(refused, capsys)
    assert (row["kind"], row["table"], row["owner"], row["state"]) == (
        "refused_use",
        "seller_features",
        "ml-platform@example.com",
        "open",
    )
    assert main([*refused, "findings", "ack", row["id"], "--actor", "lead-ml"]) == 0
    assert "acknowledged, owner ml-platform@example.com" in capsys.readouterr().out
    assert main([*refused, "findings", "accept", row["id"], "--actor", "lead-ml"]) == 1
    assert "needs a reason" in capsys.readouterr().err
    reason = ["--reason", "one-off analysis"]
    assert main([*refused, "findings", "accept", row["id"], "--actor", "lead-ml", *reason]) == 0
    capsys.readouterr()
    [row] = _listed(refused, capsys, "--state", "accepted")
    assert row["changed_by"] == "lead-ml"
    assert _listed(refused, capsys, "--state", "open") == []
    assert main([*refused, "findings", "list"]) == 0
    assert "accepted" in capsys.readouterr().out


def test_policy_check_passes_on_the_demo(capsys):
    assert main(["policy", "check"]) == 0
    assert "valid; 3 feature tables, 8 sources" in capsys.readouterr().out


def test_the_portal_lists_findings_with_owner_and_state(refused, capsys):
    from pipelines.portal.access import Role
    from pipelines.portal.pages import overview

    settings = Settings(data_dir=refused[1])
    [row] = _listed(refused, capsys)
    assert main([*refused, "findings", "resolve", row["id"], "--actor", "lead-ml"]) == 0
    page = overview(settings, {}, Role.GOVERNANCE)
    [section] = [s for s in page.sections if s.name == "findings"]
    assert {"owner", "state"} <= set(section.columns)
    [shown] = section.rows
    assert (shown["id"], shown["owner"], shown["state"], shown["changed_by"]) == (
        row["id"],
        "ml-platform@example.com",
        "resolved",
        "lead-ml",
    )


def test_policy_check_names_a_lineage_backend_the_subjects_may_not_reach(
    capsys, monkeypatch: pytest.MonkeyPatch, tmp_path
):
    from tests.unit.lineage.emit_helpers import clean_lineage_env

    clean_lineage_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENLINEAGE_URL", "http://marquez:5000")  # declared in BR: allowed
    assert main(["policy", "check"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("OPENLINEAGE_URL", "https://lineage.example.us")  # not declared
    assert main(["policy", "check"]) == 1
    out = capsys.readouterr().out
    assert "lineage backend: transfer of lineage events to https://lineage.example.us" in out
    assert "the destination is not declared" in out
