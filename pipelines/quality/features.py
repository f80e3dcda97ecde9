"""Validate an exported feature snapshot with its GX suite (``<expectations_dir>/features/<table>.yml``).

A declared feature table without a suite file gets default checks derived from its
declaration and dbt contract (passed in as ``defaults`` by the feature stage): rows present,
entity key not null and unique, as-of date and every ``not_null``-constrained column not null.

Feature tables hold no personal data, have no source contract and are never quarantined:
a failed critical check stops the release from being published. Results are stored like
the lake's (``table`` = the feature table, ``partition`` = ``as_of=<date>``), so the quality
summary, Data Docs and drift against the previous snapshot work the same way.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from pipelines.hashing import file_sha256
from pipelines.lake.interval import Interval
from pipelines.quality import store
from pipelines.quality.runner import (
    TableValidation,
    _check_outcome,
    _run_gx,
    _scrub,
    _stats_rows,
    check_row,
)
from pipelines.quality.suites import Suite, SuiteError, SuiteFile, file_checks, load_suite_file
from pipelines.settings import Settings


def _suite_file(table: str, settings: Settings, defaults: list[dict[str, Any]] | None) -> SuiteFile:
    directory = settings.expectations_dir / "features"
    found = load_suite_file(table, directory)
    if found.path is not None:
        return found
    if defaults is None:
        raise SuiteError(
            f"no suite for feature table {table}: {directory}/{table}.yml, and no dbt model "
            "declares it (config.meta.feature_table)"
        )
    return SuiteFile(table, None, {}, defaults)


def feature_interval(as_of: date) -> Interval:
    """The day before ``as_of``: the last day of events a snapshot as of ``as_of`` saw."""
    end = datetime.combine(as_of, dtime(0), tzinfo=UTC)
    return Interval(end - timedelta(days=1), end)


def feature_suite(
    table: str,
    previous: dict[str, dict[str, float]] | None,
    previous_label: str,
    settings: Settings,
    defaults: list[dict[str, Any]] | None = None,
) -> Suite:
    """``table``'s suite file, else ``defaults`` (the checks its declaration derives:
    :meth:`pipelines.warehouse.declared.FeatureTable.default_expectations`)."""
    suite_file = _suite_file(table, settings, defaults)
    specs = file_checks(
        suite_file,
        None,
        previous,
        previous_label,
        reference_dir=settings.expectations_dir / "reference",
    )
    disabled = suite_file.disabled
    return Suite(table, [s for s in specs if s.name not in disabled], disabled, set())


def validate_snapshot(
    table: str,
    snapshot: Path,
    as_of: date,
    settings: Settings,
    *,
    run_id: str,
    defaults: list[dict[str, Any]] | None = None,
) -> TableValidation:
    """Run ``table``'s feature suite (else ``defaults``) on one snapshot file and store the
    results."""
    started = time.perf_counter()
    interval = feature_interval(as_of)
    previous, previous_label = store.previous_good_batch(
        settings, table, before=interval.start.isoformat()
    )
    from pipelines.quality import engine  # imports GX: not for feature_suite's callers

    suite = feature_suite(table, previous, previous_label, settings, defaults)
    run_time = datetime.now(UTC)
    con = engine.connect(settings.duckdb_memory_limit, settings.duckdb_threads)
    try:
        engine.create_view(con, table, [snapshot], {})
        result = _run_gx(con, suite, run_id, run_time)
    finally:
        con.close()
    by_name = {s.name: s for s in suite.specs}
    outcomes = [
        _check_outcome(by_name[str((evr.expectation_config.meta or {}).get("name"))], evr)
        for evr in result.results
    ]
    base = {
        "run_id": run_id,
        "run_key": store.run_key(run_id),
        "table": table,
        "partition": f"as_of={as_of.isoformat()}",
        "interval_start": interval.start.isoformat(),
        "interval_end": interval.end.isoformat(),
        "validated_at": datetime.now(UTC).isoformat(),
    }
    version = file_sha256(snapshot)
    check_rows = [check_row(base, f"features/{table}", c, version) for c in outcomes]
    result_json = _scrub(result.to_json_dict())
    result_json.setdefault("meta", {})["pipelines"] = {
        **base,
        "outcomes": {c.spec.name: c.outcome for c in outcomes},
    }
    paths = store.write_table_run(
        settings, run_id, table, check_rows, _stats_rows(base, outcomes), result_json
    )
    return TableValidation(
        table=table,
        partition=base["partition"],
        interval=interval,
        run_id=run_id,
        checks=outcomes,
        seconds=time.perf_counter() - started,
        validated_at=base["validated_at"],
        paths={k: str(v) for k, v in paths.items()},
        dataset_version=version,
    )
