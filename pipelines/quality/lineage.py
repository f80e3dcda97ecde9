"""Lineage of the quality tasks: what each check said about which partition, and the gate.

``quality_<table>``: input = the validated lake partition (its ``datasetVersion`` is the one
GX saw) with ``dataQualityAssertions`` (every check: expectation type, name, column, success,
severity, outcome and counts) and ``dataQualityMetrics`` (row count, null counts from the
not-null checks, distinct counts where a uniqueness check proved them); the tables the suite
reads (foreign keys, business rules) as partition sets. When the gate moved rows to the
quarantine, the republished partition is an output with its new ``datasetVersion``.
``quality_gate``: the decision as the ``pipelines_gate`` run facet, with the run's partitions
as inputs. Observed values are reported only when they are numbers (counts, shares).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from pipelines.contracts import ContractSet
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import Partition, partitions
from pipelines.lake.storage import lake_store
from pipelines.lineage import datasets as ds
from pipelines.lineage import events as ev
from pipelines.lineage import facets as f
from pipelines.lineage import naming
from pipelines.lineage.checks import assertions_facet, metrics_facet, quality_run_facet
from pipelines.lineage.emit import LineageParts
from pipelines.protection.audit import head_record
from pipelines.protection.audit_pg import open_audit_log
from pipelines.quality import stored
from pipelines.settings import Settings

SOURCE = "pipelines/quality/runner.py"
GATE_SOURCE = "pipelines/quality/tasks.py"


def find_partition(settings: Settings, table: str, interval: Interval) -> Partition | None:
    for part in partitions(lake_store(settings), table):
        if part.interval == interval:
            return part
    return None


def partition_before(settings: Settings, table: str, interval: Interval) -> Partition | None:
    """``table``'s partition for ``interval`` as published now; never raises.

    Called before validation: the gate may republish the partition (rows moved to the
    quarantine), and the lineage names both the version GX read (its SHA-256 and catalog
    snapshot) and the one published.
    """
    try:
        return find_partition(settings, table, interval)
    except Exception:
        return None


_READS: dict[tuple[object, ...], dict[str, list[str]]] = {}


def _reads(settings: Settings, table: str) -> list[str]:
    """Other lake tables ``table``'s suite reads (foreign keys, ``{lake:...}`` rules)."""
    from pipelines.quality.plan import quality_plan
    from pipelines.settings import PROJECT_DIR

    suites = PROJECT_DIR / "expectations"
    key = (
        str(settings.contracts_dir),
        ds._signature(settings.contracts_dir, "*.yml"),
        ds._signature(suites, "*.yml"),
    )
    if key not in _READS:
        try:
            _READS[key] = quality_plan(settings.contracts_dir, suites).reads
        except (OSError, ValueError):
            _READS[key] = {}
    return _READS[key].get(table, [])


def validation_lineage(
    validation: Any,
    settings: Settings,
    contracts: ContractSet | None = None,
    *,
    validated: Partition | None = None,
) -> LineageParts:
    """Lineage of one ``validate_partition`` result (a ``runner.TableValidation``).

    ``validated``: the partition as listed before validation (what GX read; see
    :func:`partition_before`); by default the current one.
    """
    contracts = contracts or ds.contracts_for(settings)
    contract = contracts[validation.table]
    part = find_partition(settings, validation.table, validation.interval)
    if part is None:
        raise LookupError(f"{validation.table}: no partition for {validation.interval}")
    manifest = part.manifest
    moved = sum(int(v) for v in (validation.quarantined or {}).values())
    before = validated or part
    version = before.manifest.dataset_version
    rows = manifest.counts.loaded + moved

    facets = ds.lake_partition_facets(settings, contract, part)
    facets["datasetVersion"] = f.dataset_version(version)
    facets["pipelines_partition"] = ds.partition_facet(
        replace(part, snapshot=before.snapshot),
        loaded=rows,
        quarantined=manifest.counts.quarantined - moved,
    )
    ns, name = naming.lake_dataset(settings.lake_url or settings.lake, contract.table)
    assertions = assertions_facet(validation.checks)
    inputs = [
        ev.input_dataset(
            ns,
            name,
            facets,
            {
                "dataQualityAssertions": assertions,
                "dataQualityMetrics": metrics_facet(validation.checks, rows),
            },
        )
    ]
    for ref in _reads(settings, contract.table):
        inputs.append(ds.lake_table_read(settings, contracts[ref], validation.interval.end))
    outputs = []
    if moved or version != manifest.dataset_version:
        # the republished partition is what the results vouch for: it carries them too
        outputs.append(
            ds.lake_partition_output(
                settings, contract, part, {"dataQualityAssertions": assertions}
            )
        )
    run_facet = quality_run_facet(validation, version, manifest.dataset_version)
    return LineageParts(
        inputs=inputs,
        outputs=outputs,
        run_facets={"pipelines_quality": run_facet},
        job_facets={"sourceCodeLocation": ev.source_location(SOURCE)},
    )


def _check_name(described: str) -> str:
    """``table.check`` from the summary's ``table.check: observed ...`` text."""
    return described.split(": ", 1)[0]


def gate_lineage(
    decision: dict[str, Any], settings: Settings, contracts: ContractSet | None = None
) -> LineageParts:
    """The gate's decision (``quality.tasks.gate``) and the partitions it decided on."""
    contracts = contracts or ds.contracts_for(settings)
    interval = Interval.parse(decision["interval_start"], decision["interval_end"])
    inputs = []
    for table in contracts.load_order():
        part = find_partition(settings, table, interval)
        if part is not None:
            inputs.append(ds.lake_partition_input(settings, contracts[table], part))
    facet = f.custom(
        f.PipelinesGateRunFacet,
        passed=bool(decision["passed"]),
        interval_start=decision["interval_start"],
        interval_end=decision["interval_end"],
        failed_checks=[_check_name(c) for c in decision.get("failed_checks", [])],
        missing_tables=list(decision.get("missing_tables", [])),
        tables={
            t: {k: int(v) for k, v in counts.items()}
            for t, counts in (decision.get("tables") or {}).items()
        },
        audit_head=head_record(open_audit_log(settings)),
    )
    return LineageParts(
        inputs=inputs,
        run_facets={"pipelines_gate": facet},
        job_facets={"sourceCodeLocation": ev.source_location(GATE_SOURCE)},
    )


def stored_gate_lineage(settings: Settings, run_id: str) -> LineageParts | None:
    """:func:`gate_lineage` of the decision the gate stored for ``run_id`` (for its FAIL event)."""
    from pipelines.quality import store

    decision = store.read_gate(settings, run_id)
    return None if decision is None else gate_lineage(decision, settings)


def docs_lineage(settings: Settings, index: str) -> LineageParts:
    """The Data Docs site the report task wrote (in store mode: its copy on the store)."""
    if stored.on_store(settings):
        ns, name = naming.lake_dataset(str(settings.lake_url), stored.SITE_PREFIX)
    else:
        ns, name = naming.FILE_NAMESPACE, naming.absolute(Path(index).parent)
    return LineageParts(
        outputs=[ev.output_dataset(ns, name)],
        job_facets={"sourceCodeLocation": ev.source_location("pipelines/quality/docs.py")},
    )
