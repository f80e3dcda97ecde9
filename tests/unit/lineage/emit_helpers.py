"""Shared scenarios for the emitter tests (built once per test session, then reused).

``lineage_day``: the factories' day (CANARY values everywhere), plus a quarantined customer,
a malformed profile line and an order approved before its purchase (which the quality gate
quarantines and fails on), run through ``pipelines.tasks.ingest``, ``quality.tasks.validate``
/ ``build_docs`` / ``gate`` exactly as the DAG's tasks call them (outside Airflow), with the
default file transport.

``dbt_day``: the same lake exposed as ``warehouse.lake.*`` views and a small dbt project of
our own built with dbt-duckdb, its events emitted inside a ``build_features`` task run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.contracts import ContractSet, load_contracts
from pipelines.lineage import client
from pipelines.settings import PROJECT_DIR, Settings
from tests.factories import DAY, clean_day, copy_rows, to_csv, write_day

RUN_ID = "manual__2018-01-01T00:00:00+00:00"
START = datetime(2018, 1, 1, tzinfo=UTC)
END = datetime(2018, 1, 2, tzinfo=UTC)
MALFORMED_CANARY = "canary.gamma"


def clean_lineage_env(mp: pytest.MonkeyPatch) -> None:
    """No OpenLineage configuration from the machine leaks into a test."""
    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            mp.delenv(key, raising=False)
    mp.setenv("HOME", str(Path(os.environ.get("TMPDIR", "/tmp")) / "no-home-openlineage"))
    client.reset_clients()


@contextmanager
def pipeline_env(data_dir: Path, key_file: Path | None) -> Iterator[Settings]:
    with pytest.MonkeyPatch.context() as mp:
        clean_lineage_env(mp)
        for var in ("PIPELINES_KEYS", "PIPELINES_SETTINGS_FILE"):
            mp.delenv(var, raising=False)
        mp.setenv("PIPELINES_DATA_DIR", str(data_dir))
        mp.setenv("PIPELINES_DUCKDB_MEMORY_LIMIT", "1GB")
        mp.setenv("PIPELINES_DUCKDB_THREADS", "2")
        if key_file is not None:
            mp.setenv("PIPELINES_KEY_FILE", str(key_file))
        mp.chdir(data_dir)
        try:
            yield Settings()
        finally:
            client.reset_clients()


@dataclass
class LineageDay:
    root: Path
    settings: Settings
    contracts: ContractSet
    key_file: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    gate_error: str = ""

    def of(self, job: str, state: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["job"]["name"] == job and (state is None or e["eventType"] == state)
        ]

    def complete(self, job: str) -> dict[str, Any]:
        found = self.of(job, "COMPLETE")
        assert len(found) == 1, f"{job}: {len(found)} COMPLETE events"
        return found[0]


def write_scenario(settings: Settings, contracts: ContractSet) -> None:
    rows = copy_rows(clean_day())
    rows["customers"][2]["customer_state"] = "XX"  # quarantined (not_allowed)
    rows["orders"][0]["order_approved_at"] = "2017-12-31 23:00:00"  # gate quarantine, fails
    landing = settings.landing

    def write_landing(day: str, name: str, text: str) -> Path:
        folder = landing / str(day)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
        return folder / name

    write_day(write_landing, contracts, rows)
    header = ",".join(contracts["customer_profiles"].column_names)
    good = to_csv(contracts, "customer_profiles", rows["customer_profiles"]).splitlines()[1:]
    malformed = (
        f"u0000000000000000000000000000009,CANARYNAME Gamma,{MALFORMED_CANARY}@CANARYMAIL.example"
    )
    write_landing(
        DAY, "synthetic_customer_profiles.csv", "\n".join([header, *good, malformed]) + "\n"
    )


_DAY: dict[str, LineageDay] = {}


def lineage_day(factory: pytest.TempPathFactory) -> LineageDay:
    """Built once per test session (ingestion + quality of 8 tables takes ~30 s): the first
    xdist worker to need it builds it under a lock in the session's shared folder, the others
    read the same folder (their tests only read it, and compare the events' paths with it)."""
    if "day" in _DAY:
        return _DAY["day"]
    from tests.conftest import built_once

    _DAY["day"] = _read_day(built_once(factory, "lineage-day", _build_day))
    return _DAY["day"]


def _own_lineage_day(factory: pytest.TempPathFactory) -> LineageDay:
    """A lineage day of this process alone, for a fixture that adds to it (``dbt_day``)."""
    root = factory.mktemp("lineage-day")
    _build_day(root)
    return _read_day(root)


def _read_day(root: Path) -> LineageDay:
    key_file = root / "keys.json"
    contracts = load_contracts(PROJECT_DIR / "contracts")
    gate_error = json.loads((root / "built.json").read_text())["gate_error"]
    with pipeline_env(root, key_file) as settings:
        day = LineageDay(root, settings, contracts, key_file, gate_error=gate_error)
        day.events = client.read_events(settings)
    return day


def _build_day(root: Path) -> None:
    """The scenario through the DAG's task functions into ``root``; ``built.json`` last."""
    from pipelines import tasks
    from pipelines.protection import create_keyring
    from pipelines.quality import tasks as quality_tasks
    from pipelines.quality.tasks import QualityGateFailed

    key_file = root / "keys.json"
    create_keyring(key_file)
    contracts = load_contracts(PROJECT_DIR / "contracts")
    gate_error = ""
    with pipeline_env(root, key_file) as settings:
        write_scenario(settings, contracts)
        for table in contracts.load_order():
            tasks.ingest(table, START, END, RUN_ID)
        for table in contracts.load_order():
            quality_tasks.validate(table, START, END, RUN_ID)
        quality_tasks.build_docs(START, END, RUN_ID)
        try:
            quality_tasks.gate(START, END, RUN_ID)
        except QualityGateFailed as exc:
            gate_error = str(exc)
    (root / "built.json").write_text(json.dumps({"gate_error": gate_error}))


# dbt -----------------------------------------------------------------------------------------

DBT_PROJECT = {
    "dbt_project.yml": """
name: lineage_fixture
version: "1.0"
profile: lineage_fixture
model-paths: ["models"]
models:
  lineage_fixture:
    +materialized: view
""",
    "profiles.yml": """
lineage_fixture:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('FIXTURE_WAREHOUSE') }}"
      threads: 1
""",
    "models/schema.yml": """
version: 2
sources:
  - name: lake
    schema: lake
    tables:
      - name: orders
      - name: customers
models:
  - name: customer_features
    description: Orders and home region per person.
    columns:
      - name: customer_unique_id
        description: Pseudonymized person id.
        data_tests: [not_null, unique]
      - name: orders_count
        data_tests:
          - accepted_values:
              arguments:
                values: [99]
              config:
                severity: warn
""",
    "models/stg_orders.sql": """
select order_id, customer_id, order_status, order_purchase_timestamp as purchased_at
from {{ source('lake', 'orders') }}
where order_status <> 'canceled'
""",
    "models/stg_customers.sql": """
select * from {{ source('lake', 'customers') }}
""",
    "models/customer_features.sql": """
{{ config(materialized='table') }}
with orders as (
    select * from {{ ref('stg_orders') }}
), customers as (
    select customer_id, customer_unique_id, customer_state, customer_zip3
    from {{ ref('stg_customers') }}
)
select
    c.customer_unique_id,
    count(o.order_id) as orders_count,
    max(o.purchased_at) as last_purchase_at,
    any_value(c.customer_state) as home_state,
    case when any_value(c.customer_zip3) like '0%' then 'zip0' else 'other' end as zip_region
from orders as o
join customers as c on o.customer_id = c.customer_id
group by c.customer_unique_id
""",
    "models/broken.sql": """
{{ config(materialized='table') }}
select cast(customer_unique_id as integer) as x from {{ source('lake', 'customers') }}
""",
}


@dataclass
class DbtDay:
    day: LineageDay
    project: Path
    warehouse: Path
    events: list[dict[str, Any]]
    build_run_id: str
    dbt_output: str


_DBT: dict[str, DbtDay] = {}


def dbt_day(factory: pytest.TempPathFactory) -> DbtDay:
    if "dbt" in _DBT:
        return _DBT["dbt"]
    import duckdb

    from pipelines.lineage.emit import task_run
    from pipelines.warehouse.dbt_lineage import emit_dbt_run
    from pipelines.warehouse.lake_views import register_lake, select_partitions
    from pipelines.warehouse.lake_views_lineage import emit_lake_registration

    day = _own_lineage_day(factory)  # its build adds a warehouse and events to the day
    project = factory.mktemp("dbt-fixture")
    for name, text in DBT_PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text.lstrip(), encoding="utf-8")
    with pipeline_env(day.root, day.key_file) as settings:
        warehouse = settings.warehouse
        before = len(client.read_events(settings))
        selection = select_partitions(settings.lake, day.contracts)
        with task_run("build_features", run_id=RUN_ID, settings=settings) as lineage:
            con = duckdb.connect(str(warehouse))
            try:
                register_lake(con, selection, contracts=day.contracts)
            finally:
                con.close()
            emit_lake_registration(selection, settings=settings, contracts=day.contracts)
            done = subprocess.run(
                [
                    str(Path(sys.executable).parent / "dbt"),
                    "build",
                    "--project-dir",
                    str(project),
                    "--profiles-dir",
                    str(project),
                ],
                env={**os.environ, "FIXTURE_WAREHOUSE": str(warehouse), "DO_NOT_TRACK": "1"},
                cwd=project,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            emit_dbt_run(
                project / "target", settings=settings, project_dir=project, contracts=day.contracts
            )
            build_run_id = lineage.run.run_id
        events = client.read_events(settings)[before:]
    result = DbtDay(day, project, warehouse, events, build_run_id, done.stdout + done.stderr)
    _DBT["dbt"] = result
    return result


def all_text(events: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(e, sort_keys=True) for e in events)
