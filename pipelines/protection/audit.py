"""An append-only, tamper-evident audit log: JSON lines chained with a keyed MAC.

Each line is one entry::

    {"seq": 1, "time": "2024-05-01T12:00:00.000000Z", "actor": "alice",
     "action": "reidentify", "reason": "customer service ticket 123",
     "subject": "sha256:...", "details": {"table": "customer_profiles", ...},
     "prev_mac": "000...0", "key_id": "a1", "mac": "..."}

``mac`` is HMAC-SHA256, under the key ring's **audit** key ``key_id`` (a purpose of its own),
of a domain tag and the canonical JSON (sorted keys, no spaces, UTF-8) of the entry without
``mac``; ``prev_mac`` is the previous entry's ``mac`` (64 zeros for the first). Editing,
inserting or deleting a line breaks the chain at that line, and recomputing the chain needs
the key. :meth:`AuditLog.verify` names the first bad ``seq``.

Removing lines from the *end* is caught by the **head**, recorded in two more places: the
head file ``<log>.head`` (the last ``seq`` and ``mac``, itself MACed), rewritten on every
append, and the lineage of every ingestion run and quality gate (the ``audit_head`` of the
``pipelines_ingestion`` and ``pipelines_gate`` run facets). ``verify`` checks the log against both (:func:`lineage_anchors`).

A request refused because the key ring is missing or unusable is still logged, as an
*unauthenticated* entry (``key_id`` null, ``mac`` = ``sha256:`` of the entry): it keeps the
chain (the next keyed entry MACs its link) and ``verify`` counts such entries.

Appends take an exclusive ``fcntl.flock``, so several processes can append safely. With the
``audit_url`` setting the log is in PostgreSQL instead (:mod:`pipelines.protection.audit_pg`:
the same entries and checks, a head row instead of the head file, appends serialized by a row
lock), for workers that share no disk.

No clear-text PII: ``subject`` must be a pseudonymization token or ``sha256:<hex>`` of a token
(:func:`subject_digest`); ``reason`` goes through :func:`scrub_reason`. ``details`` holds
non-personal context (table, column, key id, outcome) and is the caller's duty.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.protection.errors import AuditLogError, AuditLogTampered, UnknownKeyIdError
from pipelines.protection.keys import KeyMaterial, KeyRing, Purpose
from pipelines.protection.scrub import scrub_text

GENESIS = "0" * 64
HEAD_SUFFIX = ".head"
_ENTRY_DOMAIN = b"pipelines/audit-entry/v2\x00"
_HEAD_DOMAIN = b"pipelines/audit-head/v2\x00"
_UNKEYED = "sha256:"
_SUBJECT = re.compile(r"^(sha256:[0-9a-f]{64}|[A-Za-z0-9_.-]{1,32}:[0-9a-f]{32})$")
_Scalar = str | int | float | bool | None


def scrub_reason(text: str) -> str:
    """Personal data in a free-text reason (or a name a caller typed), replaced. The one
    call site of the detector."""
    return scrub_text(text) or ""


def subject_digest(token: str) -> str:
    """``sha256:<hex>`` of a token: identifies the record without storing the token."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def _canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(
        {k: v for k, v in entry.items() if k != "mac"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode()


def entry_mac(entry: Mapping[str, Any], key: KeyMaterial | None) -> str:
    """The chain value of an entry: its HMAC under ``key``, or ``sha256:<hex>`` without one."""
    if key is None:
        return _UNKEYED + hashlib.sha256(_canonical(entry)).hexdigest()
    return hmac.new(key.secret, _ENTRY_DOMAIN + _canonical(entry), hashlib.sha256).hexdigest()


def _head_mac(seq: int, mac: str, key: KeyMaterial) -> str:
    message = _HEAD_DOMAIN + f"{seq}:{mac}".encode()
    return hmac.new(key.secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Anchor:
    """A head of the log recorded elsewhere: ``seq`` and ``mac`` as they were, and where."""

    seq: int
    mac: str
    where: str


@dataclass(frozen=True)
class Verified:
    entries: int
    unauthenticated: int
    anchors: int


class AuditLog:
    """The log at ``path``; ``keyring`` supplies the audit key (needed to append and verify)."""

    def __init__(self, path: Path, keyring: KeyRing | None = None):
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + HEAD_SUFFIX)
        self._keyring = keyring

    @property
    def where(self) -> str:
        """Where the log is, for messages (a path, or a URL without its password)."""
        return str(self.path)

    @property
    def head_where(self) -> str:
        """Where the head is recorded, for messages."""
        return f"head file {self.head_path}"

    def exists(self) -> bool:
        """Whether anything was ever written (entries or a head)."""
        return self.path.exists() or self.head_path.exists()

    def with_keyring(self, keyring: KeyRing | None) -> AuditLog:
        """The same log, appended to and verified with ``keyring``."""
        return type(self)(self.path, keyring)

    def _key(self, key_id: str | None = None) -> KeyMaterial:
        if self._keyring is None:
            raise AuditLogError(
                f"audit log {self.where}: no key ring to MAC or verify entries with; configure "
                "the key ring (PIPELINES_KEY_FILE or PIPELINES_KEYS)"
            )
        keyset = self._keyring.keyset(Purpose.AUDIT)
        return keyset.active if key_id is None else keyset.get(key_id)

    def append(
        self,
        *,
        actor: str,
        action: str,
        reason: str,
        subject: str | None = None,
        details: Mapping[str, _Scalar] | None = None,
        unauthenticated: bool = False,
    ) -> dict[str, Any]:
        """Append one entry under an exclusive lock; returns it (with ``seq`` and ``mac``).

        ``unauthenticated=True`` writes an entry without the audit key, for requests refused
        because the key ring itself is missing or unusable.
        """
        for name, value in (("actor", actor), ("action", action), ("reason", reason)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"audit entry needs a non-empty {name}")
        if subject is not None and not _SUBJECT.match(subject):
            raise ValueError(
                "audit subject must be a pseudonymization token or sha256:<hex> of a token"
            )
        clean_details = dict(details or {})
        for name, detail in clean_details.items():
            if not isinstance(detail, _Scalar):
                raise TypeError(f"audit detail {name!r} must be a JSON scalar")
        key = None if unauthenticated else self._key()
        fields = {
            "actor": actor.strip(),
            "action": action.strip(),
            "reason": scrub_reason(reason.strip()),
            "subject": subject,
            "details": clean_details,
        }
        return self._append(fields, key)

    def _append(self, fields: Mapping[str, Any], key: KeyMaterial | None) -> dict[str, Any]:
        """Chain ``fields`` onto the checked head and store the entry, under the file lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev_mac = self._checked_head(self._last_entry(fd))
            entry = new_entry(seq, prev_mac, fields, key)
            line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            data = line.encode() + b"\n"
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
            self._write_head(entry["seq"], entry["mac"], key)
        finally:
            os.close(fd)  # also releases the lock
        return entry

    def head(self) -> tuple[int, str]:
        """``(seq, mac)`` of the last entry as stored (``(0, GENESIS)`` when empty); not
        verified, so it needs no key (lineage records it; :meth:`verify` checks it)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return 0, GENESIS
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            entry = self._last_entry(fd)
        finally:
            os.close(fd)
        return (0, GENESIS) if entry is None else (int(entry["seq"]), str(entry["mac"]))

    def _last_entry(self, fd: int) -> dict[str, Any] | None:
        line = _last_line(fd, self.path)
        if line is None:
            return None
        try:
            entry = json.loads(line)
            int(entry["seq"]), str(entry["mac"])
        except (ValueError, KeyError, TypeError):
            raise AuditLogError(
                f"audit log {self.where}: last entry is unreadable; run `pipelines audit verify`"
            ) from None
        if not isinstance(entry, dict):
            raise AuditLogError(f"audit log {self.where}: last entry is not a JSON object")
        return entry

    def _checked_head(self, entry: dict[str, Any] | None) -> tuple[int, str]:
        """The last entry's ``(seq, mac)`` after checking its MAC and the head."""
        if entry is None:
            return 0, GENESIS
        seq = int(entry["seq"])
        if self._keyring is None and entry.get("key_id") is not None:
            return seq, str(entry["mac"])  # no key to check it with: `audit verify` will
        problem = self._mac_problem(entry) or self._head_problem(entry)
        if problem:
            raise AuditLogTampered(
                f"audit log {self.where} fails verification at seq {seq}: {problem}; "
                "run `pipelines audit verify`",
                seq,
            )
        return seq, str(entry["mac"])

    def _mac_problem(self, entry: Mapping[str, Any]) -> str | None:
        key_id = entry.get("key_id")
        if key_id is None:
            ok = entry.get("mac") == entry_mac(entry, None)
            return None if ok else "unauthenticated entry's digest does not match its content"
        if not isinstance(key_id, str):
            return "key_id is not a key id"
        try:
            key = self._key(key_id)
        except UnknownKeyIdError:
            return f"its audit key {key_id!r} is not in the key ring (another key ring?)"
        if not hmac.compare_digest(str(entry.get("mac")), entry_mac(entry, key)):
            return "MAC does not match the entry's content (edited, or another key ring)"
        return None

    def _write_head(self, seq: int, mac: str, key: KeyMaterial | None) -> None:
        head = {
            "seq": seq,
            "mac": mac,
            "key_id": key.id if key else None,
            "head_mac": _head_mac(seq, mac, key) if key else None,
        }
        tmp = self.head_path.with_name(f".{self.head_path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(head, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.head_path)

    def _stored_head(self) -> dict[str, Any] | str:
        """The head file's content, or what is wrong with it."""
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return f"the {self.head_where} is missing"
        except ValueError:
            return f"the {self.head_where} is unreadable"
        return head if isinstance(head, dict) else f"the {self.head_where} is unreadable"

    def _head_problem(self, last: Mapping[str, Any]) -> str | None:
        """Whether the head vouches for ``last`` (it may lag by one entry: a crash between
        the two writes)."""
        head = self._stored_head()
        if isinstance(head, str):
            return head
        try:
            seq, mac, key_id = int(head["seq"]), str(head["mac"]), head.get("key_id")
        except (ValueError, KeyError, TypeError):
            return f"the {self.head_where} is unreadable"
        last_seq = int(last["seq"])
        lagging = seq == last_seq - 1 and mac == last.get("prev_mac")
        if not lagging and (seq, mac) != (last_seq, last.get("mac")):
            return (
                f"the {self.head_where} records seq {seq} but the log ends at seq "
                f"{last_seq} (entries removed, or the log replaced)"
            )
        if key_id is None:
            if seq == last_seq and last.get("key_id") is not None:
                return f"the {self.head_where} has no MAC but the last entry is keyed"
            return None
        try:
            key = self._key(str(key_id))
        except UnknownKeyIdError:
            return f"the {self.head_where}'s audit key {key_id!r} is not in the key ring"
        if not hmac.compare_digest(str(head.get("head_mac")), _head_mac(seq, mac, key)):
            return f"the {self.head_where}: MAC does not match (forged or edited)"
        return None

    def entries(self) -> list[dict[str, Any]]:
        """All entries, oldest first (empty if the log does not exist)."""
        return [entry for _, entry in self._read()]

    def verify(self, anchors: Iterable[Anchor] = ()) -> Verified:
        """Check the chain, every MAC, the head file and the recorded ``anchors``; raises
        :class:`AuditLogTampered` naming the first bad ``seq``."""
        prev_mac = GENESIS
        entries = self._read(strict=True)
        unauthenticated = 0
        for seq, entry in entries:
            fail = _link_problem(entry, seq, prev_mac) or self._mac_problem(entry)
            if fail:
                raise AuditLogTampered(
                    f"audit log {self.where} fails verification at seq {seq}: {fail}", seq
                )
            unauthenticated += entry.get("key_id") is None
            prev_mac = entry["mac"]
        count = len(entries)
        if count:
            problem = self._head_problem(entries[-1][1])
            if problem:
                raise AuditLogTampered(
                    f"audit log {self.where} fails verification at seq {count + 1}: {problem}",
                    count + 1,
                )
        elif self._has_head():
            raise AuditLogTampered(
                f"audit log {self.where} fails verification at seq 1: the log is empty or gone "
                f"but the {self.head_where} records entries",
                1,
            )
        checked = 0
        macs = [GENESIS] + [entry["mac"] for _, entry in entries]
        for anchor in anchors:
            if anchor.seq > count or macs[anchor.seq] != anchor.mac:
                seq = min(anchor.seq, count + 1)
                raise AuditLogTampered(
                    f"audit log {self.where} fails verification at seq {seq}: {anchor.where} "
                    f"recorded head seq {anchor.seq} ({anchor.mac[:16]}...) but the log "
                    + (
                        f"ends at seq {count}"
                        if anchor.seq > count
                        else "holds another entry there"
                    ),
                    seq,
                )
            checked += 1
        return Verified(count, unauthenticated, checked)

    def _has_head(self) -> bool:
        return self.head_path.exists()

    def _read(self, strict: bool = False) -> list[tuple[int, dict[str, Any]]]:
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return []
        with fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
            raw_lines = fh.read().split(b"\n")
        trailing_ok = raw_lines[-1] == b""
        lines = raw_lines[:-1] if trailing_ok else raw_lines
        out: list[tuple[int, dict[str, Any]]] = []
        for seq, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError
            except ValueError:
                if not strict:
                    raise AuditLogError(f"audit log {self.where}: line {seq} is not JSON") from None
                raise AuditLogTampered(
                    f"audit log {self.where} fails verification at seq {seq}: not a JSON object",
                    seq,
                ) from None
            out.append((seq, entry))
        if strict and not trailing_ok:
            seq = len(lines)
            raise AuditLogTampered(
                f"audit log {self.where} fails verification at seq {seq}: incomplete last line",
                seq,
            )
        return out

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"


def new_entry(
    seq: int, prev_mac: str, fields: Mapping[str, Any], key: KeyMaterial | None
) -> dict[str, Any]:
    """The entry after ``(seq, prev_mac)``: ``fields``, the time, the link and its MAC."""
    entry: dict[str, Any] = {
        "seq": seq + 1,
        "time": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        **fields,
        "prev_mac": prev_mac,
        "key_id": key.id if key else None,
    }
    entry["mac"] = entry_mac(entry, key)
    return entry


def _link_problem(entry: dict[str, Any], seq: int, prev_mac: str) -> str | None:
    if entry.get("seq") != seq:
        return "sequence number out of order (entry inserted, deleted or edited)"
    if "mac" not in entry:
        return "no MAC (an entry written before keyed audit logs, or forged)"
    if entry.get("prev_mac") != prev_mac:
        return "prev_mac does not match the previous entry's MAC"
    return None


ANCHOR_FACETS = ("pipelines_ingestion", "pipelines_gate")
"""Run facets that record the audit head (``audit_head``): every ingestion run, every gate."""


def head_record(log: AuditLog) -> dict[str, Any] | None:
    """The head of ``log`` as stored, for lineage (``seq`` and ``mac``; not verified, no key
    needed), or None if it cannot be read (``audit verify`` says why)."""
    try:
        seq, mac = log.head()
    except (AuditLogError, OSError):
        return None
    return {"seq": seq, "mac": mac}


def lineage_anchors(events: Path | Iterable[str]) -> list[Anchor]:
    """The audit heads recorded in OpenLineage events, a JSON-lines file or its lines (the
    ``audit_head`` of the run facets in :data:`ANCHOR_FACETS`), one per facet that has one."""
    if isinstance(events, Path):
        try:
            lines: Iterable[str] = events.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
    else:
        lines = events
    out = []
    for line in lines:
        if '"audit_head"' not in line:
            continue
        try:
            event = json.loads(line)
            run, job = event["run"], event.get("job", {}).get("name", "?")
            facets = run["facets"]
        except (ValueError, KeyError, TypeError):
            continue
        for name in ANCHOR_FACETS:
            try:
                head = facets[name]["audit_head"]
                seq, mac = int(head["seq"]), str(head["mac"])
            except (KeyError, TypeError, ValueError):
                continue
            out.append(Anchor(seq, mac, where=f"lineage run {run.get('runId')} ({job})"))
    return out


def _last_line(fd: int, path: Path) -> bytes | None:
    """The last complete line of the file (without newline), read backwards in blocks."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    if os.pread(fd, 1, size - 1) != b"\n":
        raise AuditLogError(
            f"audit log {path} ends with an incomplete line; run `pipelines audit verify`"
        )
    end = size - 1  # the final newline; ``chunk`` holds bytes [pos, end)
    pos, chunk = end, b""
    while True:
        step = min(4096, pos)
        pos -= step
        chunk = os.pread(fd, step, pos) + chunk
        cut = chunk.rfind(b"\n")
        if cut != -1:
            return chunk[cut + 1 :]
        if pos == 0:
            return chunk
