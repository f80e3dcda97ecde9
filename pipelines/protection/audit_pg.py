"""The audit log in PostgreSQL (``audit_url``), for workers that share no disk.

Same entries, same chain and the same checks as the file (:mod:`pipelines.protection.audit`):
one row per entry in ``pipelines_audit`` (a column per field; ``details`` as ``json`` text),
and the head in the one-row table ``pipelines_audit_head`` (``seq``, ``mac``, ``key_id``,
``head_mac``: the head file's fields). An append is one transaction that takes the head row
``FOR UPDATE``, checks the last entry against it, inserts the next entry and moves the head:
appends from any number of processes and machines form one unbroken chain, and a writer that
dies mid-append leaves nothing (the transaction rolls back).

:func:`open_audit_log` picks the backend from the settings: PostgreSQL when ``audit_url`` is
set, else the file at ``settings.audit`` (the embedded default).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import SecretStr

from pipelines.pgstate import StateStoreError, connect, display_url, lock_key
from pipelines.protection.audit import GENESIS, AuditLog, _head_mac, new_entry
from pipelines.protection.errors import AuditLogError
from pipelines.protection.keys import KeyMaterial, KeyRing
from pipelines.settings import Settings

TABLE = "pipelines_audit"
HEAD_TABLE = "pipelines_audit_head"
FIELDS: tuple[str, ...] = ("seq", "time", "actor", "action", "reason", "subject", "details")
FIELDS += ("prev_mac", "key_id", "mac")
_COLUMNS = ", ".join(f'"{name}"' for name in FIELDS)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    seq bigint PRIMARY KEY, "time" text NOT NULL, actor text NOT NULL, action text NOT NULL,
    reason text NOT NULL, subject text, details json NOT NULL, prev_mac text NOT NULL,
    key_id text, mac text NOT NULL
);
CREATE TABLE IF NOT EXISTS {HEAD_TABLE} (
    id int PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, mac text NOT NULL,
    key_id text, head_mac text
);
INSERT INTO {HEAD_TABLE} VALUES (1, 0, '{GENESIS}', NULL, NULL) ON CONFLICT (id) DO NOTHING;
"""


def open_audit_log(settings: Settings, keyring: KeyRing | None = None) -> AuditLog:
    """The settings' audit log: in PostgreSQL when ``audit_url`` is set, else the file."""
    if settings.audit_url is not None:
        return PgAuditLog(settings.audit_url, keyring)
    return AuditLog(settings.audit, keyring)


def _row_entry(row: tuple[Any, ...]) -> dict[str, Any]:
    entry = dict(zip(FIELDS, row, strict=True))
    if isinstance(entry["details"], str):  # a driver that does not parse json
        entry["details"] = json.loads(entry["details"])
    return entry


class PgAuditLog(AuditLog):
    """The audit log in the PostgreSQL database at ``url`` (tables created on first use)."""

    def __init__(self, url: SecretStr | str, keyring: KeyRing | None = None):
        self.url = url if isinstance(url, SecretStr) else SecretStr(url)
        self._keyring = keyring
        self._ready = False
        self._active: Any = None  # the cursor of the transaction under way, if any

    @property
    def where(self) -> str:
        return f"{display_url(self.url)} table {TABLE}"

    @property
    def head_where(self) -> str:
        return f"head row ({HEAD_TABLE})"

    def with_keyring(self, keyring: KeyRing | None) -> AuditLog:
        return PgAuditLog(self.url, keyring)

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor in one transaction (committed on success, rolled back on any error); a
        call inside a transaction under way (the head checked during an append) joins it."""
        if self._active is not None:
            yield self._active
            return
        import psycopg2

        try:
            con = connect(self.url)
        except StateStoreError as exc:
            raise AuditLogError(f"audit log: {exc}") from None
        try:
            with con, con.cursor() as cur:
                if not self._ready:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("audit/schema"),))
                    cur.execute(_SCHEMA)
                    self._ready = True
                self._active = cur
                try:
                    yield cur
                finally:
                    self._active = None
        except psycopg2.Error as exc:
            raise AuditLogError(
                f"audit log {self.where}: PostgreSQL refused ({type(exc).__name__}, "
                f"{exc.pgcode or 'no code'})"
            ) from None
        finally:
            con.close()

    def _append(self, fields: Mapping[str, Any], key: KeyMaterial | None) -> dict[str, Any]:
        with self._cursor() as cur:
            cur.execute(f"SELECT seq FROM {HEAD_TABLE} WHERE id = 1 FOR UPDATE")
            seq, prev_mac = self._checked_head(self._last(cur))
            entry = new_entry(seq, prev_mac, fields, key)
            values = [entry[name] for name in FIELDS]
            values[FIELDS.index("details")] = json.dumps(
                entry["details"], ensure_ascii=False, allow_nan=False
            )
            placeholders = ", ".join(["%s"] * len(FIELDS))
            cur.execute(f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES ({placeholders})", values)
            head_mac = _head_mac(entry["seq"], entry["mac"], key) if key else None
            cur.execute(
                f"UPDATE {HEAD_TABLE} SET seq = %s, mac = %s, key_id = %s, head_mac = %s "
                "WHERE id = 1",
                (entry["seq"], entry["mac"], entry["key_id"], head_mac),
            )
        return entry

    @staticmethod
    def _last(cur: Any) -> dict[str, Any] | None:
        cur.execute(f"SELECT {_COLUMNS} FROM {TABLE} ORDER BY seq DESC LIMIT 1")
        row = cur.fetchone()
        return None if row is None else _row_entry(row)

    def head(self) -> tuple[int, str]:
        with self._cursor() as cur:
            entry = self._last(cur)
        return (0, GENESIS) if entry is None else (int(entry["seq"]), str(entry["mac"]))

    def _stored_head(self) -> dict[str, Any] | str:
        with self._cursor() as cur:
            cur.execute(f"SELECT seq, mac, key_id, head_mac FROM {HEAD_TABLE} WHERE id = 1")
            row = cur.fetchone()
        if row is None:
            return f"the {self.head_where} is missing"
        return dict(zip(("seq", "mac", "key_id", "head_mac"), row, strict=True))

    def _has_head(self) -> bool:
        head = self._stored_head()
        return isinstance(head, str) or int(head["seq"]) > 0

    def exists(self) -> bool:
        with self._cursor() as cur:
            cur.execute(f"SELECT (SELECT count(*) FROM {TABLE}), seq FROM {HEAD_TABLE}")
            row = cur.fetchone()
        return row is None or int(row[0]) > 0 or int(row[1]) > 0

    def _read(self, strict: bool = False) -> list[tuple[int, dict[str, Any]]]:
        """Every entry by ``seq``, numbered by position (a gap is caught by ``verify``)."""
        with self._cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM {TABLE} ORDER BY seq")
            rows = cur.fetchall()
        return [(number, _row_entry(row)) for number, row in enumerate(rows, start=1)]

    def __repr__(self) -> str:
        return f"PgAuditLog({self.where!r})"
