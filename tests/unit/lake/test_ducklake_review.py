"""Review of the DuckLake wiring (issue #19): re-publication, credentials, fork safety."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb
import pytest
from pydantic import SecretStr

from pipelines.lake.ducklake import LakeCatalog
from pipelines.lake.ducklake.connection import ALIAS
from pipelines.lake.ducklake.history import current_snapshot, manifests, snapshot_now
from pipelines.lake.ducklake.releases import releases
from pipelines.lake.partitions import partitions
from pipelines.lake.storage import LakeStorage, catalog_of, lake_storage
from pipelines.lake.stored import delete_unreferenced
from pipelines.pgstate import connect
from pipelines.sql import q
from tests.other_engine import ids, other_engine
from tests.pgdb import ADMIN_URL
from tests.s3server import S3Server
from tests.unit.lake.ducklake_writer import publish

DAY = "dt=2024-01-01"


@pytest.fixture
def store(s3_env: S3Server, tmp_path: Path, catalog_url: SecretStr) -> LakeStorage:
    return lake_storage(f"s3://{s3_env.bucket}/{tmp_path.name}", catalog=catalog_url)


def test_the_same_content_published_again_keeps_one_copy_of_its_rows(
    store: LakeStorage, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path
) -> None:
    publish(store, "orders", DAY, [1, 2, 3], tmp_path / "a")
    publish(store, "orders", DAY, [1, 2, 3], tmp_path / "b")
    [part] = partitions(store, "orders")
    con = other_engine(catalog_url, s3_env.env())
    assert ids(con, "SELECT id FROM lake.orders") == [1, 2, 3]
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
    con = other_engine(catalog_url, s3_env.env())
    assert ids(con, "SELECT id FROM lake.orders") == [1, 2, 3]
    assert ids(con, f"SELECT id FROM lake.orders AT (VERSION => {middle})") == [4]
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


@pytest.fixture
def locked_out(catalog_url: SecretStr) -> Iterator[Callable[[], None]]:
    """A function that refuses new connections to the catalog's database and ends those
    open (a restart, a failover); allowed again after the test."""
    name = urlsplit(catalog_url.get_secret_value()).path.lstrip("/")
    admin = connect(ADMIN_URL, autocommit=True)

    def lock_out() -> None:
        with admin.cursor() as cur:
            cur.execute(f"ALTER DATABASE {q(name)} ALLOW_CONNECTIONS false")
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [name],
            )

    yield lock_out
    with admin.cursor() as cur:
        cur.execute(f"ALTER DATABASE {q(name)} ALLOW_CONNECTIONS true")
    admin.close()


def test_a_lost_catalog_database_is_reported_without_its_password(
    catalog_url: SecretStr, locked_out: Callable[[], None], tmp_path: Path
) -> None:
    parts = urlsplit(catalog_url.get_secret_value())  # trust auth: any password connects
    netloc = f"{parts.username}:pw-not-to-show@{parts.hostname}:{parts.port}"
    url = SecretStr(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")))
    catalog = LakeCatalog(url, f"s3://bucket/{tmp_path.name}", {})
    assert current_snapshot(catalog) >= 0  # attached
    locked_out()
    for read in (
        lambda: current_snapshot(catalog),
        lambda: manifests(catalog, "orders"),
        lambda: releases(catalog),
        lambda: catalog.transaction("a commit", snapshot_now),
    ):
        with pytest.raises(duckdb.Error) as caught:
            read()
        assert "pw-not-to-show" not in str(caught.value)
        assert catalog.display in str(caught.value)  # still names the catalog


def test_a_forked_child_uses_the_catalog_and_the_store_and_the_parent_still_commits(
    store: LakeStorage, tmp_path: Path
) -> None:
    publish(store, "orders", DAY, [1, 2, 3], tmp_path / "a")  # the parent has attached
    catalog = catalog_of(store)
    assert catalog is not None
    before = current_snapshot(catalog)
    assert store.listdir("orders") == [DAY]  # and its httpfs connection
    pid = os.fork()
    if pid == 0:  # a worker forked by Celery or multiprocessing, which leave by os._exit
        code = 1
        try:
            [part] = partitions(store, "orders")
            code = 0 if store.listdir("orders") == [DAY] and part.name == DAY else 2
        finally:
            os._exit(code)
    status = _wait(pid)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    publish(store, "orders", DAY, [4], tmp_path / "b")
    assert current_snapshot(catalog) > before


def _wait(pid: int) -> int:
    """The child's exit status; a child still running after a minute (hung) is killed."""
    for _ in range(600):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _catalog_rows(catalog_url: SecretStr, value: str) -> list[str]:
    """The rows (``<table>: <row as text>``) of the catalog's PostgreSQL database that hold
    ``value``."""
    con = connect(catalog_url)
    try:
        with con.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
            names = [r[0] for r in cur.fetchall()]
            texts = []
            for name in names:
                cur.execute(f"SELECT t::text FROM {q(name)} t")
                texts += [f"{name}: {r[0]}" for r in cur.fetchall()]
    finally:
        con.close()
    return [t for t in texts if value in t]


def test_after_the_objects_go_the_catalog_holds_no_value_of_theirs(
    store: LakeStorage, catalog_url: SecretStr, tmp_path: Path
) -> None:
    publish(store, "orders", DAY, [1, 2, 987654], tmp_path / "a")  # 'v987654': the person
    [old] = partitions(store, "orders")
    assert _catalog_rows(catalog_url, "v987654")  # the catalog's statistics
    publish(store, "orders", DAY, [1, 2], tmp_path / "b")  # the erasure's rewrite
    assert delete_unreferenced(store, "orders", DAY) == [old.data_rel]  # same quarantine
    assert _catalog_rows(catalog_url, "v987654") == []
    # the narrowed statistics still bound the live rows: a later commit and a filtered count
    publish(store, "orders", "dt=2018-01-02", [5], tmp_path / "c")
    con = catalog_of(store)
    assert con is not None
    with con.session() as cur:
        found = cur.execute(f"SELECT count(*) FROM {ALIAS}.orders WHERE id > 3").fetchone()
        small = cur.execute(f"SELECT count(*) FROM {ALIAS}.orders WHERE id < 3").fetchone()
    assert found == (1,) and small == (2,)
