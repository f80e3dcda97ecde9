"""The protected lake inside the warehouse: a partition registry and one view per table.

``register_lake(con, selection, contracts=...)`` (re)creates schema ``lake`` in the warehouse with

- ``lake.partitions``: one row per selected partition (table, partition, interval, dataset
  version, run id, contract version, manifest and data file paths, rows loaded), i.e. the
  release the features are built from;
- ``lake.<table>`` for every contract table: a view over exactly the selected partitions'
  ``data.parquet`` files, with the contract's lake columns (typed as the contract says), the
  lineage columns ``_source_file`` and ``_source_row``, and ``_partition`` and
  ``_dataset_version`` from the registry. A table without selected partitions gets an empty
  view of the same columns and types, built from its contract.

Views, not copies: the lake stays the single copy of the data, and re-registering is cheap.
The schema is replaced in one transaction, so readers never see half a registration. Every
data file is verified against its manifest first (:func:`pipelines.lake.partitions.
verified_data_file`): a changed file stops the registration by name, and nothing is replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.contracts import Contract, ContractSet
from pipelines.lake.manifest import MANIFEST_NAME
from pipelines.lake.partitions import Partition, verified_data_files
from pipelines.lake.storage import LakeStorage
from pipelines.sql import q, sql_str
from pipelines.warehouse.project import LAKE_SCHEMA

LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source_file", "VARCHAR"),
    ("_source_row", "BIGINT"),
)
"""Columns every lake data file carries next to the contract's columns."""

RELEASE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_partition", "VARCHAR"),
    ("_dataset_version", "VARCHAR"),
)
"""Columns the views add from ``lake.partitions``."""

PARTITIONS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("table_name", "VARCHAR"),
    ("partition", "VARCHAR"),
    ("interval_start", "TIMESTAMP"),
    ("interval_end", "TIMESTAMP"),
    ("dataset_version", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("contract_version", "INTEGER"),
    ("contract_fingerprint", "VARCHAR"),
    ("rows_loaded", "BIGINT"),
    ("manifest_path", "VARCHAR"),
    ("data_path", "VARCHAR"),
)
"""``lake.partitions``; interval bounds are UTC (naive TIMESTAMP, like the lake's times)."""

_FILE_COLUMN = "_lake_file"


class LakeRegistrationError(ValueError):
    """The selection cannot be registered; the message names the table and partition."""


def lake_columns(contract: Contract) -> list[tuple[str, str]]:
    """The columns (name, DuckDB type) of ``lake.<table>``, in order."""
    return [
        *((c.lake_name, c.lake_type) for c in contract.written_columns),
        *contract.surrogate_columns,
        *LINEAGE_COLUMNS,
        *RELEASE_COLUMNS,
    ]


def _utc_naive(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _registry_rows(
    selection: Mapping[str, Sequence[Partition]], contracts: ContractSet
) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for table, parts in selection.items():
        if table not in contracts:
            raise LakeRegistrationError(
                f"selection names table {table!r}, which has no contract; "
                f"known: {', '.join(sorted(contracts))}"
            )
        seen: set[str] = set()
        for part in parts:
            where = f"{table}/{part.name}"
            if part.table != table:
                raise LakeRegistrationError(
                    f"partition {part.table}/{part.name} is listed under table {table!r}"
                )
            if part.name in seen:
                raise LakeRegistrationError(f"{where} is selected twice")
            seen.add(part.name)
            data = _data_location(part)
            manifest = part.manifest
            rows.append(
                (
                    table,
                    part.name,
                    _utc_naive(manifest.interval_start),
                    _utc_naive(manifest.interval_end),
                    manifest.dataset_version,
                    manifest.run_id,
                    manifest.contract_version,
                    manifest.contract_fingerprint,
                    manifest.counts.loaded,
                    _manifest_location(part),
                    data,
                )
            )
    # the views will read exactly the files the manifests describe (hashed in parallel)
    verified_data_files(p for parts in selection.values() for p in parts)
    return rows


def _data_location(part: Partition) -> str:
    """What the view reads for ``part``: a local data file's resolved path, or its URL."""
    if part.store.versioned:
        return part.data_uri
    data = part.data_file.resolve()
    if not data.is_file():
        raise LakeRegistrationError(f"{part.table}/{part.name}: data file {data} does not exist")
    return str(data)


def _manifest_location(part: Partition) -> str:
    """A local manifest's resolved path; on a store its URL, or its DuckLake catalog row."""
    if part.store.versioned:
        return part.manifest_location
    return str((part.folder / MANIFEST_NAME).resolve())


def _view_sql(contract: Contract, files: Sequence[str]) -> str:
    schema, table = q(LAKE_SCHEMA), contract.table
    columns = lake_columns(contract)
    if not files:
        cells = ", ".join(f"CAST(NULL AS {kind}) AS {q(name)}" for name, kind in columns)
        return f"CREATE VIEW {schema}.{q(table)} AS SELECT {cells} WHERE false"
    data_columns = [c for c in columns if c not in RELEASE_COLUMNS]
    cells = ", ".join(f"CAST(d.{q(name)} AS {kind}) AS {q(name)}" for name, kind in data_columns)
    listing = ", ".join(sql_str(f) for f in files)
    return (
        f"CREATE VIEW {schema}.{q(table)} AS SELECT {cells}, "
        f"p.partition AS _partition, p.dataset_version AS _dataset_version "
        f"FROM read_parquet([{listing}], union_by_name = true, hive_partitioning = false, "
        f"filename = {sql_str(_FILE_COLUMN)}) AS d "
        f"JOIN {schema}.partitions AS p "
        f"ON p.table_name = {sql_str(table)} AND p.data_path = d.{q(_FILE_COLUMN)}"
    )


def register_lake(
    con: duckdb.DuckDBPyConnection,
    selection: Mapping[str, Sequence[Partition]],
    *,
    contracts: ContractSet,
) -> None:
    """Replace schema ``lake`` with the registry of ``selection`` and one view per table.

    ``selection`` maps table names to the partitions to expose (for example the partitions
    that passed the quality gate); tables left out, or given no partitions, get empty views.
    """
    rows = _registry_rows(selection, contracts)
    stores = {p.store.root: p.store for parts in selection.values() for p in parts}
    for store in stores.values():
        store.prepare(con)  # an object store's views read through httpfs
    files: dict[str, list[str]] = {t: [] for t in contracts}
    for row in rows:
        files[str(row[0])].append(str(row[-1]))
    schema = q(LAKE_SCHEMA)
    columns = ", ".join(f"{q(n)} {t}" for n, t in PARTITIONS_COLUMNS)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"CREATE TABLE {schema}.partitions ({columns})")
        if rows:
            marks = ", ".join("?" for _ in PARTITIONS_COLUMNS)
            con.executemany(f"INSERT INTO {schema}.partitions VALUES ({marks})", rows)
        for table in sorted(contracts):
            con.execute(_view_sql(contracts[table], files[table]))
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def select_partitions(
    lake: Path | LakeStorage, contracts: ContractSet, *, before: datetime | None = None
) -> dict[str, list[Partition]]:
    """Every published partition of every contract table (optionally only those whose
    interval starts before ``before``), for ``register_lake``."""
    from pipelines.lake.partitions import partitions

    chosen: dict[str, list[Partition]] = {}
    for table in contracts.load_order():
        parts = partitions(lake, table)
        if before is not None:
            parts = [p for p in parts if p.interval.start < before]
        chosen[table] = parts
    return chosen
