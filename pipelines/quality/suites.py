"""Expectation suites: derived from the source contract, plus the hand-written suite file.

The suite of a lake table is built for one partition (one data interval) from:

1. **contract-derived checks** (``source: contract``, critical unless said otherwise),
   never restated in a file: the lake schema and types, the row count against the manifest,
   required columns, ranges, allowed values and patterns of clear-text columns, primary key,
   foreign keys (against the referenced table's partitions up to the interval end), the form
   of protected PII columns (tokens, ciphertexts, generalized values), and the *quarantine
   evidence*: one check per ingestion rule and column (warning; observed value = rows
   quarantined by ingestion) plus the quarantined share (critical);
2. **freshness** checks derived from the contract's event time (``source: freshness``,
   warning): the interval has rows, and its newest event lies inside it;
3. ``expectations/<table>.yml``: business rules, representativeness and drift, in GX's own
   suite layout (``type``, ``kwargs``, ``meta``), and per-suite settings in ``meta``
   (thresholds, the tolerated quarantine share, derived checks switched off with a reason).

Every check carries ``meta = {name, severity, source, column, quarantine, pii}``. In
queries, ``{batch}`` is the partition's rows (GX substitutes it), ``{quarantine}`` the
partition's quarantine records and ``{lake:<table>}`` that table's rows up to the interval
end. ``pipelines quality suite <table>`` prints the effective suite.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from pipelines.contracts import (
    Column,
    Contract,
    ContractSet,
    ForeignKey,
    Generalization,
    PiiClass,
    Protection,
)
from pipelines.lake.interval import Interval
from pipelines.protection.generalize import AGE_BANDS, OLDEST_BAND
from pipelines.protection_types import protection_type
from pipelines.quality.reference import (
    EXPECTATIONS_DIR,
    REFERENCE_DIR,
    grouped,
    load_groups,
    load_reference,
)
from pipelines.rowchecks import column_checks, table_checks
from pipelines.sql import q, sql_str
from pipelines.yamlfile import safe_load

SEVERITIES = ("critical", "warning")
SOURCES = ("contract", "freshness", "business_rule", "representativeness", "drift")
DEFAULT_MAX_QUARANTINE_SHARE = 0.05
PREVIOUS_BATCH = "previous_batch"
LOCATORS = ("_source_file", "_source_row")

ZIP3_PATTERN = "^[0-9]{3}xx$"
AGE_BAND_VALUES = [label for _, label in AGE_BANDS] + [OLDEST_BAND]
_LAKE_REF = re.compile(r"\{lake:([a-z_][a-z0-9_]*)\}")
_QUARANTINABLE = (
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_values_to_be_between",
    "expect_unexpected_rows_to_be_at_most",
)


class SuiteError(ValueError):
    """A suite file is malformed or inconsistent with the contract."""


def quarantine_view(table: str) -> str:
    return f"{table}__quarantine"


def lake_view(table: str) -> str:
    return f"lake__{table}"


@dataclass(frozen=True)
class CheckSpec:
    """One expectation of a suite, with what the gate needs to know about it."""

    name: str
    type: str
    kwargs: dict[str, Any]
    severity: str
    source: str
    column: str | None = None
    quarantine: bool = False
    pii: bool = False
    description: str = ""
    governed_by: str = ""  # the file and setting that decide this check, for people to act on

    @property
    def meta(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "severity": self.severity,
            "source": self.source,
            "column": self.column,
            "quarantine": self.quarantine,
            "pii": self.pii,
        }

    def configuration(self) -> dict[str, Any]:
        """GX's ``ExpectationConfiguration`` layout."""
        config: dict[str, Any] = {
            "type": self.type,
            "kwargs": dict(self.kwargs),
            "meta": self.meta,
            "severity": self.severity,
        }
        if self.description:
            config["description"] = self.description
        return config


@dataclass(frozen=True)
class SuiteFile:
    """``expectations/<table>.yml``: business rules, representativeness, drift, settings."""

    table: str
    path: Path | None
    meta: dict[str, Any]
    expectations: list[dict[str, Any]]

    @property
    def thresholds(self) -> dict[str, Any]:
        return dict(self.meta.get("thresholds") or {})

    @property
    def max_quarantine_share(self) -> float:
        return float(self.meta.get("max_quarantine_share", DEFAULT_MAX_QUARANTINE_SHARE))

    @property
    def disabled(self) -> dict[str, str]:
        raw = self.meta.get("disable") or {}
        if not isinstance(raw, dict):
            raise SuiteError(f"{self.path}: meta.disable must map check names to reasons")
        return {str(k): str(v) for k, v in raw.items()}

    def lake_tables(self) -> set[str]:
        """Tables this suite reads with ``{lake:<table>}``."""
        found: set[str] = set()
        for exp in self.expectations:
            found |= set(_LAKE_REF.findall(yaml.safe_dump(exp.get("kwargs", {}))))
        return found


def load_suite_file(table: str, directory: Path = EXPECTATIONS_DIR) -> SuiteFile:
    path = directory / f"{table}.yml"
    if not path.is_file():
        return SuiteFile(table, None, {}, [])
    try:
        raw = safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SuiteError(f"{path}: expected a mapping")
    unknown = set(raw) - {"name", "meta", "expectations"}
    if unknown:
        raise SuiteError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    if raw.get("name") != table:
        raise SuiteError(f"{path}: suite name must be {table!r}, got {raw.get('name')!r}")
    expectations = raw.get("expectations") or []
    if not isinstance(expectations, list):
        raise SuiteError(f"{path}: 'expectations' must be a list")
    return SuiteFile(table, path, dict(raw.get("meta") or {}), expectations)


# --- contract-derived checks ---------------------------------------------------------------


def _is_pii(col: Column) -> bool:
    return col.pii is not PiiClass.NONE


def _contract(
    name: str,
    type_: str,
    kwargs: dict[str, Any],
    col: Column | None = None,
    severity: str = "critical",
    source: str = "contract",
    description: str = "",
) -> CheckSpec:
    return CheckSpec(
        name=name,
        type=type_,
        kwargs=kwargs,
        severity=severity,
        source=source,
        column=col.name if col else None,
        pii=bool(col and _is_pii(col)),
        description=description,
    )


def _range_kwargs(col: Column) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"column": col.lake_name}
    for bound in ("min", "max"):
        value = getattr(col, bound)
        if value is None:
            continue
        if col.type in ("date", "timestamp"):
            value = str(value) if "T" in str(value) else f"{value}T00:00:00"
        kwargs[f"{bound}_value"] = value
    return kwargs


def _protection_check(col: Column) -> CheckSpec | None:
    name = f"contract.protected.{col.name}"
    kwargs: dict[str, Any]
    ptype = protection_type(col.protection)
    what = f"{col.name} is stored {ptype.participle}"
    if ptype.lake_pattern is not None:
        kwargs = {"column": col.lake_name, "regex": ptype.lake_pattern}
        return _contract(name, "expect_column_values_to_match_regex", kwargs, col, description=what)
    if col.protection is Protection.GENERALIZE and col.generalize is Generalization.ZIP_PREFIX_3:
        kwargs = {"column": col.lake_name, "regex": ZIP3_PATTERN}
        return _contract(name, "expect_column_values_to_match_regex", kwargs, col, description=what)
    if col.protection is Protection.GENERALIZE and col.generalize is Generalization.AGE_BAND:
        kwargs = {"column": col.lake_name, "value_set": AGE_BAND_VALUES}
        return _contract(name, "expect_column_values_to_be_in_set", kwargs, col, description=what)
    return None


def _evidence(
    contract: Contract, check: str, column: str | None, label: str, description: str
) -> CheckSpec:
    condition = f"x['check'] = {sql_str(check)}"
    if column is not None:
        condition += f" AND x['column'] = {sql_str(column)}"
    query = (
        f"SELECT _source_file, _source_row FROM {q(quarantine_view(contract.table))} "
        f"WHERE len(list_filter(reasons, x -> {condition})) > 0"
    )
    col = None
    if column is not None and column in contract.column_names:
        col = contract.column(column)
    return CheckSpec(
        name=f"contract.quarantine.{check}" + (f".{label}" if label else ""),
        type="expect_unexpected_rows_to_be_at_most",
        kwargs={"unexpected_rows_query": query, "max_count": 0, "rule": description},
        severity="warning",
        source="contract",
        column=column if col else None,
        pii=bool(col and _is_pii(col)),
        description=description,
    )


def quarantine_evidence(contract: Contract) -> list[CheckSpec]:
    """One check per ingestion rule and column: rows that ingestion quarantined for it."""
    out = [
        _evidence(contract, check.name, col.name, col.name, check.passing(col))
        for col in contract.columns
        for check in column_checks(col)
    ]
    if contract.primary_key:
        key = ", ".join(contract.primary_key)
        out.append(_evidence(contract, "duplicate_key", key, "", f"({key}) is unique"))
    for fk in contract.foreign_keys:
        out.append(
            _evidence(
                contract,
                "orphan_fk",
                fk.column,
                fk.column,
                f"{fk.column} has a matching {fk.references}",
            )
        )
    for check, column in table_checks(contract):
        out.append(_evidence(contract, check.name, column, column, check.passing(contract)))
    out.append(_evidence(contract, "malformed_record", None, "", "every record can be parsed"))
    return out


def contract_checks(
    contract: Contract,
    contracts: ContractSet,
    *,
    loaded: int,
    read: int,
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
) -> list[CheckSpec]:
    """Everything the contract says about a lake partition, as expectations."""
    specs = _table_checks(contract, loaded)
    for col in contract.written_columns:
        specs += _column_checks(col)
    specs += _key_checks(contract)
    for fk in contract.foreign_keys:
        specs.append(_foreign_key_check(contract, contracts, fk))
    specs.extend(quarantine_evidence(contract))
    specs.append(_quarantine_share_check(contract, read, max_quarantine_share))
    return specs


def _table_checks(contract: Contract, loaded: int) -> list[CheckSpec]:
    """The lake columns and types are the contract's; the row count is the manifest's."""
    types = {c.lake_name: c.lake_type for c in contract.written_columns}
    types.update({"_source_file": "VARCHAR", "_source_row": "BIGINT"})
    types.update(contract.surrogate_columns)
    return [
        _contract(
            "contract.schema",
            "expect_table_column_types_to_match",
            {"column_types": types},
            description="the lake columns and types are the contract's",
        ),
        _contract(
            "contract.row_count",
            "expect_table_row_count_to_equal",
            {"value": loaded},
            description="the partition holds the rows its manifest says were loaded",
        ),
    ]


def _column_checks(col: Column) -> list[CheckSpec]:
    """Required; then a protected column's protection check, or a clear column's range,
    allowed values and pattern."""
    specs: list[CheckSpec] = []
    if col.required:
        specs.append(
            _contract(
                f"contract.required.{col.name}",
                "expect_column_values_to_not_be_null",
                {"column": col.lake_name},
                col,
            )
        )
    if col.protection is not Protection.KEEP:
        protected = _protection_check(col)
        return specs if protected is None else [*specs, protected]
    if col.min is not None or col.max is not None:
        specs.append(
            _contract(
                f"contract.range.{col.name}",
                "expect_column_values_to_be_between",
                _range_kwargs(col),
                col,
            )
        )
    if col.allowed_values:
        specs.append(
            _contract(
                f"contract.allowed_values.{col.name}",
                "expect_column_values_to_be_in_set",
                {"column": col.lake_name, "value_set": list(col.allowed_values)},
                col,
            )
        )
    if col.pattern:
        specs.append(
            _contract(
                f"contract.pattern.{col.name}",
                "expect_column_values_to_match_regex",
                {"column": col.lake_name, "regex": col.pattern},
                col,
            )
        )
    return specs


def _key_checks(contract: Contract) -> list[CheckSpec]:
    """The primary key (one column or compound) and the surrogate row key are unique."""
    specs: list[CheckSpec] = []
    pk = [contract.column(c) for c in contract.primary_key]
    if len(pk) == 1:
        specs.append(
            _contract(
                "contract.primary_key",
                "expect_column_values_to_be_unique",
                {"column": pk[0].lake_name},
                pk[0],
            )
        )
    elif pk:
        specs.append(
            CheckSpec(
                name="contract.primary_key",
                type="expect_compound_columns_to_be_unique",
                kwargs={"column_list": [c.lake_name for c in pk]},
                severity="critical",
                source="contract",
                column=", ".join(c.name for c in pk),
                pii=any(_is_pii(c) for c in pk),
            )
        )
    for name, _ in contract.surrogate_columns:
        specs.append(
            CheckSpec(
                name="contract.row_key",
                type="expect_column_values_to_be_unique",
                kwargs={"column": name},
                severity="critical",
                source="contract",
                column=name,
                description="the surrogate row key is unique",
            )
        )
    return specs


def _foreign_key_check(contract: Contract, contracts: ContractSet, fk: ForeignKey) -> CheckSpec:
    """Every value of ``fk``'s column has its referenced row in the lake (quarantining)."""
    own = contract.column(fk.column)
    ref = contracts[fk.ref_table].column(fk.ref_column)
    query = (
        f"SELECT b._source_file, b._source_row FROM {{batch}} AS b "
        f"LEFT JOIN (SELECT DISTINCT {q(ref.lake_name)} AS k FROM {q(lake_view(fk.ref_table))}) AS r "
        f"ON b.{q(own.lake_name)} = r.k "
        f"WHERE b.{q(own.lake_name)} IS NOT NULL AND r.k IS NULL"
    )
    return CheckSpec(
        name=f"contract.foreign_key.{fk.column}",
        type="expect_unexpected_rows_to_be_at_most",
        kwargs={
            "unexpected_rows_query": query,
            "max_count": 0,
            "rule": f"{fk.column} has a matching {fk.references}",
        },
        severity="critical",
        source="contract",
        column=fk.column,
        quarantine=True,
        pii=_is_pii(own),
        description=f"every {fk.column} has a matching {fk.references} in the lake",
    )


def _quarantine_share_check(
    contract: Contract, read: int, max_quarantine_share: float
) -> CheckSpec:
    """Ingestion quarantined at most ``max_quarantine_share`` of the records it read."""
    allowed = math.floor(max_quarantine_share * read + 1e-9)
    return CheckSpec(
        name="contract.quarantine_share",
        type="expect_unexpected_rows_to_be_at_most",
        kwargs={
            "unexpected_rows_query": (
                f"SELECT _source_file, _source_row FROM {q(quarantine_view(contract.table))}"
            ),
            "max_count": allowed,
            "rule": f"at most {max_quarantine_share:.0%} of the {read} records read are quarantined",
        },
        severity="critical",
        source="contract",
        description="ingestion quarantined few enough records to trust the partition",
    )


def freshness_checks(contract: Contract, interval: Interval) -> list[CheckSpec]:
    """The interval has rows; with an event time, its newest event lies inside the interval."""
    specs = [
        CheckSpec(
            name="freshness.rows_present",
            type="expect_table_row_count_to_be_between",
            kwargs={"min_value": 1},
            severity="warning",
            source="freshness",
            description="the interval's files arrived and hold rows (a missing file is flagged)",
        )
    ]
    if contract.event_time:
        col = contract.column(contract.event_time.column)
        start = interval.start.replace(tzinfo=None).isoformat()
        end = interval.end.replace(tzinfo=None).isoformat()
        specs.append(
            CheckSpec(
                name="freshness.newest_event_in_interval",
                type="expect_column_max_to_be_between",
                kwargs={
                    "column": col.lake_name,
                    "min_value": start,
                    "max_value": end,
                    "strict_max": True,
                },
                severity="warning",
                source="freshness",
                column=col.name,
                pii=_is_pii(col),
                description=f"the newest {col.name} lies in [{start}, {end})",
            )
        )
    return specs


# --- suite files ---------------------------------------------------------------------------


def _substitute(value: Any, table: str) -> Any:
    if isinstance(value, str):
        value = value.replace("{quarantine}", q(quarantine_view(table)))
        return _LAKE_REF.sub(lambda m: q(lake_view(m.group(1))), value)
    if isinstance(value, list):
        return [_substitute(v, table) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, table) for k, v in value.items()}
    return value


def _column_of(kwargs: Mapping[str, Any]) -> str | None:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    return None


def file_checks(
    suite: SuiteFile,
    contract: Contract | None,
    previous: Mapping[str, Mapping[str, float]] | None = None,
    previous_label: str = "",
    reference_dir: Path = REFERENCE_DIR,
) -> list[CheckSpec]:
    """The suite file's expectations, with references resolved.

    ``previous`` maps a representativeness check's name to the previous good batch's shares;
    a drift check (``reference: previous_batch``) takes those of the representativeness check
    on the same column and grouping. Without a ``contract`` (feature tables) no column is
    treated as personal data: feature tables hold none by construction.
    """
    specs: list[CheckSpec] = []
    by_column: dict[tuple[str, str], str] = {}
    names: set[str] = set()
    lake_columns = {c.lake_name: c for c in contract.written_columns} if contract else {}
    table = contract.table if contract else suite.table
    for number, raw in enumerate(suite.expectations, 1):
        where = f"{suite.path}: expectation {number}"
        meta = _expectation_meta(raw, where, names)
        name, severity, source = meta["name"], meta["severity"], meta["source"]
        kwargs = _substitute(dict(raw.get("kwargs") or {}), table)
        type_ = str(raw["type"])
        quarantine = bool(meta.get("quarantine", False))
        if quarantine:
            _check_quarantinable(where, type_, kwargs)
        if type_ == "expect_column_shares_to_match_reference":
            kwargs = _resolve_shares(kwargs, suite, where, reference_dir)
            group_key = str(sorted((kwargs.get("groups") or {}).items()))
            if source == "representativeness":
                by_column[(kwargs["column"], group_key)] = name
            elif source == "drift":
                rep = by_column.get((kwargs["column"], group_key))
                if rep is None:
                    raise SuiteError(
                        f"{where}: a drift check follows the representativeness check of its column"
                    )
                shares = dict((previous or {}).get(rep, {}))
                kwargs["reference"] = shares
                kwargs["reference_name"] = (
                    f"previous good batch {previous_label}" if shares else "no previous good batch"
                )
        column = _column_of(kwargs)
        pii = any(
            _is_pii(lake_columns[c.strip()])
            for c in (column or "").split(",")
            if c.strip() in lake_columns
        )
        specs.append(
            CheckSpec(
                name=name,
                type=type_,
                kwargs=kwargs,
                severity=severity,
                source=source,
                column=column,
                quarantine=quarantine,
                pii=pii,
                description=str(raw.get("description", "")),
            )
        )
    return specs


def _expectation_meta(raw: Any, where: str, names: set[str]) -> dict[str, Any]:
    """A suite entry's ``meta`` with its name (unique: added to ``names``), severity and
    source checked and defaulted; a ``SuiteError`` names what to write instead."""
    if not isinstance(raw, dict) or "type" not in raw:
        raise SuiteError(f"{where}: needs a 'type'")
    meta = dict(raw.get("meta") or {})
    name = meta.get("name")
    if not name:
        raise SuiteError(f"{where}: meta.name is required")
    if name in names:
        raise SuiteError(f"{where}: duplicate name {name!r}")
    names.add(name)
    meta["severity"] = meta.get("severity", "warning")
    meta["source"] = meta.get("source", "business_rule")
    if meta["severity"] not in SEVERITIES:
        raise SuiteError(f"{where}: severity must be one of {SEVERITIES}")
    if meta["source"] not in SOURCES or meta["source"] == "contract":
        raise SuiteError(
            f"{where}: source must be one of {SOURCES[1:]} (contract checks are derived)"
        )
    return meta


def _check_quarantinable(where: str, type_: str, kwargs: Mapping[str, Any]) -> None:
    """A quarantining expectation is one whose failing rows can be selected, exactly."""
    if type_ not in _QUARANTINABLE:
        raise SuiteError(f"{where}: {type_} cannot quarantine rows")
    if (
        type_ == "expect_column_pair_values_a_to_be_greater_than_b"
        and kwargs.get("ignore_row_if") != "either_value_is_missing"
    ):
        raise SuiteError(
            f"{where}: quarantining pair rules need ignore_row_if: either_value_is_missing"
        )


def _resolve_shares(
    kwargs: dict[str, Any], suite: SuiteFile, where: str, reference_dir: Path
) -> dict[str, Any]:
    out = dict(kwargs)
    groups: dict[str, str] = {}
    if isinstance(out.get("groups"), str):
        groups = load_groups(out["groups"], reference_dir / "groups")
        out["groups"] = groups
    reference = out.get("reference")
    if isinstance(reference, str) and reference != PREVIOUS_BATCH:
        ref = load_reference(reference, reference_dir)
        out["reference"] = grouped(ref.shares, groups) if groups else ref.shares
        out.setdefault("reference_name", ref.name)
    elif reference == PREVIOUS_BATCH:
        out["reference"] = {}
    elif not isinstance(reference, dict):
        raise SuiteError(
            f"{where}: reference must name a file in {reference_dir} or be {PREVIOUS_BATCH}"
        )
    thresholds = {**suite.thresholds, **(out.get("thresholds") or {})}
    if thresholds:
        out["thresholds"] = thresholds
    return out


# --- the whole suite -----------------------------------------------------------------------


@dataclass
class Suite:
    table: str
    specs: list[CheckSpec]
    disabled: dict[str, str] = field(default_factory=dict)
    lake_tables: set[str] = field(default_factory=set)

    def spec(self, name: str) -> CheckSpec:
        for s in self.specs:
            if s.name == name:
                return s
        raise KeyError(name)

    def gx_suite(self) -> Any:
        import great_expectations as gx
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

        import pipelines.quality.expectations  # noqa: F401  (registers custom expectations)

        # Built from the list: ExpectationSuite.add_expectation_configuration replaces
        # expectations of the same type and domain (all batch-level rules would collapse into
        # one), and add_expectation needs a context.
        return gx.ExpectationSuite(
            name=self.table,
            meta={"disabled": self.disabled},
            expectations=[ExpectationConfiguration(**spec.configuration()) for spec in self.specs],
        )


def build_suite(
    contract: Contract,
    contracts: ContractSet,
    interval: Interval,
    *,
    loaded: int,
    read: int,
    previous: Mapping[str, Mapping[str, float]] | None = None,
    previous_label: str = "",
    directory: Path = EXPECTATIONS_DIR,
) -> Suite:
    suite_file = load_suite_file(contract.table, directory)
    specs = contract_checks(
        contract,
        contracts,
        loaded=loaded,
        read=read,
        max_quarantine_share=suite_file.max_quarantine_share,
    )
    specs += freshness_checks(contract, interval)
    specs += file_checks(
        suite_file, contract, previous, previous_label, reference_dir=directory / "reference"
    )
    disabled = suite_file.disabled
    known = {s.name for s in specs}
    unknown = set(disabled) - known
    if unknown:
        raise SuiteError(
            f"{suite_file.path}: meta.disable names unknown check(s) {sorted(unknown)}"
        )
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SuiteError(f"{contract.table}: duplicate check names {sorted(duplicates)}")
    lake_tables = {fk.ref_table for fk in contract.foreign_keys} | suite_file.lake_tables()
    specs = [
        replace(s, governed_by=governed_by(s, contract, suite_file, directory / "reference"))
        for s in specs
    ]
    return Suite(
        contract.table,
        [s for s in specs if s.name not in disabled],
        disabled,
        lake_tables,
    )


def governed_by(spec: CheckSpec, contract: Contract, suite: SuiteFile, reference_dir: Path) -> str:
    """Which file and setting decide ``spec``: what to read or change when it fails (paths
    inside the project relative to it)."""
    suite_path = _shown(suite.path) if suite.path else f"expectations/{contract.table}.yml (absent)"
    if spec.name == "contract.quarantine_share":
        set_in = suite_path if "max_quarantine_share" in suite.meta else "the default"
        return f"max_quarantine_share {suite.max_quarantine_share:.0%} ({set_in})"
    if spec.source in ("contract", "freshness"):
        return f"contract {_shown(contract.path)}"
    if spec.type != "expect_column_shares_to_match_reference":
        mostly = spec.kwargs.get("mostly")
        return suite_path + (f" (mostly: {mostly})" if mostly is not None else "")
    thresholds = "thresholds in " + (suite_path if spec.kwargs.get("thresholds") else "defaults")
    raw = _raw_reference(suite, spec.name)
    if raw == PREVIOUS_BATCH or not isinstance(raw, str):
        return f"{spec.kwargs.get('reference_name') or 'inline reference'}; {thresholds}"
    return f"reference {_shown(reference_dir / (raw + '.yml'))}; {thresholds}"


def _shown(path: Path | None) -> str:
    from pipelines.settings import PROJECT_DIR

    if path is None:
        return "(no file)"
    try:
        return str(path.relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)


def _raw_reference(suite: SuiteFile, name: str) -> Any:
    for raw in suite.expectations:
        if isinstance(raw, dict) and (raw.get("meta") or {}).get("name") == name:
            return (raw.get("kwargs") or {}).get("reference")
    return None
