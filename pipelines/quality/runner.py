"""Validate one lake partition with Great Expectations, quarantine failing rows, store it all.

``validate_partition`` opens an in-memory DuckDB database with views over the partition's
``data.parquet`` (the batch), its ``quarantine.parquet`` and, for foreign keys and suites
that read other tables, those tables' partitions up to the interval end; builds the suite
(:mod:`.suites`); runs it through GX's SQL path (:mod:`.engine`); turns each GX result into
an outcome by severity; moves rows failing row-level rules to the quarantine
(:mod:`.quarantine`); and stores results, statistics and the GX result (:mod:`.store`).

GX sees only the protected lake. Results never carry sample values: every run uses
``result_format = BASIC`` with ``partial_unexpected_count = 0``, and the stored GX result
is scrubbed of any unexpected-value list as a second line of defence.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from pipelines.contracts import Contract, ContractSet, load_contracts
from pipelines.lake.interval import Interval
from pipelines.lake.manifest import Manifest
from pipelines.lake.partitions import (
    Partition,
    partitions,
    partitions_until,
    verified_data_file,
    verified_data_files,
    verified_quarantine_file,
)
from pipelines.lake.publish import current_manifest
from pipelines.lake.storage import lake_store
from pipelines.protection import KeyRing
from pipelines.protection.encrypt import Encryptor
from pipelines.protection.encrypt import register_duckdb_udf as register_encrypt_udf
from pipelines.quality import gxsetup, reinstate, store
from pipelines.quality import quarantine as gate_quarantine
from pipelines.quality.explain import shares_text
from pipelines.quality.suites import (
    CheckSpec,
    Suite,
    build_suite,
    lake_view,
    quarantine_view,
)
from pipelines.settings import Settings

log = logging.getLogger("pipelines.quality")

RESULT_FORMAT: dict[str, Any] = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
}
_SAMPLE_KEYS = (
    "partial_unexpected_list",
    "partial_unexpected_counts",
    "partial_unexpected_index_list",
    "unexpected_list",
    "unexpected_index_list",
    "unexpected_index_query",
    "unexpected_rows",
    "unexpected_index_column_names",
)
QUARANTINE_COLUMNS = {
    "_source_file": "VARCHAR",
    "_source_row": "BIGINT",
    "failed_check": "VARCHAR",
    "column_name": "VARCHAR",
    "reason": "VARCHAR",
    "reasons": 'STRUCT("check" VARCHAR, "column" VARCHAR, reason VARCHAR)[]',
    "record": "JSON",
}


class QualityError(RuntimeError):
    """The gate cannot run (no partition for the interval, a broken suite, ...)."""


@dataclass
class CheckOutcome:
    spec: CheckSpec
    success: bool
    outcome: str  # passed | warned | failed
    observed: Any
    unexpected_count: int | None
    element_count: int | None
    details: dict[str, Any]
    error: str | None = None
    quarantined: int = 0

    def describe(self) -> str:
        """One line, no data values: name, severity, observed value."""
        observed = self.observed
        shares = shares_text(observed) if isinstance(observed, dict) else None
        if isinstance(observed, dict | list):
            observed = json.dumps(observed, default=_json_default, sort_keys=True)[:160]
        parts = [f"{self.spec.name} ({self.spec.severity})"]
        if self.error:
            parts.append(f"error: {self.error}")
        elif shares:
            parts.append(shares)
        elif self.unexpected_count is not None:
            parts.append(f"{self.unexpected_count} of {self.element_count} rows unexpected")
        else:
            parts.append(f"observed {observed}")
        if self.quarantined:
            parts.append(f"{self.quarantined} rows quarantined")
        text = ": ".join(parts[:2]) + ("; " + parts[2] if len(parts) > 2 else "")
        return text + (f" [governed by {self.spec.governed_by}]" if self.spec.governed_by else "")


@dataclass
class TableValidation:
    table: str
    partition: str
    interval: Interval
    run_id: str
    checks: list[CheckOutcome]
    quarantined: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    validated_at: str = ""
    paths: dict[str, str] = field(default_factory=dict)
    dataset_version: str | None = None  # of what was validated, when the caller knows it
    reinstated: dict[str, int] = field(default_factory=dict)  # check -> orphans back in the data
    pending_children: dict[str, int] = field(default_factory=dict)  # child partition -> orphans

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.checks if c.outcome == outcome)

    @property
    def failed_critical(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.outcome == "failed"]

    def summary(self) -> dict[str, Any]:
        """XCom-safe: counts, names and paths, never data values."""
        return {
            "table": self.table,
            "partition": self.partition,
            "interval_start": self.interval.start.isoformat(),
            "interval_end": self.interval.end.isoformat(),
            "run_id": self.run_id,
            "checks": len(self.checks),
            "passed": self.count("passed"),
            "warned": self.count("warned"),
            "failed": self.count("failed"),
            "failed_checks": [c.describe() for c in self.failed_critical],
            "warned_checks": [c.spec.name for c in self.checks if c.outcome == "warned"],
            "quarantined": dict(self.quarantined),
            "reinstated": dict(self.reinstated),
            "pending_children": dict(self.pending_children),
            "seconds": round(self.seconds, 2),
            "results": self.paths.get("checks", ""),
        }


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


WITHHELD = "(withheld: PII column)"


def _withhold(observed: Any) -> Any:
    """The observed value of a check on a PII column, unless it is a count or statistic.

    Counts, shares and distances say nothing about one person; a value (a minimum, a most
    common value, a date) may be personal data, so it is never stored or shown. The segments
    a representativeness check names (``segments_off``, :func:`stats.explain`) are the
    reference file's declared segments, never a value found only in the data.
    """
    if observed is None or isinstance(observed, bool | int | float):
        return observed
    if isinstance(observed, dict) and all(
        v is None or isinstance(v, bool | int | float) or v in ("pass", "warn", "fail")
        for k, v in observed.items()
        if k not in ("segments_off", "reached")
    ):
        return observed
    return WITHHELD


def _scrub(value: Any) -> Any:
    """Drop every unexpected-value list from a GX result, wherever it is."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in _SAMPLE_KEYS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def find_partition(settings: Settings, table: str, interval: Interval) -> Partition:
    for part in partitions(lake_store(settings), table):
        if part.interval == interval:
            return part
    raise QualityError(
        f"{table}: no lake partition for {interval} in {lake_store(settings).uri(table)}; "
        f"ingest it first (pipelines ingest --table {table} --start ... --end ...)"
    )


def _outcome(
    spec: CheckSpec, success: bool, violations: int, level: str | None, error: bool
) -> str:
    """passed / warned / failed.

    A check that fails (or cannot be computed) fails the gate when critical, else warns. A
    check that succeeds warns when its statistics reached a warn level, when it quarantined
    rows, or when a business rule found violations within its tolerance; the tolerated
    quarantine share of the contract passes (its evidence checks report the rows).
    """
    if error or not success:
        return "failed" if spec.severity == "critical" else "warned"
    if level == "warn" or (violations > 0 and (spec.quarantine or spec.source != "contract")):
        return "warned"
    return "passed"


def _check_outcome(spec: CheckSpec, evr: Any) -> CheckOutcome:
    result = _scrub(dict(evr.result or {}))
    info = evr.exception_info or {}
    if isinstance(info, dict) and "raised_exception" not in info:
        # keyed by metric: take the first metric's exception
        info = next(iter(info.values()), {}) if info else {}
    error = None
    if isinstance(info, dict) and info.get("raised_exception"):
        error = gxsetup.redact(str(info.get("exception_message") or "exception"))[:300]
    unexpected = result.get("unexpected_count")
    observed = result.get("observed_value")
    if observed is None and unexpected is not None:
        observed = {
            "unexpected_count": unexpected,
            "unexpected_percent": result.get("unexpected_percent"),
        }
    if spec.pii:
        observed = _withhold(observed)
    violations = int(unexpected or 0)
    if spec.type == "expect_unexpected_rows_to_be_at_most" and isinstance(observed, int):
        violations = observed
    details = result.get("details") or {}
    level = details.get("level") if isinstance(details, dict) else None
    success = bool(evr.success) and error is None
    return CheckOutcome(
        spec=spec,
        success=success,
        outcome=_outcome(spec, success, violations, level, error is not None),
        observed=observed,
        unexpected_count=int(unexpected)
        if unexpected is not None
        else (
            violations
            if spec.type == "expect_unexpected_rows_to_be_at_most" and error is None
            else None
        ),
        element_count=result.get("element_count")
        if result.get("element_count") is not None
        else (details.get("batch_rows") if isinstance(details, dict) else None),
        details=details if isinstance(details, dict) else {},
        error=error,
    )


def _create_views(
    con: Any, settings: Settings, contracts: ContractSet, suite: Suite, part: Partition
) -> None:
    from pipelines.quality import engine

    contract = contracts[suite.table]
    columns = {c.lake_name: c.lake_type for c in contract.written_columns}
    columns.update({"_source_file": "VARCHAR", "_source_row": "BIGINT"})
    columns.update(contract.surrogate_columns)
    engine.create_view(con, suite.table, [verified_data_file(part)], columns)
    engine.create_view(
        con,
        quarantine_view(suite.table),
        [verified_quarantine_file(part)],
        QUARANTINE_COLUMNS,
    )
    for ref in sorted(suite.lake_tables):
        ref_contract = contracts[ref]
        ref_columns = {c.lake_name: c.lake_type for c in ref_contract.written_columns}
        ref_columns.update({"_source_file": "VARCHAR", "_source_row": "BIGINT"})
        ref_columns.update(ref_contract.surrogate_columns)
        files = verified_data_files(partitions_until(lake_store(settings), ref, part.interval.end))
        engine.create_view(con, lake_view(ref), files, ref_columns)


def _run_gx(con: Any, suite: Suite, run_id: str, run_time: datetime) -> Any:
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    from pipelines.quality import engine

    with gxsetup.quiet():
        context = gxsetup.new_context()
        datasource = engine.add_lake_datasource(context, "lake", con)
        asset = datasource.add_table_asset(name=suite.table, table_name=suite.table)
        batch_definition = asset.add_batch_definition_whole_table("partition")
        gx_suite = context.suites.add(suite.gx_suite())
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.table, data=batch_definition, suite=gx_suite)
        )
        return definition.run(
            result_format=RESULT_FORMAT,
            run_id=RunIdentifier(run_name=run_id, run_time=run_time),
        )


def _stats_rows(base: dict[str, Any], outcomes: list[CheckOutcome]) -> list[dict[str, Any]]:
    rows = []
    for c in outcomes:
        if c.spec.type != "expect_column_shares_to_match_reference" or not c.details:
            continue
        d = c.details
        common = {
            **base,
            "expectation": c.spec.name,
            "kind": c.spec.source,
            "column": c.spec.column,
            "reference_name": d.get("reference_name"),
            "rows": d.get("rows"),
            "evaluated": d.get("evaluated"),
            "level": d.get("level"),
            "tvd": d.get("tvd"),
            "psi": d.get("psi"),
            "js_distance": d.get("js_distance"),
        }
        segments = d.get("segments") or []
        if not segments:
            rows.append({**common, "segment": None})
        for s in segments:
            rows.append(
                {
                    **common,
                    "segment": s["segment"],
                    "count": s["count"],
                    "share": s["share"],
                    "reference_share": s["reference_share"],
                    "ratio": s["ratio"],
                    "segment_level": s["level"],
                }
            )
    return rows


def check_row(
    base: dict[str, Any], suite: str, c: CheckOutcome, dataset_version: str
) -> dict[str, Any]:
    """One stored check result: ``base`` (run, table, partition, interval) plus the outcome."""
    from pipelines.quality.engine import GX_VERSION  # GX: imported when used (test collection)

    return {
        **base,
        "suite": suite,
        "expectation": c.spec.name,
        "expectation_type": c.spec.type,
        "column": c.spec.column,
        "severity": c.spec.severity,
        "source": c.spec.source,
        "outcome": c.outcome,
        "success": c.success,
        "observed_value": json.dumps(c.observed, default=_json_default, sort_keys=True),
        "unexpected_count": c.unexpected_count,
        "element_count": c.element_count,
        "quarantined": c.quarantined,
        "error": c.error,
        "dataset_version": dataset_version,
        "gx_version": GX_VERSION,
        "governed_by": c.spec.governed_by,
    }


def undeclared_pii_rows(
    base: dict[str, Any], manifest: Manifest, dataset_version: str
) -> list[dict[str, Any]]:
    """One stored result per undeclared-PII finding of the partition's ingestion (personal
    data in a column the contract keeps in clear): outcome ``warned``, the observed value
    the detector, policy and counts, never the value itself."""
    from pipelines.quality.engine import GX_VERSION

    rows = []
    for u in manifest.undeclared_pii:
        observed = {
            "detector": u.entity,
            "policy": u.policy,
            "sampled": u.sampled,
            "hits": u.hits,
            "quarantined": u.quarantined,
            "locators": u.locators,
        }
        rows.append(
            {
                **base,
                "suite": base["table"],
                "expectation": f"{store.UNDECLARED_PII}:{u.column}:{u.entity}",
                "expectation_type": store.UNDECLARED_PII,
                "column": u.column,
                "severity": "warning",
                "source": "ingestion",
                "outcome": "warned",
                "success": False,
                "observed_value": json.dumps(observed, sort_keys=True),
                "unexpected_count": u.hits,
                "element_count": u.sampled,
                "quarantined": u.quarantined,
                "error": None,
                "dataset_version": dataset_version,
                "gx_version": GX_VERSION,
                "governed_by": f"the contract of {base['table']} (undeclared PII policy "
                f"{u.policy}): declare the column's pii and protection",
            }
        )
    return rows


def configured_keyring(settings: Settings) -> KeyRing | None:
    """The key ring, if one is configured: the gate then keeps quarantined values encrypted."""
    from pipelines.protection import MissingKeyError, keyring_from_settings

    try:
        return keyring_from_settings(settings)
    except MissingKeyError:
        return None


def _partition_after_reinstating(
    settings: Settings,
    contracts: ContractSet,
    table: str,
    interval: Interval,
    run_id: str,
    keyring: KeyRing | None,
    *,
    reinstating: bool,
) -> tuple[Partition, dict[str, int]]:
    """The partition to validate, after orphans whose parents are back returned to it (not
    ``reinstating``: the gate quarantines nothing, so it reinstates nothing either)."""
    part = find_partition(settings, table, interval)
    if not reinstating:
        return part, {}
    reinstated = reinstate.reinstate(settings, contracts, part, run_id=run_id, keyring=keyring)
    if reinstated:
        part = find_partition(settings, table, interval)
    return part, reinstated


def validate_partition(
    table: str,
    interval: Interval,
    settings: Settings,
    *,
    run_id: str,
    contracts: ContractSet | None = None,
    quarantine_rows: bool = True,
    keyring: KeyRing | None = None,
) -> TableValidation:
    """Validate ``table``'s partition for ``interval``; store everything; gate rows (with
    ``keyring``, their non-PII values are kept in the quarantine, encrypted)."""
    started = time.perf_counter()
    contracts = contracts or load_contracts(settings.contracts_dir)
    contract = contracts[table]
    part, reinstated = _partition_after_reinstating(
        settings, contracts, table, interval, run_id, keyring, reinstating=quarantine_rows
    )
    manifest = part.manifest
    previous, previous_label = store.previous_good_batch(
        settings, table, before=interval.start.isoformat()
    )
    suite = build_suite(
        contract,
        contracts,
        interval,
        loaded=manifest.counts.loaded,
        read=manifest.counts.read,
        previous=previous,
        previous_label=previous_label,
        directory=settings.expectations_dir,
    )
    run_time = datetime.now(UTC)
    from pipelines.quality import engine

    con = engine.connect(settings.duckdb_memory_limit, settings.duckdb_threads)
    lake_store(settings).prepare(con)
    try:
        _create_views(con, settings, contracts, suite, part)
        result = _run_gx(con, suite, run_id, run_time)
        by_name = {s.name: s for s in suite.specs}
        outcomes = [
            _check_outcome(by_name[str((evr.expectation_config.meta or {}).get("name"))], evr)
            for evr in result.results
        ]
        gated = gate_quarantine.GateQuarantine({}, {}, None)
        if quarantine_rows:
            gated = _gate_rows(
                con,
                contract,
                part,
                outcomes,
                run_id=run_id,
                keyring=keyring,
                lock_url=settings.lock_url,
            )
    finally:
        con.close()
    # The version the results vouch for: the partition as published after failing rows moved
    # to the quarantine (what a feature release may build on).
    vouched_version = (
        current_manifest(part).dataset_version if gated.republished else manifest.dataset_version
    )
    validated_at = datetime.now(UTC).isoformat()
    base = {
        "run_id": run_id,
        "run_key": store.run_key(run_id),
        "table": table,
        "partition": part.name,
        "interval_start": interval.start.isoformat(),
        "interval_end": interval.end.isoformat(),
        "validated_at": validated_at,
    }
    check_rows = [check_row(base, table, c, vouched_version) for c in outcomes]
    check_rows += undeclared_pii_rows(base, manifest, vouched_version)
    result_json = _stored_result(result.to_json_dict())
    result_json.setdefault("meta", {})["pipelines"] = {
        **base,
        "outcomes": {c.spec.name: c.outcome for c in outcomes},
        "quarantined": gated.moved,
        "reinstated": reinstated,
    }
    paths = store.write_table_run(
        settings, run_id, table, check_rows, _stats_rows(base, outcomes), result_json
    )
    validation = TableValidation(
        table=table,
        partition=part.name,
        interval=interval,
        run_id=run_id,
        checks=outcomes,
        quarantined=gated.moved,
        reinstated=reinstated,
        pending_children=reinstate.pending_children(settings, contracts, part),
        seconds=time.perf_counter() - started,
        validated_at=validated_at,
        paths={k: str(v) for k, v in paths.items()},
    )
    _log_validation(validation)
    return validation


def _gate_rows(
    con: Any,
    contract: Contract,
    part: Partition,
    outcomes: list[CheckOutcome],
    *,
    run_id: str,
    keyring: KeyRing | None,
    lock_url: SecretStr | None = None,
) -> gate_quarantine.GateQuarantine:
    """Move the rows the quarantining checks failed to the quarantine (non-PII values kept
    encrypted with ``keyring``); each check's count must be what GX counted."""
    table = contract.table
    rules = [
        c.spec
        for c in outcomes
        if c.spec.quarantine and c.error is None and (c.unexpected_count or 0) > 0
    ]
    if not rules:
        return gate_quarantine.GateQuarantine({}, {}, None)
    encrypt_udf = None
    if keyring is not None:
        encrypt_udf = register_encrypt_udf(con, Encryptor(keyring))
    gated = gate_quarantine.apply(
        con,
        contract,
        part,
        rules,
        data_view=table,
        run_id=run_id,
        encrypt_udf=encrypt_udf,
        lock_url=lock_url,
    )
    for c in outcomes:
        if c.spec.name in gated.found and gated.found[c.spec.name] != c.unexpected_count:
            raise QualityError(
                f"{table}: {c.spec.name}: GX counted {c.unexpected_count} failing rows "
                f"but the quarantine query found {gated.found[c.spec.name]}"
            )
        c.quarantined = gated.found.get(c.spec.name, 0)
    return gated


def _stored_result(result_json: dict[str, Any]) -> dict[str, Any]:
    """GX's result as stored: scrubbed, exceptions redacted, a PII check's observed value
    withheld."""
    result_json = _scrub(result_json)
    for evr in result_json.get("results", []):
        info = evr.get("exception_info") or {}
        if isinstance(info, dict):
            evr["exception_info"] = _redact_exception_info(info)
        meta = (evr.get("expectation_config") or {}).get("meta") or {}
        result_part = evr.get("result")
        if meta.get("pii") and isinstance(result_part, dict) and "observed_value" in result_part:
            result_part["observed_value"] = _withhold(result_part["observed_value"])
    return result_json


def _log_validation(validation: TableValidation) -> None:
    """One line per table run; a warning per failed critical check and per waiting child."""
    table = validation.table
    moved = validation.quarantined
    log.info(
        "quality %s %s: %d checks, %d passed, %d warned, %d failed%s (%.1fs)",
        table,
        validation.partition,
        len(validation.checks),
        validation.count("passed"),
        validation.count("warned"),
        validation.count("failed"),
        f"; quarantined {sum(moved.values())} row(s)" if moved else "",
        validation.seconds,
    )
    for c in validation.failed_critical:
        log.warning("quality %s: FAILED %s", table, c.describe())
    for child, waiting in validation.pending_children.items():
        log.warning(
            "quality %s: %s holds %d row(s) quarantined for a missing parent; they return at "
            "its next quality run if %s now has them (pipelines quality validate --table %s ...)",
            table,
            child,
            waiting,
            table,
            child.split("/", 1)[0],
        )


def _redact_exception_info(info: dict[str, Any]) -> dict[str, Any]:
    if "raised_exception" in info:
        return {
            "raised_exception": bool(info.get("raised_exception")),
            "exception_message": gxsetup.redact(str(info.get("exception_message") or ""))[:300]
            if info.get("exception_message")
            else None,
            "exception_traceback": None,
        }
    return {k: _redact_exception_info(v) if isinstance(v, dict) else v for k, v in info.items()}
