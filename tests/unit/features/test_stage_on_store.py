"""The feature stage when its tasks run on workers that share no disk (issue #19, store mode):
the build hands its snapshots and release over on the object store, check and publish on
another worker take them through a verified local cache; the warehouse and the dbt docs site
go to the store too. Snapshots are the valid ones of ``test_feature_checks`` (no dbt here)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl
import pytest
from pydantic import SecretStr

from pipelines.features import tasks
from pipelines.features.api import read_snapshot
from pipelines.features.paths import release_file, snapshot_file
from pipelines.features.snapshots import read_release
from pipelines.features.stored import (
    StoredSnapshotError,
    built_release_rel,
    built_snapshot_rel,
    fetch_built,
    hand_over_build,
    release_rel,
)
from pipelines.hashing import file_sha256
from pipelines.lake.storage import lake_store
from pipelines.settings import Settings
from pipelines.warehouse.stored import (
    POINTER,
    StoredWarehouseError,
    current_warehouse,
    pull_warehouse,
    push_docs,
    push_warehouse,
    warehouse_rel,
)
from tests.other_engine import other_engine
from tests.s3server import S3Server
from tests.unit.features.test_feature_checks import (
    AS_OF,
    END,
    RUN,
    START,
    VALID,
    build_release,
    check_all,
)


@pytest.fixture(autouse=True)
def _no_lineage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")


@pytest.fixture
def workers(
    keyed_settings: Settings, s3_env: S3Server, tmp_path: Path
) -> tuple[Settings, Settings]:
    """Worker A (builds) and worker B (checks, publishes): own data dirs, one lake on S3."""
    url = f"s3://{s3_env.bucket}/{tmp_path.name}"
    a = keyed_settings.model_copy(update={"lake_url": url})
    b = a.model_copy(update={"data_dir": tmp_path / "worker-b"})
    return a, b


def _build_on(worker: Settings, broken: dict[str, str] | None = None) -> None:
    """What ``build_features`` leaves: the snapshots and release, handed over to the store."""
    build_release(worker, broken)
    assert hand_over_build(worker, read_release(worker, AS_OF))


def test_built_on_one_worker_checked_and_published_on_another(workers) -> None:
    a, b = workers
    _build_on(a)
    results = check_all(b)
    assert all(r["failed"] == 0 for r in results.values()), results
    assert tasks.publish(START, END, RUN, settings=b)["release_id"] == "r-test"
    # B validated and served its own verified copies of A's snapshots
    release = read_release(b, AS_OF)
    assert release.status == "published" and release.problems == []
    for table, info in release.features.items():
        local = snapshot_file(b, table, AS_OF)
        assert Path(info["file"]) == local
        assert file_sha256(local) == info["sha256"] == info["decided_sha256"]
    assert lake_store(b).sha256(release_rel(AS_OF.isoformat())) is not None  # published


def test_with_a_catalog_the_publication_is_a_catalog_commit_the_builder_follows(
    workers, catalog_url: SecretStr, s3_env: S3Server
) -> None:
    """The lake's DuckLake catalog (``lake_catalog_url``): B's publication is one catalog
    transaction, no release file; A, whose cache holds its own ``built`` release of that
    date, serves the published one, and another engine reads the published rows."""
    a, b = (w.model_copy(update={"lake_catalog_url": catalog_url}) for w in workers)
    _build_on(a)
    check_all(b)
    assert tasks.publish(START, END, RUN, settings=b)["release_id"] == "r-test"
    assert lake_store(b).sha256(release_rel(AS_OF.isoformat())) is None
    assert read_release(a, AS_OF).status == "built"  # A's cache, until a reader asks
    con = other_engine(catalog_url, s3_env.env())
    for table, info in read_release(b, AS_OF).features.items():
        served = read_snapshot(table, settings=a)
        assert served.release.status == "published" and served.file.is_relative_to(a.data_dir)
        assert served.frame.equals(pl.read_parquet(snapshot_file(b, table, AS_OF)))
        row = con.execute(f"SELECT count(*) FROM lake.features__{table}").fetchone()
        assert row == (info["rows"],) == (served.frame.height,)


def test_a_rebuild_after_the_checks_is_not_published(workers) -> None:
    """Publish's "the snapshot changed after it was validated" keeps its meaning: the build on the
    store changed since worker B checked it (a local cache file is not the snapshot)."""
    a, b = workers
    _build_on(a)
    check_all(b)
    _build_on(a, {"product_features": VALID["product_features"] + " LIMIT 10"})
    with pytest.raises(tasks.FeatureGateFailed, match="product_features: the snapshot changed"):
        tasks.publish(START, END, RUN, settings=b)


def test_a_tampered_built_snapshot_is_refused_naming_the_file(workers, tmp_path: Path) -> None:
    a, b = workers
    _build_on(a)
    sha = read_release(a, AS_OF).features["seller_features"]["sha256"]
    rel = built_snapshot_rel("seller_features", AS_OF.isoformat(), sha)
    other = tmp_path / "other.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS x) TO '{other}' (FORMAT parquet)")
    lake_store(a).put(other, rel)
    with pytest.raises(StoredSnapshotError) as refused:
        tasks.check("seller_features", START, END, RUN, settings=b)
    assert lake_store(a).uri(rel) in str(refused.value)
    assert "seller_features as of 2018-03-01" in str(refused.value)
    assert not snapshot_file(b, "seller_features", AS_OF).exists()


def test_without_a_handed_over_build_check_names_what_is_missing(workers) -> None:
    a, b = workers
    build_release(a)  # built locally on A, never handed over
    with pytest.raises(FileNotFoundError, match="run build_features") as missing:
        tasks.check("customer_features", START, END, RUN, settings=b)
    assert lake_store(b).uri(built_release_rel(AS_OF.isoformat())) in str(missing.value)


def test_the_store_decides_not_a_stale_local_release(workers) -> None:
    """A worker that built the same date earlier holds an older local release: the tasks
    after the build read the one on the store."""
    a, b = workers
    build_release(b)  # B's own, older build
    stale = read_release(b, AS_OF)
    stale.release_id = "r-stale"
    release_file(b, AS_OF).write_text(stale.to_json(), encoding="utf-8")
    _build_on(a)
    release = fetch_built(b, AS_OF)
    assert release is not None and release.release_id == "r-test"


def _warehouse(settings: Settings, rows: int) -> None:
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute(f"CREATE OR REPLACE TABLE t AS SELECT range AS i FROM range({rows})")


def _rows(settings: Settings) -> int:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM t").fetchone()
    assert row is not None
    return int(row[0])


def test_the_warehouse_goes_through_the_store_pointer_last(workers) -> None:
    a, b = workers
    assert pull_warehouse(b) is None  # nothing pushed yet: nothing to do
    _warehouse(a, 10)
    pointer = push_warehouse(a, release_id="r1", as_of="2018-03-01")
    assert pointer is not None and current_warehouse(b) == pointer
    assert pointer["file"] == warehouse_rel(file_sha256(a.warehouse))
    assert pull_warehouse(b) == pointer and _rows(b) == 10
    kept = os.stat(b.warehouse).st_ino
    pull_warehouse(b)  # the same hash: not copied again
    assert os.stat(b.warehouse).st_ino == kept
    _warehouse(b, 3)  # a stale local warehouse (say, from an earlier build on B)
    pull_warehouse(b)
    assert _rows(b) == 10
    for rows in (20, 30):  # later builds: the current warehouse and the one before it stay
        _warehouse(a, rows)
        second = push_warehouse(a, release_id="r2", as_of="2018-03-02")
    assert second is not None
    names = lake_store(a).listdir("_warehouse")  # the first is gone
    assert len(names) == 3 and pointer["file"].removeprefix("_warehouse/") not in names


def test_a_tampered_warehouse_object_is_refused_and_the_local_one_kept(workers) -> None:
    a, b = workers
    _warehouse(a, 10)
    pointer = push_warehouse(a, release_id="r1", as_of="2018-03-01")
    assert pointer is not None
    _warehouse(b, 3)
    lake_store(a).put(b.warehouse, pointer["file"])  # other bytes under the pointed name
    with pytest.raises(StoredWarehouseError, match=pointer["file"]):
        pull_warehouse(b)
    assert _rows(b) == 3


def test_the_docs_site_goes_to_the_store_once_per_digest(workers, tmp_path: Path) -> None:
    a, _ = workers
    site = tmp_path / "site"
    site.mkdir()
    for name in ("index.html", "manifest.json", "catalog.json"):
        (site / name).write_text(name, encoding="utf-8")
    (site / ".inputs.sha256").write_text("d1\n", encoding="utf-8")
    assert push_docs(a, site)
    assert lake_store(a).read_text("_reports/dbt/index.html") == "index.html"
    assert not push_docs(a, site)  # the same digest is there already


def test_a_local_lake_hands_nothing_over(keyed_settings: Settings) -> None:
    """The embedded default: every store step is a no-op; the files stay where they are."""
    build_release(keyed_settings)
    _warehouse(keyed_settings, 1)
    assert not hand_over_build(keyed_settings, read_release(keyed_settings, AS_OF))
    assert fetch_built(keyed_settings, AS_OF) is None
    assert push_warehouse(keyed_settings, release_id="r", as_of="2018-03-01") is None
    assert pull_warehouse(keyed_settings) is None
    assert not (keyed_settings.lake / POINTER).exists()
