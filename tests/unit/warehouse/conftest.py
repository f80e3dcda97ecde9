"""Fixtures for the warehouse tests: a generated lake with daily partitions, built once.

The lake holds 1,500 generated orders purchased 2018-01-01..2018-01-10. Days before
``AS_OF`` are ingested as daily partitions; everything from ``AS_OF`` on (orders placed on
and after it, with their late deliveries, and every review created on or after it) is one
later partition. So a warehouse registered with the early partitions only, and one
registered with all of them, must give the same snapshot as of ``AS_OF``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import ContractSet
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.protection import KeyRing
from pipelines.settings import Settings

START = date(2018, 1, 1)
DAYS = 10
ORDERS = 1500
AS_OF = date(2018, 1, 8)
LATER = date(2018, 1, 20)
LAST = date(2018, 3, 15)  # after every generated review


def make_settings(root: Path) -> Settings:
    return Settings(data_dir=root / "data", duckdb_memory_limit="1GB", duckdb_threads=2)


@pytest.fixture(scope="session")
def clean_env() -> Iterator[None]:
    """No key ring or settings file leaks in from the environment."""
    with pytest.MonkeyPatch.context() as mp:
        for var in ("PIPELINES_KEYS", "PIPELINES_KEY_FILE", "PIPELINES_SETTINGS_FILE"):
            mp.delenv(var, raising=False)
        yield


def intervals() -> list[Interval]:
    days = [Interval.day(START + timedelta(d)) for d in range((AS_OF - START).days)]
    return [*days, Interval.parse(AS_OF.isoformat(), LAST.isoformat())]


@dataclass(frozen=True)
class GeneratedLake:
    settings: Settings
    contracts: ContractSet


@pytest.fixture(scope="session")
def generated_lake(
    tmp_path_factory: pytest.TempPathFactory, contracts: ContractSet, clean_env: None
) -> GeneratedLake:
    from pipelines.generate import generate

    settings = make_settings(tmp_path_factory.mktemp("warehouse-generated"))
    generate(settings.landing, orders=ORDERS, days=DAYS, start=START, seed=11, fmt="csv")
    keyring = KeyRing.generate(note="warehouse tests")
    for interval in intervals():
        for table in contracts.load_order():
            result = ingest_table(table, interval, settings, keyring=keyring, contracts=contracts)
            assert result.counts.quarantined == 0, (table, result.manifest.quarantine_by_check)
    return GeneratedLake(settings, contracts)


def query(settings: Settings, sql: str, params: list[object] | None = None) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
