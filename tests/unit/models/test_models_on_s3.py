"""The model's readers of the lake give the same answer from a lake on an object store as from
the local lake on the same data (issue #19): the training selection and its label rows, the
representativeness genders, ``explain`` back to the landing records, and training itself (the
same model version). The store lake is the trained lake published to moto's server; the
store's "worker" has its own copy of the data folder, without the local lake."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.lake.partitions import LakeIntegrityError
from pipelines.lake.storage import lake_storage
from pipelines.models.explain import explain_training_row
from pipelines.models.repeat_purchase import KEY, _release, label_source, labels_frame, train
from pipelines.models.segments import profile_genders
from pipelines.settings import Settings
from tests.s3server import S3Server, mirror_lake
from tests.unit.models.conftest import TrainedTwice
from tests.unit.models.test_explain_training_row import _keys
from tests.unit.models.training_lake import EARLY, HORIZON_DAYS, MIDDLE

END = EARLY + timedelta(days=HORIZON_DAYS)


@pytest.fixture
def on_s3(trained: TrainedTwice, s3_env: S3Server, tmp_path: Path) -> Settings:
    """Another worker: the trained lake on S3, a copy of the rest of the data folder."""
    local = trained.settings
    url = f"s3://{s3_env.bucket}/{tmp_path.name}"
    mirror_lake(local.lake, url, s3_env.env())
    data = tmp_path / "worker2"
    top = str(local.data_dir)
    shutil.copytree(local.data_dir, data, ignore=lambda d, names: ["lake"] if d == top else [])
    settings = local.model_copy(update={"data_dir": data, "lake_url": url})
    assert not settings.lake.exists()
    return settings


def test_the_training_selection_reads_the_same_label_rows(trained: TrainedTwice, on_s3) -> None:
    release = _release(trained.settings, MIDDLE)
    local = label_source(trained.settings, release, EARLY, END)
    stored = label_source(on_s3, release, EARLY, END)
    assert stored.versions() == local.versions() == trained.first.record.labels.versions()
    assert all(str(p.location).startswith("s3://") for p in stored.partitions)
    buyers = labels_frame(local, EARLY, END)[KEY].sort()
    assert len(buyers) > 0
    assert labels_frame(stored, EARLY, END)[KEY].sort().to_list() == buyers.to_list()

    genders = profile_genders(trained.settings, release, EARLY).sort(KEY)
    assert genders.height > 0
    assert profile_genders(on_s3, release, EARLY).sort(KEY).equals(genders)


def test_explain_traces_the_same_row_to_the_same_landing_records(
    trained: TrainedTwice, on_s3
) -> None:
    version = trained.first.record.version
    buyer, _ = _keys(trained)
    local = explain_training_row(trained.settings, "repeat_purchase", buyer, version)
    stored = explain_training_row(on_s3, "repeat_purchase", buyer, version)
    assert local.label.value == 1 and local.label.locators
    assert stored.to_json() == local.to_json()


def test_training_from_the_store_gives_the_same_model_version(trained: TrainedTwice, on_s3) -> None:
    again = train(release_as_of=MIDDLE, horizon_days=HORIZON_DAYS, settings=on_s3)
    assert again.record.version == trained.first.record.version
    assert again.record.metrics == trained.first.record.metrics


def test_a_changed_label_object_on_s3_is_never_read(trained: TrainedTwice, on_s3, tmp_path):
    release = _release(trained.settings, MIDDLE)
    source = label_source(on_s3, release, EARLY, END)
    orders = next(p for p in source.partitions if p.table == "orders")
    other = tmp_path / "other.parquet"
    duckdb.execute(f"COPY (SELECT 1 AS x) TO '{other}'")
    lake_storage(str(on_s3.lake_url)).put(other, orders.data_rel)  # same key, other bytes
    with pytest.raises(LakeIntegrityError, match=f"orders/{orders.name}"):
        labels_frame(source, EARLY, END)
    assert pl.read_parquet(other).columns == ["x"]
