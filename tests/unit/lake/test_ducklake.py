"""DuckLake as the lake's table format on an object store (issue #19): commits are catalog
transactions in PostgreSQL, data files our content-addressed objects on moto's S3, every
commit a snapshot (time travel, history), reads still verified by SHA-256."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from pydantic import SecretStr

from pipelines.cli import main
from pipelines.lake.ducklake import CatalogError
from pipelines.lake.ducklake.commit import CatalogSchemaError
from pipelines.lake.ducklake.history import current_snapshot, history
from pipelines.lake.gc import collect
from pipelines.lake.manifest import MANIFEST_NAME
from pipelines.lake.partitions import LakeIntegrityError, partitions, verified_data_files
from pipelines.lake.publish import remove_partition
from pipelines.lake.storage import LakeStorage, catalog_of, lake_storage, lake_store
from pipelines.lake.stored import delete_unreferenced, unreferenced
from pipelines.settings import PROJECT_DIR, Settings
from tests.other_engine import ids, other_engine
from tests.s3server import S3Server
from tests.unit.lake.ducklake_writer import publish

DAYS = ["dt=2024-01-01", "dt=2024-01-02"]


@pytest.fixture
def root(s3_env: S3Server, tmp_path: Path) -> str:
    return f"s3://{s3_env.bucket}/{tmp_path.name}"


@pytest.fixture
def store(root: str, catalog_url: SecretStr) -> LakeStorage:
    return lake_storage(root, catalog=catalog_url)


def test_commit_and_listing_equal_the_manifest_object_layout(
    store: LakeStorage, root: str, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path
) -> None:
    plain = lake_storage(root + "-plain")  # the same data on a store without a catalog
    for lake in (store, plain):
        publish(lake, "orders", DAYS[0], [1, 2, 3], tmp_path)
        publish(lake, "orders", DAYS[1], [4, 5], tmp_path)
    listed, expected = partitions(store, "orders"), partitions(plain, "orders")
    assert [(p.name, p.manifest, p.data_rel) for p in listed] == [
        (p.name, p.manifest, p.data_rel) for p in expected
    ]
    assert MANIFEST_NAME not in store.listdir(f"orders/{DAYS[0]}")  # the catalog commits
    files = verified_data_files(listed)
    con = other_engine(catalog_url, s3_env.env())
    counts = sum(p.manifest.counts.loaded for p in listed)
    assert con.execute("SELECT count(*) FROM lake.orders").fetchone() == (counts,)
    union = f"SELECT id FROM read_parquet({files!r})"
    assert ids(con, "SELECT id FROM lake.orders") == ids(con, union) == [1, 2, 3, 4, 5]


def test_a_republished_partition_replaces_the_old_and_time_travel_lists_it(
    store: LakeStorage, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path, capsys
) -> None:
    publish(store, "orders", DAYS[0], [1, 2, 3], tmp_path)
    catalog = catalog_of(store)
    assert catalog is not None
    before = current_snapshot(catalog)
    [old] = partitions(store, "orders")
    publish(store, "orders", DAYS[0], [1, 2, 3, 4], tmp_path)
    [new] = partitions(store, "orders")
    assert new.manifest.counts.loaded == 4 and new.data_rel != old.data_rel
    [then] = partitions(store, "orders", snapshot=before)
    assert then.manifest == old.manifest
    con = other_engine(catalog_url, s3_env.env())
    assert ids(con, "SELECT id FROM lake.orders") == [1, 2, 3, 4]
    assert ids(con, f"SELECT id FROM lake.orders AT (VERSION => {before})") == [1, 2, 3]
    commits = history(catalog, "orders")
    assert [(c.message, c.run_id, c.dataset_version) for c in commits] == [
        (f"publish orders/{DAYS[0]}", f"run-{DAYS[0]}", m.dataset_version)
        for m in (old.manifest, new.manifest)
    ]
    assert commits[0].snapshot == before

    os.environ["PIPELINES_LAKE_URL"] = store.root
    os.environ["PIPELINES_LAKE_CATALOG_URL"] = catalog_url.get_secret_value()
    os.environ["PIPELINES_DATA_DIR"] = str(tmp_path / "data")
    try:
        assert main(["lake", "history", "--table", "orders"]) == 0
        out = capsys.readouterr().out
        assert f"snapshot {before}" in out and new.manifest.dataset_version in out
        assert main(["lake", "partitions", "--table", "orders", "--snapshot", str(before)]) == 0
        assert f"dataset {old.manifest.dataset_version}  loaded 3" in capsys.readouterr().out
    finally:
        for name in ("PIPELINES_LAKE_URL", "PIPELINES_LAKE_CATALOG_URL", "PIPELINES_DATA_DIR"):
            del os.environ[name]


def test_a_changed_object_is_still_refused(store: LakeStorage, tmp_path: Path) -> None:
    publish(store, "orders", DAYS[0], [1, 2, 3], tmp_path)
    [part] = partitions(store, "orders")
    other = tmp_path / "other.parquet"
    duckdb.execute(f"COPY (SELECT 9 AS id, 'x' AS v) TO '{other}'")
    store.put(other, part.data_rel)
    with pytest.raises(LakeIntegrityError, match="does not match its manifest"):
        verified_data_files([part])


def _writer(root: str, out: Path, catalog_url: SecretStr, *args: str) -> subprocess.Popen[bytes]:
    """``tests/unit/lake/ducklake_writer.py`` in a process of its own."""
    env = {**os.environ, "PIPELINES_LAKE_CATALOG_URL": catalog_url.get_secret_value()}
    flags = [a for a in args if a.startswith("--")]
    rest = [a for a in args if not a.startswith("--")]
    argv = [sys.executable, "-m", "tests.unit.lake.ducklake_writer", *flags, root, str(out), *rest]
    return subprocess.Popen(argv, env=env, cwd=PROJECT_DIR, stderr=subprocess.PIPE)


def test_two_processes_committing_partitions_of_one_table_at_once_both_land(
    store: LakeStorage, root: str, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path
) -> None:
    publish(store, "orders", "dt=2024-02-09", [1], tmp_path)  # the tables exist
    days = [f"dt=2024-02-0{n}" for n in range(1, 9)]
    writers = [_writer(root, tmp_path, catalog_url, "orders", *days[i::2]) for i in range(2)]
    for w in writers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err.decode()[-2000:]
    listed = partitions(store, "orders")
    assert [p.name for p in listed] == [*days, "dt=2024-02-09"]
    con = other_engine(catalog_url, s3_env.env())
    assert con.execute("SELECT count(*) FROM lake.orders").fetchone() == (81,)


def test_processes_attaching_a_new_catalog_at_once_all_attach(
    root: str, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path
) -> None:
    """The first tasks of a new deployment attach its empty catalog at the same moment: one
    initialises it, the others attach after (PostgreSQL refused them while it did)."""
    stores = [lake_storage(root, env=s3_env.env(), catalog=catalog_url) for _ in range(4)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def attach(store: LakeStorage) -> None:
        catalog = catalog_of(store)
        assert catalog is not None
        start.wait(timeout=120)
        try:
            catalog.cursor().close()  # each its own DuckDB instance and PostgreSQL sessions
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attach, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    for number, store in enumerate(stores, start=1):
        publish(store, "orders", f"dt=2024-03-0{number}", [number], tmp_path)
    assert len(partitions(stores[0], "orders")) == len(stores)


def test_a_writer_killed_before_its_commit_leaves_nothing_visible(
    store: LakeStorage, root: str, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path
) -> None:
    publish(store, "orders", DAYS[0], [1, 2], tmp_path)
    [old] = partitions(store, "orders")
    killed = _writer(root, tmp_path, catalog_url, "--die-at-commit", "orders", "dt=2024-01-01")
    killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL
    [still] = partitions(store, "orders")
    assert still.manifest == old.manifest
    assert any("/data-" in rel for rel in unreferenced(store, "orders"))  # its objects only
    con = other_engine(catalog_url, s3_env.env())
    assert ids(con, "SELECT id FROM lake.orders") == [1, 2]


def test_retention_removes_the_partition_and_its_history(
    store: LakeStorage, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path
) -> None:
    publish(store, "orders", DAYS[0], [1, 2], tmp_path)
    publish(store, "orders", DAYS[1], [3], tmp_path)
    catalog = catalog_of(store)
    assert catalog is not None
    published = current_snapshot(catalog)
    first, _ = partitions(store, "orders")
    assert remove_partition(first) == first.manifest
    assert [p.name for p in partitions(store, "orders")] == [DAYS[1]]
    assert store.listdir(f"orders/{DAYS[0]}") == []
    con = other_engine(catalog_url, s3_env.env())
    assert ids(con, "SELECT id FROM lake.orders") == [3]
    with pytest.raises(CatalogError, match="no listing as of snapshot"):
        partitions(store, "orders", snapshot=published)
    assert history(catalog, "orders")[-1].message == f"remove orders/{DAYS[0]}"


def test_an_erasure_expires_every_snapshot_that_reaches_the_erased_rows(
    store: LakeStorage, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path
) -> None:
    subject = 2
    publish(store, "orders", DAYS[1], [7], tmp_path)
    catalog = catalog_of(store)
    assert catalog is not None
    before = current_snapshot(catalog)  # the subject's rows not published yet
    holding = []
    for rows in ([1, subject], [1, subject, 3]):  # a re-run: two versions hold the subject
        publish(store, "orders", DAYS[0], rows, tmp_path)
        holding.append(current_snapshot(catalog))
    # the erasure's rewrite: publish without the subject, delete the superseded objects
    publish(store, "orders", DAYS[0], [1, 3], tmp_path)
    deleted = delete_unreferenced(store, "orders", DAYS[0])
    assert len(deleted) == 2  # both earlier data objects (the empty quarantine is shared)
    con = other_engine(catalog_url, s3_env.env())
    kept = [
        int(r[0])
        for r in con.execute("SELECT snapshot_id FROM ducklake_snapshots('lake')").fetchall()
    ]
    assert before in kept  # history before the subject's rows stays
    assert not set(holding) & set(kept)  # expired
    assert [c.partition for c in history(catalog, "orders")] == [DAYS[1], DAYS[0]]
    for snapshot in (s for s in kept if s >= before):
        assert subject not in ids(con, f"SELECT id FROM lake.orders AT (VERSION => {snapshot})")
    assert ids(con, "SELECT id FROM lake.orders") == [1, 3, 7]


def test_gc_of_a_superseded_object_expires_the_snapshots_that_read_it(
    store: LakeStorage, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path
) -> None:
    publish(store, "orders", DAYS[0], [1, 2], tmp_path)
    catalog = catalog_of(store)
    assert catalog is not None
    old = current_snapshot(catalog)
    publish(store, "orders", DAYS[0], [1, 2, 3], tmp_path)
    later = datetime.now(UTC) + timedelta(hours=1)
    found = collect(store, ["orders"], grace=timedelta(0), now=later, delete=True)
    assert [g.deleted for g in found] == [True]
    con = other_engine(catalog_url, s3_env.env())
    kept = [
        int(r[0])
        for r in con.execute("SELECT snapshot_id FROM ducklake_snapshots('lake')").fetchall()
    ]
    assert old not in kept
    for snapshot in (s for s in kept if s > old):  # each readable: no object is missing
        assert ids(con, f"SELECT id FROM lake.orders AT (VERSION => {snapshot})") == [1, 2, 3]


def test_new_columns_are_added_and_a_changed_type_is_refused_by_name(
    store: LakeStorage, catalog_url: SecretStr, s3_env: S3Server, tmp_path: Path
) -> None:
    publish(store, "orders", DAYS[0], [1], tmp_path)
    publish(store, "orders", DAYS[1], [2], tmp_path, extra=", 1.5::DOUBLE AS w")
    con = other_engine(catalog_url, s3_env.env())
    rows = con.execute("SELECT id, w FROM lake.orders ORDER BY id").fetchall()
    assert rows == [(1, None), (2, 1.5)]
    with pytest.raises(CatalogSchemaError, match=r"orders: column w is DOUBLE .* but VARCHAR"):
        publish(store, "orders", "dt=2024-01-03", [3], tmp_path, extra=", 'x' AS w")
    assert [p.name for p in partitions(store, "orders")] == DAYS  # nothing of it visible


def test_a_ducklake_file_catalog_and_the_settings_edges(
    root: str, tmp_path: Path, settings: Settings
) -> None:
    local = SecretStr(str(tmp_path / "lake.ducklake"))
    store = lake_storage(root, catalog=local)
    publish(store, "orders", DAYS[0], [1, 2], tmp_path)
    [part] = partitions(store, "orders")
    assert part.manifest.counts.loaded == 2
    assert (tmp_path / "lake.ducklake").is_file()

    assert settings.model_copy(update={"lake_catalog_url": local}).lake_catalog_url == local
    with pytest.raises(ValueError, match="lake_catalog_url must be a postgresql:// URL"):
        Settings(lake_catalog_url="mysql://db/lake")
    with pytest.raises(ValueError, match=r"lake_catalog_url must be .* \.ducklake file"):
        Settings(lake_catalog_url=str(tmp_path / "lake.db"))
    with pytest.raises(ValueError, match="needs the lake on an object store; set lake_url"):
        lake_store(settings.model_copy(update={"lake_catalog_url": local}))
    with pytest.raises(ValueError, match=r"as-of listing .* needs the lake's DuckLake catalog"):
        partitions(lake_storage(root + "-plain"), "orders", snapshot=1)
