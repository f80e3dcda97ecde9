"""A writer of a lake with a DuckLake catalog, in a process of its own:
``python -m tests.unit.lake.ducklake_writer ROOT OUT TABLE PARTITION...`` publishes one
partition per name (its rows: ``id`` = the partition's number * 1000 + 0..9) to the lake at
``ROOT`` with the catalog of ``PIPELINES_LAKE_CATALOG_URL``, staging under ``OUT``. With
``--die-at-commit`` it SIGKILLs itself when it is about to commit (its objects are on the
store by then)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import duckdb
from pydantic import SecretStr

from pipelines.hashing import file_sha256
from pipelines.lake import stored
from pipelines.lake.manifest import DATA_NAME, QUARANTINE_NAME, Manifest
from pipelines.lake.publish import publish_partition
from pipelines.lake.storage import LakeStorage, lake_storage


def manifest(table: str, partition: str, folder: Path, rows: int) -> Manifest:
    day = partition.removeprefix("dt=")
    return Manifest.model_validate(
        {
            "table": table, "partition": partition,
            "interval_start": f"{day}T00:00:00+00:00", "interval_end": f"{day}T23:59:59+00:00",
            "contract_version": 1, "contract_fingerprint": "f", "run_id": f"run-{partition}",
            "source_files": [], "counts": {"read": rows, "loaded": rows, "quarantined": 0},
            "quarantine_by_check": {}, "dataset_version": file_sha256(folder / DATA_NAME),
            "quarantine_version": file_sha256(folder / QUARANTINE_NAME), "columns": [],
            "key_versions": {}, "key_fingerprints": {},
        }
    )  # fmt: skip


def publish(
    store: LakeStorage,
    table: str,
    partition: str,
    ids: list[int],
    out: Path,
    extra: str = "",
) -> None:
    """Publish ``table/partition`` holding rows ``ids`` (columns ``id``, ``v`` and the
    select items ``extra``, e.g. ``", 1.5 AS w"``) and an empty quarantine."""
    with publish_partition(store, table, partition, out) as folder:
        values = ", ".join(f"({i}, 'v{i}')" for i in ids) or "(0, 'x')"
        where = "" if ids else " WHERE false"
        duckdb.execute(
            f"COPY (SELECT *{extra} FROM (VALUES {values}) t(id, v){where}) "
            f"TO '{folder / DATA_NAME}'"
        )
        duckdb.execute(
            f"COPY (SELECT 1 AS id, 'c' AS failed_check WHERE false) TO "
            f"'{folder / QUARANTINE_NAME}'"
        )
        manifest(table, partition, folder, len(ids)).write(folder)


def _die(part: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    args = sys.argv[1:]
    if args[0] == "--die-at-commit":
        stored._commit = _die  # type: ignore[assignment]
        args = args[1:]
    root, out, table, names = args[0], Path(args[1]), args[2], args[3:]
    store = lake_storage(root, catalog=SecretStr(os.environ["PIPELINES_LAKE_CATALOG_URL"]))
    for name in names:
        number = int(name.rsplit("-", 1)[-1])
        publish(store, table, name, [number * 1000 + i for i in range(10)], out)


if __name__ == "__main__":
    main()
