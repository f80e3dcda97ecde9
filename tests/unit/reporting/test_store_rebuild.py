"""The lineage store: the event log loaded into DuckDB, rebuilt atomically and idempotently."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.reporting.store import (
    LineageStoreError,
    events_path,
    open_store,
    rebuild_store,
    store_path,
)
from pipelines.settings import Settings
from tests.unit.reporting import fixture_events as fx

TABLES = (
    "runs",
    "jobs",
    "datasets",
    "fields",
    "dataset_runs",
    "dataset_versions",
    "column_edges",
    "assertions",
    "tags",
)


def _dump(store: Path, tables: tuple[str, ...] = TABLES) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(store), read_only=True) as con:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


@pytest.fixture
def built(settings: Settings) -> Path:
    fx.publish(settings)
    rebuild_store(events_path(settings), store_path(settings))
    return store_path(settings)


def test_store_is_its_own_duckdb_file_under_lineage(settings: Settings, built: Path) -> None:
    assert built == settings.data_dir / "lineage" / "lineage.duckdb"
    assert built != settings.warehouse
    assert not settings.warehouse.exists()
    assert [p.name for p in built.parent.iterdir()] == sorted(["events.jsonl", "lineage.duckdb"])


def test_default_event_log_is_the_emitters(settings: Settings) -> None:
    from pipelines.lineage import client

    assert events_path(settings) == client.events_path(settings)


def test_counts_of_every_table(built: Path) -> None:
    with duckdb.connect(str(built), read_only=True) as con:
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    # per day: DAG run, 2 ingest, 2 quality, build task, 4 models, feature checks = 11 runs
    assert counts["runs"] == 22
    assert counts["jobs"] == 11
    # 2 landing files per day, 2 lake tables, 2 lake views, 4 models
    assert counts["datasets"] == 12
    assert events == 44
    # per day: 8 lake<-landing, 8 views<-lake, 16 model fields (+1 join) + 4 dataset-level
    assert counts["column_edges"] == 2 * (8 + 8 + 17 + 4)
    assert counts["assertions"] == 2 * (4 + 5 + 3)


def test_runs_have_parent_root_and_state(built: Path) -> None:
    day = "2018-01-02"
    with duckdb.connect(str(built), read_only=True) as con:
        row = con.execute(
            "SELECT job_name, parent_run_id, parent_job_name, root_run_id, state, started_at, "
            "ended_at, event_count FROM runs WHERE run_id = ?",
            [fx.model_run(day, "customer_features")],
        ).fetchone()
        dag = con.execute(
            "SELECT job_name, parent_run_id, root_run_id, nominal_start FROM runs WHERE run_id = ?",
            [fx.dag_run(day)],
        ).fetchone()
    assert row is not None and dag is not None
    job, parent, parent_job, root, state, started, ended, count = row
    assert job == "commerce_daily.build_features.customer_features"
    assert parent == fx.task_run(day, "build_features")
    assert parent_job == "commerce_daily.build_features"
    assert root == fx.dag_run(day)
    assert (state, count) == ("COMPLETE", 2)
    assert started < ended
    assert dag[:3] == ("commerce_daily", None, fx.dag_run(day))
    assert str(dag[3]) == "2018-01-02 00:00:00"


def test_masking_edge_row(settings: Settings, built: Path) -> None:
    day = "2018-01-01"
    lake = str(settings.lake / "customers")
    with duckdb.connect(str(built), read_only=True) as con:
        rows = con.execute(
            "SELECT in_namespace, in_name, in_field, type, subtype, description, masking, "
            "run_id, job_name, CAST(event_time AS VARCHAR) FROM column_edges "
            "WHERE out_name = ? AND out_field = 'customer_zip3' ORDER BY event_time",
            [lake],
        ).fetchall()
    assert rows[0] == (
        "file",
        str(settings.landing / day / "olist_customers_dataset.csv"),
        "customer_zip_code_prefix",
        "DIRECT",
        "TRANSFORMATION",
        "generalize: zip_prefix_3",
        True,
        fx.task_run(day, "ingest_customers"),
        "commerce_daily.ingest_customers",
        "2018-01-02 06:01:30",
    )
    assert len(rows) == 2  # one per daily run, each from its own landing file


def test_dataset_level_edges_have_no_output_field(built: Path) -> None:
    with duckdb.connect(str(built), read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT out_name, in_name, in_field, type, subtype FROM column_edges "
            "WHERE out_field IS NULL ORDER BY 1, 2"
        ).fetchall()
    assert rows == [
        (
            "warehouse.main.customer_features",
            "warehouse.main.int_customer_orders",
            "customer_unique_id",
            "INDIRECT",
            "GROUP_BY",
        ),
        ("warehouse.main.int_customer_orders", "warehouse.main.stg_customers", "customer_id",
         "INDIRECT", "JOIN"),
        ("warehouse.main.int_customer_orders", "warehouse.main.stg_orders", "customer_id",
         "INDIRECT", "JOIN"),
        ("warehouse.main.stg_orders", "warehouse.lake.orders", "order_status", "INDIRECT",
         "FILTER"),
    ]  # fmt: skip


def test_versions_assertions_tags_and_symlinks(settings: Settings, built: Path) -> None:
    lake = str(settings.lake / "orders")
    with duckdb.connect(str(built), read_only=True) as con:
        versions = con.execute(
            "SELECT DISTINCT version, partition, rows_loaded FROM dataset_versions "
            "WHERE name = ? AND role = 'output' ORDER BY partition",
            [lake],
        ).fetchall()
        readers = con.execute(
            "SELECT job_name, version FROM dataset_versions WHERE name = ? AND role = 'input' "
            "AND partition = 'dt=2018-01-02' ORDER BY job_name",
            [lake],
        ).fetchall()
        failed = con.execute(
            'SELECT version, assertion, "column", success, severity, run_id FROM assertions '
            "WHERE NOT success"
        ).fetchall()
        tags = con.execute(
            "SELECT field, key, value FROM tags WHERE name = ? ORDER BY field, key",
            [str(settings.lake / "customers")],
        ).fetchall()
        symlinks = con.execute("SELECT symlink, kind FROM datasets ORDER BY symlink").fetchall()
        row_count = con.execute(
            "SELECT DISTINCT row_count FROM dataset_versions WHERE job_name LIKE '%quality%'"
        ).fetchall()
    v1, v2 = fx.version("orders", "2018-01-01"), fx.version("orders", "2018-01-02")
    assert versions == [(v1, "dt=2018-01-01", 3), (v2, "dt=2018-01-02", 3)]
    assert readers == [
        ("commerce_daily.build_features", v2),
        ("commerce_daily.quality_orders", v2),
    ]
    assert failed == [
        (v2, "in_set", "order_status", False, "warn", fx.task_run("2018-01-02", "quality_orders"))
    ]
    assert tags == [
        ("customer_id", "pii", "indirect_identifier"),
        ("customer_id", "protection", "pseudonymize"),
        ("customer_state", "pii", "quasi_identifier"),
        ("customer_state", "protection", "keep"),
        ("customer_unique_id", "pii", "indirect_identifier"),
        ("customer_unique_id", "protection", "pseudonymize"),
        ("customer_zip3", "pii", "quasi_identifier"),
        ("customer_zip3", "protection", "generalize"),
    ]
    assert symlinks == [
        ("lake.customers", "lake"),
        ("lake.orders", "lake"),
        ("landing.customers", "landing"),
        ("landing.customers", "landing"),
        ("landing.orders", "landing"),
        ("landing.orders", "landing"),
        ("warehouse.customer_features", "warehouse"),
        ("warehouse.customers", "warehouse"),
        ("warehouse.int_customer_orders", "warehouse"),
        ("warehouse.orders", "warehouse"),
        ("warehouse.stg_customers", "warehouse"),
        ("warehouse.stg_orders", "warehouse"),
    ]
    assert row_count == [(3,)]


def test_rebuild_is_idempotent(settings: Settings, built: Path) -> None:
    first = _dump(built, (*TABLES, "events", "meta"))
    result = rebuild_store(events_path(settings), built)
    assert _dump(built, (*TABLES, "events", "meta")) == first
    assert (result.events, result.runs, result.column_edges) == (44, 22, 74)
    assert not list(built.parent.glob(".*tmp*"))


def test_re_emitted_events_are_recognised(settings: Settings, built: Path) -> None:
    """The same events emitted twice (a re-run of the same task try) add no facts."""
    first = _dump(built, tuple(t for t in TABLES if t != "runs"))
    events = fx.build_events(settings.data_dir)
    fx.write_events(events_path(settings), events + events)
    rebuild_store(events_path(settings), built)
    assert _dump(built, tuple(t for t in TABLES if t != "runs")) == first
    with duckdb.connect(str(built), read_only=True) as con:
        assert con.execute("SELECT count(*), max(event_count) FROM runs").fetchone() == (22, 4)


def test_torn_last_line_is_skipped_with_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    events = fx.build_events(settings.data_dir)
    log = fx.write_events(events_path(settings), events, torn_tail='{"eventType": "COMPL')
    with caplog.at_level(logging.WARNING, logger="pipelines.lineage"):
        result = rebuild_store(log, store_path(settings))
    assert result.events == len(events) == 44
    assert result.warnings == [
        f"{log} line 45: incomplete last line skipped (20 bytes, torn write?)"
    ]
    assert "incomplete last line" in caplog.text and "line 45" in caplog.text
    full = settings.data_dir / "full"
    fx.write_events(full / "events.jsonl", events)
    rebuild_store(full / "events.jsonl", full / "lineage.duckdb")
    assert _dump(store_path(settings)) == _dump(full / "lineage.duckdb")


def test_corrupt_line_in_the_middle_is_an_error_and_keeps_the_old_store(
    settings: Settings, built: Path
) -> None:
    before = _dump(built)
    log = events_path(settings)
    lines = log.read_text().splitlines(keepends=True)
    lines[9] = "{not json\n"
    log.write_text("".join(lines))
    with pytest.raises(LineageStoreError, match=r"events\.jsonl line 10: not a valid"):
        rebuild_store(log, built)
    assert _dump(built) == before
    assert sorted(p.name for p in built.parent.iterdir()) == ["events.jsonl", "lineage.duckdb"]


def test_missing_log_gives_an_empty_store(settings: Settings) -> None:
    result = rebuild_store(events_path(settings), store_path(settings))
    assert result.events == 0
    assert result.warnings and "no lineage events" in result.warnings[0]
    assert all(rows == [] for rows in _dump(store_path(settings)).values())


def test_open_store_rebuilds_when_the_log_grew(settings: Settings) -> None:
    events = fx.build_events(settings.data_dir)
    day1 = [e for e in events if e["eventTime"].startswith("2018-01-02")]
    log = fx.write_events(events_path(settings), day1)
    with open_store(settings) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (11,)
    with log.open("a") as fh:
        for event in events[len(day1) :]:
            fh.write(json.dumps(event) + "\n")
    stat = log.stat()  # make sure the log is seen as newer even on coarse clocks
    os.utime(log, ns=(stat.st_atime_ns, store_path(settings).stat().st_mtime_ns + 1_000_000))
    with open_store(settings) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (22,)


def test_open_store_rebuilds_for_another_log(settings: Settings, built: Path) -> None:
    other = settings.data_dir / "elsewhere" / "events.jsonl"
    day2 = [e for e in fx.build_events(settings.data_dir) if e["eventTime"] >= "2018-01-03"]
    fx.write_events(other, day2)
    stat = other.stat()  # older than the store: only the path tells them apart
    os.utime(other, ns=(stat.st_atime_ns, built.stat().st_mtime_ns - 10**9))
    with open_store(settings, other) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (11,)
    with open_store(settings) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (22,)


def test_dataset_and_job_events_are_loaded(settings: Settings) -> None:
    """OpenLineage 2 static events (no run) register datasets and jobs."""
    dataset_event = {
        "eventTime": "2018-01-02T00:00:00Z",
        "producer": fx.PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": fx.Builder(settings.data_dir).warehouse("main.customer_features", None),
    }
    log = fx.write_events(events_path(settings), [dataset_event])
    rebuild_store(log, store_path(settings))
    dump = _dump(store_path(settings), ("datasets", "fields", "runs"))
    assert [r[2] for r in dump["datasets"]] == ["warehouse.customer_features"]
    assert len(dump["fields"]) == 4 and dump["runs"] == []
