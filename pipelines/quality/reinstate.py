"""Rows quarantined only for a missing parent return when the parent is back.

A child row whose foreign key found no parent is quarantined: by ingestion (``orphan_fk``)
or by the quality gate (``gx:contract.foreign_key.<column>``, when the parent's rows left the
lake after the child was loaded). Both keep the row's lake values in ``record`` (non-PII
values encrypted: reading them back takes the key ring). When the
parent partition is re-published with those rows, the child's rows are not lost: every
quality run of the child partition first re-evaluates its quarantined rows whose *every*
reason is a missing parent, against the parents' partitions up to the interval end (the same
rule as ingestion and the gate). Rows whose parents are all present return to
``data.parquet`` with their lake values and types; the others stay, still counted as
quarantined, with the check and the run that moved them. The partition is republished under
its writer lock with the manifest's counts updated (``read = loaded + quarantined``); the
validation that follows vouches for the republished version.
"""

from __future__ import annotations

import logging

import duckdb

from pipelines.contracts import Contract, ContractSet
from pipelines.hashing import file_sha256
from pipelines.lake import quarantine as records
from pipelines.lake.manifest import DATA_NAME, QUARANTINE_NAME, Counts
from pipelines.lake.partitions import (
    Partition,
    partitions,
    partitions_until,
    verified_data_file,
    verified_data_files,
    verified_quarantine_file,
)
from pipelines.lake.publish import locked, publish_partition
from pipelines.lake.storage import lake_store
from pipelines.protection import KeyRing
from pipelines.quality.quarantine import GATE_PREFIX, QuarantineError, ensure_unchanged
from pipelines.settings import Settings
from pipelines.sql import json_path, q, sql_str

log = logging.getLogger("pipelines.quality")

INGEST_ORPHAN = "orphan_fk"
GATE_ORPHAN = GATE_PREFIX + "contract.foreign_key."


def is_orphan_check(check: str) -> bool:
    """Whether a quarantine check means "no parent row" (ingestion's or the gate's)."""
    return check == INGEST_ORPHAN or check.startswith(GATE_ORPHAN)


_ONLY_ORPHAN = (
    f"list_bool_and(list_transform(reasons, r -> r['check'] = {sql_str(INGEST_ORPHAN)} "
    f"OR starts_with(r['check'], {sql_str(GATE_ORPHAN)})))"
)


def reinstate(
    settings: Settings,
    contracts: ContractSet,
    part: Partition,
    *,
    run_id: str,
    keyring: KeyRing | None = None,
) -> dict[str, int]:
    """Return ``part``'s orphans whose parents are back to its data; count them by check.

    Quarantine records hold the values the lake keeps in clear encrypted
    (:mod:`pipelines.lake.quarantine`):
    without ``keyring`` nothing can return, and the rows wait for a run that has it.
    """
    contract = contracts[part.table]
    if not contract.foreign_keys or not any(
        is_orphan_check(c) for c in part.manifest.quarantine_by_check
    ):
        return {}
    if keyring is None:
        log.info(
            "quality %s %s: rows quarantined for a missing parent wait: their values are "
            "encrypted and this run has no key ring",
            part.table,
            part.name,
        )
        return {}
    with duckdb.connect(":memory:") as con:
        con.execute(f"SET memory_limit = {sql_str(settings.duckdb_memory_limit)}")
        part.store.prepare(con)
        records.register_decrypt_udf(con, keyring)
        data = verified_data_file(part)
        columns = con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({sql_str(str(data))}, hive_partitioning = false)"
        ).fetchall()
        _pending(con, contract, part, [(str(c[0]), str(c[1])) for c in columns])
        parents = [
            _has_parent(settings, contracts, contract, part, fk)
            for fk in range(len(contract.foreign_keys))
        ]
        con.execute(
            f"CREATE TEMP TABLE _back AS SELECT * FROM _pending WHERE {' AND '.join(parents)}"
        )
        back = {
            str(k): int(v)
            for k, v in con.execute(
                "SELECT failed_check, count(*) FROM _back GROUP BY 1 ORDER BY 1"
            ).fetchall()
        }
        if not back:
            return {}
        with locked(part, lock_url=settings.lock_url):
            ensure_unchanged(part)
            _republish(con, part, [str(c[0]) for c in columns], sum(back.values()))
    log.info(
        "quality %s %s: %d row(s) quarantined for a missing parent are back (run %s): %s",
        part.table,
        part.name,
        sum(back.values()),
        run_id,
        back,
    )
    return back


def pending_children(settings: Settings, contracts: ContractSet, part: Partition) -> dict[str, int]:
    """Partitions of the tables referencing ``part``'s table that hold rows quarantined for a
    missing parent and can see ``part`` (their interval ends after its start), with how many:
    what a re-published parent would bring back at those partitions' next quality run."""
    found: dict[str, int] = {}
    for name in contracts.load_order():
        if not any(fk.ref_table == part.table for fk in contracts[name].foreign_keys):
            continue
        for child in partitions(lake_store(settings), name):
            if child.interval.end <= part.interval.start:
                continue
            waiting = sum(
                n for c, n in child.manifest.quarantine_by_check.items() if is_orphan_check(c)
            )
            if waiting:
                found[f"{name}/{child.name}"] = waiting
    return found


def _pending(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    part: Partition,
    columns: list[tuple[str, str]],
) -> None:
    """``_pending``: the quarantined rows whose every reason is a missing parent, with their
    lake values restored from ``record`` to the data file's column types."""
    quarantine = verified_quarantine_file(part)
    values = records.lake_values_sql(contract, "record", records.DECRYPT_UDF)
    cells = []
    for name, kind in columns:
        if name in values:  # protected columns as stored, the others decrypted
            cells.append(f"CAST({values[name]} AS {kind}) AS {q(name)}")
        else:  # _source_file, _source_row
            cells.append(f"CAST({q(name)} AS {kind}) AS {q(name)}")
    con.execute(
        f"CREATE TEMP TABLE _pending AS SELECT {', '.join(cells)}, failed_check "
        f"FROM read_parquet({sql_str(str(quarantine))}, hive_partitioning = false) "
        f"WHERE {_ONLY_ORPHAN}{_kept_values(contract)}"
    )


def _kept_values(contract: Contract) -> str:
    """SQL ``AND ...``: the record kept every value the lake holds in clear (a gate run
    without the key ring keeps none; such a row cannot return, it would come back empty)."""
    kept = [
        f"json_exists(record, {json_path(c.lake_name)})"
        for c in contract.written_columns
        if records.held_clear(c)
    ]
    return "".join(f" AND {k}" for k in kept)


def _has_parent(
    settings: Settings, contracts: ContractSet, contract: Contract, part: Partition, index: int
) -> str:
    """SQL condition on ``_pending``: foreign key ``index`` is null or finds its parent in the
    referenced table's partitions up to the interval end."""
    fk = contract.foreign_keys[index]
    own = q(contract.column(fk.column).lake_name)
    ref = q(contracts[fk.ref_table].column(fk.ref_column).lake_name)
    files = verified_data_files(
        partitions_until(lake_store(settings), fk.ref_table, part.interval.end)
    )
    if not files:
        return f"{own} IS NULL"
    listing = "[" + ", ".join(sql_str(str(f)) for f in files) + "]"
    return (
        f"({own} IS NULL OR {own} IN (SELECT {ref} FROM read_parquet({listing}, "
        f"hive_partitioning = false) WHERE {ref} IS NOT NULL))"
    )


def _republish(
    con: duckdb.DuckDBPyConnection, part: Partition, columns: list[str], back: int
) -> None:
    """Publish ``part`` with the rows of ``_back`` moved from its quarantine to its data."""
    data, quarantine = verified_data_file(part), verified_quarantine_file(part)
    listing = ", ".join(q(c) for c in columns)
    manifest = part.manifest
    with publish_partition(part.store, part.table, part.name) as staging:
        loaded = con.execute(
            f"COPY (SELECT * FROM (SELECT {listing} FROM read_parquet({sql_str(str(data))}, "
            f"hive_partitioning = false) UNION ALL SELECT {listing} FROM _back) "
            "ORDER BY _source_file, _source_row) "
            f"TO {sql_str(str(staging / DATA_NAME))} (FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()
        quarantined = con.execute(
            f"COPY (SELECT * FROM read_parquet({sql_str(str(quarantine))}, "
            "hive_partitioning = false) AS k ANTI JOIN _back USING (_source_file, _source_row) "
            "ORDER BY _source_file, _source_row) "
            f"TO {sql_str(str(staging / QUARANTINE_NAME))} (FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()
        n_loaded = int(loaded[0]) if loaded else 0
        n_quarantined = int(quarantined[0]) if quarantined else 0
        counts = Counts(read=manifest.counts.read, loaded=n_loaded, quarantined=n_quarantined)
        if n_loaded != manifest.counts.loaded + back or not counts.balanced:
            raise QuarantineError(
                f"{part.table}/{part.name}: returning {back} row(s) would give read "
                f"{counts.read} != loaded {n_loaded} + quarantined {n_quarantined}; nothing "
                "was republished"
            )
        by_check = con.execute(
            f"SELECT failed_check, count(*) FROM read_parquet("
            f"{sql_str(str(staging / QUARANTINE_NAME))}) GROUP BY 1 ORDER BY 1"
        ).fetchall()
        manifest.model_copy(
            update={
                "counts": counts,
                "quarantine_by_check": {str(k): int(v) for k, v in by_check},
                "dataset_version": file_sha256(staging / DATA_NAME),
                "quarantine_version": file_sha256(staging / QUARANTINE_NAME),
            }
        ).write(staging)
