"""Fixtures for the quality gate tests: small generated lakes, ingested once per session."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines.contracts import ContractSet
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.protection import KeyRing
from pipelines.settings import Settings

PERIOD = Interval.parse("2018-01-01", "2018-03-01")  # the generated days and their reviews


def make_settings(root: Path) -> Settings:
    return Settings(data_dir=root, duckdb_memory_limit="1GB", duckdb_threads=2)


def ingest_all(
    settings: Settings,
    keyring: KeyRing,
    contracts: ContractSet,
    interval: Interval,
    tables: list[str] | None = None,
) -> None:
    for table in tables or contracts.load_order():
        ingest_table(table, interval, settings, keyring=keyring, contracts=contracts)


def validate_all(
    settings: Settings,
    contracts: ContractSet,
    interval: Interval,
    run_id: str,
    tables: list[str] | None = None,
) -> dict[str, Any]:
    from pipelines.quality.runner import validate_partition

    return {
        t: validate_partition(t, interval, settings, run_id=run_id, contracts=contracts)
        for t in tables or contracts.load_order()
    }


@dataclass
class Lake:
    settings: Settings
    keyring: KeyRing
    results: dict[str, Any]
    generation: dict[str, Any]

    def check(self, table: str, name: str) -> Any:
        for c in self.results[table].checks:
            if c.spec.name == name:
                return c
        raise KeyError(f"{table}: no check {name}")


def _generated_lake(root: Path, contracts: ContractSet, defects: str, run_id: str) -> Lake:
    from pipelines.generate import generate

    settings = make_settings(root)
    generate(settings.landing, orders=600, days=3, defects=defects, defect_count=4, fmt="csv")
    keyring = KeyRing.generate(note="quality tests")
    ingest_all(settings, keyring, contracts, PERIOD)
    results = validate_all(settings, contracts, PERIOD, run_id)
    generation = json.loads((settings.landing / "_generation.json").read_text())
    return Lake(settings, keyring, results, generation)


@pytest.fixture(scope="session")
def clean_lake(tmp_path_factory: pytest.TempPathFactory, contracts: ContractSet) -> Lake:
    """600 generated orders over 3 days, no defects, one partition per table, validated."""
    return _generated_lake(tmp_path_factory.mktemp("clean"), contracts, "", "run-clean")


@pytest.fixture(scope="session")
def defect_lake(tmp_path_factory: pytest.TempPathFactory, contracts: ContractSet) -> Lake:
    """The same with every row-level defect kind injected 4 times (once per target)."""
    return _generated_lake(
        tmp_path_factory.mktemp("defects"),
        contracts,
        "null_required,duplicate_key,out_of_range,orphan_fk,malformed_line,wrong_type",
        "run-defects",
    )
