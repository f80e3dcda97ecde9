"""Where validation results go: queryable Parquet, GX result JSON, gate decisions.

Layout under ``<data_dir>/quality/`` (one file per run and table; re-validating replaces it):

``checks/run=<run key>/<table>.parquet``
    one row per check: run id, table, partition, interval, suite, expectation (name and GX
    type), column, severity, source, outcome (passed / warned / failed), GX success,
    observed value (JSON), unexpected and element counts, rows the gate quarantined.
``stats/run=<run key>/<table>.parquet``
    representativeness and drift statistics, one row per check and segment (TVD, PSI, JS
    distance, share, reference share, representation ratio), so history can be plotted.
``results/run=<run key>/<table>.json``
    the GX validation result (scrubbed: no unexpected values anywhere), for Data Docs.
``gates/run=<run key>.json``
    the gate decision of a run.

With the lake on an object store (``lake_url``), every file is also put on the store under
``_quality/<same relative path>`` and readers read the store's files through their own
``<data_dir>/quality`` as a verified cache (:mod:`pipelines.quality.stored`), so a validation
on one worker and the gate on another agree. With a local lake, local files only.

Query it with DuckDB, e.g.
``SELECT * FROM read_parquet('.data/quality/checks/*/*.parquet') ORDER BY validated_at``.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.quality import stored
from pipelines.settings import Settings

CHECK_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("run_key", pa.string()),
        ("table", pa.string()),
        ("partition", pa.string()),
        ("interval_start", pa.string()),
        ("interval_end", pa.string()),
        ("suite", pa.string()),
        ("expectation", pa.string()),
        ("expectation_type", pa.string()),
        ("column", pa.string()),
        ("severity", pa.string()),
        ("source", pa.string()),
        ("outcome", pa.string()),
        ("success", pa.bool_()),
        ("observed_value", pa.string()),
        ("unexpected_count", pa.int64()),
        ("element_count", pa.int64()),
        ("quarantined", pa.int64()),
        ("error", pa.string()),
        ("validated_at", pa.string()),
        ("dataset_version", pa.string()),
        ("gx_version", pa.string()),
        ("governed_by", pa.string()),
    ]
)

STATS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("run_key", pa.string()),
        ("table", pa.string()),
        ("partition", pa.string()),
        ("interval_start", pa.string()),
        ("interval_end", pa.string()),
        ("expectation", pa.string()),
        ("kind", pa.string()),
        ("column", pa.string()),
        ("reference_name", pa.string()),
        ("rows", pa.int64()),
        ("evaluated", pa.bool_()),
        ("level", pa.string()),
        ("tvd", pa.float64()),
        ("psi", pa.float64()),
        ("js_distance", pa.float64()),
        ("segment", pa.string()),
        ("count", pa.int64()),
        ("share", pa.float64()),
        ("reference_share", pa.float64()),
        ("ratio", pa.float64()),
        ("segment_level", pa.string()),
        ("validated_at", pa.string()),
    ]
)

UNDECLARED_PII = "undeclared_pii"
"""``expectation_type`` of the check rows that report ingestion's undeclared-PII findings
(personal data in a column the contract keeps in clear; from the partition's manifest)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def run_key(run_id: str) -> str:
    """A file-system-safe, collision-free name for a run id."""
    import hashlib

    safe = _UNSAFE.sub("_", run_id).strip("_")[:80] or "run"
    return f"{safe}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def quality_dir(settings: Settings) -> Path:
    return settings.data_dir / "quality"


def docs_dir(settings: Settings) -> Path:
    return settings.data_dir / "reports" / "quality"


def _atomic_write(path: Path, write: Any, settings: Settings | None = None) -> None:
    """Write ``path`` through a temp file and a rename; with ``settings`` in store mode, the
    written file also goes to the store (before the rename) under the same relative path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        if settings is not None and stored.on_store(settings):
            base = quality_dir(settings)
            stored.put_result(settings, tmp, base, path.relative_to(base).as_posix())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_parquet(
    path: Path, rows: list[dict[str, Any]], schema: pa.Schema, settings: Settings
) -> None:
    table = pa.Table.from_pylist(rows, schema=schema)
    _atomic_write(path, lambda p: pq.write_table(table, p, compression="zstd"), settings)


def write_table_run(
    settings: Settings,
    run_id: str,
    table: str,
    checks: list[dict[str, Any]],
    stats: list[dict[str, Any]],
    result_json: dict[str, Any],
) -> dict[str, Path]:
    base = quality_dir(settings)
    key = run_key(run_id)
    paths = {
        "checks": base / "checks" / f"run={key}" / f"{table}.parquet",
        "stats": base / "stats" / f"run={key}" / f"{table}.parquet",
        "result": base / "results" / f"run={key}" / f"{table}.json",
    }
    _write_parquet(paths["checks"], checks, CHECK_SCHEMA, settings)
    _write_parquet(paths["stats"], stats, STATS_SCHEMA, settings)
    text = json.dumps(result_json, indent=1, default=str, sort_keys=True)
    _atomic_write(paths["result"], lambda p: p.write_text(text + "\n", encoding="utf-8"), settings)
    return paths


def write_gate(settings: Settings, run_id: str, decision: dict[str, Any]) -> Path:
    path = quality_dir(settings) / "gates" / f"run={run_key(run_id)}.json"
    text = json.dumps(decision, indent=2, default=str)
    _atomic_write(path, lambda p: p.write_text(text + "\n", encoding="utf-8"), settings)
    return path


def _files(settings: Settings, kind: str, pattern: str) -> list[Path]:
    """The stored files of ``kind`` (``checks``, ``stats``, ``results``, ``gates``), sorted:
    local ones matching ``pattern``, or in store mode those on the store, through the cache."""
    folder = quality_dir(settings) / kind
    if stored.on_store(settings):
        suffix = pattern.rpartition("*")[2]
        return [
            p
            for p in stored.sync(settings, quality_dir(settings), kind, suffix)
            if p.relative_to(folder).match(pattern)
        ]
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def _read_all(settings: Settings, kind: str, schema: pa.Schema) -> pa.Table:
    files = _files(settings, kind, "run=*/*.parquet")
    if not files:
        return pa.Table.from_batches([], schema=schema)  # schema.empty_table() imports pandas
    return pa.concat_tables(_read_one(f, schema) for f in files)


def _read_one(path: Path, schema: pa.Schema) -> pa.Table:
    """One results file. Files in the current layout are read directly: ``pq.read_table``
    imports ``pyarrow.dataset`` (and pandas), seconds for a command that only prints."""
    table = pq.ParquetFile(path).read()
    if table.schema.equals(schema):
        return table
    return pq.read_table(path, schema=schema)  # another layout: Arrow unifies it


def read_checks(settings: Settings) -> list[dict[str, Any]]:
    """Every stored check row (small: one row per check per run and table)."""
    return _read_all(settings, "checks", CHECK_SCHEMA).to_pylist()


def read_stats(settings: Settings) -> list[dict[str, Any]]:
    return _read_all(settings, "stats", STATS_SCHEMA).to_pylist()


def run_ids(settings: Settings) -> list[str]:
    """Run ids, oldest validation first."""
    latest: dict[str, str] = {}
    for row in read_checks(settings):
        at = row["validated_at"] or ""
        latest[row["run_id"]] = max(at, latest.get(row["run_id"], ""))
    return sorted(latest, key=lambda r: latest[r])


def result_files(settings: Settings, runs: Iterable[str] | None = None) -> list[Path]:
    if runs is None:
        return _files(settings, "results", "run=*/*.json")
    if stored.on_store(settings):
        folders = {f"run={run_key(r)}" for r in runs}
        return [p for p in _files(settings, "results", "run=*/*.json") if p.parent.name in folders]
    base = quality_dir(settings) / "results"
    if not base.is_dir():
        return []
    return sorted(p for r in runs for p in (base / f"run={run_key(r)}").glob("*.json"))


def previous_good_batch(
    settings: Settings, table: str, before: str
) -> tuple[dict[str, dict[str, float]], str]:
    """Segment shares of the latest earlier partition of ``table`` that passed its checks.

    "Passed": the most recent validation of that partition had no failed critical check.
    Returns ``{representativeness check name: {segment: share}}`` and a label.
    """
    checks = [
        r for r in read_checks(settings) if r["table"] == table and r["interval_start"] < before
    ]
    latest: dict[str, tuple[str, str]] = {}  # partition -> (validated_at, run_id)
    for row in checks:
        current = latest.get(row["partition"])
        if current is None or row["validated_at"] > current[0]:
            latest[row["partition"]] = (row["validated_at"], row["run_id"])
    good = []
    for partition, (_, run) in latest.items():
        rows = [r for r in checks if r["partition"] == partition and r["run_id"] == run]
        if not any(r["outcome"] == "failed" for r in rows):
            start = rows[0]["interval_start"]
            good.append((start, partition, run))
    if not good:
        return {}, ""
    _, partition, run = max(good)
    counts: dict[str, dict[str, int]] = {}
    for row in read_stats(settings):
        if (
            row["table"] == table
            and row["partition"] == partition
            and row["run_id"] == run
            and row["kind"] == "representativeness"
            and row["segment"] is not None
        ):
            counts.setdefault(row["expectation"], {})[row["segment"]] = int(row["count"] or 0)
    shares = {}
    for name, seg in counts.items():
        total = sum(seg.values())
        if total:
            shares[name] = {k: v / total for k, v in seg.items()}
    return shares, f"{partition} (run {run})"


def read_gates(settings: Settings) -> list[dict[str, Any]]:
    """Every stored gate decision (one JSON file per run)."""
    return [
        json.loads(p.read_text(encoding="utf-8")) for p in _files(settings, "gates", "run=*.json")
    ]


def read_gate(settings: Settings, run_id: str) -> dict[str, Any] | None:
    """The gate decision stored for ``run_id``, or None."""
    name = f"run={run_key(run_id)}.json"
    for path in _files(settings, "gates", name):
        return dict(json.loads(path.read_text(encoding="utf-8")))
    return None


def docs_index(settings: Settings) -> Path:
    """The Data Docs site's ``index.html``; in store mode the site is first brought from the
    store (the latest built by any worker), when it has one."""
    site = docs_dir(settings)
    if stored.on_store(settings):
        stored.fetch_site(settings, site)
    return site / "index.html"
