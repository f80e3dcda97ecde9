"""The dbt sources file, generated from the source contracts (never written by hand).

``dbt_project/sources/_lake__sources.yml`` declares source ``lake`` (schema ``lake``,
see :mod:`pipelines.warehouse.lake_views`) with one table per contract: the lake columns
with their descriptions, DuckDB types and PII class/protection as ``meta``, the owner, key
tests (``not_null`` + ``unique`` on primary keys, ``unique_combination`` on composite keys,
``relationships`` for foreign keys) and, for tables with an event time, ``loaded_at_field``
with a freshness warning after one day plus the contract's allowed lateness (only
``dbt source freshness`` evaluates it; the quality gate judges freshness per interval). It
also declares ``lake.partitions``, the registry of the partitions a build reads.

The file is committed. ``pipelines warehouse sources`` rewrites it, ``--check`` fails when
it differs from what the contracts say, and so does a unit test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipelines.contracts import Column, Contract, ContractSet, load_contracts
from pipelines.protection_types import dbt_note
from pipelines.settings import PROJECT_DIR, Settings
from pipelines.warehouse.lake_views import LINEAGE_COLUMNS, PARTITIONS_COLUMNS, RELEASE_COLUMNS
from pipelines.warehouse.project import LAKE_SCHEMA, SOURCES_FILE

HEADER = """\
# GENERATED from contracts/*.yml by `pipelines warehouse sources`. Do not edit by hand:
# change the contract and regenerate; `pipelines warehouse sources --check` and the unit
# tests fail when this file is out of date.
"""

_LINEAGE_DESCRIPTIONS = {
    "_source_file": "Landing file the row was read from (relative to the landing folder).",
    "_source_row": "1-based record number of the row in its landing file.",
    "_partition": "Lake partition the row belongs to (`dt=<interval start>`).",
    "_dataset_version": "SHA-256 of the partition's data.parquet (its dataset version).",
}
_PARTITIONS_KEYS = ("table_name", "partition", "interval_start", "interval_end", "dataset_version")
_PARTITIONS_DESCRIPTIONS = {
    "table_name": "Lake table.",
    "partition": "Partition folder (`dt=<interval start>`).",
    "interval_start": "Start of the partition's data interval (UTC).",
    "interval_end": "End of the partition's data interval, exclusive (UTC).",
    "dataset_version": "SHA-256 of the partition's data.parquet.",
    "run_id": "Run that published the partition (null when run by hand).",
    "contract_version": "Version of the contract the partition was ingested under.",
    "contract_fingerprint": "Hash of the contract's content at ingestion.",
    "rows_loaded": "Rows in data.parquet (the manifest's loaded count).",
    "manifest_path": "Absolute path of the partition's manifest.json.",
    "data_path": "Absolute path of the partition's data.parquet.",
}


def _description(col: Column) -> str:
    text = col.description.strip()
    method = col.generalize.value if col.generalize else None
    note = dbt_note(col.protection, col.pii.value, method)
    return f"{text} {note}".strip()


def _column(contract: Contract, col: Column) -> dict[str, Any]:
    meta: dict[str, Any] = {"pii": col.pii.value, "protection": col.protection.value}
    if col.generalize is not None:
        meta["generalize"] = col.generalize.value
    if col.lake_name != col.name:
        meta["source_column"] = col.name
    entry: dict[str, Any] = {
        "name": col.lake_name,
        "description": _description(col),
        "data_type": col.lake_type.lower(),
        "config": {"meta": meta},
    }
    tests: list[Any] = []
    if col.name in contract.primary_key:
        tests.append("not_null")
        if len(contract.primary_key) == 1:
            tests.append("unique")
    for fk in contract.foreign_keys:
        if fk.column == col.name:
            tests.append(
                {
                    "relationships": {
                        "arguments": {
                            "to": f"source('lake', '{fk.ref_table}')",
                            "field": fk.ref_column,
                        }
                    }
                }
            )
    if tests:
        entry["data_tests"] = tests
    return entry


def _table(contract: Contract) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "owner": contract.owner,
        "contract": contract.version_tag,
        "contract_file": f"contracts/{contract.table}.yml",
        "primary_key": list(contract.primary_key),
    }
    config: dict[str, Any] = {"meta": meta}
    if contract.event_time is not None:
        config["loaded_at_field"] = contract.event_time.column
        config["freshness"] = {
            "warn_after": {
                "count": 24 + contract.event_time.allowed_lateness_hours,
                "period": "hour",
            }
        }
    columns = [_column(contract, c) for c in contract.written_columns]
    columns += [
        {
            "name": name,
            "description": "Surrogate row key (no natural key): fingerprint of the row's lake "
            "values and its occurrence number.",
            "data_type": kind.lower(),
            "data_tests": ["not_null", "unique"],
        }
        for name, kind in contract.surrogate_columns
    ]
    kinds = dict(LINEAGE_COLUMNS + RELEASE_COLUMNS)
    columns += [
        {"name": name, "description": text, "data_type": kinds[name].lower()}
        for name, text in _LINEAGE_DESCRIPTIONS.items()
    ]
    table: dict[str, Any] = {
        "name": contract.table,
        "description": contract.description.strip(),
        "config": config,
        "columns": columns,
    }
    if len(contract.primary_key) > 1:
        table["data_tests"] = [
            {"unique_combination": {"arguments": {"columns": list(contract.primary_key)}}}
        ]
    return table


def _partitions_table() -> dict[str, Any]:
    return {
        "name": "partitions",
        "description": "The release: every lake partition this build reads, with its interval, "
        "dataset version, run id and contract version (written by register_lake).",
        "columns": [
            {
                "name": name,
                "description": _PARTITIONS_DESCRIPTIONS[name],
                "data_type": kind.lower(),
                **({"data_tests": ["not_null"]} if name in _PARTITIONS_KEYS else {}),
            }
            for name, kind in PARTITIONS_COLUMNS
        ],
        "data_tests": [
            {"unique_combination": {"arguments": {"columns": ["table_name", "partition"]}}}
        ],
    }


def render_sources(contracts: ContractSet) -> str:
    """The text of ``_lake__sources.yml`` for ``contracts`` (deterministic)."""
    body = {
        "version": 2,
        "sources": [
            {
                "name": "lake",
                "schema": LAKE_SCHEMA,
                "description": "The protected lake: PII pseudonymized, encrypted, generalized, "
                "scrubbed or dropped at ingestion. Views over the partitions of one release "
                "(`pipelines.warehouse.lake_views.register_lake`); generated from the contracts.",
                "tables": [
                    _partitions_table(),
                    *(_table(contracts[t]) for t in contracts.load_order()),
                ],
            }
        ],
    }
    text = yaml.safe_dump(body, sort_keys=False, width=100, allow_unicode=True)
    return HEADER + text


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)


def write_sources(settings: Settings, path: Path = SOURCES_FILE) -> Path:
    """Regenerate the sources file from the contracts in ``settings.contracts_dir``."""
    path.write_text(render_sources(load_contracts(settings.contracts_dir)), encoding="utf-8")
    return path


def check_sources(settings: Settings, path: Path = SOURCES_FILE) -> str | None:
    """``None`` when ``path`` matches the contracts, else a message saying what to run."""
    expected = render_sources(load_contracts(settings.contracts_dir))
    actual = path.read_text(encoding="utf-8") if path.is_file() else None
    if actual == expected:
        return None
    state = "is missing" if actual is None else "is out of date with contracts/*.yml"
    return f"{_relative(path)} {state}; run `pipelines warehouse sources` to regenerate it"
