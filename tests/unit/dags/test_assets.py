"""Feature tables as Airflow Assets: commerce_daily's publish task updates them with the
release's metadata, and the training DAG is scheduled on the customer features."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pipelines import assets
from pipelines.features.paths import feature_table_names
from pipelines.features.release import Release
from pipelines.features.snapshots import write_release
from pipelines.settings import PROJECT_DIR, Settings

FEATURE_TABLES = feature_table_names(Settings())  # the declared feature tables (Olist package on)


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        return DagBag(dag_folder=str(PROJECT_DIR / "dags"))


def _release(status: str = "published") -> Release:
    return Release(
        release_id="r-2018-01-09-abc",
        as_of="2018-01-09",
        run_id="scheduled__2018-01-08",
        partitions=[],
        held_back=[],
        created_at="2018-01-09T00:00:00+00:00",
        status=status,
        features={
            t: {"rows": 10 + i, "file": f"/x/{t}", "sha256": f"sha-{t}", "decided_sha256": f"d-{t}"}
            for i, t in enumerate(FEATURE_TABLES)
        },
        checks={t: {"passed": 12, "warned": 1, "failed": 0} for t in FEATURE_TABLES},
    )


def test_publish_features_outputs_one_asset_per_feature_table(bag):
    task = bag.dags["commerce_daily"].get_task("publish_features")
    assert [a.name for a in task.outlets] == [f"features.{t}" for t in FEATURE_TABLES]


def test_the_training_dag_is_scheduled_on_the_customer_features_asset(bag):
    dag = bag.dags["train_repeat_purchase"]
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    scheduled = list(dag.timetable.asset_condition.objects)
    assert [a.name for a in scheduled] == ["features.customer_features"]
    published = {a.uri for a in bag.dags["commerce_daily"].get_task("publish_features").outlets}
    assert {a.uri for a in scheduled} <= published
    assert [t.task_id for t in dag.tasks] == ["train_model"]


def test_asset_extra_carries_version_release_rows_and_gate():
    extra = assets.asset_extra(_release(), "customer_features")
    assert extra == {
        "release_id": "r-2018-01-09-abc",
        "as_of": "2018-01-09",
        "dataset_version": "d-customer_features",  # the file the publication decided on
        "rows": 10,
        "checks": {"passed": 12, "warned": 1, "failed": 0},
        "gate": "published",
        "lake_partitions": 0,
    }


def test_publishing_attaches_the_metadata_to_each_asset_event(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    from airflow.sdk.execution_time.context import OutletEventAccessors

    write_release(settings, _release())
    monkeypatch.setenv("PIPELINES_DATA_DIR", str(settings.data_dir))
    calls = []
    monkeypatch.setattr(
        "pipelines.features.tasks.publish_for_airflow",
        lambda *args: calls.append(args) or {"release_id": "r-2018-01-09-abc"},
    )
    events = OutletEventAccessors()
    start, end = datetime(2018, 1, 8, tzinfo=UTC), datetime(2018, 1, 9, tzinfo=UTC)
    result = assets.publish_with_assets(start, end, "run", events)
    assert result == {"release_id": "r-2018-01-09-abc"} and calls == [(start, end, "run")]
    for table in FEATURE_TABLES:
        extra = events[assets.feature_asset(table)].extra
        assert extra["dataset_version"] == f"d-{table}" and extra["gate"] == "published"


def test_quality_gate_outputs_one_asset_per_lake_table(bag, contracts):
    task = bag.dags["commerce_daily"].get_task("quality_gate")
    assert sorted(a.name for a in task.outlets) == sorted(f"lake.{t}" for t in contracts)


def test_a_passed_gate_attaches_each_partition_to_its_lake_asset_event(
    settings: Settings, keyring, contracts, write_landing, monkeypatch: pytest.MonkeyPatch
):
    from airflow.sdk.execution_time.context import OutletEventAccessors

    from pipelines.ingest import ingest_table
    from pipelines.lake.interval import Interval
    from pipelines.lake.partitions import partitions
    from tests.factories import DAY, clean_day, write_day

    interval = Interval.day(datetime.fromisoformat(DAY).date())

    write_day(write_landing, contracts, clean_day())
    for table in ("customers", "orders"):
        ingest_table(table, interval, settings, keyring=keyring, contracts=contracts)
    monkeypatch.setenv("PIPELINES_DATA_DIR", str(settings.data_dir))
    decision = {
        "run_id": "run",
        "interval_start": interval.start.isoformat(),
        "interval_end": interval.end.isoformat(),
        "passed": True,
        "tables": {"customers": {"passed": 9, "warned": 1, "failed": 0}},
    }
    monkeypatch.setattr("pipelines.quality.tasks.gate_for_airflow", lambda *args: decision)
    events = OutletEventAccessors()
    tables = ["customers", "orders", "sellers"]
    assert assets.gate_with_assets(interval.start, interval.end, "run", tables, events) == decision
    (part,) = partitions(settings.lake, "customers")
    extra = events[assets.lake_asset("customers")].extra
    assert extra["partition"] == part.folder.name == f"dt={DAY}"
    assert extra["dataset_version"] == part.manifest.dataset_version
    assert extra["rows"] == part.manifest.counts.loaded > 0
    assert (extra["gate"], extra["checks"]["passed"]) == ("passed", 9)
    assert events[assets.lake_asset("orders")].extra["rows"] > 0
    assert events[assets.lake_asset("sellers")].extra["partition"] is None  # nothing ingested


def _event(table: str, as_of: str, minute: int) -> Any:
    from airflow.sdk.api.datamodels._generated import (
        AssetEventDagRunReference,
        AssetReferenceAssetEventDagRun,
    )

    name, uri = f"features.{table}", f"pipelines://features/{table}"

    return AssetEventDagRunReference(
        asset=AssetReferenceAssetEventDagRun(name=name, uri=uri, extra={}),
        extra={"as_of": as_of, "release_id": f"r-{as_of}"},
        source_task_id="publish_features",
        source_dag_id="commerce_daily",
        source_run_id=f"manual__{as_of}",
        source_map_index=-1,
        source_aliases=[],
        timestamp=datetime(2026, 1, 1, 0, minute, tzinfo=UTC),
    )


def test_the_training_task_trains_on_the_release_its_triggering_event_names():
    """``train_model`` reads the newest customer feature event of the run's triggering asset
    events (Airflow's accessor); a run without one (manual) trains on the latest release."""
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    from pipelines.models.tasks import triggering_as_of

    events = TriggeringAssetEventsAccessor.build(
        [
            _event("customer_features", "2018-01-13", 2),
            _event("customer_features", "2018-01-14", 5),
            _event("product_features", "2018-01-20", 9),
        ]
    )
    assert triggering_as_of(events) == "2018-01-14"
    assert triggering_as_of(TriggeringAssetEventsAccessor.build([])) is None
    assert triggering_as_of(None) is None
