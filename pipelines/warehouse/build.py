"""Build the feature tables: register a lake selection in the warehouse, then ``dbt build``.

The warehouse connection used for registration is closed before dbt starts (DuckDB allows
one writing process per file; dbt runs in a child process). Run one build per warehouse at
a time (in Airflow: the ``duckdb_warehouse`` pool).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import date

import duckdb

from pipelines.contracts import ContractSet, load_contracts
from pipelines.lake.partitions import Partition
from pipelines.lake.storage import lake_store
from pipelines.settings import Settings
from pipelines.warehouse.dbt import DbtResult, run_dbt
from pipelines.warehouse.declared import feature_table_names
from pipelines.warehouse.lake_views import register_lake, select_partitions
from pipelines.warehouse.project import MARTS_SCHEMA


def duckdb_config(settings: Settings) -> dict[str, str | bool | int | float | list[str]]:
    """``duckdb.connect(config=...)`` with the settings' memory limit and threads."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": settings.duckdb_memory_limit
    }
    if settings.duckdb_threads:
        config["threads"] = settings.duckdb_threads
    return config


def connect(settings: Settings, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file with the settings' memory limit and threads."""
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(
        str(settings.warehouse), read_only=read_only, config=duckdb_config(settings)
    )


def register(
    settings: Settings,
    selection: Mapping[str, Sequence[Partition]] | None = None,
    *,
    contracts: ContractSet | None = None,
) -> dict[str, int]:
    """Register ``selection`` (default: every published partition) in the warehouse.

    Returns the number of registered partitions per table.
    """
    contracts = contracts or load_contracts(settings.contracts_dir)
    if selection is None:
        selection = select_partitions(lake_store(settings), contracts)
    with connect(settings) as con:
        register_lake(con, selection, contracts=contracts)
    return {t: len(selection.get(t, ())) for t in contracts.load_order()}


def feature_vars(as_of: date, release_id: str, run_id: str) -> dict[str, str]:
    """The dbt vars of a feature build: the models stamp snapshots with them (``var()``)."""
    return {"as_of": as_of.isoformat(), "release_id": release_id, "run_id": run_id}


SKIP_UNIT_TESTS = ("--exclude-resource-type", "unit_test")
"""dbt's unit tests check the models' logic on fixed input rows, not the day's data: `make
test` runs them and so does ``pipelines warehouse build --unit-tests``; a feature build skips
them, as dbt advises for production runs (a third of a small build's time)."""


def build_args(
    *, select: Sequence[str] = (), full_refresh: bool = False, unit_tests: bool = False
) -> list[str]:
    """``dbt build`` with its selection: every model and data test, unit tests only on demand."""
    args = ["build"]
    if select:
        args += ["--select", *select]
    if full_refresh:
        args.append("--full-refresh")
    return args if unit_tests else [*args, *SKIP_UNIT_TESTS]


def build_features(
    settings: Settings,
    as_of: date,
    *,
    selection: Mapping[str, Sequence[Partition]] | None = None,
    release_id: str = "manual",
    run_id: str = "manual",
    select: Sequence[str] = (),
    full_refresh: bool = False,
    unit_tests: bool = False,
    check: bool = True,
    echo: Callable[[str], None] | None = None,
) -> DbtResult:
    """Register ``selection`` (default: the whole lake), then ``dbt build`` as of ``as_of``.

    Each build (re)writes the ``as_of`` snapshot of the feature tables, stamped with
    ``release_id`` and ``run_id``; earlier snapshots stay. ``select`` narrows the build
    (dbt ``--select``); ``full_refresh`` drops the marts' earlier snapshots; ``unit_tests``
    also runs dbt's unit tests (:data:`SKIP_UNIT_TESTS`).
    """
    register(settings, selection)
    args = build_args(select=select, full_refresh=full_refresh, unit_tests=unit_tests)
    result = run_dbt(
        args, settings, feature_vars(as_of, release_id, run_id), check=check, echo=echo
    )
    rows = snapshot_rows(settings, as_of)
    nodes = tuple(
        dataclasses.replace(n, rows_affected=rows[n.name])
        if n.resource_type == "model" and n.name in rows and n.status == "success"
        else n
        for n in result.nodes
    )
    return dataclasses.replace(result, nodes=nodes)


def snapshot_rows(settings: Settings, as_of: date) -> dict[str, int]:
    """Rows of each feature table's ``as_of`` snapshot (tables not built yet are left out)."""
    if not settings.warehouse.is_file():
        return {}
    out: dict[str, int] = {}
    with connect(settings, read_only=True) as con:
        existing = {
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                [MARTS_SCHEMA],
            ).fetchall()
        }
        for table in feature_table_names(settings):
            if table in existing:
                row = con.execute(
                    f"SELECT count(*) FROM {MARTS_SCHEMA}.{table} WHERE as_of_date = ?", [as_of]
                ).fetchone()
                out[table] = int(row[0]) if row else 0
    return out
