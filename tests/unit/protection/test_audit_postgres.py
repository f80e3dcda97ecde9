"""The audit log in PostgreSQL (``audit_url``): the file's entries, one chain across processes,
tampering caught by ``verify`` and by the next append, and ``pipelines audit verify``."""

from __future__ import annotations

import argparse
import multiprocessing
from pathlib import Path

import psycopg2
import pytest

from pipelines.protection import AuditLog, AuditLogTampered, FileKeyProvider, KeyRing
from pipelines.protection.audit import entry_mac
from pipelines.protection.audit_pg import TABLE, PgAuditLog, open_audit_log
from pipelines.protection.command import register
from pipelines.protection.keys import Purpose
from pipelines.settings import Settings

WRITERS, EACH = 4, 6


def _append(log: AuditLog, actor: str, n: int) -> None:
    for i in range(n):
        log.append(
            actor=actor,
            action="reidentify",
            reason=f"ticket {i}",
            details={"table": "customer_profiles", "n": i, "ok": True, "share": 0.5},
        )


def _sql(url: str, statement: str) -> None:
    con = psycopg2.connect(url)
    try:
        with con, con.cursor() as cur:
            cur.execute(statement)
    finally:
        con.close()


def test_entries_match_the_file_format(pg_url: str, keyring: KeyRing, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, audit_url=pg_url)
    log = open_audit_log(settings, keyring)
    assert isinstance(log, PgAuditLog)
    file_log = open_audit_log(Settings(data_dir=tmp_path), keyring)
    assert type(file_log) is AuditLog
    _append(log, "alice", 2)
    _append(file_log, "alice", 2)
    stored, written = log.entries(), file_log.entries()
    assert [sorted(e) for e in stored] == [sorted(e) for e in written]
    assert [e["details"] for e in stored] == [e["details"] for e in written]
    key = keyring.keyset(Purpose.AUDIT).get(stored[1]["key_id"])
    assert stored[1]["mac"] == entry_mac(stored[1], key)
    assert stored[1]["prev_mac"] == stored[0]["mac"]
    assert log.head() == (2, stored[1]["mac"])
    assert log.verify().entries == 2


def test_messages_name_the_database_without_its_password() -> None:
    log = PgAuditLog("postgresql://audit:s3cret-pw@db.example:6543/state?sslmode=require")
    assert log.where == "postgresql://audit@db.example:6543/state table pipelines_audit"
    assert "s3cret" not in repr(log)


def _writer(url: str, keyring: KeyRing, actor: str) -> None:
    _append(PgAuditLog(url, keyring), actor, EACH)


def test_concurrent_writers_keep_one_chain(pg_url: str, keyring: KeyRing) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(pg_url, keyring, f"w{i}")) for i in range(WRITERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    log = PgAuditLog(pg_url, keyring)
    assert log.verify().entries == WRITERS * EACH
    entries = log.entries()
    assert [e["seq"] for e in entries] == list(range(1, WRITERS * EACH + 1))
    actors = [e["actor"] for e in entries]
    assert {a: actors.count(a) for a in set(actors)} == {f"w{i}": EACH for i in range(WRITERS)}


@pytest.mark.parametrize(
    ("edit", "seq"),
    [
        (f"UPDATE {TABLE} SET reason = 'ticket 9' WHERE seq = 2", 2),
        (f"DELETE FROM {TABLE} WHERE seq = 2", 2),
        (f"DELETE FROM {TABLE} WHERE seq = 3", 3),  # the last one: the head row disagrees
        (f"UPDATE {TABLE} SET details = '{{\"n\": 7}}' WHERE seq = 1", 1),
    ],
)
def test_tampering_is_detected(pg_url: str, keyring: KeyRing, edit: str, seq: int) -> None:
    log = PgAuditLog(pg_url, keyring)
    _append(log, "alice", 3)
    _sql(pg_url, edit)
    with pytest.raises(AuditLogTampered) as caught:
        log.verify()
    assert caught.value.seq == seq


def test_an_append_after_tampering_the_last_entry_is_refused(pg_url: str, keyring: KeyRing) -> None:
    log = PgAuditLog(pg_url, keyring)
    _append(log, "alice", 2)
    _sql(pg_url, f"UPDATE {TABLE} SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(AuditLogTampered):
        _append(log, "bob", 1)
    assert len(log.entries()) == 2  # nothing was added


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="pipelines")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def test_audit_verify_command_reads_postgres(
    pg_url: str,
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = clean_env / "keys.json"
    assert _run("keys", "init", "--path", str(key_file)) == 0
    monkeypatch.setenv("PIPELINES_KEY_FILE", str(key_file))
    monkeypatch.setenv("PIPELINES_DATA_DIR", str(clean_env / "data"))
    monkeypatch.setenv("PIPELINES_AUDIT_URL", pg_url)
    capsys.readouterr()
    assert _run("audit", "verify") == 0
    assert "nothing audited yet" in capsys.readouterr().out
    _append(open_audit_log(Settings(), FileKeyProvider(key_file).load()), "alice", 3)
    assert _run("audit", "verify") == 0
    out = capsys.readouterr().out
    assert "OK, 3 entries" in out and f"table {TABLE}" in out
    assert not (clean_env / "data" / "audit").exists()  # nothing went to the local file
    _sql(pg_url, f"UPDATE {TABLE} SET actor = 'mallory' WHERE seq = 1")
    assert _run("audit", "verify") == 1
    assert "seq 1" in capsys.readouterr().err
