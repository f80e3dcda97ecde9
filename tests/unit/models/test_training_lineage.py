"""A training run's OpenLineage events: the feature snapshots and label partitions it read (the
same datasets and versions the pipeline wrote), the model version it made; retraining on a
newer release changes only what changed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from pipelines.features.snapshots import read_release
from pipelines.lake.partitions import partitions
from pipelines.lineage.events import read_git_version
from pipelines.models.repeat_purchase import train
from pipelines.settings import PROJECT_DIR
from tests.unit.lineage.ol_schema import validate_events
from tests.unit.models.conftest import TrainedTwice
from tests.unit.models.training_lake import EARLY, HORIZON_DAYS, MIDDLE

# builds the session's `trained` lake (~34 s) at the start of the unit tier, while the other
# worker runs other modules: started when the workers reached tests/unit/models/ together, one
# built it and the other waited ~32 s for it (tests/unit/models/conftest.py)
pytestmark = pytest.mark.first(34)


def _facets(dataset: dict[str, Any]) -> dict[str, Any]:
    return dataset.get("facets") or {}


def _version(dataset: dict[str, Any]) -> str:
    return _facets(dataset)["datasetVersion"]["datasetVersion"]


def _inputs(event: dict[str, Any]) -> dict[tuple[str, str, str | None], str]:
    """(namespace, name, partition) -> dataset version, of every input."""
    return {
        (
            d["namespace"],
            d["name"],
            (_facets(d).get("pipelines_partition") or {}).get("partition"),
        ): _version(d)
        for d in event["inputs"]
    }


def _complete_of(trained: TrainedTwice, version: str) -> dict[str, Any]:
    (event,) = [e for e in trained.training_completes() if _version(e["outputs"][0]) == version]
    return event


def test_training_events_validate_against_the_openlineage_schema(trained: TrainedTwice):
    events = [e for e in trained.events() if e["job"]["name"].endswith(".train_repeat_purchase")]
    assert sorted(e["eventType"] for e in events) == ["COMPLETE", "COMPLETE", "START", "START"]
    # outside Airflow the job is the model's own, not a task of the daily DAG
    assert {e["job"]["name"] for e in events} == {"models.train_repeat_purchase"}
    validate_events(events)


def test_inputs_are_the_feature_snapshots_the_pipeline_published(trained: TrainedTwice):
    event = _complete_of(trained, trained.first.record.version)
    features = [d for d in event["inputs"] if d["name"].endswith("/features/customer_features")]
    assert len(features) == 1
    # the snapshot as of EARLY (MIDDLE minus the horizon), with the hash its release recorded
    release = read_release(trained.settings, EARLY)
    assert _version(features[0]) == release.features["customer_features"]["sha256"]
    written = {
        (d["namespace"], d["name"], _version(d))
        for e in trained.events()
        if e["job"]["name"] == "commerce_daily.build_features" and e["eventType"] == "COMPLETE"
        for d in e["outputs"]
    }
    assert (features[0]["namespace"], features[0]["name"], _version(features[0])) in written
    assert _facets(features[0])["symlinks"]["identifiers"][0]["name"] == (
        "features.customer_features"
    )


def test_label_inputs_are_gate_passed_lake_partitions_with_their_versions(trained: TrainedTwice):
    event = _complete_of(trained, trained.first.record.version)
    lake = trained.settings.lake
    labels = {k: v for k, v in _inputs(event).items() if k[2] is not None}
    expected = {
        (k[0], k[1], p.folder.name): p.manifest.dataset_version
        for table in ("orders", "customers")
        for p in partitions(lake, table)
        if p.interval.end.date() <= MIDDLE
        and (table == "customers" or p.interval.start.date() == EARLY)
        for k in [("file", str((lake / table).absolute()))]
    }
    assert labels == expected
    released = {
        (p.table, p.partition, p.dataset_version)
        for p in read_release(trained.settings, MIDDLE).partitions
    }
    assert {(n.rsplit("/", 1)[-1], part, v) for (_, n, part), v in labels.items()} <= released


def test_the_model_output_names_parameters_metrics_and_code_version(trained: TrainedTwice):
    record = trained.first.record
    event = _complete_of(trained, record.version)
    (model,) = event["outputs"]
    assert model["name"] == str(
        (trained.settings.data_dir / "models" / "repeat_purchase").absolute()
    )
    facet = _facets(model)["pipelines_model"]
    assert facet["version"] == record.version
    assert facet["algorithm"] == "sklearn.linear_model.LogisticRegression"
    assert facet["parameters"]["horizon_days"] == str(HORIZON_DAYS)
    assert set(facet["metrics"]) >= {"roc_auc", "accuracy"}
    assert record.code_version == read_git_version(PROJECT_DIR)
    assert facet.get("code_version") == record.code_version
    assert facet["artifact_sha256"] == record.artifact_sha256
    fields = [f["name"] for f in _facets(model)["schema"]["fields"]]
    assert "label" in fields and "orders" in fields
    lineage = _facets(model)["columnLineage"]["fields"]
    assert lineage["orders"]["inputFields"][0]["name"].endswith("/features/customer_features")
    run = event["run"]["facets"]["pipelines_training"]
    assert run["model_version"] == record.version
    assert run["features"][0]["release_id"] == read_release(trained.settings, EARLY).release_id


def test_retraining_on_a_newer_release_differs_only_where_its_inputs_did(trained: TrainedTwice):
    first = _complete_of(trained, trained.first.record.version)
    second = _complete_of(trained, trained.second.record.version)
    assert trained.first.record.version != trained.second.record.version
    (out1,), (out2,) = first["outputs"], second["outputs"]
    assert (out1["namespace"], out1["name"]) == (out2["namespace"], out2["name"])
    # what the model is (its inputs' columns and where they come from) did not change
    assert _facets(out1)["schema"] == _facets(out2)["schema"]
    assert _facets(out1)["columnLineage"] == _facets(out2)["columnLineage"]
    in1, in2 = _inputs(first), _inputs(second)
    # the same datasets, newer versions: the snapshot as of MIDDLE instead of EARLY, and the
    # orders of the next window; the customers partitions read by both are the same versions
    assert {(ns, n) for ns, n, _ in in1} == {(ns, n) for ns, n, _ in in2}
    v1 = {(n.rsplit("/", 1)[-1], part, v) for (_, n, part), v in in1.items()}
    v2 = {(n.rsplit("/", 1)[-1], part, v) for (_, n, part), v in in2.items()}
    assert sorted((t, part) for t, part, _ in v1 & v2) == [
        ("customers", "dt=2018-01-01"),
        ("customers", "dt=2018-01-05"),
    ]
    assert sorted((t, part or "") for t, part, _ in v1 ^ v2) == [
        ("customer_features", ""),
        ("customer_features", ""),
        ("customers", "dt=2018-01-09"),
        ("orders", "dt=2018-01-05"),
        ("orders", "dt=2018-01-09"),
    ]
    p1 = _facets(out1)["pipelines_model"]["parameters"]
    p2 = _facets(out2)["pipelines_model"]["parameters"]
    assert {k for k in p1 if p1[k] != p2.get(k)} == {"label_release"}


def test_retraining_on_the_same_release_gives_the_same_version(
    trained: TrainedTwice, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")  # the other tests count the events
    data = tmp_path / "data"  # a copy: the other workers read the shared lake meanwhile
    shutil.copytree(trained.settings.data_dir, data, symlinks=True)
    settings = trained.settings.model_copy(update={"data_dir": data})
    again = train(release_as_of=MIDDLE, horizon_days=HORIZON_DAYS, settings=settings)
    assert again.record.version == trained.first.record.version
    assert again.folder == data / trained.first.folder.relative_to(trained.settings.data_dir)
    assert sorted(p.name for p in again.folder.iterdir()) == sorted(
        p.name for p in trained.first.folder.iterdir()
    )
