"""Data-quality facets from check outcomes: what the gate's and the feature checks' results say.

A check outcome is anything shaped like ``quality.runner.CheckOutcome`` (``spec`` with type,
name, column, severity, description, source; ``outcome``, ``success``, counts, ``observed``,
``quarantined``, ``error``), a validation like ``quality.runner.TableValidation`` (``table``,
``partition``, ``checks``, ``quarantined``, ``count(outcome)``): the builders pass the results
their stage recorded. Observed values are reported only when they are numbers (counts, shares).
"""

from __future__ import annotations

import json
from typing import Any

from openlineage.client.generated import (
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
)

from pipelines.lineage import facets as f
from pipelines.lineage import naming

SEVERITY = {"critical": "error", "warning": "warn"}
NULL_CHECK = "expect_column_values_to_not_be_null"
UNIQUE_CHECK = "expect_column_values_to_be_unique"


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return json.dumps(value)


def assertion(check: Any) -> data_quality_assertions_dataset.Assertion:
    """One GX check outcome (a ``runner.CheckOutcome``) as an OpenLineage assertion."""
    spec = check.spec
    params: dict[str, Any] = {"outcome": check.outcome, "source": spec.source}
    for key in ("unexpected_count", "element_count"):
        value = getattr(check, key)
        if value is not None:
            params[key] = int(value)
    if check.quarantined:
        params["quarantined"] = int(check.quarantined)
    if check.error:
        params["error"] = True
    return data_quality_assertions_dataset.Assertion(
        assertion=spec.type,
        success=bool(check.success),
        column=spec.column,
        severity=SEVERITY.get(spec.severity, spec.severity),
        name=spec.name,
        description=(spec.description or None),
        actual=_number(check.observed),
        params=params,
    )


def assertions_facet(checks: list[Any]) -> Any:
    return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
        assertions=[assertion(c) for c in checks], producer=naming.PRODUCER
    )


def metrics_facet(checks: list[Any], row_count: int) -> Any:
    nulls: dict[str, int] = {}
    distinct: dict[str, int] = {}
    for c in checks:
        column = c.spec.column
        if not column or c.error or c.unexpected_count is None:
            continue
        if c.spec.type == NULL_CHECK:
            nulls[column] = int(c.unexpected_count)
    for c in checks:
        column = c.spec.column
        if (
            column
            and c.spec.type == UNIQUE_CHECK
            and not c.error
            and c.unexpected_count == 0
            and column in nulls
        ):
            distinct[column] = row_count - nulls[column]
    metrics = {
        column: data_quality_metrics_input_dataset.ColumnMetrics(
            nullCount=nulls.get(column), distinctCount=distinct.get(column)
        )
        for column in sorted(set(nulls) | set(distinct))
    }
    return data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
        rowCount=row_count, columnMetrics=metrics, producer=naming.PRODUCER
    )


def quality_run_facet(validation: Any, validated: str | None, published: str | None) -> Any:
    """``pipelines_quality``: the outcome counts of one validation (a ``TableValidation``)."""
    return f.custom(
        f.PipelinesQualityRunFacet,
        table=validation.table,
        partition=validation.partition,
        checks=len(validation.checks),
        passed=validation.count("passed"),
        warned=validation.count("warned"),
        failed=validation.count("failed"),
        failed_checks=[c.spec.name for c in validation.checks if c.outcome == "failed"],
        quarantined={k: int(v) for k, v in (validation.quarantined or {}).items()},
        dataset_version_validated=validated,
        dataset_version_published=published,
    )
