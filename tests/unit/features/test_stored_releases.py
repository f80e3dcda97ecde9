"""Feature releases on the lake's object store: a worker that shares no disk with the one
that published reads the release and its snapshots, verified (issue #19)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines.features import load_features
from pipelines.features.paths import release_file, snapshot_file
from pipelines.features.release import Release
from pipelines.features.snapshots import write_release
from pipelines.features.stored import (
    StoredSnapshotError,
    fetch_snapshot,
    publish_release,
    snapshot_rel,
)
from pipelines.hashing import file_sha256
from pipelines.lake.storage import lake_store
from pipelines.settings import Settings
from tests.s3server import S3Server

AS_OF = "2018-01-03"


def _published(settings: Settings) -> Release:
    path = snapshot_file(settings, "customer_features", date.fromisoformat(AS_OF))
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {"customer_unique_token": ["p1:a", "p1:b"], "as_of_date": [date(2018, 1, 3)] * 2,
         "orders": [2, 1]}
    ).write_parquet(path)  # fmt: skip
    release = Release(
        release_id="r1",
        as_of=AS_OF,
        run_id="run-1",
        partitions=[],
        held_back=[],
        created_at="2018-01-01T00:00:00+00:00",
        status="published",
        features={"customer_features": {"decided_sha256": file_sha256(path)}},
    )
    write_release(settings, release)
    assert publish_release(settings, release)
    return release


@pytest.fixture
def two_workers(settings: Settings, s3_env: S3Server, tmp_path: Path) -> tuple[Settings, Settings]:
    url = f"s3://{s3_env.bucket}/{tmp_path.name}"
    builder = settings.model_copy(update={"lake_url": url})
    reader = builder.model_copy(update={"data_dir": tmp_path / "other-worker"})
    return builder, reader


def test_a_release_published_on_one_worker_is_served_on_another(two_workers) -> None:
    builder, reader = two_workers
    release = _published(builder)
    assert not release_file(reader, date.fromisoformat(AS_OF)).exists()
    fs = load_features("customer_features", purpose="churn", settings=reader)
    assert fs.release.release_id == release.release_id
    assert fs.file.is_relative_to(reader.data_dir)
    assert dict(zip(fs.frame["customer_unique_token"], fs.frame["orders"], strict=True)) == {
        "p1:a": 2,
        "p1:b": 1,
    }


def test_a_changed_snapshot_object_is_not_served(two_workers, tmp_path: Path) -> None:
    builder, reader = two_workers
    release = _published(builder)
    other = tmp_path / "other.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(other)
    sha = release.features["customer_features"]["decided_sha256"]
    lake_store(builder).put(other, snapshot_rel("customer_features", AS_OF, sha))
    with pytest.raises(StoredSnapshotError, match="does not match its release r1"):
        fetch_snapshot(reader, "customer_features", release)
    assert not snapshot_file(reader, "customer_features", date.fromisoformat(AS_OF)).exists()


def test_a_local_lake_publishes_nothing(settings: Settings) -> None:
    assert not publish_release(settings, _unpublished(settings))


def _unpublished(settings: Settings) -> Release:
    return Release("r0", AS_OF, None, [], [], "2018-01-01T00:00:00+00:00")
