"""The functions the ``commerce_daily`` quality tasks call: one call per task, plain values.

* :func:`validate` (task ``quality_<table>``): validate the table's partition for the run's
  interval, quarantine rows failing row-level rules, store results. Returns counts and the
  names of failed critical checks (an XCom: no data values). Raises only when it cannot
  validate (no partition, broken suite), unless ``fail_on_critical``.
* :func:`build_docs` (task ``quality_report``, runs whatever happened upstream): build GX
  Data Docs for the latest runs and log the run's summary.
* :func:`gate` (task ``quality_gate``): raise :class:`QualityGateFailed` naming every
  failed critical check of the run (and any table without results), else record that the
  run passed. Everything that publishes downstream (the feature build) runs after it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pipelines.failures import TableFailure
from pipelines.lake.interval import Interval
from pipelines.settings import Settings
from pipelines.taskscope import fail_without_retry, redaction_boundary, task_scope, task_settings

log = logging.getLogger("pipelines.quality")


class QualityGateFailed(TableFailure):
    """Critical quality checks failed: downstream publication must not run on this data
    (``tables``: the tables at fault, whose owners are told)."""


def _interval(start: datetime, end: datetime) -> Interval:
    return Interval(start, end)


def _run_id(run_id: str | None, interval: Interval) -> str:
    return run_id or f"manual__{interval.start.isoformat()}"


def validate(
    table: str,
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    *,
    fail_on_critical: bool = False,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Validate one lake table for the run's data interval (idempotent per interval)."""
    from pipelines.quality.lineage import partition_before, validation_lineage
    from pipelines.quality.runner import configured_keyring, validate_partition

    interval = _interval(data_interval_start, data_interval_end)
    with task_scope(
        f"quality_{table}", interval.start, interval.end, run_id, settings, validates=True
    ) as (settings, lineage):
        before = partition_before(settings, table, interval)
        result = validate_partition(
            table,
            interval,
            settings,
            run_id=_run_id(run_id, interval),
            keyring=configured_keyring(settings),
        )
        lineage.complete_with(lambda: validation_lineage(result, settings, validated=before))
    summary = result.summary()
    if fail_on_critical and result.failed_critical:
        raise QualityGateFailed(
            f"{table} {result.partition}: critical checks failed: "
            + "; ".join(summary["failed_checks"]),
            [table],
        )
    return summary


def build_docs(
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    *,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Build the Data Docs site and log the run's summary; returns counts and the site path.
    The summary is read after the lineage run, still inside the redaction boundary."""
    from pipelines.quality.docs import build_docs as build
    from pipelines.quality.lineage import docs_lineage

    interval = _interval(data_interval_start, data_interval_end)
    with redaction_boundary():
        with task_scope("quality_report", interval.start, interval.end, run_id, settings) as (
            settings,
            lineage,
        ):
            index = build(settings, clean=False)  # only the new results' pages
            lineage.complete_with(lambda: docs_lineage(settings, str(index)))
        return _log_summary(settings, _run_id(run_id, interval), str(index))


def _log_summary(settings: Settings, run: str, index: str) -> dict[str, Any]:
    """Log the run's quality summary; returns it with the Data Docs site's path."""
    from pipelines.quality.summary import latest_rows, render, summarize

    rows, runs = latest_rows(settings, run)
    summaries = summarize(rows)
    for line in render(summaries, runs, index).splitlines():
        log.info("%s", line)
    return {
        "run_id": run,
        "docs": index,
        "tables": {
            s.table: {"passed": s.passed, "warned": s.warned, "failed": s.failed} for s in summaries
        },
    }


def gate(
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    tables: list[str] | None = None,
    *,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Stop the run if any critical check of this run failed or any table was not validated."""
    from pipelines.quality.lineage import gate_lineage, stored_gate_lineage

    interval = _interval(data_interval_start, data_interval_end)
    with task_scope("quality_gate", interval.start, interval.end, run_id, settings) as (
        settings,
        lineage,
    ):
        lineage.fail_with(lambda: stored_gate_lineage(settings, _run_id(run_id, interval)))
        decision = _decide(
            data_interval_start, data_interval_end, run_id, tables, settings=settings
        )
        lineage.complete_with(lambda: gate_lineage(decision, settings))
    return decision


def _decide(
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    tables: list[str] | None = None,
    *,
    settings: Settings | None = None,
) -> dict[str, Any]:
    from pipelines.contracts import load_contracts
    from pipelines.quality import store
    from pipelines.quality.explain import foreign_key_parents
    from pipelines.quality.summary import latest_rows, summarize

    settings = task_settings(settings)
    interval = _interval(data_interval_start, data_interval_end)
    run = _run_id(run_id, interval)
    expected = tables or load_contracts(settings.contracts_dir).load_order()
    rows, _ = latest_rows(settings, run)
    rows = [r for r in rows if r["interval_start"] == interval.start.isoformat()]
    parents = foreign_key_parents(load_contracts(settings.contracts_dir))
    summaries = {s.table: s for s in summarize(rows, expected, parents)}
    missing = [t for t in expected if t not in summaries]
    failed = [c for t in expected if t in summaries for c in summaries[t].failed_checks]
    caused = [c for t in expected if t in summaries for c in summaries[t].consequences]
    decision = {
        "run_id": run,
        "interval_start": interval.start.isoformat(),
        "interval_end": interval.end.isoformat(),
        "passed": not (missing or failed or caused),
        "failed_checks": failed,
        "consequences": caused,
        "missing_tables": missing,
        "tables": {
            t: {"passed": s.passed, "warned": s.warned, "failed": s.failed}
            for t, s in summaries.items()
        },
        "decided_at": datetime.now(UTC).isoformat(),
    }
    store.write_gate(settings, run, decision)
    if not decision["passed"]:
        problems = (
            [f"critical check failed: {c}" for c in failed]
            + [f"and as a consequence: {c}" for c in caused]
            + [f"{t}: no quality results for this run" for t in missing]
        )
        raise QualityGateFailed(
            f"quality gate failed for run {run} {interval}: "
            + "; ".join(problems)
            + f". Details: pipelines quality summary --run-id '{run}'; Data Docs: "
            f"{store.docs_dir(settings) / 'index.html'}",
            _at_fault(expected, summaries, missing),
        )
    log.info("quality gate passed for run %s %s", run, interval)
    return decision


def _at_fault(expected: list[str], summaries: dict[str, Any], missing: list[str]) -> list[str]:
    """The tables a failed gate is about: failed checks or no results, else (only
    consequences of the gate's own quarantine) the tables showing the consequences."""
    failed = [t for t in expected if t in missing or summaries[t].failed_checks]
    return failed or [t for t in expected if t in summaries and summaries[t].consequences]


def gate_for_airflow(
    data_interval_start: datetime, data_interval_end: datetime, run_id: str | None
) -> dict[str, Any]:
    """:func:`gate` for the DAG: a failed gate fails the task without retrying.

    Retrying cannot help (the data will not change), so the failure is raised as Airflow's
    ``AirflowFailException``; the message names every failed critical check.
    """
    return fail_without_retry(
        QualityGateFailed, gate, data_interval_start, data_interval_end, run_id
    )
