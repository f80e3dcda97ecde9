"""The feature stage of ``commerce_daily``: one call per Airflow task.

``build``   choose the release (gate-passed lake partitions), expose them to the warehouse
            as ``lake.*`` views, ``dbt build`` the features as of the interval end, export
            the snapshots to Parquet. The only task that writes the DuckDB warehouse besides
            ``docs``; both run in the one-slot ``duckdb_warehouse`` pool.
``check``   the feature table's GX suite on its exported snapshot (no warehouse lock).
``publish`` serve the release to ML teams if no critical feature check failed.
``docs``    ``dbt docs generate`` for governance staff.

Features as of ``D`` = the interval end's date: they see events before ``D 00:00 UTC``.

With the lake on an object store (``lake_url``) the four tasks may run on workers that share
no disk: ``build`` first takes the last pushed warehouse (``warehouse/stored.py``), then puts
the new one there and hands its snapshots and release over (``features/stored.py``);
``check`` and ``publish`` take them from there through the local cache, verified by SHA-256;
``docs`` takes the warehouse and puts the site there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pipelines.failures import TableFailure
from pipelines.features.paths import feature_table, feature_table_names, snapshot_file
from pipelines.lake.storage import lake_store
from pipelines.settings import Settings
from pipelines.taskscope import fail_without_retry, task_scope

if TYPE_CHECKING:
    from pipelines.privacy.anonymity_audit import GateAudit

log = logging.getLogger(__name__)


class FeatureGateFailed(TableFailure):
    """A critical feature check failed: the release is not served (``tables``: the feature
    tables at fault, whose owners are told)."""


def tables_at_fault(tables: Sequence[str], problems: list[str]) -> list[str]:
    """The feature tables a release's problems name (each problem starts with its table)."""
    return [
        t
        for t in tables
        if any(p.startswith((f"{t}:", f"critical check failed: {t}.")) for p in problems)
    ]


def as_of_for(data_interval_end: datetime) -> date:
    return data_interval_end.date()


def build(
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    *,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Build and export the feature snapshots as of the interval end (idempotent)."""
    from pipelines.contracts import load_contracts
    from pipelines.features.lineage import build_lineage
    from pipelines.features.release import select_release
    from pipelines.features.snapshots import export_snapshots, write_release
    from pipelines.features.stored import hand_over_build
    from pipelines.lineage.runs import now
    from pipelines.warehouse.build import build_args, connect, feature_vars, register
    from pipelines.warehouse.dbt import run_dbt
    from pipelines.warehouse.dbt_lineage import emit_dbt_run
    from pipelines.warehouse.lake_views_lineage import emit_lake_registration
    from pipelines.warehouse.project import target_dir
    from pipelines.warehouse.stored import pull_warehouse, push_warehouse, warehouse_lock

    as_of = as_of_for(data_interval_end)
    with task_scope("build_features", data_interval_start, data_interval_end, run_id, settings) as (
        settings,
        lineage,
    ):
        release = select_release(settings, as_of, run_id)
        if release.held_back:
            log.warning(
                "features as of %s: %d lake partition(s) held back (not vouched for by a "
                "passed quality gate): %s",
                as_of,
                len(release.held_back),
                "; ".join(f"{h.table}/{h.partition}: {h.reason}" for h in release.held_back[:5]),
            )
        contracts = load_contracts(settings.contracts_dir)
        selection = release.selection(lake_store(settings))
        started = datetime.fromisoformat(now())
        with warehouse_lock(settings):  # store mode: pull, build, push as one writer
            pull_warehouse(settings)  # store mode: the marts keep earlier snapshots (incremental)
            register(settings, selection, contracts=contracts)
            emit_lake_registration(
                selection, settings=settings, contracts=contracts, started=started
            )
            try:
                result = run_dbt(
                    build_args(),
                    settings,
                    feature_vars(as_of, release.release_id, run_id or "manual"),
                )
            finally:  # a failed build still reports which models ran and which failed
                emit_dbt_run(target_dir(settings), settings=settings, contracts=contracts)
            with connect(settings) as con:
                release.features = export_snapshots(con, settings, as_of)
            release.status = "built"
            release.dbt = result.summary()
            write_release(settings, release)
            # store mode: the warehouse (pointer last), then the snapshots and the release (last)
            push_warehouse(settings, release_id=release.release_id, as_of=release.as_of)
            hand_over_build(settings, release)
        lineage.complete_with(lambda: build_lineage(settings, release))
    log.info(
        "features as of %s built from %d lake partitions: %s",
        as_of,
        len(release.partitions),
        ", ".join(f"{t} {v['rows']} rows" for t, v in release.features.items()),
    )
    return {
        "as_of": as_of.isoformat(),
        "release_id": release.release_id,
        "partitions": len(release.partitions),
        "held_back": len(release.held_back),
        "rows": {t: v["rows"] for t, v in release.features.items()},
    }


def check(
    table: str,
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    *,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Validate one feature snapshot with its GX suite (results stored, never raises on a
    failed check: :func:`publish` decides)."""
    from pipelines.features.lineage import check_lineage
    from pipelines.features.stored import fetch_built
    from pipelines.quality.features import validate_snapshot

    as_of = as_of_for(data_interval_end)
    with task_scope(
        f"check_{table}", data_interval_start, data_interval_end, run_id, settings, validates=True
    ) as (settings, lineage):
        fetch_built(settings, as_of, (table,))  # store mode: the build's, verified, cached
        snapshot = snapshot_file(settings, table, as_of)
        spec = feature_table(settings, table)
        validation = validate_snapshot(
            table,
            snapshot,
            as_of,
            settings,
            run_id=run_id or f"manual__{as_of.isoformat()}",
            defaults=spec.default_expectations() if spec else None,
        )
        lineage.complete_with(lambda: check_lineage(settings, validation, snapshot))
    return validation.summary()


def publish(
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    *,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Serve the release if every feature table's checks passed (warnings allowed) and the
    k-anonymity gate let it through; the gate's decisions go to the audit log, under the key
    ring of ``settings`` (resolved here, the edge of the DAG task and of the CLI)."""
    from pipelines.features.lineage import publish_lineage
    from pipelines.privacy.anonymity_audit import publication_audit

    with task_scope(
        "publish_features", data_interval_start, data_interval_end, run_id, settings
    ) as (settings, lineage):
        release = _decide_publication(
            data_interval_end, run_id, settings, publication_audit(settings)
        )
        lineage.fail_with(lambda: publish_lineage(settings, release))
        if release.status != "published":
            raise FeatureGateFailed(
                f"feature release {release.release_id} as of {release.as_of} not published: "
                + "; ".join(release.problems),
                tables_at_fault(feature_table_names(settings), release.problems),
            )
        lineage.complete_with(lambda: publish_lineage(settings, release))
    log.info("feature release %s as of %s published", release.release_id, release.as_of)
    return {
        "release_id": release.release_id,
        "as_of": release.as_of,
        "checks": release.checks,
    }


def _decide_publication(
    data_interval_end: datetime, run_id: str | None, settings: Settings, audit: GateAudit
) -> Any:
    """Record on the release whether every feature table's checks passed, and return it;
    the k-anonymity gate's decisions also go to ``audit``."""
    from pipelines.features.snapshots import read_release, write_release
    from pipelines.features.stored import fetch_built, publish_release
    from pipelines.hashing import file_sha256
    from pipelines.quality import store

    as_of = as_of_for(data_interval_end)
    # store mode: the build's release and snapshots from the store (verified) into the cache
    release = fetch_built(settings, as_of) or read_release(settings, as_of)
    run = run_id or f"manual__{as_of.isoformat()}"
    partition = f"as_of={as_of.isoformat()}"
    tables = feature_table_names(settings)
    rows = [
        r
        for r in store.read_checks(settings)
        if r["run_id"] == run and r["table"] in tables and r["partition"] == partition
    ]
    problems: list[str] = []
    checks: dict[str, Any] = {}
    for table in tables:
        mine = [r for r in rows if r["table"] == table]
        current = file_sha256(snapshot_file(settings, table, as_of))
        if table in release.features:  # the exact file served (or refused), for lineage
            release.features[table]["decided_sha256"] = current
        if not mine:
            problems.append(f"{table}: not validated in run {run}")
        elif {r["dataset_version"] for r in mine} != {current}:
            problems.append(f"{table}: the snapshot changed after it was validated")
        failed = [f"{table}.{r['expectation']}" for r in mine if r["outcome"] == "failed"]
        problems += [f"critical check failed: {f}" for f in failed]
        checks[table] = {
            o: sum(1 for r in mine if r["outcome"] == o) for o in ("passed", "warned", "failed")
        }
    release.checks = checks
    problems += _anonymity_problems(settings, as_of, release, run, audit)
    release.problems = problems
    release.status = "failed" if problems else "published"
    write_release(settings, release)
    if release.status == "published":
        publish_release(settings, release)  # lake on S3: snapshots, then the release file
    return release


def _anonymity_problems(
    settings: Settings, as_of: date, release: Any, run: str, audit: GateAudit
) -> list[str]:
    """The k-anonymity / l-diversity gate (:mod:`pipelines.privacy.anonymity`): recorded on
    the release under ``checks["anonymity"]`` and in the audit log (one entry per table,
    :mod:`pipelines.privacy.anonymity_audit`); enforcing tables below k refuse publication,
    and so does a missing audit key."""
    from pipelines.contracts import load_contracts
    from pipelines.privacy.anonymity import gate_problems, snapshot_results
    from pipelines.privacy.anonymity_audit import record_decisions
    from pipelines.warehouse.project import DBT_PROJECT_DIR

    snapshots = {t: snapshot_file(settings, t, as_of) for t in feature_table_names(settings)}
    results = snapshot_results(snapshots, load_contracts(settings.contracts_dir), DBT_PROJECT_DIR)
    release.checks["anonymity"] = {
        r.policy.table: {"k": r.k, "required_k": r.policy.k, "l": r.l_values,
                         "rows": r.rows, "classes": r.classes, "suppressed": r.suppressed,
                         "enforced": r.policy.enforce, "problems": r.problems}
        for r in results
    }  # fmt: skip
    seqs = record_decisions(
        audit, results, release_id=release.release_id, as_of=as_of.isoformat(), run_id=run
    )
    for table, seq in seqs.items():
        release.checks["anonymity"][table]["audit_seq"] = seq
    return gate_problems(results) + (audit.problems if results else [])


def publish_for_airflow(
    data_interval_start: datetime, data_interval_end: datetime, run_id: str | None
) -> dict[str, Any]:
    """:func:`publish` for the DAG: a failed feature gate fails without retrying."""
    return fail_without_retry(
        FeatureGateFailed, publish, data_interval_start, data_interval_end, run_id
    )


def docs(
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    *,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """``dbt docs generate`` into ``<data_dir>/reports/dbt`` (a static site), unless the site
    there already shows this project and warehouse schema (a day's new rows change neither).
    With the lake on an object store the warehouse comes from there first and the site goes
    there after (:mod:`pipelines.warehouse.stored`)."""
    from pipelines.quality.lineage import docs_lineage
    from pipelines.warehouse.dbt import generate_docs
    from pipelines.warehouse.stored import pull_warehouse, push_docs

    with task_scope("feature_docs", data_interval_start, data_interval_end, run_id, settings) as (
        settings,
        lineage,
    ):
        pull_warehouse(settings)  # store mode: the last build's warehouse, if not already here
        index = generate_docs(settings, reuse=True)
        push_docs(settings, index.parent)  # store mode: under _reports/dbt/
        lineage.complete_with(lambda: docs_lineage(settings, str(index)))
    return {"docs": str(index)}
