"""The feature stage across three workers that share no disk, with dbt (issue #19, store
mode; integration tier). Demo-sized data (3,500 generated orders over 7 days, two intervals)
on an S3 lake (moto): worker A builds as of the first interval's end; worker C, fresh (no
warehouse), builds as of the second's and keeps the first's snapshots (the marts are
incremental: it starts from the warehouse A pushed); worker B checks, publishes and
renders the dbt docs from the warehouse C pushed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import duckdb
import pytest
from pydantic import SecretStr

from pipelines.contracts import ContractSet
from pipelines.features import tasks
from pipelines.features.paths import feature_table_names, snapshot_file
from pipelines.features.snapshots import read_release
from pipelines.hashing import file_sha256
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.storage import lake_store
from pipelines.protection import KeyRing
from pipelines.quality import tasks as quality
from pipelines.settings import Settings
from pipelines.warehouse.stored import current_warehouse
from tests.s3server import S3Server

FEATURE_TABLES = feature_table_names(Settings())
START, MIDDLE, END = date(2018, 1, 1), date(2018, 1, 4), date(2018, 1, 8)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _marts_dates(settings: Settings) -> set[date]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        rows = con.execute("SELECT DISTINCT as_of_date FROM marts.customer_features").fetchall()
    return {d for (d,) in rows}


@pytest.fixture(autouse=True)
def _no_lineage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")


@pytest.mark.integration  # three dbt builds and a docs generation
@pytest.mark.first(40)  # a long module: started first
def test_build_check_publish_and_docs_on_workers_without_a_shared_disk(
    settings: Settings, contracts: ContractSet, s3_env: S3Server, pg_url: str, tmp_path: Path
) -> None:
    from pipelines.generate import generate

    keyring = KeyRing.generate(note="store mode")
    a = settings.model_copy(
        update={
            "lake_url": f"s3://{s3_env.bucket}/{tmp_path.name}",
            "keys": SecretStr(keyring.to_json()),
            "lock_url": SecretStr(pg_url),  # the lake's shared state (key registry) is locked
        }
    )
    b = a.model_copy(update={"data_dir": tmp_path / "worker-b"})
    c = a.model_copy(update={"data_dir": tmp_path / "worker-c"})
    generate(a.landing, orders=3500, days=7, start=START, seed=7, fmt="csv")
    runs = {}
    for lo, hi in ((START, MIDDLE), (MIDDLE, END)):
        run = runs[hi] = f"manual__{hi.isoformat()}"
        for table in contracts.load_order():
            ingest_table(table, Interval(_at(lo), _at(hi)), a, run_id=run, keyring=keyring)
            quality.validate(table, _at(lo), _at(hi), run, settings=a)
        quality.gate(_at(lo), _at(hi), run, settings=a)
    tasks.build(_at(START), _at(MIDDLE), runs[MIDDLE], settings=a)
    first = current_warehouse(b)
    assert first is not None and first["as_of"] == MIDDLE.isoformat()

    # C: no warehouse, no snapshots, no quality results (it reads the gate's from the store)
    assert not c.data_dir.exists()
    tasks.build(_at(MIDDLE), _at(END), runs[END], settings=c)
    assert _marts_dates(c) == {MIDDLE, END}  # A's snapshot kept: C started from A's warehouse
    pointer = current_warehouse(b)
    assert pointer is not None and pointer["sha256"] == file_sha256(c.warehouse)

    for table in FEATURE_TABLES:
        result = tasks.check(table, _at(MIDDLE), _at(END), runs[END], settings=b)
        assert result["failed"] == 0, (table, result)
    assert tasks.publish(_at(MIDDLE), _at(END), runs[END], settings=b)["release_id"]
    release = read_release(b, END)
    assert release.status == "published", release.problems
    for table in FEATURE_TABLES:  # B served exactly the files C built
        assert file_sha256(snapshot_file(b, table, END)) == file_sha256(
            snapshot_file(c, table, END)
        )

    index = Path(tasks.docs(_at(MIDDLE), _at(END), runs[END], settings=b)["docs"])
    assert index.is_relative_to(b.data_dir) and index.is_file()
    assert _marts_dates(b) == {MIDDLE, END}  # B documented C's warehouse
    store = lake_store(b)
    assert store.read_text("_reports/dbt/.inputs.sha256").strip() == (
        (index.parent / ".inputs.sha256").read_text(encoding="utf-8").strip()
    )
