"""Feature releases on the lake's object store: a worker that shares no disk with the one
that published reads the release and its snapshots, verified (issue #19). With the lake's
DuckLake catalog (``lake_catalog_url``) a publication is one catalog transaction: the
snapshots are rows of ``features__<table>`` (another engine reads them by SQL), the release
a row of ``_pipelines_releases``, and readers follow the catalog."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from pydantic import SecretStr

from pipelines.features import load_features
from pipelines.features.paths import release_file, snapshot_file
from pipelines.features.release import Release
from pipelines.features.snapshots import read_release, write_release
from pipelines.features.stored import (
    StoredSnapshotError,
    fetch_snapshot,
    publish_release,
    release_rel,
    releases_at,
    snapshot_rel,
)
from pipelines.hashing import file_sha256
from pipelines.lake.ducklake.history import current_snapshot
from pipelines.lake.storage import catalog_of, lake_store
from pipelines.privacy.stored_features import pull_releases, push_releases
from pipelines.settings import Settings
from tests.other_engine import other_engine
from tests.s3server import S3Server

AS_OF = "2018-01-03"
TOKENS = {"p1:a": 2, "p1:b": 1}


def _written(
    settings: Settings,
    rows: dict[str, int] = TOKENS,
    release_id: str = "r1",
    tables: list[str] | None = None,
    as_of: str = AS_OF,
) -> Release:
    """A release as of ``as_of`` on ``settings``' worker, status published but not on the
    store yet: ``customer_features`` (one row per token) and the other ``tables`` alike."""
    features = {}
    for table in tables or ["customer_features"]:
        path = snapshot_file(settings, table, date.fromisoformat(as_of))
        path.parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(
            {"customer_unique_token": list(rows), "as_of_date": [date(2018, 1, 3)] * len(rows),
             "orders": list(rows.values())}
        ).write_parquet(path)  # fmt: skip
        features[table] = {"decided_sha256": file_sha256(path), "rows": len(rows)}
    release = Release(
        release_id=release_id,
        as_of=as_of,
        run_id="run-1",
        partitions=[],
        held_back=[],
        created_at="2018-01-01T00:00:00+00:00",
        status="published",
        features=features,
    )
    write_release(settings, release)
    return release


def _published(
    settings: Settings, rows: dict[str, int] = TOKENS, release_id: str = "r1", tables=None
) -> Release:
    """:func:`_written`, then published on the store."""
    release = _written(settings, rows, release_id, tables)
    assert publish_release(settings, release)
    return release


@pytest.fixture(params=["files", "ducklake"])
def two_workers(
    settings: Settings, s3_env: S3Server, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[Settings, Settings]:
    """Two workers (own data dirs) on one lake on S3: its releases as files, or in a
    DuckLake catalog in PostgreSQL."""
    url = f"s3://{s3_env.bucket}/{tmp_path.name}"
    builder = settings.model_copy(update={"lake_url": url})
    if request.param == "ducklake":
        builder = builder.model_copy(
            update={"lake_catalog_url": request.getfixturevalue("catalog_url")}
        )
    reader = builder.model_copy(update={"data_dir": tmp_path / "other-worker"})
    return builder, reader


@pytest.fixture
def catalog_workers(
    settings: Settings, s3_env: S3Server, tmp_path: Path, catalog_url: SecretStr
) -> tuple[Settings, Settings]:
    """Two workers on one lake on S3 whose commits are in a DuckLake catalog."""
    url = f"s3://{s3_env.bucket}/{tmp_path.name}"
    builder = settings.model_copy(update={"lake_url": url, "lake_catalog_url": catalog_url})
    return builder, builder.model_copy(update={"data_dir": tmp_path / "other-worker"})


def _served(settings: Settings) -> dict[str, int]:
    fs = load_features("customer_features", purpose="churn", settings=settings)
    assert fs.file.is_relative_to(settings.data_dir)
    return dict(zip(fs.frame["customer_unique_token"], fs.frame["orders"], strict=True))


def test_a_release_published_on_one_worker_is_served_on_another(two_workers) -> None:
    builder, reader = two_workers
    release = _published(builder)
    assert not release_file(reader, date.fromisoformat(AS_OF)).exists()
    fs = load_features("customer_features", purpose="churn", settings=reader)
    assert fs.release.release_id == release.release_id
    assert _served(reader) == TOKENS
    served = read_release(reader, date.fromisoformat(AS_OF))
    assert served.to_json() == read_release(builder, date.fromisoformat(AS_OF)).to_json()
    # with a catalog the release is its row, not a file on the store
    has_file = lake_store(builder).sha256(release_rel(AS_OF)) is not None
    assert has_file == (builder.lake_catalog_url is None)


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


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_another_engine_reads_the_published_snapshots_from_the_catalog(
    catalog_workers, catalog_url: SecretStr, s3_env: S3Server
) -> None:
    """Plain DuckDB with only the DuckLake, PostgreSQL and httpfs extensions: the feature
    tables hold exactly the published snapshots' rows, the release its row."""
    builder, _ = catalog_workers
    release = _published(builder, tables=["customer_features", "seller_features"])
    con = other_engine(catalog_url, s3_env.env())
    for table in ("customer_features", "seller_features"):
        assert _count(con, f"SELECT count(*) FROM lake.features__{table}") == len(TOKENS)
    rows = con.execute("SELECT as_of, release_id, release FROM lake._pipelines_releases")
    [(as_of, release_id, text)] = rows.fetchall()
    assert (as_of, release_id) == (AS_OF, "r1") and Release.from_json(text) == release
    [(author, message)] = con.execute(
        "SELECT author, commit_message FROM ducklake_snapshots('lake') "
        "WHERE commit_message LIKE 'publish features%'"
    ).fetchall()
    assert (author, message) == ("run-1", f"publish features as of {AS_OF}")


def test_a_republished_date_replaces_the_release_and_its_rows(
    catalog_workers, catalog_url: SecretStr, s3_env: S3Server
) -> None:
    builder, reader = catalog_workers
    _published(builder, tables=["customer_features", "seller_features"])
    assert _served(reader) == TOKENS  # the reader caches release r1 and its snapshot
    catalog = catalog_of(lake_store(builder))
    assert catalog is not None
    before = current_snapshot(catalog)
    _published(builder, {"p1:a": 3}, release_id="r2")  # seller_features no longer released
    assert _served(reader) == {"p1:a": 3}  # the catalog decides, not the cached r1
    assert read_release(reader, date.fromisoformat(AS_OF)).release_id == "r2"
    con = other_engine(catalog_url, s3_env.env())
    assert con.execute("SELECT customer_unique_token, orders FROM lake.features__customer_features"
                       ).fetchall() == [("p1:a", 3)]  # fmt: skip
    assert _count(con, "SELECT count(*) FROM lake.features__seller_features") == 0
    assert _count(con, "SELECT count(*) FROM lake._pipelines_releases") == 1
    then = f"lake.features__customer_features AT (VERSION => {before})"
    assert _count(con, f"SELECT count(*) FROM {then}") == len(TOKENS)  # time travel
    assert [r.release_id for r in releases_at(reader, before)] == ["r1"]


def test_publications_of_several_dates_at_once_all_land(
    catalog_workers, tmp_path: Path, catalog_url: SecretStr, s3_env: S3Server
) -> None:
    """Three workers publish three dates at the same time (the catalog's transactions,
    retried on a conflict): every release and every snapshot's rows are there."""
    builder, _ = catalog_workers
    _published(builder)  # the tables exist
    days = ["2018-01-04", "2018-01-05", "2018-01-06"]
    workers = [builder.model_copy(update={"data_dir": tmp_path / d}) for d in days]
    released = [_written(w, release_id=d, as_of=d) for w, d in zip(workers, days, strict=True)]
    failed: list[BaseException] = []

    def publish(worker: Settings, release: Release) -> None:
        try:
            publish_release(worker, release)
        except BaseException as exc:  # reported below
            failed.append(exc)

    threads = [
        threading.Thread(target=publish, args=pair) for pair in zip(workers, released, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    con = other_engine(catalog_url, s3_env.env())
    as_ofs = [r[0] for r in con.execute("SELECT as_of FROM lake._pipelines_releases ORDER BY 1")
              .fetchall()]  # fmt: skip
    assert as_ofs == [AS_OF, *days]
    assert _count(con, "SELECT count(*) FROM lake.features__customer_features") == 4 * len(TOKENS)


def test_releases_as_of_a_snapshot_need_the_catalog(two_workers) -> None:
    builder, _ = two_workers
    if builder.lake_catalog_url is not None:
        catalog = catalog_of(lake_store(builder))
        assert catalog is not None
        empty = current_snapshot(catalog)
        _published(builder)
        assert releases_at(builder, empty) == []  # before the first release: none yet
        return
    _published(builder)
    with pytest.raises(ValueError, match="lake_catalog_url"):
        releases_at(builder, 1)


def test_an_erasure_republishes_and_expires_the_snapshots_that_reach_the_old_object(
    catalog_workers, catalog_url: SecretStr, s3_env: S3Server
) -> None:
    """What erasure does with the releases on the store (``pull_releases``, a rewrite of the
    cached snapshot, ``push_releases``): the new release goes through the same commit, the
    old object is deleted, and no snapshot kept still reads the erased row."""
    builder, eraser = catalog_workers
    old = _published(builder)
    pulled = pull_releases(eraser)
    assert list(pulled) == [AS_OF]
    path = snapshot_file(eraser, "customer_features", date.fromisoformat(AS_OF))
    pl.read_parquet(path).filter(pl.col("customer_unique_token") != "p1:b").write_parquet(path)
    release = read_release(eraser, date.fromisoformat(AS_OF))
    release.features["customer_features"]["decided_sha256"] = file_sha256(path)
    write_release(eraser, release)
    old_rel = snapshot_rel("customer_features", AS_OF, old.features["customer_features"]
                           ["decided_sha256"])  # fmt: skip
    assert push_releases(eraser, pulled) == [old_rel]
    assert lake_store(eraser).sha256(old_rel) is None
    assert _served(builder) == {"p1:a": 2}
    con = other_engine(catalog_url, s3_env.env())
    kept = [r[0] for r in con.execute("SELECT snapshot_id FROM ducklake_snapshots('lake')")
            .fetchall()]  # fmt: skip
    read = 0
    for snapshot in kept:
        try:
            rows = con.execute(
                f"SELECT customer_unique_token FROM lake.features__customer_features "
                f"AT (VERSION => {snapshot})"
            ).fetchall()
        except duckdb.CatalogException:  # before the table's first commit
            continue
        assert ("p1:b",) not in rows, snapshot
        read += 1
    assert read >= 1


def test_a_local_lake_publishes_nothing(settings: Settings) -> None:
    assert not publish_release(settings, _unpublished(settings))


def _unpublished(settings: Settings) -> Release:
    return Release("r0", AS_OF, None, [], [], "2018-01-01T00:00:00+00:00")
