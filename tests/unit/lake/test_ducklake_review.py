"""Review of the DuckLake wiring (issue #19): re-publication, credentials, fork safety."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from pydantic import SecretStr

from pipelines.lake.ducklake import LakeCatalog
from pipelines.lake.ducklake.history import current_snapshot
from pipelines.lake.extensions import load_extensions, s3_secret_from_env
from pipelines.lake.partitions import partitions
from pipelines.lake.storage import LakeStorage, catalog_of, lake_storage
from tests.s3server import S3Server
from tests.unit.lake.ducklake_writer import publish

DAY = "dt=2024-01-01"


@pytest.fixture
def store(s3_env: S3Server, tmp_path: Path, catalog_url: SecretStr) -> LakeStorage:
    return lake_storage(f"s3://{s3_env.bucket}/{tmp_path.name}", catalog=catalog_url)


def _engine(catalog_url: SecretStr, s3: S3Server) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load_extensions(con, ["ducklake", "postgres", "httpfs"])
    s3_secret_from_env(con, s3.env())
    con.execute(f"ATTACH 'ducklake:postgres:{catalog_url.get_secret_value()}' AS lake")
    return con


def _ids(con: duckdb.DuckDBPyConnection, sql: str) -> list[int]:
    return sorted(int(r[0]) for r in con.execute(sql).fetchall())


def test_the_same_content_published_again_keeps_one_copy_of_its_rows(
    store: LakeStorage, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path
) -> None:
    publish(store, "orders", DAY, [1, 2, 3], tmp_path / "a")
    publish(store, "orders", DAY, [1, 2, 3], tmp_path / "b")
    [part] = partitions(store, "orders")
    con = _engine(catalog_url, s3_env)
    assert _ids(con, "SELECT id FROM lake.orders") == [1, 2, 3]
    files = con.execute("SELECT data_file FROM ducklake_list_files('lake', 'orders')").fetchall()
    assert files == [(part.data_uri,)]


def test_an_object_published_again_after_it_was_replaced_is_read_once(
    store: LakeStorage, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path
) -> None:
    publish(store, "orders", DAY, [1, 2, 3], tmp_path / "a")
    publish(store, "orders", DAY, [4], tmp_path / "b")
    catalog = catalog_of(store)
    assert catalog is not None
    middle = current_snapshot(catalog)
    publish(store, "orders", DAY, [1, 2, 3], tmp_path / "c")  # back to the first object
    [part] = partitions(store, "orders")
    con = _engine(catalog_url, s3_env)
    assert _ids(con, "SELECT id FROM lake.orders") == [1, 2, 3]
    assert _ids(con, f"SELECT id FROM lake.orders AT (VERSION => {middle})") == [4]
    files = con.execute("SELECT data_file FROM ducklake_list_files('lake', 'orders')").fetchall()
    assert files == [(part.data_uri,)]


def test_repr_of_a_store_and_its_catalog_holds_no_credential() -> None:
    env = {"AWS_SECRET_ACCESS_KEY": "s3-key-not-to-show"}
    url = SecretStr("postgresql://u:pw-not-to-show@db.example:5432/lake")
    store = lake_storage("s3://bucket/lake", env=env, catalog=url)
    catalog = catalog_of(store)
    for text in (repr(store), repr(catalog), str(catalog)):
        assert "s3-key-not-to-show" not in text and "pw-not-to-show" not in text
    assert isinstance(catalog, LakeCatalog) and catalog.env == env  # still used to attach
