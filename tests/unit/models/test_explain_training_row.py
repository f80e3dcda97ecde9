"""``pipelines lineage explain model:<name> <key>``: one training row of a model version back to
the feature row it was trained on and the lake rows of its label, checked against the lake."""

from __future__ import annotations

import json
from datetime import date, timedelta

import polars as pl
import pytest

from pipelines.cli import main
from pipelines.features.api import load_features
from pipelines.lake.partitions import partitions
from pipelines.models.explain import ModelNotFound, explain_training_row
from pipelines.models.repeat_purchase import KEY, labels_frame
from tests.factories import CANARIES
from tests.unit.models.conftest import TrainedTwice
from tests.unit.models.training_lake import EARLY, HORIZON_DAYS


def _keys(trained: TrainedTwice) -> tuple[str, str]:
    """A customer of the first model's training set who ordered in the label window, one who
    did not."""
    record = trained.first.record
    fs = load_features(
        "customer_features", EARLY, purpose="repeat_purchase", settings=trained.settings
    )
    end = EARLY + timedelta(days=HORIZON_DAYS)
    buyers = set(labels_frame(record.labels, EARLY, end)[KEY].to_list())
    keys = fs.frame[KEY].to_list()
    return next(k for k in keys if k in buyers), next(k for k in keys if k not in buyers)


def _lake_orders(trained: TrainedTwice, key: str) -> set[tuple[str, int]]:
    """The landing locators of ``key``'s orders in the label window, read from the lake."""
    lake = trained.settings.lake
    customers = pl.concat(pl.read_parquet(p.data_file) for p in partitions(lake, "customers"))
    ids = customers.filter(pl.col("customer_unique_id") == key)["customer_id"].to_list()
    lo, hi = EARLY, EARLY + timedelta(days=HORIZON_DAYS)
    found = set()
    for p in partitions(lake, "orders"):
        frame = pl.read_parquet(p.data_file).filter(pl.col("customer_id").is_in(ids))
        for row in frame.iter_rows(named=True):
            if lo <= row["order_purchase_timestamp"].date() < hi:
                found.add((str(row["_source_file"]), int(row["_source_row"])))
    return found


def test_a_training_row_reaches_its_feature_row_and_label_records(trained: TrainedTwice):
    buyer, other = _keys(trained)
    version = trained.first.record.version
    row = explain_training_row(trained.settings, "repeat_purchase", buyer, version)
    (features,) = row.features
    assert features.release_id == trained.first.record.features[0].release_id
    assert features.as_of == date.fromisoformat(trained.first.record.features[0].as_of)
    assert features.features[KEY] == buyer
    assert features.source("orders").rows > 0
    assert row.label.value == 1
    assert set(row.label.locators) == _lake_orders(trained, buyer) != set()
    landing = {
        e.path for p in partitions(trained.settings.lake, "orders") for e in p.manifest.source_files
    }
    assert {f for f, _ in row.label.locators} <= landing
    assert row.pii["quasi_identifiers_used"]
    assert {q["dataset"] for q in row.quality} >= {"features.customer_features"}

    none = explain_training_row(trained.settings, "repeat_purchase", other, version)
    assert none.label.value == 0 and none.label.locators == []


def test_explain_defaults_to_the_latest_version_and_names_known_ones(trained: TrainedTwice):
    buyer, _ = _keys(trained)
    latest = explain_training_row(trained.settings, "repeat_purchase", buyer)
    assert latest.version == trained.second.record.version
    with pytest.raises(ModelNotFound, match=trained.first.record.version):
        explain_training_row(trained.settings, "repeat_purchase", buyer, "m-000000000000")


def test_cli_explains_a_training_row_without_pii(
    trained: TrainedTwice, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    buyer, _ = _keys(trained)
    monkeypatch.setenv("PIPELINES_DATA_DIR", str(trained.settings.data_dir))
    version = trained.first.record.version
    args = ["lineage", "explain", "model:repeat_purchase", buyer, "--model-version", version]
    assert main([*args, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["version"] == version and out["label"]["value"] == 1
    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"model repeat_purchase version {version}" in text and "label = 1" in text
    for canary in CANARIES:
        assert canary not in text
    assert main(["lineage", "explain", "model:nope", buyer]) == 1
