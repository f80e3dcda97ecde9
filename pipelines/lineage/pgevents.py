"""Lineage events in PostgreSQL (``lineage_url``), for workers that share no disk.

One table, ``pipelines_lineage_events``: one row per OpenLineage event, in the order they were
recorded (``id``), with the event's JSON text exactly as the transport serialized it (the file
transport's line). :class:`pipelines.lineage.transport.PostgresTransport` inserts; the
lineage store (:mod:`pipelines.reporting.store`) reads them back by ``id``.

No OpenLineage import here: reporting reads events without loading the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import SecretStr

from pipelines.pgstate import connect, display_url, lock_key

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


def ensure_table(cur: Any) -> None:
    """Create the table unless it exists (serialized: concurrent creators would collide)."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("lineage/schema"),))
    cur.execute(_SCHEMA)


def insert_events(url: SecretStr | str, events: list[str]) -> None:
    """Append ``events`` (JSON texts) in one transaction."""
    con = connect(url)
    try:
        with con, con.cursor() as cur:
            ensure_table(cur)
            cur.executemany(f"INSERT INTO {TABLE} (event) VALUES (%s)", [(e,) for e in events])
    finally:
        con.close()


def state(url: SecretStr | str) -> tuple[int, int]:
    """``(count, last id)`` of the recorded events (``(0, 0)`` before the first)."""
    con = connect(url)
    try:
        with con, con.cursor() as cur:
            ensure_table(cur)
            cur.execute(f"SELECT count(*), coalesce(max(id), 0) FROM {TABLE}")
            count, last = cur.fetchone()
    finally:
        con.close()
    return int(count), int(last)


def iter_rows(url: SecretStr | str) -> Iterator[tuple[int, str]]:
    """``(id, event JSON text)`` of every event, oldest first, fetched in batches."""
    con = connect(url)
    try:
        with con, con.cursor() as cur:
            ensure_table(cur)
        with con, con.cursor(name="pipelines_lineage_events") as cur:
            cur.itersize = _BATCH
            cur.execute(f"SELECT id, event::text FROM {TABLE} ORDER BY id")
            for row_id, text in cur:
                yield int(row_id), str(text)
    finally:
        con.close()


def events_by_id(url: SecretStr | str, ids: list[int]) -> list[str]:
    """The JSON texts of the events with these ``id``\\ s, in ``id`` order."""
    con = connect(url)
    try:
        with con, con.cursor() as cur:
            cur.execute(f"SELECT event::text FROM {TABLE} WHERE id = ANY(%s) ORDER BY id", (ids,))
            return [str(row[0]) for row in cur.fetchall()]
    finally:
        con.close()


def claim_marker(url: SecretStr | str, name: str) -> bool:
    """Record ``name`` once; True for the one caller that recorded it (the DAG run's events
    are sent once, whichever worker gets there first)."""
    con = connect(url)
    try:
        with con, con.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("lineage/schema"),))
            cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE}_markers (name text PRIMARY KEY)")
            cur.execute(f"INSERT INTO {TABLE}_markers VALUES (%s) ON CONFLICT DO NOTHING", (name,))
            return bool(cur.rowcount == 1)
    finally:
        con.close()
