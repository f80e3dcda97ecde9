"""One storage interface for the lake: a local folder and an S3 bucket behave the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from pipelines.hashing import file_sha256
from pipelines.lake.manifest import DATA_NAME, MANIFEST_NAME, QUARANTINE_NAME, Manifest
from pipelines.lake.partitions import LakeIntegrityError, partitions, verified_data_file
from pipelines.lake.publish import publish_partition
from pipelines.lake.storage import LakeStorage, lake_storage
from pipelines.lake.stored import unreferenced
from tests.s3server import S3Server


def _files(tmp: Path, rows: int) -> tuple[Path, Path]:
    data, quarantine = tmp / f"data-{rows}.parquet", tmp / f"q-{rows}.parquet"
    duckdb.execute(f"COPY (SELECT range AS id FROM range({rows})) TO '{data}'")
    duckdb.execute(f"COPY (SELECT 1 AS id WHERE false) TO '{quarantine}'")
    return data, quarantine


def _manifest(data: Path, quarantine: Path, rows: int) -> Manifest:
    return Manifest.model_validate(
        {
            "table": "orders",
            "partition": "dt=2024-01-01",
            "interval_start": "2024-01-01T00:00:00+00:00",
            "interval_end": "2024-01-02T00:00:00+00:00",
            "contract_version": 1,
            "contract_fingerprint": "f",
            "run_id": None,
            "source_files": [],
            "counts": {"read": rows, "loaded": rows, "quarantined": 0},
            "quarantine_by_check": {},
            "dataset_version": file_sha256(data),
            "quarantine_version": file_sha256(quarantine),
            "columns": [],
            "key_versions": {},
            "key_fingerprints": {},
        }
    )


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> LakeStorage:
    if request.param == "local":
        return lake_storage(tmp_path / "lake")
    server: S3Server = request.getfixturevalue("s3_env")
    return lake_storage(f"s3://{server.bucket}/{tmp_path.name}")


Publish = Callable[[int], None]


def _publish(storage: LakeStorage, tmp_path: Path) -> Publish:
    def publish(rows: int) -> None:
        data, quarantine = _files(tmp_path, rows)
        with publish_partition(storage, "orders", "dt=2024-01-01", tmp_path / "scratch") as out:
            (out / DATA_NAME).write_bytes(data.read_bytes())
            (out / QUARANTINE_NAME).write_bytes(quarantine.read_bytes())
            _manifest(data, quarantine, rows).write(out)

    return publish


def test_a_published_partition_reads_back_verified(storage: LakeStorage, tmp_path: Path) -> None:
    _publish(storage, tmp_path)(5)
    [part] = partitions(storage, "orders")
    assert part.manifest.counts.loaded == 5
    con = duckdb.connect()
    storage.prepare(con)
    assert con.execute(f"SELECT count(*) FROM '{verified_data_file(part)}'").fetchone() == (5,)


def test_a_changed_data_file_is_refused_by_name(storage: LakeStorage, tmp_path: Path) -> None:
    _publish(storage, tmp_path)(5)
    [part] = partitions(storage, "orders")
    other, _ = _files(tmp_path, 6)
    storage.put(other, part.data_rel)
    with pytest.raises(LakeIntegrityError, match=r"orders/dt=2024-01-01/data.*\.parquet does not"):
        verified_data_file(part)


def test_files_without_a_manifest_are_not_a_partition(storage: LakeStorage, tmp_path: Path) -> None:
    data, _ = _files(tmp_path, 3)
    storage.put(data, "orders/dt=2024-01-02/data.parquet")  # a writer died before its manifest
    assert partitions(storage, "orders") == []
    _publish(storage, tmp_path)(4)
    assert [p.name for p in partitions(storage, "orders")] == ["dt=2024-01-01"]
    assert MANIFEST_NAME in storage.listdir("orders/dt=2024-01-01")


def test_a_republished_partition_leaves_its_old_files_unreferenced(tmp_path: Path, s3_env) -> None:
    """On an object store a re-publication writes new content-addressed keys, then the
    manifest: the old files stay (a reader of the old manifest still finds them) but no
    manifest names them; the same content again writes the same keys."""
    storage = lake_storage(f"s3://{s3_env.bucket}/{tmp_path.name}")
    publish = _publish(storage, tmp_path)
    publish(5)
    [first] = partitions(storage, "orders")
    assert unreferenced(storage, "orders") == []
    publish(7)
    [second] = partitions(storage, "orders")
    assert second.manifest.counts.loaded == 7
    assert unreferenced(storage, "orders") == [first.data_rel]
    publish(7)
    assert partitions(storage, "orders")[0].data_rel == second.data_rel
    assert unreferenced(storage, "orders") == [first.data_rel]


def test_scan_lists_one_level_with_sizes_the_same_on_both(storage: LakeStorage, tmp_path: Path):
    for rel, size in [("a/x.csv", 3), ("a/b/y.csv", 5), ("a/c.txt", 0), ("top.json", 2)]:
        local = tmp_path / "src" / rel.replace("/", "_")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(b"z" * size)
        storage.put(local, rel)
    top = storage.scan("")
    assert (top.folders, top.files) == (["a"], {"top.json": 2})
    inner = storage.scan("a")
    assert (inner.folders, inner.files) == (["b"], {"c.txt": 0, "x.csv": 3})
    assert storage.scan("missing") == storage.scan("a/b/y.csv") == type(top)([], {})
