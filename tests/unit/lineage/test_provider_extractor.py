"""With the OpenLineage Airflow provider active and our extractor registered, a task run hands
its datasets and facets to the provider's COMPLETE/FAIL event instead of emitting its own;
the DAG run's START of an ``airflow dags test`` run goes out once, through the provider."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from pipelines.lineage import client, naming, transfer
from pipelines.lineage import events as ev
from pipelines.lineage import facets as f
from pipelines.lineage.emit import LineageParts, task_run
from pipelines.lineage.jurisdiction import facets_for
from pipelines.policy import load_policy
from pipelines.policy.findings import findings
from pipelines.settings import PROJECT_DIR, Settings
from tests.unit.lineage.emit_helpers import clean_lineage_env
from tests.unit.lineage.ol_schema import validate_events

if TYPE_CHECKING:
    from pipelines.lineage.provider import TaskExtractor

RUN = "manual__2018-01-02T00:00:00+00:00"
STARTED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeContext:
    """Stands in for ``airflow.sdk.get_current_context`` of a running task instance."""

    def __init__(self) -> None:
        self.ti: Any = None
        self.user: str | None = "dag_test"

    def run(self, task_id: str, try_number: int = 1) -> SimpleNamespace:
        self.ti = SimpleNamespace(
            dag_id="commerce_daily",
            run_id=RUN,
            task_id=task_id,
            try_number=try_number,
            max_tries=2,
            map_index=-1,
            task=SimpleNamespace(downstream_task_ids={"x"}),
        )
        return self.ti

    def __call__(self) -> dict[str, Any]:
        dag_run = SimpleNamespace(
            start_date=STARTED,
            logical_date=datetime(2018, 1, 2, tzinfo=UTC),
            clear_number=0,
            triggering_user_name=self.user,
        )
        return {"ti": self.ti, "dag_run": dag_run}


def _clear_provider_caches() -> None:
    from airflow.providers.openlineage import conf
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener

    for value in vars(conf).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()
    get_openlineage_listener.cache_clear()


@pytest.fixture
def provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The provider on, its events in ``provider.jsonl``, our extractor registered."""
    from pipelines.lineage.provider import EXTRACTOR

    clean_lineage_env(monkeypatch)
    out = tmp_path / "provider.jsonl"
    transport = {
        "type": "pipelines.lineage.transport.JsonLinesTransport",
        "log_file_path": str(out),
    }
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(transport))
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXTRACTORS", EXTRACTOR)
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", naming.job_namespace())
    _clear_provider_caches()
    yield out
    _clear_provider_caches()
    client.reset_clients()


@pytest.fixture
def context(monkeypatch: pytest.MonkeyPatch) -> FakeContext:
    import airflow.sdk

    fake = FakeContext()
    monkeypatch.setattr(airflow.sdk, "get_current_context", fake)
    return fake


def _lake() -> LineageParts:
    facets = {"datasetVersion": f.dataset_version("v1")}
    return LineageParts(outputs=[ev.output_dataset("file", "/lake/orders", facets)])


def _operator(task_id: str) -> Any:
    """A real TaskFlow operator, as the provider's extractor manager sees it."""
    from airflow.sdk import DAG, task

    with DAG("commerce_daily", schedule=None):

        @task(task_id=task_id)
        def body() -> None:
            return None

        return body().operator


def _extractor(task_id: str) -> TaskExtractor:
    """Our extractor for a task. :mod:`pipelines.lineage.provider` (so Airflow and its
    OpenLineage provider) is imported by the tests that run, not when the module is
    collected: every xdist worker of every tier collects it."""
    from pipelines.lineage.provider import TaskExtractor

    return TaskExtractor(_operator(task_id))


def test_the_provider_picks_our_extractor_for_taskflow_tasks(provider: Path):
    from airflow.providers.openlineage.extractors.manager import ExtractorManager

    from pipelines.lineage.provider import TaskExtractor

    assert ExtractorManager().get_extractor_class(_operator("ingest_orders")) is TaskExtractor


def test_a_task_hands_its_lineage_to_the_providers_complete(
    provider: Path, context: FakeContext, tmp_path: Path
):
    settings = Settings(data_dir=tmp_path / "data")
    ti = context.run("ingest_orders")
    with task_run("ingest_orders", settings=settings) as lineage:
        lineage.complete_with(_lake)
    # none of our own task events: the provider emits them
    assert [e["job"]["name"] for e in client.read_events(settings)] == []
    extractor = _extractor("ingest_orders")
    assert extractor.extract().outputs == []  # START: before the task ran
    handed = extractor.extract_on_complete(ti)
    assert [d.name for d in handed.outputs] == ["/lake/orders"]
    assert handed.outputs[0].facets == _lake().outputs[0].facets
    assert handed.run_facets["pipelines_airflow"].task_id == "ingest_orders"
    assert extractor.extract_on_complete(ti).outputs == []  # handed over once


def test_a_failed_task_hands_its_failure_lineage_over(provider: Path, context: FakeContext):
    settings = Settings(data_dir=provider.parent / "data")
    ti = context.run("quality_orders", try_number=2)
    with pytest.raises(OSError), task_run("quality_orders", settings=settings) as lineage:
        lineage.fail_with(_lake)
        raise OSError("disk full")
    handed = _extractor("quality_orders").extract_on_failure(ti)
    assert [d.name for d in handed.outputs] == ["/lake/orders"]
    assert client.read_events(settings) == []


def test_a_dags_test_run_starts_once_through_the_provider(provider: Path, context: FakeContext):
    settings = Settings(data_dir=provider.parent / "data")
    for task_id in ("ingest_customers", "ingest_orders"):
        context.run(task_id)
        with task_run(task_id, settings=settings):
            pass
    events = client.read_events(provider)
    validate_events(events)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [("START", "commerce_daily")]
    dag_run = ev.task_run_ref("ingest_orders", ev.current_airflow_run()).parent
    assert dag_run is not None and events[0]["run"]["runId"] == dag_run.run_id


def test_a_run_the_scheduler_started_gets_no_start_of_ours(provider: Path, context: FakeContext):
    context.user = None  # the scheduler's listener emitted its START
    context.run("ingest_orders")
    settings = Settings(data_dir=provider.parent / "data")
    with task_run("ingest_orders", settings=settings):
        pass
    assert client.read_events(provider) == []
    assert client.read_events(settings) == []


def test_the_embedded_airflow_sends_the_providers_events_where_ours_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from pipelines.demo import airflow_env
    from pipelines.lineage.provider import EXTRACTOR

    clean_lineage_env(monkeypatch)
    for key in ("TRANSPORT", "CONFIG_PATH", "EXTRACTORS"):
        monkeypatch.delenv(f"AIRFLOW__OPENLINEAGE__{key}", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=tmp_path / "data")
    env = airflow_env(settings, {})
    assert env["AIRFLOW__OPENLINEAGE__EXTRACTORS"] == EXTRACTOR
    transport = json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert transport["log_file_path"] == str(client.events_path(settings))
    monkeypatch.setenv("OPENLINEAGE_URL", "http://marquez:5000")  # the provider reads it too
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT" not in airflow_env(settings, {})
    monkeypatch.delenv("OPENLINEAGE_URL")
    (tmp_path / "openlineage.yml").write_text("transport:\n  type: console\n")
    env = airflow_env(settings, {})
    assert env["AIRFLOW__OPENLINEAGE__CONFIG_PATH"] == str(tmp_path / "openlineage.yml")
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT" not in env


def test_where_the_providers_policy_skips_a_task_it_emits_its_own_events(
    provider: Path, context: FakeContext, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__SELECTIVE_ENABLE", "true")  # no DAG enabled
    _clear_provider_caches()
    settings = Settings(data_dir=provider.parent / "data")
    context.run("ingest_orders").task = _operator("ingest_orders")
    with task_run("ingest_orders", settings=settings) as lineage:
        lineage.complete_with(_lake)
    ours = [(e["eventType"], e["job"]["name"]) for e in client.read_events(settings)]
    assert ("COMPLETE", "commerce_daily.ingest_orders") in ours


def test_only_the_running_task_instances_lineage_is_kept(provider: Path, context: FakeContext):
    settings = Settings(data_dir=provider.parent / "data")
    first = context.run("ingest_customers")
    with task_run("ingest_customers", settings=settings) as lineage:
        lineage.complete_with(_lake)
    second = context.run("ingest_orders")
    for _ in range(2):  # two blocks in one task: both reach its event
        with task_run("ingest_orders", settings=settings) as lineage:
            lineage.complete_with(_lake)
    extractor = _extractor("ingest_orders")
    assert extractor.extract_on_complete(first).outputs == []
    assert len(extractor.extract_on_complete(second).outputs) == 2


def _policy_settings(tmp_path: Path, where: str) -> Settings:
    """The demo policy, with ``http://127.0.0.1:`` declared in jurisdiction ``where``."""
    raw = yaml.safe_load((PROJECT_DIR / "policy.yml").read_text())
    raw["destinations"].append(
        {"name": "lineage", "prefix": "http://127.0.0.1:", "jurisdiction": where}
    )
    path = tmp_path / "policy.yml"
    path.write_text(yaml.safe_dump(raw))
    transfer.reset()
    return Settings(data_dir=tmp_path / "data", policy_file=path)


def _orders(settings: Settings) -> Callable[[], LineageParts]:
    """The orders partition, its facets saying its subjects are in BR."""
    out = ev.output_dataset("file", "/lake/orders", facets_for(settings, "orders"))
    return lambda: LineageParts(outputs=[out])


def _to_http(monkeypatch: pytest.MonkeyPatch, context: FakeContext) -> None:
    """The provider's transport: HTTP; the scheduler started the run (nothing is sent)."""
    context.user = None
    transport = {"type": "http", "url": "http://user:pw@127.0.0.1:9/"}
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(transport))
    _clear_provider_caches()


def test_the_provider_gets_no_subject_data_for_a_backend_the_policy_refuses(
    provider: Path, context: FakeContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    _to_http(monkeypatch, context)
    settings = _policy_settings(tmp_path, "US")  # BR subjects may go to BR, EU only
    ti = context.run("ingest_orders")
    for _ in range(2):
        with task_run("ingest_orders", settings=settings) as lineage:
            lineage.complete_with(_orders(settings))
    handed = _extractor("ingest_orders").extract_on_complete(ti)
    assert (handed.inputs, handed.outputs, handed.job_facets) == ([], [], {})
    assert list(handed.run_facets) == ["pipelines_airflow"]
    kept = client.read_events(settings)  # our full events, in the local log
    assert [(e["eventType"], e["job"]["name"]) for e in kept] == [
        ("COMPLETE", "commerce_daily.ingest_orders")
    ] * 2
    assert kept[0]["outputs"][0]["facets"]["pipelines_jurisdiction"]["subjects"] == ["BR"]
    [finding] = findings(settings, load_policy(settings.policy_file))
    assert (finding.kind, finding.dataset) == ("refused_transfer", "http://127.0.0.1:9/")
    assert "subjects are in BR" in finding.what and "not US" in finding.what


def test_a_failed_tasks_refused_lineage_is_kept_with_its_error(
    provider: Path, context: FakeContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    _to_http(monkeypatch, context)
    settings = _policy_settings(tmp_path, "US")
    ti = context.run("ingest_orders")
    with pytest.raises(OSError), task_run("ingest_orders", settings=settings) as lineage:
        lineage.fail_with(_orders(settings))
        raise OSError("disk full")
    assert _extractor("ingest_orders").extract_on_failure(ti).outputs == []
    [kept] = client.read_events(settings)
    assert kept["eventType"] == "FAIL"
    assert kept["run"]["facets"]["errorMessage"]["message"].startswith("OSError")


def test_an_allowed_provider_backend_gets_the_facets(
    provider: Path, context: FakeContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    _to_http(monkeypatch, context)
    settings = _policy_settings(tmp_path, "EU")
    ti = context.run("ingest_orders")
    with task_run("ingest_orders", settings=settings) as lineage:
        lineage.complete_with(_orders(settings))
    handed = _extractor("ingest_orders").extract_on_complete(ti)
    assert [d.name for d in handed.outputs] == ["/lake/orders"]
    assert handed.outputs[0].facets == _orders(settings)().outputs[0].facets
    assert client.read_events(settings) == []
    assert findings(settings, load_policy(settings.policy_file)) == []


def test_the_providers_backends_are_read_in_the_providers_order(
    provider: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    from pipelines.lineage.provider import destinations

    assert destinations() == []  # the fixture's JSON-lines file: in-house
    monkeypatch.delenv("AIRFLOW__OPENLINEAGE__TRANSPORT")
    monkeypatch.setenv("OPENLINEAGE_URL", "http://marquez:5000")  # the client's own default
    _clear_provider_caches()
    assert destinations() == ["http://marquez:5000"]
    config = tmp_path / "provider.yml"
    config.write_text("transport:\n  type: http\n  url: https://k:s@lineage.example.com\n")
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__CONFIG_PATH", str(config))
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", '{"type": "console"}')
    _clear_provider_caches()
    assert destinations() == ["https://lineage.example.com"]  # config_path wins
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__CONFIG_CONN_ID", "ol_marquez")
    _clear_provider_caches()
    assert destinations() == ["connection:ol_marquez"]  # undeclared unless a prefix names it


def test_the_embedded_airflow_emits_from_a_thread_not_a_fork_per_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``airflow dags test`` runs every task in one big process: the provider's listener
    emits from a thread of it (``[openlineage] execute_in_thread``) unless told otherwise."""
    from airflow.providers.openlineage import conf

    from pipelines.demo import airflow_env

    monkeypatch.delenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    env = airflow_env(settings, {})
    monkeypatch.setenv(
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", env["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"]
    )
    _clear_provider_caches()
    try:
        assert conf.execute_in_thread() is True  # what the listener reads
        monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "False")
        env = airflow_env(settings, {})
        assert env["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"] == "False"  # the user's choice
    finally:
        _clear_provider_caches()
