"""Rewrite a lake partition without a subject's rows, as a new dataset version.

The new partition is built in a staging folder and swapped in by the same atomic publisher
ingestion uses, under the partition's writer lock; the old folder is deleted (removed, not
hidden). On an object store the new objects and manifest are published, then every object of
the partition the new manifest does not name is deleted, still under the lock: a reader that
listed the old manifest and reads on fails with an error naming the partition
(:class:`~pipelines.lake.partitions.PartitionSuperseded`, or DuckDB's "not found" for the
object) and re-runs; none reads the erased rows once the erasure is done. Its manifest keeps ``read`` and counts the removed rows as ``suppressed``, so the row
accounting still balances; ``dataset_version`` and ``quarantine_version`` are the new files'
SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb
from pydantic import SecretStr

from pipelines.contracts import ContractSet
from pipelines.hashing import file_sha256
from pipelines.lake.manifest import DATA_NAME, QUARANTINE_NAME
from pipelines.lake.partitions import Partition, verified_data_file, verified_quarantine_file
from pipelines.lake.publish import (
    current_manifest,
    lock_root,
    locked,
    partition_lock,
    publish_partition,
)
from pipelines.lake.storage import LakeStorage
from pipelines.lake.stored import delete_unreferenced, unreferenced
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
    objects_deleted: int = 0
    """Objects of the partition deleted from the object store after the new manifest: the
    superseded data and quarantine objects (and any other no manifest named)."""

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
    versioned = part.store.versioned
    with locked(part, lock_url=lock_url):
        part = replace(part, manifest=current_manifest(part))  # a run may have replaced it
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
        # on an object store the superseded objects still hold the rows: deleted, not hidden
        deleted = delete_unreferenced(part.store, part.table, part.name) if versioned else []
    return Rewritten(
        table=part.table,
        partition=part.name,
        old_version=old.dataset_version,
        new_version=new.dataset_version,
        old_quarantine_version=old.quarantine_version,
        new_quarantine_version=new.quarantine_version,
        data_rows_removed=old.counts.loaded - loaded,
        quarantine_rows_removed=old.counts.quarantined - quarantined,
        objects_deleted=len(deleted),
    )


def delete_leftovers(
    store: LakeStorage, tables: list[str], *, lock_url: SecretStr | None = None
) -> list[str]:
    """On an object store: delete every object of ``tables`` that no manifest names
    (superseded versions of partitions the erasure did not rewrite, unfinished writes: any
    may hold the subject's rows), each partition's under its writer lock, so no live
    writer's objects go. What was deleted; nothing for a local lake (a rewrite removes the
    old folder there)."""
    if not store.versioned:
        return []
    gone: list[str] = []
    for table in tables:
        for name in sorted({rel.split("/")[1] for rel in unreferenced(store, table)}):
            with partition_lock(lock_root(store) / table, name, lock_url=lock_url):
                gone += delete_unreferenced(store, table, name)
    return gone
