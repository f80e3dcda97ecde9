"""The lake on an S3-compatible store (moto's server): ingestion publishes there, the quality
gate and the warehouse read it verified, and a writer killed before its manifest leaves
nothing visible (issue #19)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from pydantic import SecretStr

from pipelines.contracts import ContractSet
from pipelines.ingest import ingest_table
from pipelines.lake.ducklake.history import history
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import LakeIntegrityError, partitions, verified_data_file
from pipelines.lake.storage import LakeStorage, catalog_of, lake_store
from pipelines.lake.stored import unreferenced
from pipelines.protection import KeyRing
from pipelines.quality.runner import validate_partition
from pipelines.settings import PROJECT_DIR, Settings
from pipelines.warehouse.build import build_features, snapshot_rows
from pipelines.warehouse.lake_views import register_lake, select_partitions
from tests.factories import DAY, clean_day, write_day
from tests.other_engine import other_engine
from tests.s3server import S3Server

INTERVAL = Interval.parse(DAY, "2018-01-02")
TABLES = ("customers", "orders", "products", "sellers", "order_items")


@pytest.fixture
def s3_lake(
    settings: Settings,
    keyring: KeyRing,
    contracts: ContractSet,
    write_landing,
    s3_env: S3Server,
    pg_url: str,
    tmp_path: Path,
) -> Settings:
    """A day ingested into ``s3://lake/<test>``; the worker's local folders hold no data (the
    shared state, e.g. the key registry, is on the store and locked in PostgreSQL)."""
    on_s3 = settings.model_copy(
        update={
            "lake_url": f"s3://{s3_env.bucket}/{tmp_path.name}",
            "lock_url": SecretStr(pg_url),
        }
    )
    return _ingested(on_s3, keyring, contracts, write_landing)


def _ingested(on_s3: Settings, keyring: KeyRing, contracts: ContractSet, write_landing) -> Settings:
    write_day(write_landing, contracts, clean_day())
    for table in TABLES:
        ingest_table(table, INTERVAL, on_s3, keyring=keyring, contracts=contracts)
    return on_s3


def _count(store: LakeStorage, uri: str) -> int:
    con = duckdb.connect()
    store.prepare(con)
    row = con.execute("SELECT count(*) FROM read_parquet(?)", [uri]).fetchone()
    assert row is not None
    return int(row[0])


def test_ingestion_publishes_to_s3_and_the_gate_and_warehouse_read_it_verified(
    s3_lake: Settings, keyring: KeyRing, contracts: ContractSet
) -> None:
    store = lake_store(s3_lake)
    assert store.root.startswith("s3://")
    assert not list(s3_lake.lake.glob("*/dt=*")), "no partition in the local lake folder"
    [part] = partitions(store, "order_items")
    assert (
        part.data_rel == f"order_items/dt=2018-01-01/data-{part.manifest.dataset_version}.parquet"
    )
    assert _count(store, verified_data_file(part)) == part.manifest.counts.loaded > 0

    validation = validate_partition(
        "order_items", INTERVAL, s3_lake, run_id="r1", contracts=contracts, keyring=keyring
    )
    assert validation.failed_critical == []
    assert validation.partition == "dt=2018-01-01"

    con = duckdb.connect()
    register_lake(con, select_partitions(store, contracts), contracts=contracts)
    paths = con.execute("SELECT data_path FROM lake.partitions").fetchall()
    assert paths and all(p.startswith(f"{store.root}/") for (p,) in paths)
    row = con.execute("SELECT count(*) FROM lake.order_items").fetchone()
    assert row == (part.manifest.counts.loaded,)


def test_with_a_ducklake_catalog_ingestion_the_gate_and_the_warehouse_read_it(
    settings: Settings,
    keyring: KeyRing,
    contracts: ContractSet,
    write_landing,
    s3_env: S3Server,
    pg_url: str,
    catalog_url: SecretStr,
    tmp_path: Path,
) -> None:
    on_s3 = settings.model_copy(
        update={
            "lake_url": f"s3://{s3_env.bucket}/{tmp_path.name}",
            "lock_url": SecretStr(pg_url),
            "lake_catalog_url": catalog_url,
        }
    )
    _ingested(on_s3, keyring, contracts, write_landing)
    store = lake_store(on_s3)
    catalog = catalog_of(store)
    assert catalog is not None
    [part] = partitions(store, "order_items")
    assert "manifest.json" not in store.listdir(f"order_items/{part.name}")  # catalog commits
    [commit] = history(catalog, "order_items")
    assert (commit.run_id, commit.dataset_version) == (
        part.manifest.run_id,
        part.manifest.dataset_version,
    )

    validation = validate_partition(
        "order_items", INTERVAL, on_s3, run_id="r1", contracts=contracts, keyring=keyring
    )
    assert validation.failed_critical == []
    con = duckdb.connect()
    register_lake(con, select_partitions(store, contracts), contracts=contracts)
    row = con.execute("SELECT count(*) FROM lake.order_items").fetchone()
    assert row == (part.manifest.counts.loaded,)

    other = other_engine(catalog_url, s3_env.env())  # only DuckDB's extensions, the catalog
    for table in TABLES:
        loaded = sum(p.manifest.counts.loaded for p in partitions(store, table))
        assert other.execute(f"SELECT count(*) FROM lake.{table}").fetchone() == (loaded,)


def test_a_changed_object_on_s3_is_never_read(
    s3_lake: Settings, contracts: ContractSet, tmp_path: Path
) -> None:
    store = lake_store(s3_lake)
    [part] = partitions(store, "order_items")
    other = tmp_path / "other.parquet"
    duckdb.execute(f"COPY (SELECT 1 AS x) TO '{other}'")
    store.put(other, part.data_rel)  # same key, other bytes
    with pytest.raises(LakeIntegrityError) as error:
        validate_partition("order_items", INTERVAL, s3_lake, run_id="r2", contracts=contracts)
    assert part.data_uri in str(error.value)
    with pytest.raises(LakeIntegrityError):
        register_lake(duckdb.connect(), select_partitions(store, contracts), contracts=contracts)


def _killed_writer(settings: Settings, keyring: KeyRing, table: str) -> int:
    env = {
        **os.environ,
        "PIPELINES_DATA_DIR": str(settings.data_dir),
        "PIPELINES_LAKE_URL": str(settings.lake_url),
        "PIPELINES_KEYS": keyring.to_json(),
        "PIPELINES_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "PIPELINES_DUCKDB_THREADS": str(settings.duckdb_threads),
    }
    argv = [sys.executable, "-m", "tests.unit.lake.killed_writer", table, DAY, "2018-01-02"]
    return subprocess.run(argv, env=env, cwd=PROJECT_DIR, capture_output=True).returncode


def test_a_writer_killed_before_its_manifest_leaves_the_previous_version_whole(
    s3_lake: Settings, keyring: KeyRing, contracts: ContractSet, write_landing, tmp_path: Path
) -> None:
    store = lake_store(s3_lake)
    [old] = partitions(store, "customers")
    rows = clean_day()["customers"]
    rows.append({**rows[0], "customer_id": "c" + "9" * 31})  # one more customer
    write_day(write_landing, contracts, {"customers": rows})

    assert _killed_writer(s3_lake, keyring, "customers") == -signal.SIGKILL
    [still] = partitions(store, "customers")
    assert still.manifest == old.manifest  # readers see the previous version, whole
    assert _count(store, verified_data_file(still)) == old.manifest.counts.loaded
    left = unreferenced(store, "customers")
    assert any("/data-" in rel for rel in left), "the killed writer's data objects were written"

    rerun = ingest_table("customers", INTERVAL, s3_lake, keyring=keyring, contracts=contracts)
    [new] = partitions(store, "customers")
    assert new.manifest.counts.loaded == old.manifest.counts.loaded + 1
    assert new.data_rel in left  # the re-run wrote the same content: the same hash
    assert rerun.manifest.dataset_version == new.manifest.dataset_version
    assert unreferenced(store, "customers") == sorted(
        {old.data_rel, old.quarantine_rel} - {new.quarantine_rel}
    )

    local = s3_lake.model_copy(update={"lake_url": None, "lake_dir": tmp_path / "local-lake"})
    clean = ingest_table("customers", INTERVAL, local, keyring=keyring, contracts=contracts)
    assert clean.manifest.dataset_version == new.manifest.dataset_version  # the clean hash


@pytest.mark.integration  # a dbt build (integration tier)
def test_the_feature_build_reads_the_lake_on_s3(
    settings: Settings,
    keyring: KeyRing,
    contracts: ContractSet,
    write_landing,
    s3_env: S3Server,
    pg_url: str,
    tmp_path: Path,
) -> None:
    """Ingestion -> quality gate -> feature build, with the lake on S3: dbt's DuckDB reads
    the ``lake.*`` views' ``s3://`` files through httpfs (``warehouse/dbt_lake.py``)."""
    on_s3 = settings.model_copy(
        update={
            "lake_url": f"s3://{s3_env.bucket}/{tmp_path.name}",
            "lock_url": SecretStr(pg_url),
        }
    )
    write_day(write_landing, contracts, clean_day())
    for table in contracts.load_order():
        ingest_table(table, INTERVAL, on_s3, keyring=keyring, contracts=contracts)
        validation = validate_partition(
            table, INTERVAL, on_s3, run_id="r1", contracts=contracts, keyring=keyring
        )
        assert validation.failed_critical == [], table
    assert not list(on_s3.lake.glob("*/dt=*")), "no partition in the local lake folder"

    result = build_features(on_s3, date(2018, 1, 2), release_id="s3", run_id="r1")
    assert result.success, result.errors
    with duckdb.connect(str(on_s3.warehouse), read_only=True) as con:
        paths = con.execute("SELECT DISTINCT data_path FROM lake.partitions").fetchall()
    assert paths and all(p.startswith("s3://") for (p,) in paths)
    assert snapshot_rows(on_s3, date(2018, 1, 2)).get("customer_features", 0) > 0
