"""Publishing and removing a partition in the DuckLake catalog: one transaction each.

A commit deletes the partition's manifest row and the rows of its previous data and
quarantine files (``WHERE filename = ...``), registers the new objects
(``ducklake_add_data_files``; they were PUT before), inserts the manifest row and sets the
snapshot's commit message: readers see the previous version or the new one, never a mix.
The lake tables are created from the first file's Parquet schema; a later file's new
columns are added (``ALTER TABLE ... ADD COLUMN``), a file lacking columns reads them as
NULL, and a column whose type changed is an error (:class:`CatalogSchemaError`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from pipelines.lake.ducklake.connection import (
    ALIAS,
    MANIFESTS,
    CatalogError,
    LakeCatalog,
    has_table,
)
from pipelines.sql import q, sql_str

QUARANTINE_SUFFIX = "__quarantine"


class CatalogSchemaError(CatalogError):
    """A file's column has another type than the DuckLake table's column of that name."""


@dataclass(frozen=True)
class Entry:
    """One partition's row of the manifests table."""

    table: str
    partition: str
    manifest: str
    """The manifest's JSON."""
    data_uri: str
    quarantine_uri: str


WHERE_PARTITION = 'WHERE "table" = ? AND "partition" = ?'


def _previous(cur: Any, table: str, partition: str) -> tuple[str, str, str] | None:
    row = cur.execute(
        f"SELECT manifest, data_uri, quarantine_uri FROM {ALIAS}.{MANIFESTS} {WHERE_PARTITION}",
        [table, partition],
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), str(row[2]))


def _columns(cur: Any, sql: str) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in cur.execute(f"DESCRIBE {sql}").fetchall()}


def ensure_table(cur: Any, name: str, uri: str) -> None:
    """Make DuckLake table ``name`` able to hold the Parquet file at ``uri``."""
    target = f"{ALIAS}.{q(name)}"
    source = f"SELECT * FROM read_parquet({sql_str(uri)})"
    if not has_table(cur, name):
        cur.execute(f"CREATE TABLE {target} AS {source} LIMIT 0")
        return
    have = _columns(cur, f"SELECT * FROM {target}")
    for column, kind in _columns(cur, source).items():
        if column not in have:
            cur.execute(f"ALTER TABLE {target} ADD COLUMN {q(column)} {kind}")
        elif have[column] != kind:
            raise CatalogSchemaError(
                f"DuckLake table {name}: column {column} is {have[column]} in the catalog but "
                f"{kind} in {uri}. DuckLake keeps one type per column: restore the "
                f"contract's type, or change the catalog's (ALTER TABLE {name} ALTER "
                f"{column} TYPE {kind}, when it widens the old one) and re-run."
            )


def _swap_file(cur: Any, name: str, old: str | None, new: str) -> None:
    """Replace file ``old``'s rows in table ``name`` by those of file ``new``."""
    if old == new:
        return
    ensure_table(cur, name, new)
    if old is not None:
        cur.execute(f"DELETE FROM {ALIAS}.{q(name)} WHERE filename = ?", [old])
    cur.execute(
        f"CALL ducklake_add_data_files({sql_str(ALIAS)}, {sql_str(name)}, {sql_str(new)}, "
        "allow_missing => true)"
    )


def commit_message(cur: Any, author: str | None, message: str, extra: dict[str, Any]) -> None:
    """Name the transaction's snapshot: its author (run id), message and extra JSON."""
    cur.execute(
        f"CALL {ALIAS}.set_commit_message(?, ?, extra_info => ?)",
        [author, message, json.dumps(extra, sort_keys=True, separators=(",", ":"))],
    )


def commit_partition(
    catalog: LakeCatalog, entry: Entry, author: str | None, extra: dict[str, Any]
) -> None:
    """Publish ``entry`` (its objects already on the store) in one catalog transaction."""

    def work(cur: duckdb.DuckDBPyConnection) -> None:
        previous = _previous(cur, entry.table, entry.partition)
        cur.execute(
            f"DELETE FROM {ALIAS}.{MANIFESTS} {WHERE_PARTITION}", [entry.table, entry.partition]
        )
        _swap_file(cur, entry.table, previous and previous[1], entry.data_uri)
        quarantine = entry.table + QUARANTINE_SUFFIX
        _swap_file(cur, quarantine, previous and previous[2], entry.quarantine_uri)
        cur.execute(
            f"INSERT INTO {ALIAS}.{MANIFESTS} VALUES (?, ?, ?, ?, ?)",
            [entry.table, entry.partition, entry.manifest, entry.data_uri, entry.quarantine_uri],
        )
        commit_message(cur, author, f"publish {entry.table}/{entry.partition}", extra)

    catalog.transaction(f"{entry.table}/{entry.partition}", work)


def remove_partition(catalog: LakeCatalog, table: str, partition: str, author: str) -> str | None:
    """Remove ``table/partition`` (its manifest row and its files' rows) in one transaction;
    the removed manifest's JSON, or None when there was none."""

    def work(cur: duckdb.DuckDBPyConnection) -> str | None:
        previous = _previous(cur, table, partition)
        if previous is None:
            return None
        manifest, data_uri, quarantine_uri = previous
        cur.execute(f"DELETE FROM {ALIAS}.{MANIFESTS} {WHERE_PARTITION}", [table, partition])
        for name, uri in ((table, data_uri), (table + QUARANTINE_SUFFIX, quarantine_uri)):
            cur.execute(f"DELETE FROM {ALIAS}.{q(name)} WHERE filename = ?", [uri])
        commit_message(
            cur, author, f"remove {table}/{partition}", {"table": table, "partition": partition}
        )
        return manifest

    return catalog.transaction(f"{table}/{partition}", work)
