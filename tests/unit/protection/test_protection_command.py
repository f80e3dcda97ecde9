from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import pytest
from protection_helpers import assert_no_key_material

from pipelines.protection import AuditLog, Encryptor, FileKeyProvider
from pipelines.protection.command import register


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipelines")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(*argv: str) -> int:
    args = _parser().parse_args(argv)
    result: int = args.func(args)
    return result


@pytest.fixture
def env(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIPELINES_DATA_DIR", str(clean_env / "data"))
    return clean_env


def test_help_texts(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["keys", "--help"], ["keys", "init", "--help"], ["keys", "rotate", "--help"],
                 ["keys", "show", "--help"], ["reidentify", "--help"], ["audit", "verify", "--help"]):  # fmt: skip
        with pytest.raises(SystemExit) as info:
            _parser().parse_args(argv)
        assert info.value.code == 0
    out = capsys.readouterr().out
    assert "development" in out and "re-ingest" in out and "audit log" in out


def test_keys_init_show_rotate(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    default = env / "config" / "commerce-pipelines" / "dev-keyring.json"
    assert _run("keys", "init") == 0
    out = capsys.readouterr().out
    assert str(default) in out and "DEVELOPMENT" in out and "PIPELINES_KEY_FILE" in out
    assert stat.S_IMODE(default.stat().st_mode) == 0o600
    keyring = FileKeyProvider(default).load()
    assert _run("keys", "init") == 1
    assert "refusing to overwrite" in capsys.readouterr().err

    assert _run("keys", "show", "--path", str(default)) == 0
    out = capsys.readouterr().out
    assert keyring.encryption.active.fingerprint() in out and "(active)" in out
    assert_no_key_material(out, keyring)

    assert _run("keys", "rotate", "--purpose", "encryption", "--path", str(default)) == 0
    assert "active is now e2" in capsys.readouterr().out
    assert _run("keys", "show", "--path", str(default), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["encryption"]["active"] == "e2"
    assert set(shown["encryption"]["fingerprints"]) == {"e1", "e2"}


def test_show_and_rotate_without_key_ring(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("keys", "show") == 1
    assert "pipelines keys init" in capsys.readouterr().err
    assert _run("keys", "rotate", "--purpose", "pseudonymization") == 1
    assert "PIPELINES_KEY_FILE" in capsys.readouterr().err


def test_reidentify_and_audit_verify(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = env / "keys.json"
    assert _run("keys", "init", "--path", str(key_file)) == 0
    monkeypatch.setenv("PIPELINES_KEY_FILE", str(key_file))
    token = Encryptor(FileKeyProvider(key_file).load()).encrypt(
        "ana@example.com", "customer_profiles.email"
    )
    capsys.readouterr()
    argv = ["reidentify", "--table", "customer_profiles", "--column", "email", "--token", token,
            "--actor", "alice", "--reason", "customer service ticket 123"]  # fmt: skip
    assert _run(*argv) == 0
    captured = capsys.readouterr()
    assert captured.out == "ana@example.com\n"
    assert "audited as entry 1" in captured.err
    audit_path = env / "data" / "audit" / "audit.jsonl"
    assert "ana@example.com" not in audit_path.read_text()

    assert _run(*argv[:-2], "--reason", "") == 1
    assert "reason" in capsys.readouterr().err
    assert _run(*argv[:4], "customer_unique_id", *argv[5:]) == 1
    assert "pseudonymized" in capsys.readouterr().err

    assert _run("audit", "verify") == 0
    assert "OK, 3 entries" in capsys.readouterr().out  # the two refusals are logged
    audit_path.write_text(audit_path.read_text().replace("alice", "mallory", 1))
    assert _run("audit", "verify") == 1
    assert "seq 1" in capsys.readouterr().err
    assert AuditLog(audit_path).entries()[0]["actor"] == "mallory"


def test_refusal_for_a_missing_or_open_key_ring_is_logged(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["reidentify", "--table", "customer_profiles", "--column", "email", "--token",
            "e1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--actor", "alice",
            "--reason", "ticket 7"]  # fmt: skip
    assert _run(*argv) == 1
    assert "no key ring configured" in capsys.readouterr().err
    key_file = env / "keys.json"
    assert _run("keys", "init", "--path", str(key_file)) == 0
    key_file.chmod(0o644)
    monkeypatch.setenv("PIPELINES_KEY_FILE", str(key_file))
    assert _run(*argv) == 1
    assert f"chmod 600 {key_file}" in capsys.readouterr().err
    audit_path = env / "data" / "audit" / "audit.jsonl"
    entries = AuditLog(audit_path).entries()
    assert [e["details"]["error"] for e in entries] == ["MissingKeyError", "KeyFilePermissionError"]
    assert {e["details"]["outcome"] for e in entries} == {"refused"}
    assert {e["key_id"] for e in entries} == {None}  # no key ring, so no MAC
    key_file.chmod(0o600)
    assert _run("audit", "verify") == 0
    assert "OK, 2 entries (2 unauthenticated" in capsys.readouterr().out


def test_audit_verify_without_log(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("audit", "verify") == 0
    assert "nothing audited yet" in capsys.readouterr().out
