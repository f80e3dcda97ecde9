from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from protection_helpers import assert_no_key_material

from pipelines.protection import (
    AuditLog,
    AuditLogError,
    AuditLogTampered,
    KeyRing,
    MissingKeyError,
    subject_digest,
)
from pipelines.protection.audit import GENESIS, Anchor, lineage_anchors


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append(
            actor=f"user{i}",
            action="reidentify",
            reason=f"ticket {i}",
            subject=subject_digest(f"e1:token{i}"),
            details={"table": "customer_profiles", "column": "email", "n": i},
        )


def _canonical(entry: dict[str, object]) -> bytes:
    body = {k: v for k, v in entry.items() if k != "mac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _rewrite(log: AuditLog, edit: dict[str, object], mac_key: bytes | None) -> None:
    """Edit line 1 and recompute every link and MAC (SHA-256 if ``mac_key`` is None)."""
    entries = log.entries()
    entries[0].update(edit)
    prev = GENESIS
    lines = []
    for entry in entries:
        entry["prev_mac"] = prev
        data = _canonical(entry)
        entry["mac"] = (
            hashlib.sha256(data).hexdigest()
            if mac_key is None
            else hmac.new(mac_key, data, hashlib.sha256).hexdigest()
        )
        prev = entry["mac"]
        lines.append(json.dumps(entry, separators=(",", ":")) + "\n")
    log.path.write_text("".join(lines))


@pytest.fixture
def log(tmp_path: Path, keyring: KeyRing) -> AuditLog:
    return AuditLog(tmp_path / "audit" / "audit.jsonl", keyring)


def test_chain_appends_and_verifies(log: AuditLog, keyring: KeyRing) -> None:
    assert log.verify().entries == 0 and log.entries() == [] and log.head() == (0, GENESIS)
    _fill(log, 5)
    entries = log.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev_mac"] == GENESIS
    for prev, cur in itertools.pairwise(entries):
        assert cur["prev_mac"] == prev["mac"]
    assert {e["key_id"] for e in entries} == {"a1"}
    assert entries[0]["time"].endswith("Z")
    report = log.verify()
    assert (report.entries, report.unauthenticated) == (5, 0)
    assert log.head() == (5, entries[-1]["mac"])
    head = json.loads(log.head_path.read_text())
    assert (head["seq"], head["mac"]) == (5, entries[-1]["mac"])
    assert_no_key_material(log.path.read_text() + log.head_path.read_text(), keyring)


@pytest.mark.parametrize("line_no", [1, 2, 3, 4, 5])
def test_editing_any_line_fails_naming_its_seq(log: AuditLog, line_no: int) -> None:
    _fill(log, 5)
    lines = log.path.read_text().splitlines(keepends=True)
    entry = json.loads(lines[line_no - 1])
    entry["actor"] = "mallory"
    lines[line_no - 1] = json.dumps(entry, separators=(",", ":")) + "\n"
    log.path.write_text("".join(lines))
    with pytest.raises(AuditLogTampered, match=f"at seq {line_no}:") as info:
        log.verify()
    assert info.value.seq == line_no


@pytest.mark.parametrize("mac_key", [None, b"k" * 32], ids=["sha256", "other-hmac-key"])
def test_rewriting_the_whole_chain_without_the_audit_key_fails(
    log: AuditLog, mac_key: bytes | None
) -> None:
    """The red team's attack: edit line 1, recompute every hash. Without the key it fails."""
    _fill(log, 4)
    _rewrite(log, {"actor": "mallory"}, mac_key)
    with pytest.raises(AuditLogTampered, match=r"at seq 1: .*MAC") as info:
        log.verify()
    assert info.value.seq == 1


def test_other_key_ring_cannot_verify_or_append(log: AuditLog, tmp_path: Path) -> None:
    _fill(log, 2)
    other = AuditLog(log.path, KeyRing.generate())
    with pytest.raises(AuditLogTampered, match="seq 1"):
        other.verify()
    with pytest.raises(AuditLogTampered, match="seq 2"):
        _fill(other, 1)


def test_truncation_is_caught_by_the_head_file(log: AuditLog) -> None:
    _fill(log, 5)
    lines = log.path.read_text().splitlines(keepends=True)
    log.path.write_text("".join(lines[:3]))
    with pytest.raises(AuditLogTampered, match=r"head file .* seq 5.*ends at seq 3") as info:
        log.verify()
    assert info.value.seq == 4
    # Forging the head file without the key does not help.
    head = json.loads(log.head_path.read_text())
    head.update(seq=3, mac=json.loads(lines[2])["mac"])
    log.head_path.write_text(json.dumps(head))
    with pytest.raises(AuditLogTampered, match=r"head file .*MAC"):
        log.verify()
    log.head_path.unlink()
    with pytest.raises(AuditLogTampered, match=r"head file .* missing"):
        log.verify()


def test_truncation_is_caught_by_the_heads_recorded_in_lineage(log: AuditLog) -> None:
    """Rolling log and head file back to an older, genuine state passes the head file check;
    the head a later run recorded in its lineage catches it."""
    _fill(log, 3)
    snapshot = (log.path.read_text(), log.head_path.read_text())
    _fill(log, 2)
    anchor = Anchor(*log.head(), where="run r1 (ingest_customers)")
    assert log.verify([anchor]).anchors == 1
    log.path.write_text(snapshot[0])
    log.head_path.write_text(snapshot[1])
    assert log.verify().entries == 3
    with pytest.raises(AuditLogTampered, match=r"run r1 \(ingest_customers\) recorded head seq 5"):
        log.verify([anchor])
    bad = Anchor(1, "f" * 64, where="run r2")
    with pytest.raises(AuditLogTampered, match="run r2 recorded head seq 1"):
        log.verify([bad])


def test_lineage_anchors_read_from_the_event_log(tmp_path: Path, log: AuditLog) -> None:
    _fill(log, 2)
    seq, mac = log.head()
    events = tmp_path / "events.jsonl"
    event = {
        "run": {
            "runId": "r-1",
            "facets": {
                "pipelines_ingestion": {"table": "orders", "audit_head": {"seq": seq, "mac": mac}}
            },
        },
        "job": {"name": "commerce_daily.ingest_orders"},
    }
    other = {"run": {"runId": "r-2", "facets": {}}, "job": {"name": "x"}}
    gate = {
        "run": {
            "runId": "r-3",
            "facets": {"pipelines_gate": {"audit_head": {"seq": 1, "mac": "a"}}},
        },
        "job": {"name": "commerce_daily.quality_gate"},
    }
    events.write_text("\n".join(json.dumps(e) for e in (event, other, gate)) + "\n")
    anchor, from_gate = lineage_anchors(events)
    assert (anchor.seq, anchor.mac) == (seq, mac)
    assert "r-1" in anchor.where and "ingest_orders" in anchor.where
    assert (from_gate.seq, from_gate.mac) == (1, "a") and "quality_gate" in from_gate.where
    assert lineage_anchors(tmp_path / "none.jsonl") == []


def test_ingestion_lineage_records_the_head(tmp_path: Path, keyring: KeyRing) -> None:
    from pipelines.ingest.lineage import audit_head
    from pipelines.settings import Settings

    settings = Settings(data_dir=tmp_path / "data")
    assert audit_head(settings) == {"seq": 0, "mac": GENESIS}
    log = AuditLog(settings.audit, keyring)
    _fill(log, 2)
    assert audit_head(settings) == {"seq": 2, "mac": log.entries()[-1]["mac"]}
    log.path.write_bytes(log.path.read_bytes()[:-3])  # unreadable: the run still emits
    assert audit_head(settings) is None


def test_deleted_or_garbled_lines_fail(log: AuditLog) -> None:
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


def test_append_refuses_a_tampered_last_entry(log: AuditLog) -> None:
    _fill(log, 2)
    log.path.write_text(log.path.read_text().replace("user1", "userX"))
    with pytest.raises(AuditLogTampered, match="seq 2"):
        _fill(log, 1)


def test_append_needs_an_audit_key_unless_marked_unauthenticated(
    tmp_path: Path, keyring: KeyRing
) -> None:
    without_keys = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(AuditLogError, match="key ring"):
        _fill(without_keys, 1)
    entry = without_keys.append(
        actor="alice", action="reidentify", reason="ticket", unauthenticated=True
    )
    assert entry["key_id"] is None
    _fill(AuditLog(without_keys.path, keyring), 1)  # keyed entries continue the chain
    report = AuditLog(without_keys.path, keyring).verify()
    assert (report.entries, report.unauthenticated) == (2, 1)
    _fill(AuditLog(without_keys.path, keyring), 1)
    AuditLog(without_keys.path).append(  # after keyed entries, still without a key ring
        actor="bob", action="reidentify", reason="ticket", unauthenticated=True
    )
    report = AuditLog(without_keys.path, keyring).verify()
    assert (report.entries, report.unauthenticated) == (4, 2)
    legacy = KeyRing.from_dict(
        {k: v for k, v in json.loads(keyring.to_json()).items() if k != "audit"}, "ring"
    )
    with pytest.raises(MissingKeyError, match="keys rotate --purpose audit"):
        _fill(AuditLog(tmp_path / "other.jsonl", legacy), 1)


def test_no_clear_pii_is_stored(log: AuditLog) -> None:
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
    assert log.entries()[0]["reason"] == "asked by [EMAIL], phone [PHONE]"


def test_reason_is_scrubbed_of_names_and_cpfs(log: AuditLog) -> None:
    log.append(actor="alice", action="lookup", reason="cliente Maria Souza, CPF 529.982.247-25")
    text = log.path.read_text()
    assert "Maria Souza" not in text and "529.982.247-25" not in text


def test_concurrent_appends_from_two_processes(tmp_path: Path, keyring: KeyRing) -> None:
    path = tmp_path / "audit.jsonl"
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from pipelines.protection import KeyRing
        from pipelines.protection.audit import AuditLog
        log = AuditLog(Path(sys.argv[1]), KeyRing.from_json(sys.stdin.read(), "stdin"))
        for i in range(int(sys.argv[3])):
            log.append(actor=sys.argv[2], action="test", reason=f"entry {i}")
        """
    )
    n = 150
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), name, str(n)],
            stdin=subprocess.PIPE,
            text=True,
        )
        for name in ("proc-a", "proc-b")
    ]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(keyring.to_json())
        p.stdin.close()
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    log = AuditLog(path, keyring)
    assert log.verify().entries == 2 * n
    actors = [e["actor"] for e in log.entries()]
    assert actors.count("proc-a") == n and actors.count("proc-b") == n
