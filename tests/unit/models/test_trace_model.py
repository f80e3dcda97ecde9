"""``pipelines lineage trace model:<name>``: from the model back to the landing files the lake
manifests list, with the checks and PII protections on the way."""

from __future__ import annotations

import json

import pytest

from pipelines.cli import main
from pipelines.lake.partitions import partitions
from pipelines.reporting.graph import load_graph
from pipelines.reporting.modeltrace import trace_model
from pipelines.reporting.store import open_store
from pipelines.reporting.trace import ColumnLookupError
from tests.unit.models.conftest import TrainedTwice


def _trace(trained: TrainedTwice):
    with open_store(trained.settings) as con:
        graph = load_graph(con)
    return graph, trace_model(graph, "model:repeat_purchase")


def test_the_landing_files_reached_are_those_the_lake_manifests_list(trained: TrainedTwice):
    graph, result = _trace(trained)
    lake_tables = sorted(
        {c.name.rsplit("/", 1)[-1] for c in result.trace.depths if graph.dataset(c).kind == "lake"}
    )
    assert {"orders", "customers"} <= set(lake_tables)
    listed = {
        str((trained.settings.landing / entry.path).absolute())
        for table in lake_tables
        for p in partitions(trained.settings.lake, table)
        for entry in p.manifest.source_files
    }
    assert result.landing_files == sorted(listed)
    assert all((trained.settings.landing / f).is_file() for f in result.landing_files)


def test_every_model_version_lists_the_exact_input_versions(trained: TrainedTwice):
    _, result = _trace(trained)
    by_version = {v["version"]: v for v in result.versions}
    assert set(by_version) == {trained.first.record.version, trained.second.record.version}
    first = by_version[trained.first.record.version]
    features = [i for i in first["inputs"] if i["dataset"] == "features.customer_features"]
    assert [i["version"] for i in features] == [trained.first.record.features[0].sha256]
    orders = [i["partition"] for i in first["inputs"] if i["dataset"] == "lake.orders"]
    assert orders == ["dt=2018-01-05"]


def test_checks_and_protections_on_the_way(trained: TrainedTwice):
    _, result = _trace(trained)
    checks = {c["dataset"]: c for c in result.checks}
    assert checks["features.customer_features"]["quality"] == "pass"
    assert checks["features.customer_features"]["pass"] > 0
    for table in ("lake.orders", "lake.customers"):
        assert checks[table]["quality"] in ("pass", "warn") and checks[table]["fail"] == 0
    assert not any(c["dataset"].startswith("landing.") for c in result.checks)
    masked = {(p["column"], p["protection"]) for p in result.protections if p["from"] is not None}
    assert ("lake.customers.customer_unique_id", "pseudonymize") in masked


def test_the_cli_traces_a_model_and_names_unknown_ones(
    trained: TrainedTwice, capsys: pytest.CaptureFixture[str]
):
    data = str(trained.settings.data_dir)
    assert main(["--data-dir", data, "lineage", "trace", "model:repeat_purchase"]) == 0
    text = capsys.readouterr().out
    assert "landing files reached" in text and trained.second.record.version in text
    fmt = ["--format", "json"]
    assert main(["--data-dir", data, "lineage", "trace", "model:repeat_purchase", *fmt]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "model.repeat_purchase"
    assert main(["--data-dir", data, "lineage", "trace", "model:churn"]) == 2
    assert "known models: repeat_purchase" in capsys.readouterr().err


def test_an_unknown_model_is_an_error_naming_the_known_ones(trained: TrainedTwice):
    with open_store(trained.settings) as con:
        graph = load_graph(con)
    with pytest.raises(ColumnLookupError, match="repeat_purchase"):
        trace_model(graph, "model:nope")
