"""Lineage events in PostgreSQL (``lineage_url``), for workers that share no disk.

One table, ``pipelines_lineage_events``: one row per OpenLineage event, in the order they were
recorded (``id``), with the event's JSON text exactly as the transport serialized it (the file
transport's line). :class:`pipelines.lineage.transport.PostgresTransport` inserts; the
lineage store (:mod:`pipelines.reporting.store`) reads them back by ``id``.

No OpenLineage import here: reporting reads events without loading the client.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import SecretStr

from pipelines.pgstate import StateStoreError, connect, display_url, lock_key, secret

TABLE = "pipelines_lineage_events"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id bigserial PRIMARY KEY,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    event json NOT NULL
)
"""
_BATCH = 2000


def where(url: SecretStr | str) -> str:
    """The table's location for messages (no password)."""
    return f"{display_url(url)} table {TABLE}"


_READY: set[tuple[int, str]] = set()
"""(process, URL) pairs whose table is known to exist."""


def ensure_table(cur: Any, url: SecretStr | str) -> None:
    """Create the table unless it exists (serialized: concurrent creators would collide);
    once per process and URL."""
    ready = (os.getpid(), secret(url))
    if ready in _READY:
        return
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("lineage/schema"),))
    cur.execute(_SCHEMA)
    _READY.add(ready)


@contextmanager
def _session(url: SecretStr | str) -> Iterator[Any]:
    """A connection; a database error becomes :class:`StateStoreError` naming its class and
    SQLSTATE only (a driver's message may quote the data)."""
    import psycopg2

    con = connect(url)
    try:
        yield con
    except psycopg2.Error as exc:
        raise StateStoreError(
            f"lineage events at {where(url)}: PostgreSQL refused ({type(exc).__name__}, "
            f"{exc.pgcode or 'no code'})"
        ) from None
    finally:
        con.close()


def insert_events(url: SecretStr | str, events: list[str]) -> None:
    """Append ``events`` (JSON texts) in one transaction, committed without waiting for the
    disk (as the file transport, which does not fsync; a server crash may lose the last)."""
    with _session(url) as con, con, con.cursor() as cur:
        ensure_table(cur, url)
        cur.execute("SET LOCAL synchronous_commit TO OFF")
        cur.executemany(f"INSERT INTO {TABLE} (event) VALUES (%s)", [(e,) for e in events])


def state(url: SecretStr | str) -> tuple[int, int]:
    """``(count, last id)`` of the recorded events (``(0, 0)`` before the first)."""
    with _session(url) as con, con, con.cursor() as cur:
        ensure_table(cur, url)
        cur.execute(f"SELECT count(*), coalesce(max(id), 0) FROM {TABLE}")
        count, last = cur.fetchone()
    return int(count), int(last)


def iter_rows(url: SecretStr | str) -> Iterator[tuple[int, str]]:
    """``(id, event JSON text)`` of every event, oldest first, fetched in batches."""
    with _session(url) as con:
        with con, con.cursor() as cur:
            ensure_table(cur, url)
        with con, con.cursor(name="pipelines_lineage_events") as cur:
            cur.itersize = _BATCH
            cur.execute(f"SELECT id, event::text FROM {TABLE} ORDER BY id")
            for row_id, text in cur:
                yield int(row_id), str(text)


def events_by_id(url: SecretStr | str, ids: list[int]) -> list[str]:
    """The JSON texts of the events with these ids, in id order."""
    with _session(url) as con, con, con.cursor() as cur:
        cur.execute(f"SELECT event::text FROM {TABLE} WHERE id = ANY(%s) ORDER BY id", (ids,))
        return [str(row[0]) for row in cur.fetchall()]


def claim_marker(url: SecretStr | str, name: str) -> bool:
    """Record ``name`` once; True for the one caller that recorded it (the DAG run's events
    are sent once, whichever worker gets there first)."""
    with _session(url) as con, con, con.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("lineage/schema"),))
        cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE}_markers (name text PRIMARY KEY)")
        cur.execute(f"INSERT INTO {TABLE}_markers VALUES (%s) ON CONFLICT DO NOTHING", (name,))
        return bool(cur.rowcount == 1)
