"""An append-only, tamper-evident audit log (JSON lines, SHA-256 hash chain).

Each line is one entry::

    {"seq": 1, "time": "2024-05-01T12:00:00.000000Z", "actor": "alice",
     "action": "reidentify", "reason": "customer service ticket 123",
     "subject": "sha256:...", "details": {"table": "customer_profiles", ...},
     "prev_hash": "000...0", "hash": "..."}

``hash`` is the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the entry
without ``hash``; ``prev_hash`` is the previous entry's ``hash`` (64 zeros for the first).
Editing, inserting or deleting a line breaks the chain at that line, and :meth:`verify` names
the first bad ``seq``. Removing lines from the *end* cannot be detected from the file alone:
record :meth:`AuditLog.head` elsewhere (manifests) to anchor it.

Appends take an exclusive ``fcntl.flock``, so several processes can append safely.

No clear-text PII: ``subject`` must be a pseudonymization token or ``sha256:<hex>`` of a token
(:func:`subject_digest`); e-mails and phone numbers in ``reason`` are scrubbed. ``details``
holds non-personal context (table, column, key id, outcome) and is the caller's duty.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.protection.errors import AuditLogError, AuditLogTampered
from pipelines.protection.scrub import scrub_text

GENESIS_HASH = "0" * 64
_SUBJECT = re.compile(r"^(sha256:[0-9a-f]{64}|[A-Za-z0-9_.-]{1,32}:[0-9a-f]{32})$")
_Scalar = str | int | float | bool | None


def subject_digest(token: str) -> str:
    """``sha256:<hex>`` of a token: identifies the record without storing the token."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def _canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    """The chain hash of an entry: SHA-256 of its canonical JSON without ``hash``."""
    return hashlib.sha256(_canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


class AuditLog:
    def __init__(self, path: Path):
        self.path = Path(path)

    def append(
        self,
        *,
        actor: str,
        action: str,
        reason: str,
        subject: str | None = None,
        details: Mapping[str, _Scalar] | None = None,
    ) -> dict[str, Any]:
        """Append one entry under an exclusive lock; returns it (with ``seq`` and ``hash``)."""
        for name, value in (("actor", actor), ("action", action), ("reason", reason)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"audit entry needs a non-empty {name}")
        if subject is not None and not _SUBJECT.match(subject):
            raise ValueError(
                "audit subject must be a pseudonymization token or sha256:<hex> of a token"
            )
        clean_details = dict(details or {})
        for key, detail in clean_details.items():
            if not isinstance(detail, _Scalar):
                raise TypeError(f"audit detail {key!r} must be a JSON scalar")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev_hash = self._head_locked(fd)
            entry: dict[str, Any] = {
                "seq": seq + 1,
                "time": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
                "actor": actor.strip(),
                "action": action.strip(),
                "reason": scrub_text(reason.strip()),
                "subject": subject,
                "details": clean_details,
                "prev_hash": prev_hash,
            }
            entry["hash"] = entry_hash(entry)
            line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            data = line.encode() + b"\n"
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)  # also releases the lock
        return entry

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last entry (``(0, GENESIS_HASH)`` when empty)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return 0, GENESIS_HASH
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return self._head_locked(fd)
        finally:
            os.close(fd)

    def _head_locked(self, fd: int) -> tuple[int, str]:
        line = _last_line(fd, self.path)
        if line is None:
            return 0, GENESIS_HASH
        try:
            entry = json.loads(line)
            seq, stored = int(entry["seq"]), entry["hash"]
        except (ValueError, KeyError, TypeError):
            raise AuditLogError(
                f"audit log {self.path}: last entry is unreadable; run `pipelines audit verify`"
            ) from None
        if entry_hash(entry) != stored:
            raise AuditLogTampered(
                f"audit log {self.path} fails verification at seq {seq}: "
                "hash does not match the entry's content",
                seq,
            )
        return seq, stored

    def entries(self) -> list[dict[str, Any]]:
        """All entries, oldest first (empty if the log does not exist)."""
        return [entry for _, entry in self._read()]

    def verify(self) -> int:
        """Check the whole chain; returns the number of entries or raises AuditLogTampered."""
        prev_hash = GENESIS_HASH
        count = 0
        for seq, entry in self._read(strict=True):
            fail = _problem(entry, seq, prev_hash)
            if fail:
                raise AuditLogTampered(
                    f"audit log {self.path} fails verification at seq {seq}: {fail}", seq
                )
            prev_hash = entry["hash"]
            count = seq
        return count

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
                    raise AuditLogError(f"audit log {self.path}: line {seq} is not JSON") from None
                raise AuditLogTampered(
                    f"audit log {self.path} fails verification at seq {seq}: not a JSON object",
                    seq,
                ) from None
            out.append((seq, entry))
        if strict and not trailing_ok:
            seq = len(lines)
            raise AuditLogTampered(
                f"audit log {self.path} fails verification at seq {seq}: incomplete last line",
                seq,
            )
        return out

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"


def _problem(entry: dict[str, Any], seq: int, prev_hash: str) -> str | None:
    if entry.get("seq") != seq:
        return "sequence number out of order (entry inserted, deleted or edited)"
    if entry.get("prev_hash") != prev_hash:
        return "prev_hash does not match the previous entry's hash"
    if entry.get("hash") != entry_hash(entry):
        return "hash does not match the entry's content"
    return None


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
