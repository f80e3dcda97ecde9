"""Inside Airflow: task runs under the DAG run, try numbers, and the DAG run's own events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipelines.lineage import client, naming
from pipelines.lineage.emit import task_run
from pipelines.lineage.events import current_airflow_run
from pipelines.settings import Settings
from tests.unit.lineage.emit_helpers import clean_lineage_env
from tests.unit.lineage.ol_schema import validate_events

RUN = "scheduled__2018-01-02T00:00:00+00:00"
DAG_RUN = naming.dag_run_id("commerce_daily", RUN)
INTERVAL = (datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 1, 2, tzinfo=UTC))


class FakeAirflow:
    """Stands in for ``airflow.sdk.get_current_context`` of a running task instance."""

    def __init__(self) -> None:
        self.started = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self.ti: Any = None

    def run(self, task_id: str, try_number: int = 1, downstream: tuple[str, ...] = ("x",)) -> None:
        self.ti = SimpleNamespace(
            dag_id="commerce_daily",
            run_id=RUN,
            task_id=task_id,
            try_number=try_number,
            max_tries=2,
            task=SimpleNamespace(downstream_task_ids=set(downstream)),
        )

    def __call__(self) -> dict[str, Any]:
        if self.ti is None:
            raise RuntimeError("no context")
        return {"ti": self.ti, "dag_run": SimpleNamespace(start_date=self.started)}


@pytest.fixture
def airflow(monkeypatch: pytest.MonkeyPatch) -> FakeAirflow:
    import airflow.sdk

    fake = FakeAirflow()
    monkeypatch.setattr(airflow.sdk, "get_current_context", fake)
    return fake


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    clean_lineage_env(monkeypatch)
    yield Settings(data_dir=tmp_path / "data")
    client.reset_clients()


def task(settings: Settings, name: str, fail: BaseException | None = None) -> None:
    with task_run(
        name.split(":")[0], run_id="ignored-in-airflow", settings=settings, interval=INTERVAL
    ):
        if fail is not None:
            raise fail


def jobs(settings: Settings) -> list[tuple[str, str]]:
    return [(e["eventType"], e["job"]["name"]) for e in client.read_events(settings)]


def test_outside_airflow_there_is_no_context():
    assert current_airflow_run() is None


def test_task_runs_have_the_dag_run_as_parent_and_the_try_in_their_id(settings, airflow):
    airflow.run("ingest_orders", try_number=2)
    task(settings, "whatever")  # the running task instance's id wins
    events = client.read_events(settings)
    validate_events(events)
    task_events = [e for e in events if e["job"]["name"] == "commerce_daily.ingest_orders"]
    assert [e["eventType"] for e in task_events] == ["START", "COMPLETE"]
    for e in task_events:
        assert e["run"]["runId"] == naming.task_run_id("commerce_daily", "ingest_orders", RUN, 2)
        parent = e["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == DAG_RUN
        assert parent["job"] == {"namespace": "commerce", "name": "commerce_daily", "facets": {}}
        assert parent["root"]["run"]["runId"] == DAG_RUN
        assert e["run"]["facets"]["pipelines_airflow"] == {
            **e["run"]["facets"]["pipelines_airflow"],
            "dag_id": "commerce_daily",
            "run_id": RUN,
            "task_id": "ingest_orders",
            "try_number": 2,
        }
        assert e["run"]["facets"]["nominalTime"]["nominalStartTime"].startswith("2018-01-01")


def test_the_dag_run_starts_once_and_completes_with_its_last_task(settings, airflow):
    airflow.run("ingest_customers")
    task(settings, "a")
    airflow.run("ingest_products")
    task(settings, "b")
    airflow.run("quality_gate", downstream=())
    task(settings, "c")
    assert jobs(settings) == [
        ("START", "commerce_daily"),
        ("START", "commerce_daily.ingest_customers"),
        ("COMPLETE", "commerce_daily.ingest_customers"),
        ("START", "commerce_daily.ingest_products"),
        ("COMPLETE", "commerce_daily.ingest_products"),
        ("START", "commerce_daily.quality_gate"),
        ("COMPLETE", "commerce_daily.quality_gate"),
        ("COMPLETE", "commerce_daily"),
    ]
    dag_events = [e for e in client.read_events(settings) if e["job"]["name"] == "commerce_daily"]
    assert {e["run"]["runId"] for e in dag_events} == {DAG_RUN}
    assert all("parent" not in e["run"]["facets"] for e in dag_events)
    validate_events(dag_events)


def test_a_retried_failure_does_not_end_the_dag_run_but_the_last_try_does(settings, airflow):
    airflow.run("ingest_orders", try_number=1)
    with pytest.raises(OSError):
        task(settings, "a", OSError("disk full"))
    assert ("FAIL", "commerce_daily") not in jobs(settings)
    airflow.run("ingest_orders", try_number=3)
    with pytest.raises(OSError):
        task(settings, "a", OSError("disk full"))
    assert jobs(settings)[-2:] == [
        ("FAIL", "commerce_daily.ingest_orders"),
        ("FAIL", "commerce_daily"),
    ]
    dag_fail = client.read_events(settings)[-1]
    assert "ingest_orders failed: OSError" in dag_fail["run"]["facets"]["errorMessage"]["message"]
    # a leaf finishing later does not turn the failed DAG run into a complete one
    airflow.run("feature_docs", downstream=())
    task(settings, "d")
    assert ("COMPLETE", "commerce_daily") not in jobs(settings)


def test_a_no_retry_failure_ends_the_dag_run_at_once(settings, airflow):
    from airflow.sdk.exceptions import AirflowFailException

    airflow.run("quality_gate", try_number=1, downstream=("build_features",))
    with pytest.raises(AirflowFailException):
        task(settings, "g", AirflowFailException("critical checks failed"))
    assert jobs(settings)[-1] == ("FAIL", "commerce_daily")


def test_a_new_attempt_of_the_same_run_id_emits_the_dag_run_again(settings, airflow):
    airflow.run("quality_gate", downstream=())
    task(settings, "g")
    airflow.started = datetime(2026, 1, 2, tzinfo=UTC)  # `airflow dags test` again
    task(settings, "g")
    assert [j for j in jobs(settings) if j[1] == "commerce_daily"] == [
        ("START", "commerce_daily"),
        ("COMPLETE", "commerce_daily"),
        ("START", "commerce_daily"),
        ("COMPLETE", "commerce_daily"),
    ]
