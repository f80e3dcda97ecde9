"""DAG integrity (after Airflow's own test_example_dags.py): every DAG file imports cleanly,
fast, without a database or network connection, and its task graph is what we expect.

Parsing happens in a fresh interpreter where socket connections and SQLite opens raise, and
the metadata database URL points nowhere, so any parse-time connection fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from pipelines.settings import PROJECT_DIR

DAGS = PROJECT_DIR / "dags"
PARSE_BUDGET_SECONDS = 1.0
HEAVY_MODULES = (
    "duckdb",
    "cryptography",
    "great_expectations",
    "dbt",
    "pyarrow",
    "openlineage",
    "polars",
    "sqlglot",
)

PROBE = textwrap.dedent(
    """
    import importlib.util, json, pathlib, socket, sqlite3, sys, time
    import airflow.sdk  # warm: Airflow's own import cost is not the DAG file's

    def refuse(*args, **kwargs):
        raise RuntimeError("connection attempted while parsing a DAG file")

    socket.socket.connect = refuse
    sqlite3.connect = refuse
    result = {"files": {}, "heavy": []}
    already = {m.split(".")[0] for m in sys.modules}
    for path in sorted(pathlib.Path(sys.argv[1]).glob("*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        # CPU time of this process: what parsing costs, not how busy the machine is
        started = time.process_time()
        spec.loader.exec_module(module)
        result["files"][path.name] = time.process_time() - started
    added = {m.split(".")[0] for m in sys.modules} - already
    result["heavy"] = sorted(added & set(sys.argv[2].split(",")))

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    result["import_errors"] = {k: str(v) for k, v in bag.import_errors.items()}
    result["dags"] = {
        dag_id: {
            "tasks": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
            "catchup": dag.catchup,
            "tags": sorted(dag.tags),
            "start_date": dag.start_date.isoformat(),
            "timetable": type(dag.timetable).__name__,
            "retries": [t.retries for t in dag.tasks],
            "pools": {t.task_id: t.pool for t in dag.tasks if t.pool != "default_pool"},
            "depends_on_past": sorted(t.task_id for t in dag.tasks if t.depends_on_past),
        }
        for dag_id, dag in bag.dags.items()
    }
    print(json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def parsed() -> dict:
    env = dict(
        os.environ,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://nobody@192.0.2.1:1/none",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        PYTHONWARNINGS="ignore",
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(DAGS), ",".join(HEAVY_MODULES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_dag_file_imports_within_the_parse_budget(parsed):
    assert parsed["files"], "no DAG files found"
    slow = {f: s for f, s in parsed["files"].items() if s >= PARSE_BUDGET_SECONDS}
    assert slow == {}


def test_no_import_errors_and_no_heavy_imports_at_parse_time(parsed):
    assert parsed["import_errors"] == {}
    assert parsed["heavy"] == []


def test_commerce_daily_task_graph(parsed):
    dag = parsed["dags"]["commerce_daily"]
    quality = [f"quality_{t}" for t in ("customers", "customer_profiles", "orders", "products")]
    quality += [
        f"quality_{t}" for t in ("sellers", "order_items", "order_payments", "order_reviews")
    ]
    assert dag["tasks"] == {
        "check_interval": [],
        "ingest_customers": [],
        "ingest_products": [],
        "ingest_sellers": [],
        "ingest_customer_profiles": ["quality_customers"],
        "ingest_orders": ["quality_customers"],
        "ingest_order_items": ["quality_orders", "quality_products", "quality_sellers"],
        "ingest_order_payments": ["quality_orders"],
        "ingest_order_reviews": ["quality_orders"],
        "quality_customers": ["ingest_customers"],
        "quality_customer_profiles": ["ingest_customer_profiles", "quality_customers"],
        "quality_orders": ["ingest_orders", "quality_customers"],
        "quality_products": ["ingest_products"],
        "quality_sellers": ["ingest_sellers"],
        "quality_order_items": [
            "ingest_order_items",
            "quality_orders",
            "quality_products",
            "quality_sellers",
        ],
        "quality_order_payments": [
            "ingest_order_payments",
            "quality_order_items",
            "quality_orders",
        ],
        "quality_order_reviews": ["ingest_order_reviews", "quality_orders"],
        "quality_report": sorted(quality),
        "quality_gate": sorted([*quality, "quality_report"]),
        "build_features": ["quality_gate"],
        "check_customer_features": ["build_features"],
        "check_product_features": ["build_features"],
        "check_seller_features": ["build_features"],
        "publish_features": [
            "check_customer_features",
            "check_product_features",
            "check_seller_features",
        ],
        "feature_docs": ["publish_features"],
        "purge_retention": ["publish_features"],
        "release_representativeness": ["quality_gate"],
    }
    # DuckDB takes one writing process per file: only the one-slot pool's tasks write it.
    assert dag["pools"] == {
        "build_features": "duckdb_warehouse",
        "feature_docs": "duckdb_warehouse",
    }
    # cumulative marts: overlapping runs build features in interval order
    assert dag["depends_on_past"] == ["build_features"]
    assert dag["catchup"] is False
    assert dag["timetable"] == "CronDataIntervalTimetable"
    assert dag["start_date"].endswith("+00:00")
    assert {"commerce", "quality"} <= set(dag["tags"])
    assert all(r >= 1 for r in dag["retries"])


def test_one_ingest_and_one_quality_task_per_contract(parsed, contracts):
    tasks = parsed["dags"]["commerce_daily"]["tasks"]
    assert {t for t in tasks if t.startswith("ingest_")} == {f"ingest_{t}" for t in contracts}
    assert {
        t for t in tasks if t.startswith("quality_") and t not in ("quality_report", "quality_gate")
    } == {f"quality_{t}" for t in contracts}
