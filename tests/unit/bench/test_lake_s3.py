"""The phases of ``bench/lake_s3.py`` on a tiny landing tree, so the bench cannot rot: the
ingestion into a local lake and into a DuckLake on moto's S3 (its catalog a fresh database of
the machine's PostgreSQL), then the read phase: every table listed, ``order_items`` read
verified, and with the catalog its history and the listing as of its commit."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from bench.ingest import ensure_landing, phase_pipeline
from bench.lake_s3 import READ_TABLE, phase_read
from tests.s3server import S3Server

ITEMS = 200
TABLES = 8  # the landing tree's tables, all ingested


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("bench-lake")
    ensure_landing(workdir, ITEMS, seed=7, days=2)
    return workdir / "landing"


def _workdir(tmp_path: Path, landing: Path) -> Path:
    (tmp_path / "landing").symlink_to(landing)
    return tmp_path


def test_the_local_side_reads_what_it_ingested(tmp_path: Path, landing: Path) -> None:
    workdir = _workdir(tmp_path, landing)
    ingested = phase_pipeline(workdir, threads=2)
    read = phase_read(workdir, threads=2)

    assert (read["tables"], read["partitions"]) == (TABLES, TABLES)  # one interval each
    assert 0 < read["rows"] <= ingested["tables"][READ_TABLE]["read"]  # loaded, checked
    assert "history_s" not in read  # a local lake keeps no history


def test_the_ducklake_side_reads_lists_as_of_and_has_the_history(
    tmp_path: Path,
    landing: Path,
    s3_env: S3Server,
    catalog_url: SecretStr,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIPELINES_LAKE_URL", f"s3://{s3_env.bucket}/{tmp_path.name}")
    monkeypatch.setenv("PIPELINES_LAKE_CATALOG_URL", catalog_url.get_secret_value())
    monkeypatch.setenv("PIPELINES_LOCK_URL", pg_database)
    workdir = _workdir(tmp_path, landing)
    ingested = phase_pipeline(workdir, threads=2)
    read = phase_read(workdir, threads=2)

    assert (read["tables"], read["partitions"]) == (TABLES, TABLES)
    assert 0 < read["rows"] <= ingested["tables"][READ_TABLE]["read"]  # loaded, checked
    assert read["commits"] == 1  # one interval published once; the as-of listing matched it
