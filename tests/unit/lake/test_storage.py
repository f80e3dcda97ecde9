"""One storage interface for the lake: a local folder and an S3 bucket behave the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from pipelines.hashing import file_sha256
from pipelines.lake.manifest import MANIFEST_NAME, Manifest
from pipelines.lake.partitions import LakeIntegrityError
from pipelines.lake.storage import LakeStorage, lake_storage
from pipelines.lake.stored import publish_to, stored_partitions, verified_uri
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
        scratch = tmp_path / f"scratch-{rows}"
        scratch.mkdir()
        publish_to(storage, _manifest(data, quarantine, rows), data, quarantine, scratch)

    return publish


def test_a_published_partition_reads_back_verified(storage: LakeStorage, tmp_path: Path) -> None:
    _publish(storage, tmp_path)(5)
    [part] = stored_partitions(storage, "orders")
    assert part.manifest.counts.loaded == 5
    con = duckdb.connect()
    if storage.uri("x").startswith("s3://"):
        from pipelines.lake.extensions import s3_secret_from_env

        s3_secret_from_env(con)
    assert con.execute(f"SELECT count(*) FROM '{verified_uri(storage, part)}'").fetchone() == (5,)


def test_a_changed_data_file_is_refused_by_name(storage: LakeStorage, tmp_path: Path) -> None:
    _publish(storage, tmp_path)(5)
    [part] = stored_partitions(storage, "orders")
    other, _ = _files(tmp_path, 6)
    storage.put(other, part.rel("data.parquet"))
    with pytest.raises(LakeIntegrityError, match=r"orders/dt=2024-01-01/data.parquet does not"):
        verified_uri(storage, part)


def test_files_without_a_manifest_are_not_a_partition(storage: LakeStorage, tmp_path: Path) -> None:
    data, _ = _files(tmp_path, 3)
    storage.put(data, "orders/dt=2024-01-02/data.parquet")  # a writer died before its manifest
    assert stored_partitions(storage, "orders") == []
    _publish(storage, tmp_path)(4)
    assert [p.partition for p in stored_partitions(storage, "orders")] == ["dt=2024-01-01"]
    assert MANIFEST_NAME in storage.listdir("orders/dt=2024-01-01")
