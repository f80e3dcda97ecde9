from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.protection import AuditLog, AuditLogError, AuditLogTampered, subject_digest
from pipelines.protection.audit import GENESIS_HASH, entry_hash


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append(
            actor=f"user{i}",
            action="reidentify",
            reason=f"ticket {i}",
            subject=subject_digest(f"e1:token{i}"),
            details={"table": "customer_profiles", "column": "email", "n": i},
        )


def test_chain_appends_and_verifies(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit" / "audit.jsonl")
    assert log.verify() == 0 and log.entries() == [] and log.head() == (0, GENESIS_HASH)
    _fill(log, 5)
    entries = log.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev_hash"] == GENESIS_HASH
    for prev, cur in itertools.pairwise(entries):
        assert cur["prev_hash"] == prev["hash"]
    assert all(e["hash"] == entry_hash(e) for e in entries)
    assert entries[0]["time"].endswith("Z")
    assert {"seq", "time", "actor", "action", "reason", "subject", "prev_hash", "hash"} <= set(
        entries[0]
    )
    assert log.verify() == 5
    assert log.head() == (5, entries[-1]["hash"])


@pytest.mark.parametrize("line_no", [1, 2, 3, 4, 5])
def test_editing_any_line_fails_naming_its_seq(tmp_path: Path, line_no: int) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    _fill(log, 5)
    lines = log.path.read_text().splitlines(keepends=True)
    entry = json.loads(lines[line_no - 1])
    entry["actor"] = "mallory"
    lines[line_no - 1] = json.dumps(entry, separators=(",", ":")) + "\n"
    log.path.write_text("".join(lines))
    with pytest.raises(AuditLogTampered, match=f"at seq {line_no}:") as info:
        log.verify()
    assert info.value.seq == line_no


def test_rehashed_edit_breaks_the_next_link(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    _fill(log, 4)
    lines = log.path.read_text().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["reason"] = "covering tracks"
    entry["hash"] = entry_hash(entry)
    lines[1] = json.dumps(entry) + "\n"
    log.path.write_text("".join(lines))
    with pytest.raises(AuditLogTampered) as info:
        log.verify()
    assert info.value.seq == 3


def test_deleted_or_garbled_lines_fail(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    _fill(log, 4)
    original = log.path.read_text()
    lines = original.splitlines(keepends=True)
    log.path.write_text("".join(lines[:1] + lines[2:]))
    with pytest.raises(AuditLogTampered) as info:
        log.verify()
    assert info.value.seq == 2
    log.path.write_text(original.replace('"seq":3', '"seq":3,,'))
    with pytest.raises(AuditLogTampered, match="seq 3: not a JSON object"):
        log.verify()
    log.path.write_text(original[:-10])
    with pytest.raises(AuditLogTampered, match="seq 4"):
        log.verify()
    with pytest.raises(AuditLogError, match="incomplete"):
        _fill(log, 1)


def test_append_refuses_a_tampered_last_entry(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    _fill(log, 2)
    log.path.write_text(log.path.read_text().replace("user1", "userX"))
    with pytest.raises(AuditLogTampered, match="seq 2"):
        _fill(log, 1)


def test_no_clear_pii_is_stored(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(ValueError, match="subject"):
        log.append(actor="a", action="x", reason="r", subject="maria@example.com")
    with pytest.raises(ValueError, match="reason"):
        log.append(actor="a", action="x", reason="  ")
    with pytest.raises(TypeError, match="detail"):
        log.append(actor="a", action="x", reason="r", details={"nested": {"a": 1}})  # type: ignore[dict-item]
    log.append(
        actor="alice",
        action="lookup",
        reason="asked by maria@example.com, phone (11) 98765-4321",
        subject="p1:" + "ab" * 16,
    )
    text = log.path.read_text()
    assert "maria@example.com" not in text and "98765" not in text
    assert log.entries()[0]["reason"] == "asked by [email], phone [phone]"


def test_concurrent_appends_from_two_processes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from pipelines.protection.audit import AuditLog
        log = AuditLog(Path(sys.argv[1]))
        for i in range(int(sys.argv[3])):
            log.append(actor=sys.argv[2], action="test", reason=f"entry {i}")
        """
    )
    n = 150
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), name, str(n)])
        for name in ("proc-a", "proc-b")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    log = AuditLog(path)
    assert log.verify() == 2 * n
    actors = [e["actor"] for e in log.entries()]
    assert actors.count("proc-a") == n and actors.count("proc-b") == n
