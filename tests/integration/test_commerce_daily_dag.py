"""The daily DAG run by real Airflow (`airflow dags test`, SQLite metadata), end to end.

Checks what an operator would: every task succeeded, every table has a balanced partition,
and no PII canary appears anywhere Airflow or the pipeline wrote (task logs, the metadata
database with its XComs, the lake, quality results and Data Docs). A schema-drifted file
failing its task is ``test_run_range_airflow``'s second day.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pipelines.contracts import ContractSet
from pipelines.demo import airflow_env, run_airflow
from pipelines.features.paths import feature_table_names
from pipelines.lake.partitions import partitions
from pipelines.protection import create_keyring
from pipelines.quality import store as quality_store
from pipelines.settings import Settings
from tests.conftest import InstallAirflowDb
from tests.factories import CANARIES, Rows, _id, clean_day, write_day
from tests.integration.airflow_state import task_states

pytestmark = [pytest.mark.integration, pytest.mark.first(35)]  # DAG runs: started first
FEATURE_TABLES = feature_table_names(Settings())  # the declared feature tables (Olist package on)
LOGICAL_DATE = "2018-01-02"  # the daily interval [2018-01-01, 2018-01-02)


def _run_dag(
    settings: Settings, tmp_path: Path, airflow_db: InstallAirflowDb
) -> tuple[int, Path, dict[str, str]]:
    key_file = tmp_path / "keyring.json"
    create_keyring(key_file)
    env = airflow_env(settings, {"PIPELINES_KEY_FILE": str(key_file)})
    log = tmp_path / "airflow.log"
    airflow_db(env)  # migrated once per session (prepare_airflow)
    code = run_airflow(["dags", "test", "commerce_daily", LOGICAL_DATE], env, log, show_tasks=False)
    return code, log, env


def _files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:  # SQLite's -wal/-shm files come and go with connections
        return b""


def _airflow_run_id(env: dict[str, str]) -> str:
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as con:
        [(run_id,)] = con.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = 'commerce_daily'"
        ).fetchall()
    return str(run_id)


def _assert_lineage(settings: Settings, env: dict[str, str], tasks: set[str]) -> None:
    """The OpenLineage provider emitted every task's START and COMPLETE once, under the DAG
    run, with our datasets and facets on its COMPLETE; every event is schema-valid; and a
    feature column traces back to the landing files through the lake."""
    from pipelines.lineage import client, naming
    from pipelines.reporting.graph import load_graph
    from pipelines.reporting.pii import mart_violations, pii_derived
    from pipelines.reporting.store import open_store
    from pipelines.reporting.trace import trace
    from tests.integration.dag_run_lineage import assert_one_dag_run, complete
    from tests.unit.lineage.ol_schema import validate_events

    events = client.read_events(settings)
    validate_events(events)
    by_job = assert_one_dag_run(events, "commerce_daily", tasks)
    assert _airflow_run_id(env)
    # our facets on the provider's COMPLETE events: the lake partition with its version,
    # column lineage with the masking edges, PII tags; the gate's quality assertions
    (lake,) = complete(by_job, naming.task_job("ingest_orders"))["outputs"]
    assert {"datasetVersion", "columnLineage", "tags", "schema"} <= set(lake["facets"])
    edges = [
        t
        for field in lake["facets"]["columnLineage"]["fields"].values()
        for i in field["inputFields"]
        for t in i.get("transformations") or []
    ]
    assert any(t.get("masking") for t in edges)
    checked = complete(by_job, naming.task_job("quality_orders"))
    assert any(
        "dataQualityAssertions" in {**d.get("facets", {}), **d.get("inputFacets", {})}
        for d in checked["inputs"] + checked["outputs"]
    )
    assert "pipelines_airflow" in checked["run"]["facets"]
    # the dbt models ran as steps of build_features, each with column lineage
    build_run = by_job[naming.task_job("build_features")][0]["run"]["runId"]
    steps = [e for e in events if e["job"]["name"] == naming.step_job("customer_features")]
    assert {e["run"]["facets"]["parent"]["run"]["runId"] for e in steps} == {build_run}
    assert sorted(e["eventType"] for e in steps) == ["COMPLETE", "START"]

    with open_store(settings) as con:
        graph = load_graph(con)
        # customer features reach the raw columns they are computed from, through the right
        # transformations; protected ones through the masking edge of their protection
        expected = {
            "spend": ("olist_order_items_dataset", "price", "AGGREGATION"),
            "avg_review_score": ("olist_order_reviews_dataset", "review_score", "AGGREGATION"),
            "orders": ("olist_orders_dataset", "order_status", "CONDITIONAL"),
            "late_delivery_share": (
                "olist_orders_dataset",
                "order_delivered_customer_date",
                "TRANSFORMATION",
            ),
            "customer_unique_token": (
                "olist_customers_dataset",
                "customer_unique_id",
                "pseudonymize",
            ),
            "age_band": ("synthetic_customer_profiles", "birth_date", "generalize"),
        }
        for feature, (landing_file, raw_column, how) in expected.items():
            upstream = trace(graph, f"customer_features.{feature}")
            kinds = {graph.dataset(c).kind for c in upstream.columns}
            assert {"features", "warehouse", "lake", "landing"} <= kinds, feature
            raw = {
                (Path(c.name).name.split(".")[0], c.field)
                for c in upstream.columns
                if graph.dataset(c).kind == "landing"
            }
            assert (landing_file, raw_column) in raw, (feature, sorted(raw))
            masks = [e.description or "" for e in upstream.edges if e.masking]
            if how.islower():  # a protection: exactly one masking edge, naming it
                assert len(masks) == 1 and masks[0].startswith(how), (feature, masks)
            else:
                assert masks == [], (feature, masks)
                assert how in {e.subtype for e in upstream.edges}, feature
        # nothing the ML teams read derives from clear personal data
        assert [f.column.id for f in mart_violations(pii_derived(graph))] == []
        # where the subjects live (policy.yml: every demo source is BR), on every lake table
        # and feature snapshot, and propagated to the marts through the graph
        placed = {d.label: graph.jurisdictions(k) for k, d in graph.datasets.items()}
        kinds = {d.label: d.kind for d in graph.datasets.values()}
        assert {lbl: p for lbl, p in placed.items() if kinds[lbl] in ("lake", "features")} == {
            lbl: ["BR"] for lbl, kind in kinds.items() if kind in ("lake", "features")
        }
        assert placed["warehouse.customer_features"] == ["BR"]
    snapshots = [
        d["facets"]["pipelines_jurisdiction"]
        for d in by_job[naming.task_job("build_features")][-1]["outputs"]
    ]
    assert snapshots and all(s["subjects"] == ["BR"] for s in snapshots)


def _with_more_people(rows: Rows, n: int = 5) -> Rows:
    """``rows`` plus ``n`` people like the day's second, each with one order: the published
    customer features must be k-anonymous (k=5), which the day's two people alone cannot be."""
    copies = {  # table: (the second person's row in it, the keys a copy gets anew)
        "customers": (1, ("customer_id", "customer_unique_id")),
        "customer_profiles": (1, ("customer_unique_id",)),
        "orders": (1, ("order_id", "customer_id")),
        "order_items": (2, ("order_id",)),
        "order_payments": (1, ("order_id",)),
    }
    prefixes = {"customer_id": "c", "customer_unique_id": "u", "order_id": "o"}
    for i in range(90, 90 + n):
        for table, (index, keys) in copies.items():
            template = dict(rows[table][index])
            for key in keys:
                template[key] = _id(prefixes[key], i)
            rows[table].append(template)
    return rows


def test_daily_dag_ingests_every_table_without_leaking_pii(
    settings: Settings,
    contracts: ContractSet,
    write_landing,
    tmp_path: Path,
    airflow_db: InstallAirflowDb,
):
    rows = _with_more_people(clean_day())
    write_day(write_landing, contracts, rows, fmt="csv.gz")
    code, log, env = _run_dag(settings, tmp_path, airflow_db)
    assert code == 0, log.read_text()[-5000:]

    states = task_states(env)
    expected = {f"{stage}_{t}" for t in contracts for stage in ("ingest", "quality")}
    features = {
        "build_features",
        "publish_features",
        "feature_docs",
        "purge_retention",
        "release_representativeness",
    } | {f"check_{t}" for t in FEATURE_TABLES}
    assert states == dict.fromkeys(
        expected | {"check_interval", "quality_report", "quality_gate"} | features, "success"
    )
    # the quality gate passed on the clean day, by its decision, and the Data Docs are built
    # (the clean-day check of test_quality_gate_dag.py, which runs the failing day only)
    run_key = quality_store.run_key(_airflow_run_id(env))
    gate = quality_store.quality_dir(settings) / "gates" / f"run={run_key}.json"
    assert json.loads(gate.read_text())["passed"] is True
    assert (quality_store.docs_dir(settings) / "index.html").exists()
    for table in contracts:
        [part] = partitions(settings.lake, table)
        counts = part.manifest.counts
        assert counts.read == len(rows[table]) == counts.loaded + counts.quarantined, table
        assert part.manifest.run_id and part.manifest.run_id.startswith("manual__")

    # Everything written: lake, quality results, Data Docs, Airflow's database and logs.
    written = [p for p in _files_under(settings.data_dir) if settings.landing not in p.parents]
    written.append(log)
    assert any(p.name == "index.html" for p in written)
    # `dags test` runs tasks in-process: their logs are in the captured output we scan.
    orders = len(rows["orders"])
    assert f"orders: read {orders}, loaded {orders}, quarantined 0" in log.read_text()
    leaks = [f"{p}: {c}" for p in written for c in CANARIES if c.encode() in _bytes(p)]
    assert leaks == []
    # every task has its run events, check_interval too (it reads and writes no data)
    _assert_lineage(settings, env, set(states))
