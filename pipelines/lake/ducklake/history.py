"""Reading the DuckLake catalog: the manifests (now or as of a snapshot), the commits that
changed a table, and expiring the snapshots that still reach deleted objects."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb

from pipelines.lake.ducklake.connection import ALIAS, MANIFESTS, CatalogError, LakeCatalog
from pipelines.lake.ducklake.stats import narrow_stats
from pipelines.sql import sql_str


@dataclass(frozen=True)
class Commit:
    """One snapshot that changed a lake table."""

    snapshot: int
    time: datetime
    run_id: str | None
    message: str
    partition: str
    dataset_version: str | None
    """The data file's SHA-256 the commit published (None for a removal)."""


def _at(snapshot: int | None) -> str:
    return "" if snapshot is None else f" AT (VERSION => {int(snapshot)})"


@dataclass(frozen=True)
class Row:
    """One partition's manifest row, and the snapshot whose commit wrote it."""

    partition: str
    manifest: str
    """The manifest's JSON."""
    snapshot: int


SNAPSHOT = "snapshot_id"
"""DuckLake's virtual column: the snapshot that inserted a row (a commit deletes and
re-inserts its partition's row, so it is that commit's snapshot, also as of an old one)."""


def manifests(catalog: LakeCatalog, table: str, snapshot: int | None = None) -> list[Row]:
    """The manifest rows of ``table``'s partitions, now or as of ``snapshot``."""
    with catalog.session() as cur:
        try:
            rows = cur.execute(
                f'SELECT "partition", manifest, {SNAPSHOT} FROM {ALIAS}.{MANIFESTS}{_at(snapshot)} '
                'WHERE "table" = ? ORDER BY "partition"',
                [table],
            ).fetchall()
        except (duckdb.InvalidInputException, duckdb.CatalogException) as exc:
            if snapshot is None:
                raise
            raise CatalogError(  # no such snapshot: expired, before the catalog, or to come
                f"{table}: no listing as of snapshot {snapshot} in {catalog.display} ({exc}); "
                f"see `pipelines lake history --table {table}` for the snapshots kept"
            ) from None
    return [Row(str(p), str(m), int(s)) for p, m, s in rows]


def current_row(catalog: LakeCatalog, table: str, partition: str) -> Row | None:
    """The manifest row of ``table/partition`` as committed now, or None."""
    with catalog.session() as cur:
        row = cur.execute(
            f"SELECT manifest, {SNAPSHOT} FROM {ALIAS}.{MANIFESTS} "
            'WHERE "table" = ? AND "partition" = ?',
            [table, partition],
        ).fetchone()
    return None if row is None else Row(partition, str(row[0]), int(row[1]))


def snapshot_now(cur: duckdb.DuckDBPyConnection) -> int:
    row = cur.execute(f"FROM ducklake_current_snapshot({sql_str(ALIAS)})").fetchone()
    assert row is not None
    return int(row[0])


def kept_snapshots(cur: duckdb.DuckDBPyConnection) -> set[int]:
    """The snapshots the catalog still keeps (not expired)."""
    rows = cur.execute(f"SELECT snapshot_id FROM ducklake_snapshots({sql_str(ALIAS)})").fetchall()
    return {int(r[0]) for r in rows}


def current_snapshot(catalog: LakeCatalog) -> int:
    """The catalog's latest snapshot id."""
    with catalog.session() as cur:
        return snapshot_now(cur)


def history(catalog: LakeCatalog, table: str) -> list[Commit]:
    """The snapshots whose commit published or removed a partition of ``table``, oldest first."""
    with catalog.session() as cur:
        rows = cur.execute(
            "SELECT snapshot_id, snapshot_time, author, commit_message, commit_extra_info "
            f"FROM ducklake_snapshots({sql_str(ALIAS)}) WHERE commit_extra_info IS NOT NULL "
            "AND json_extract_string(commit_extra_info, '$.table') = ? ORDER BY snapshot_id",
            [table],
        ).fetchall()
    commits = []
    for snapshot, when, author, message, extra in rows:
        info = json.loads(extra)
        commits.append(
            Commit(int(snapshot), when, author, str(message), str(info.get("partition")),
                   info.get("dataset_version"))
        )  # fmt: skip
    return commits


def referencing_snapshots(catalog: LakeCatalog, uris: Iterable[str]) -> list[int]:
    """The snapshots, older than the current one, in which a manifest row named one of
    ``uris`` (as data or quarantine file): those from which a time-travel read reaches it."""
    wanted = sorted(set(uris))
    if not wanted:
        return []
    with catalog.session() as cur:
        now = snapshot_now(cur)
        rows = cur.execute(
            f"SELECT snapshot_id, change_type, rowid FROM ducklake_table_changes("
            f"{sql_str(ALIAS)}, 'main', {sql_str(MANIFESTS)}, 0, {now}) "
            "WHERE list_has_any([data_uri, quarantine_uri], ?) ORDER BY snapshot_id",
            [wanted],
        ).fetchall()
        kept = kept_snapshots(cur)
    return sorted(s for s in live_spans(rows, now) if s in kept)


def live_spans(rows: list[tuple[int, str, int]], now: int) -> set[int]:
    """Snapshots from each row's insertion to its deletion (excluded); a row still current
    names an object that is not gone, and expires nothing."""
    started: dict[int, int] = {}
    found: set[int] = set()
    for snapshot, change, rowid in rows:
        if change in ("insert", "update_postimage"):
            started[rowid] = snapshot
        elif change in ("delete", "update_preimage") and rowid in started:
            found |= set(range(started.pop(rowid), min(snapshot, now)))
    return found


def expire(catalog: LakeCatalog, versions: list[int]) -> None:
    """After objects were deleted: expire ``versions`` (the snapshots that still reach them),
    then narrow the column statistics, whose table-wide min/max may still hold one of their
    values (DuckLake only widens them)."""
    if versions:
        with catalog.session() as cur:
            listed = ", ".join(str(v) for v in versions)
            cur.execute(f"CALL ducklake_expire_snapshots({sql_str(ALIAS)}, versions => [{listed}])")
    narrow_stats(catalog)


def expire_referencing(catalog: LakeCatalog, uris: Iterable[str]) -> list[int]:
    """Expire every snapshot from which a time-travel read reaches one of ``uris`` (objects
    erased or deleted); the snapshots expired."""
    uris = list(uris)
    versions = referencing_snapshots(catalog, uris)
    if uris:
        expire(catalog, versions)
    return versions
