"""Row-level quarantine by the quality gate: rows breaking a row-level rule leave the data.

A check whose ``meta.quarantine`` is true (a row-level business rule, or a foreign key) has
its failing rows moved from the partition's ``data.parquet`` to its ``quarantine.parquet``,
with ``failed_check = 'gx:<check name>'``, the rule's column and a reason that quotes no
value; its ``record`` holds the PII columns as the lake does (protected) and every other
value encrypted when the gate runs with the key ring, else none (``_source_file`` and
``_source_row`` locate the record in its landing file). The partition is republished with
the lake's atomic publisher
(:func:`pipelines.lake.publish.staged_partition`) and its manifest's counts updated, so
``read = loaded + quarantined`` still holds. It is idempotent: a gated partition has no
failing rows left, so validating it again moves nothing and rewrites nothing. Each moved row
records the run that moved it (``moved_by_run``; null for ingestion's own quarantine), and
rows moved only for a missing parent are re-evaluated by later runs
(:mod:`pipelines.quality.reinstate`).

The republication holds the partition's writer lock
(:func:`pipelines.lake.publish.partition_lock`) and refuses to go on when the partition was
re-published since it was validated.

Which rows fail is computed by SQL derived from the check itself (the same condition GX
counted); the gate asserts that the number of rows moved equals GX's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
from pydantic import SecretStr

from pipelines.contracts import Contract
from pipelines.hashing import file_sha256
from pipelines.lake.manifest import DATA_NAME, QUARANTINE_NAME, Counts, Manifest
from pipelines.lake.partitions import Partition, verified_data_file, verified_quarantine_file
from pipelines.lake.publish import current_manifest, locked, publish_partition
from pipelines.lake.quarantine import record_from
from pipelines.quality.suites import CheckSpec
from pipelines.sql import q, sql_literal, sql_str

GATE_PREFIX = "gx:"


class QuarantineError(RuntimeError):
    """Gate quarantine could not be applied consistently; nothing was republished."""


def _record_sql(contract: Contract, encrypt_udf: str | None) -> str:
    """The quarantine record of a moved row ``d``: PII columns as the lake holds them
    (protected); every other value encrypted as ingestion's quarantine does
    (:mod:`pipelines.lake.quarantine`) when ``encrypt_udf`` is given, else left out (it may
    hold personal data all the same): ``_source_file`` and ``_source_row`` locate the record."""
    return record_from(contract, lambda name: f"CAST(d.{q(name)} AS VARCHAR)", encrypt_udf)


def violations_sql(spec: CheckSpec, view: str) -> str:
    """SQL selecting ``_source_file, _source_row`` of the rows that break ``spec``."""
    kw = spec.kwargs
    if spec.type == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = q(kw["column_A"]), q(kw["column_B"])
        op = ">=" if kw.get("or_equal") else ">"
        return (
            f"SELECT _source_file, _source_row FROM {q(view)} "
            f"WHERE {a} IS NOT NULL AND {b} IS NOT NULL AND NOT ({a} {op} {b})"
        )
    if spec.type == "expect_column_values_to_be_between":
        col = q(kw["column"])
        parts = []
        if kw.get("min_value") is not None:
            parts.append(
                f"{col} {'<=' if kw.get('strict_min') else '<'} {sql_literal(kw['min_value'])}"
            )
        if kw.get("max_value") is not None:
            parts.append(
                f"{col} {'>=' if kw.get('strict_max') else '>'} {sql_literal(kw['max_value'])}"
            )
        return (
            f"SELECT _source_file, _source_row FROM {q(view)} "
            f"WHERE {col} IS NOT NULL AND ({' OR '.join(parts) or 'false'})"
        )
    if spec.type == "expect_unexpected_rows_to_be_at_most":
        query = str(kw["unexpected_rows_query"]).replace("{batch}", q(view))
        return f"SELECT _source_file, _source_row FROM ({query}) AS v"
    raise QuarantineError(f"{spec.name}: {spec.type} cannot quarantine rows")


@dataclass(frozen=True)
class GateQuarantine:
    moved: dict[str, int]  # check name -> rows moved for it (rows counted under their first rule)
    found: dict[str, int]  # check name -> rows failing it (a row may fail several)
    partition_dir: Path | None  # the republished partition's local folder (a local lake)
    republished: bool = False


def apply(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    partition: Partition,
    specs: list[CheckSpec],
    *,
    data_view: str,
    run_id: str,
    encrypt_udf: str | None = None,
    lock_url: SecretStr | None = None,
) -> GateQuarantine:
    """Move the rows failing ``specs`` (quarantine rules) to the partition's quarantine;
    ``encrypt_udf`` (registered on ``con``) keeps their non-PII values, encrypted."""
    if not specs:
        return GateQuarantine({}, {}, None)
    parts = []
    for order, spec in enumerate(specs):
        reason = f"{spec.description or spec.name} (quality gate, run {run_id})"
        parts.append(
            f"SELECT _source_file, _source_row, {order} AS rule_order, "
            f"{sql_str(GATE_PREFIX + spec.name)} AS check_name, "
            f"{sql_str(spec.column) if spec.column else 'NULL'} AS column_name, "
            f"{sql_str(reason)} AS reason FROM ({violations_sql(spec, data_view)}) AS v{order}"
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _gate_failures AS SELECT DISTINCT * FROM ("
        + " UNION ALL ".join(parts)
        + ")"
    )
    found = dict(
        con.execute(
            "SELECT check_name, count(*) FROM _gate_failures GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    found = {str(k)[len(GATE_PREFIX) :]: int(v) for k, v in found.items()}
    if not found:
        return GateQuarantine({}, {}, None)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _gate_rows AS "
        "SELECT _source_file, _source_row, "
        "list({'check': check_name, 'column': column_name, 'reason': reason} ORDER BY rule_order) "
        "AS reasons FROM _gate_failures GROUP BY _source_file, _source_row"
    )
    moved_rows = int(con.execute("SELECT count(*) FROM _gate_rows").fetchone()[0])  # type: ignore[index]
    with locked(partition, lock_url=lock_url):
        ensure_unchanged(partition)
        _republish(con, contract, partition, moved_rows, run_id, encrypt_udf)
    moved = dict(
        con.execute(
            "SELECT reasons[1]['check'], count(*) FROM _gate_rows GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    return GateQuarantine(
        {str(k)[len(GATE_PREFIX) :]: int(v) for k, v in moved.items()},
        found,
        partition.folder if not partition.store.versioned else None,
        republished=True,
    )


def ensure_unchanged(partition: Partition) -> None:
    """Raise unless ``partition`` is still the version it was read as (call under its lock)."""
    current = current_manifest(partition)
    if current.dataset_version != partition.manifest.dataset_version:
        raise QuarantineError(
            f"{partition.table}/{partition.name} was re-published (dataset version "
            f"{current.dataset_version[:12]}) while this run read version "
            f"{partition.manifest.dataset_version[:12]}; nothing was changed. Re-run its "
            "quality check."
        )


def _republish(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    partition: Partition,
    moved_rows: int,
    run_id: str,
    encrypt_udf: str | None = None,
) -> None:
    """Publish ``partition`` without the rows of ``_gate_rows``, which join its quarantine."""
    old_data = verified_data_file(partition)
    old_quarantine = verified_quarantine_file(partition)
    manifest = partition.manifest
    record = _record_sql(contract, encrypt_udf)
    with publish_partition(partition.store, partition.table, partition.name) as staging:
        loaded = con.execute(
            f"COPY (SELECT d.* FROM read_parquet({sql_str(str(old_data))}, hive_partitioning = false) AS d "
            "ANTI JOIN _gate_rows AS g USING (_source_file, _source_row) "
            "ORDER BY d._source_file, d._source_row) "
            f"TO {sql_str(str(staging / DATA_NAME))} (FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()
        quarantined = con.execute(
            "COPY (SELECT * FROM ("
            f"SELECT * FROM read_parquet({sql_str(str(old_quarantine))}, hive_partitioning = false) "
            "UNION ALL BY NAME "
            "SELECT g._source_file, g._source_row, g.reasons[1]['check'] AS failed_check, "
            "g.reasons[1]['column'] AS column_name, g.reasons[1]['reason'] AS reason, "
            f"g.reasons AS reasons, {record} AS record, "
            f"{sql_str(run_id)} AS moved_by_run "
            f"FROM read_parquet({sql_str(str(old_data))}, hive_partitioning = false) AS d "
            "JOIN _gate_rows AS g USING (_source_file, _source_row)"
            ") ORDER BY _source_file, _source_row) "
            f"TO {sql_str(str(staging / QUARANTINE_NAME))} (FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()
        n_loaded = int(loaded[0]) if loaded else 0
        n_quarantined = int(quarantined[0]) if quarantined else 0
        counts = Counts(
            read=manifest.counts.read,
            loaded=n_loaded,
            quarantined=n_quarantined,
            dropped=manifest.counts.dropped,
        )
        if n_loaded != manifest.counts.loaded - moved_rows or not counts.balanced:
            raise QuarantineError(
                f"{contract.table}/{partition.name}: moving {moved_rows} row(s) would give "
                f"read {counts.read} != loaded {n_loaded} + quarantined {n_quarantined}; "
                "nothing was republished"
            )
        by_check = dict(
            con.execute(
                f"SELECT failed_check, count(*) FROM read_parquet({sql_str(str(staging / QUARANTINE_NAME))}) "
                "GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
        updated = manifest.model_copy(
            update={
                "counts": counts,
                "quarantine_by_check": {str(k): int(v) for k, v in by_check.items()},
                "dataset_version": file_sha256(staging / DATA_NAME),
                "quarantine_version": file_sha256(staging / QUARANTINE_NAME),
            }
        )
        Manifest.model_validate(updated.model_dump()).write(staging)
