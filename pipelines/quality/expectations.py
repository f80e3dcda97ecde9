"""Custom Great Expectations expectations and metrics (SQL path), registered on import.

* :class:`ExpectColumnSharesToMatchReference`: representativeness of a batch against a
  declared reference population, or drift against the previous good batch. Its metric,
  ``column.segment_counts``, is one ``GROUP BY`` in the database; the statistics
  (:mod:`pipelines.quality.stats`) run on the counts. Values outside the reference's declared
  segments are counted as ``__other__`` and never named, so no data value of a (quasi-)
  identifying column reaches a result.
* :class:`ExpectUnexpectedRowsToBeAtMost`: like GX's ``UnexpectedRowsExpectation`` (a SQL
  query selecting the rows that break a rule, with ``{batch}`` for the batch), but with a
  tolerance (``max_share`` of the batch's rows, or ``max_count``). Foreign keys, payment
  totals, quarantine evidence and freshness rules use it.
* :class:`ExpectTableColumnTypesToMatch`: the lake columns and their DuckDB types, from
  ``DESCRIBE`` (SQLAlchemy reflection does not work on DuckDB, see :mod:`.engine`).

They render in Data Docs like built-in expectations, with short prescriptive and observed
value texts (no reference dictionaries or queries spelled out in full).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from great_expectations.compatibility import pydantic
from great_expectations.compatibility.sqlalchemy import sqlalchemy as sa
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.expectation import (
    BatchExpectation,
    ColumnAggregateExpectation,
)
from great_expectations.expectations.metrics.column_aggregate_metric_provider import (
    ColumnAggregateMetricProvider,
)
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider
from great_expectations.render import LegacyDiagnosticRendererType, LegacyRendererType
from great_expectations.render.components import RenderedStringTemplateContent
from great_expectations.render.renderer.renderer import renderer

from pipelines.quality import stats

# --- metrics ------------------------------------------------------------------------------


class ColumnSegmentCounts(ColumnAggregateMetricProvider):
    """``[[value as text or None, count], ...]`` for every distinct value, NULL included."""

    metric_name = "column.segment_counts"

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls,
        execution_engine: SqlAlchemyExecutionEngine,
        metric_domain_kwargs: dict,
        metric_value_kwargs: dict,
        metrics: dict[str, Any],
        runtime_configuration: dict,
    ) -> list[list[Any]]:
        selectable, _, accessor = execution_engine.get_compute_domain(
            metric_domain_kwargs, MetricDomainTypes.COLUMN
        )
        column: Any = sa.column(accessor["column"])
        value = sa.cast(column, sa.String).label("value")
        query = (
            sa.select(value, sa.func.count().label("n"))
            .select_from(selectable)  # type: ignore[arg-type]
            .group_by(value)
        )
        rows = execution_engine.execute_query(query).fetchall()
        return [[row[0], int(row[1])] for row in rows]


class TableLakeColumnTypes(TableMetricProvider):
    """``{column: DuckDB type}`` of the batch, from ``DESCRIBE``."""

    metric_name = "table.lake_column_types"

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls,
        execution_engine: SqlAlchemyExecutionEngine,
        metric_domain_kwargs: dict,
        metric_value_kwargs: dict,
        metrics: dict[str, Any],
        runtime_configuration: dict,
    ) -> dict[str, str]:
        selectable, _, _ = execution_engine.get_compute_domain(
            metric_domain_kwargs, MetricDomainTypes.TABLE
        )
        inner = sa.select(sa.text("*")).select_from(selectable)  # type: ignore[arg-type]
        compiled = inner.compile(
            dialect=execution_engine.engine.dialect, compile_kwargs={"literal_binds": True}
        )
        rows = execution_engine.execute_query(sa.text(f"DESCRIBE {compiled}")).fetchall()
        return {str(row[0]): str(row[1]) for row in rows}


# --- rendering helpers ---------------------------------------------------------------------


def _template(template: str, params: dict[str, Any], runtime_configuration: Any) -> list[Any]:
    styling = (runtime_configuration or {}).get("styling") or {}
    return [
        RenderedStringTemplateContent(
            content_block_type="string_template",
            string_template={"template": template, "params": params, "styling": styling},
        )
    ]


def _kwargs(configuration: Any) -> dict[str, Any]:
    return dict(configuration.kwargs) if configuration is not None else {}


def _observed(result: Any) -> Any:
    if result is None or not result.result:
        return None
    return result.result.get("observed_value")


# --- expectations --------------------------------------------------------------------------


def _segment(value: str | None, declared: set[str], groups: dict[str, str]) -> str | None:
    from pipelines.protection_types import SUPPRESSED

    if value is None or value == SUPPRESSED:  # suppressed for k-anonymity: not known either
        return stats.MISSING if stats.MISSING in declared else None
    value = groups.get(value, value)
    return value if value in declared else stats.OTHER


class ExpectColumnSharesToMatchReference(ColumnAggregateExpectation):
    """Expect the shares of a column's segments to match a reference distribution.

    Reports, per column, total variation distance, PSI (smoothed) and Jensen-Shannon
    distance, and per segment the representation ratio (current / reference share, judged
    from ``min_count`` rows). Fails when any statistic reaches its *fail* threshold; reaching
    a *warn* threshold is reported as ``details.level == "warn"`` with success kept.
    ``groups`` maps values to coarser segments first (e.g. state to region). NULLs (and the
    ``*`` of a value suppressed for k-anonymity) count only when the reference declares
    ``__missing__``; undeclared values count as ``__other__``.
    With an empty reference (drift without a previous batch) or fewer than ``min_rows`` rows
    nothing is judged and the expectation succeeds, saying why.
    """

    reference: dict[str, float]
    reference_name: str = ""
    groups: dict[str, str] = pydantic.Field(default_factory=dict)
    min_count: int = stats.DEFAULT_MIN_COUNT
    min_rows: int = stats.DEFAULT_MIN_ROWS
    epsilon: float = stats.DEFAULT_EPSILON
    thresholds: dict[str, Any] = pydantic.Field(default_factory=dict)

    metric_dependencies: ClassVar[tuple[str, ...]] = ("column.segment_counts",)
    success_keys: ClassVar[tuple[str, ...]] = (
        "reference",
        "reference_name",
        "groups",
        "min_count",
        "min_rows",
        "epsilon",
        "thresholds",
    )

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        declared = set(self.reference)
        counts: dict[str, int] = {}
        for value, n in metrics["column.segment_counts"]:
            key = _segment(value, declared, self.groups)
            if key is not None:
                counts[key] = counts.get(key, 0) + int(n)
        thresholds = stats.Thresholds.from_dict(self.thresholds)
        comparison = stats.compare(
            counts,
            self.reference,
            thresholds,
            min_count=self.min_count,
            min_rows=self.min_rows,
            epsilon=self.epsilon,
        )
        details = comparison.as_dict()
        details["reference_name"] = self.reference_name
        observed = {
            "tvd": details["tvd"],
            "psi": details["psi"],
            "js_distance": details["js_distance"],
            "level": details["level"],
            **stats.explain(comparison, thresholds),
        }
        return {
            "success": comparison.level != "fail",
            "result": {"observed_value": observed, "details": details},
        }

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls,
        configuration: Any = None,
        result: Any = None,
        runtime_configuration: Any = None,
        **kwargs: Any,
    ) -> list[Any]:
        kw = _kwargs(configuration)
        thresholds = stats.Thresholds.from_dict(kw.get("thresholds"))
        grouped = " grouped" if kw.get("groups") else ""
        return _template(
            "$column$grouped segment shares match reference $reference_name "
            "($segments segments): PSI < $psi, TVD < $tvd, JS distance < $js, "
            "representation ratio in ($lo, $hi) from $min_count rows per segment.",
            {
                "column": kw.get("column"),
                "grouped": grouped,
                "reference_name": kw.get("reference_name") or "(inline)",
                "segments": len(kw.get("reference") or {}),
                "psi": thresholds.psi.fail,
                "tvd": thresholds.tvd.fail,
                "js": thresholds.js.fail,
                "lo": thresholds.ratio.fail_low,
                "hi": thresholds.ratio.fail_high,
                "min_count": kw.get("min_count", stats.DEFAULT_MIN_COUNT),
            },
            runtime_configuration,
        )

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.OBSERVED_VALUE)
    def _diagnostic_observed_value_renderer(
        cls,
        configuration: Any = None,
        result: Any = None,
        runtime_configuration: Any = None,
        **kwargs: Any,
    ) -> str:
        observed = _observed(result)
        if not isinstance(observed, dict):
            return "--"
        details = result.result.get("details") or {}
        if not details.get("evaluated"):
            return f"not evaluated: {details.get('reason')}"
        worst = [
            f"{s['segment']} x{s['ratio']}"
            for s in details.get("segments", [])
            if s.get("level") != "pass" and s.get("ratio") is not None
        ][:4]
        text = (
            f"{observed['level']}: PSI {observed['psi']:.3f}, TVD {observed['tvd']:.3f}, "
            f"JS {observed['js_distance']:.3f}"
        )
        return text + (f"; ratios {', '.join(worst)}" if worst else "")


class ExpectUnexpectedRowsToBeAtMost(BatchExpectation):
    """Expect a query selecting the rows that break a rule to return few enough rows.

    ``unexpected_rows_query`` uses ``{batch}`` for the batch (as GX's
    ``UnexpectedRowsExpectation``) and must select row locators only (``_source_file``,
    ``_source_row``), never values of personal-data columns. Succeeds when the count is at
    most ``max_count``, or else at most ``max_share`` of the batch's rows (``0`` by default:
    no row may break the rule). The observed value is the number of rows found.
    """

    unexpected_rows_query: str
    max_share: float = 0.0
    max_count: int | None = None
    rule: str = ""

    metric_dependencies: ClassVar[tuple[str, ...]] = (
        "unexpected_rows_query.row_count",
        "table.row_count",
    )
    success_keys: ClassVar[tuple[str, ...]] = (
        "unexpected_rows_query",
        "max_share",
        "max_count",
        "rule",
    )

    def allowed(self, rows: int) -> int:
        if self.max_count is not None:
            return int(self.max_count)
        return math.floor(self.max_share * rows + 1e-9)

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        found = int(metrics["unexpected_rows_query.row_count"])
        rows = int(metrics["table.row_count"])
        allowed = self.allowed(rows)
        return {
            "success": found <= allowed,
            "result": {
                "observed_value": found,
                "details": {
                    "batch_rows": rows,
                    "share": round(found / rows, 6) if rows else None,
                    "allowed": allowed,
                    "max_share": self.max_share,
                    "max_count": self.max_count,
                },
            },
        }

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls,
        configuration: Any = None,
        result: Any = None,
        runtime_configuration: Any = None,
        **kwargs: Any,
    ) -> list[Any]:
        kw = _kwargs(configuration)
        if kw.get("max_count") is not None:
            limit = f"at most {kw['max_count']} rows"
        elif kw.get("max_share"):
            limit = f"at most {float(kw['max_share']):.2%} of the rows"
        else:
            limit = "no row"
        return _template(
            "$rule: $limit may break it.",
            {"rule": kw.get("rule") or "rule", "limit": limit},
            runtime_configuration,
        )

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.OBSERVED_VALUE)
    def _diagnostic_observed_value_renderer(
        cls,
        configuration: Any = None,
        result: Any = None,
        runtime_configuration: Any = None,
        **kwargs: Any,
    ) -> str:
        observed = _observed(result)
        if observed is None:
            return "--"
        details = result.result.get("details") or {}
        share = details.get("share")
        tail = f" of {details.get('batch_rows')} ({share:.2%})" if share is not None else ""
        return f"{observed} rows{tail}, {details.get('allowed')} allowed"


class ExpectTableColumnTypesToMatch(BatchExpectation):
    """Expect exactly these columns with these DuckDB types (``DECIMAL(12,2)``, ...)."""

    column_types: dict[str, str]

    metric_dependencies: ClassVar[tuple[str, ...]] = ("table.lake_column_types",)
    success_keys: ClassVar[tuple[str, ...]] = ("column_types",)

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        actual: dict[str, str] = metrics["table.lake_column_types"]
        expected = self.column_types
        missing = sorted(set(expected) - set(actual))
        unexpected = sorted(set(actual) - set(expected))
        mismatched = {
            c: {"expected": expected[c], "observed": actual[c]}
            for c in sorted(set(expected) & set(actual))
            if expected[c].upper() != actual[c].upper()
        }
        return {
            "success": not (missing or unexpected or mismatched),
            "result": {
                "observed_value": {
                    "missing": missing,
                    "unexpected": unexpected,
                    "mismatched": mismatched,
                },
                "details": {"columns": actual},
            },
        }

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls,
        configuration: Any = None,
        result: Any = None,
        runtime_configuration: Any = None,
        **kwargs: Any,
    ) -> list[Any]:
        kw = _kwargs(configuration)
        listing = ", ".join(f"{c} {t}" for c, t in (kw.get("column_types") or {}).items())
        return _template(
            "Columns and types are exactly: $listing.", {"listing": listing}, runtime_configuration
        )

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.OBSERVED_VALUE)
    def _diagnostic_observed_value_renderer(
        cls,
        configuration: Any = None,
        result: Any = None,
        runtime_configuration: Any = None,
        **kwargs: Any,
    ) -> str:
        observed = _observed(result)
        if not isinstance(observed, dict):
            return "--"
        parts = []
        if observed.get("missing"):
            parts.append("missing " + ", ".join(observed["missing"]))
        if observed.get("unexpected"):
            parts.append("unexpected " + ", ".join(observed["unexpected"]))
        for column, pair in (observed.get("mismatched") or {}).items():
            parts.append(f"{column} is {pair['observed']} (expected {pair['expected']})")
        return "; ".join(parts) or "as expected"


CUSTOM_EXPECTATIONS = {
    "expect_column_shares_to_match_reference": ExpectColumnSharesToMatchReference,
    "expect_unexpected_rows_to_be_at_most": ExpectUnexpectedRowsToBeAtMost,
    "expect_table_column_types_to_match": ExpectTableColumnTypesToMatch,
}
