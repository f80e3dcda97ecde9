"""Rewrite a lake partition without a subject's rows, as a new dataset version.

The new partition is built in a staging folder and swapped in by the same atomic publisher
ingestion uses, under the partition's writer lock; the old folder is deleted (removed, not
hidden). Its manifest keeps ``read`` and counts the removed rows as ``suppressed``, so the row
accounting still balances; ``dataset_version`` and ``quarantine_version`` are the new files'
SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
from pydantic import SecretStr

from pipelines.contracts import ContractSet
from pipelines.hashing import file_sha256
from pipelines.lake.manifest import DATA_NAME, QUARANTINE_NAME
from pipelines.lake.partitions import Partition, verified_data_file, verified_quarantine_file
from pipelines.lake.publish import locked, publish_partition
from pipelines.lake.subject_match import row_condition
from pipelines.lake.subjects import SubjectGraph
from pipelines.sql import sql_str


@dataclass(frozen=True)
class Rewritten:
    """One rewritten partition: old and new versions, rows removed."""

    table: str
    partition: str
    old_version: str
    new_version: str
    old_quarantine_version: str
    new_quarantine_version: str
    data_rows_removed: int
    quarantine_rows_removed: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _copy(con: duckdb.DuckDBPyConnection, source: str, where: str, dest: str) -> int:
    done = con.execute(
        f"COPY (SELECT * FROM read_parquet({source}) WHERE NOT coalesce({where}, false)) "
        f"TO {dest} (FORMAT parquet, COMPRESSION zstd)"
    ).fetchone()
    return int(done[0]) if done else 0


def rewrite_partition(
    con: duckdb.DuckDBPyConnection,
    part: Partition,
    graph: SubjectGraph,
    contracts: ContractSet,
    *,
    lock_url: SecretStr | None = None,
) -> Rewritten:
    """Rewrite ``part`` without the rows matching the keys loaded on ``con`` (under its lock:
    advisory in PostgreSQL when ``lock_url`` is set)."""
    contract = contracts[part.table]
    table = graph.table(part.table)
    assert table is not None
    with locked(part, lock_url=lock_url):
        data = sql_str(str(verified_data_file(part)))
        quarantine = sql_str(str(verified_quarantine_file(part)))
        old = part.manifest
        with publish_partition(part.store, part.table, part.name) as folder:
            loaded = _copy(
                con, data, row_condition(contract, table), sql_str(str(folder / DATA_NAME))
            )
            quarantined = _copy(
                con,
                quarantine,
                row_condition(contract, table, quarantine=True),
                sql_str(str(folder / QUARANTINE_NAME)),
            )
            by_check = dict(
                con.execute(
                    f"SELECT failed_check, count(*) FROM read_parquet({sql_str(str(folder / QUARANTINE_NAME))}) "
                    "GROUP BY failed_check ORDER BY failed_check"
                ).fetchall()
            )
            removed = (old.counts.loaded - loaded) + (old.counts.quarantined - quarantined)
            counts = old.counts.model_copy(
                update={
                    "loaded": loaded,
                    "quarantined": quarantined,
                    "suppressed": old.counts.suppressed + removed,
                }
            )
            new = old.model_copy(
                update={
                    "counts": counts,
                    "quarantine_by_check": {str(k): int(v) for k, v in by_check.items()},
                    "dataset_version": file_sha256(folder / DATA_NAME),
                    "quarantine_version": file_sha256(folder / QUARANTINE_NAME),
                }
            )
            new.write(folder)
    return Rewritten(
        table=part.table,
        partition=part.name,
        old_version=old.dataset_version,
        new_version=new.dataset_version,
        old_quarantine_version=old.quarantine_version,
        new_quarantine_version=new.quarantine_version,
        data_rows_removed=old.counts.loaded - loaded,
        quarantine_rows_removed=old.counts.quarantined - quarantined,
    )
