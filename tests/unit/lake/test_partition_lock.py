"""One writer per partition: two real processes ingesting the same interval.

The reliability run started two runs of one interval at once; the second's start-up clean-up
deleted the first's staging folder and the first failed. Now a run holds the partition's
lock from clean-up to publication: a second run waits for it (or, after its lock timeout,
fails naming the partition), clean-up removes only staging folders no live run holds, and
the partition published is the one a clean run publishes.
"""

from __future__ import annotations

import multiprocessing
import shutil
import time
from pathlib import Path

import pytest

from pipelines.contracts import ContractSet
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from pipelines.lake.publish import clean_leftovers
from pipelines.protection import KeyRing
from pipelines.settings import Settings
from tests.factories import DAY, clean_day, write_day
from tests.unit.lake import contenders

TABLE = "sellers"
INTERVAL = Interval.parse(DAY, "2018-01-02")
SPAWN = multiprocessing.get_context("spawn")  # no DuckDB threads or locks copied by fork


def _start(
    settings: Settings, keyring: KeyRing, name: str, lock_timeout: float, pause: Path | None
):
    result = settings.data_dir.parent / f"{name}.result"
    process = SPAWN.Process(
        target=contenders.ingest,
        args=(
            str(settings.data_dir),
            keyring.to_json(),
            TABLE,
            DAY,
            "2018-01-02",
            lock_timeout,
            str(pause) if pause else None,
            str(result),
        ),
    )
    process.start()
    return process, result


def _wait_for(condition, what: str, process) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 240
    while not condition():
        if not process.is_alive() and not condition():
            pytest.fail(f"{what}: the process ended first (exit {process.exitcode})")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after 240 s")
        time.sleep(0.05)


@pytest.fixture
def landing(settings: Settings, contracts: ContractSet, write_landing, keyring: KeyRing, tmp_path):
    """The day's landing files, and the partition a clean, lone run publishes from them."""
    write_day(write_landing, contracts, {TABLE: clean_day()[TABLE]})
    clean = Settings(
        data_dir=tmp_path / "clean", landing_dir=settings.landing, duckdb_memory_limit="500MB"
    )
    return ingest_table(TABLE, INTERVAL, clean, keyring=keyring, contracts=contracts)


def _paused_first_run(settings: Settings, keyring: KeyRing, tmp_path: Path):
    pause = tmp_path / "pause"
    pause.mkdir()
    first, first_result = _start(settings, keyring, "first", 600, pause)
    _wait_for(lambda: (pause / contenders.STAGED).exists(), "first run staged", first)
    staging = Path((pause / contenders.STAGED).read_text())
    assert staging.is_dir() and staging.name.startswith(".staging-dt=2018-01-01-")
    return pause, first, first_result, staging


def test_a_second_run_fails_by_name_and_the_first_run_keeps_its_staging(
    settings: Settings, keyring: KeyRing, landing, tmp_path: Path
):
    pause, first, first_result, staging = _paused_first_run(settings, keyring, tmp_path)
    try:
        second, second_result = _start(settings, keyring, "second", 0.5, None)
        second.join(240)
        assert second.exitcode == 1
        message = second_result.read_text()
        assert message.startswith("PartitionBusy: ")
        assert f"{TABLE}/dt=2018-01-01" in message and "another run" in message

        # clean-up from a third process (this one) leaves the live run's staging alone, but
        # removes what a dead run of another partition left
        dead = settings.lake / TABLE / ".staging-dt=2017-12-31-0123456789ab"
        dead.mkdir()
        removed = clean_leftovers(settings.lake / TABLE)
        assert removed == [dead] and not dead.exists()
        assert staging.is_dir()
    finally:
        (pause / contenders.GO).touch()
        first.join(240)
    assert first.exitcode == 0, first_result.read_text()
    [part] = partitions(settings.lake, TABLE)
    assert part.manifest.dataset_version == landing.manifest.dataset_version
    assert part.manifest.counts == landing.manifest.counts
    assert not staging.exists()


def test_a_second_run_waits_for_the_first_and_both_publish_the_clean_partition(
    settings: Settings, keyring: KeyRing, landing, tmp_path: Path
):
    pause, first, first_result, staging = _paused_first_run(settings, keyring, tmp_path)
    try:
        second, second_result = _start(settings, keyring, "second", 600, None)
        log = Path(str(second_result) + ".log")
        _wait_for(
            lambda: log.exists() and "waiting for" in log.read_text(), "second run waits", second
        )
        assert staging.is_dir()  # the waiting run touched nothing
    finally:
        (pause / contenders.GO).touch()
        first.join(240)
    second.join(240)
    assert first.exitcode == 0, first_result.read_text()
    assert second.exitcode == 0, second_result.read_text()
    version = landing.manifest.dataset_version
    assert first_result.read_text() == second_result.read_text() == version
    [part] = partitions(settings.lake, TABLE)
    assert part.manifest.dataset_version == version
    leftovers = [p.name for p in (settings.lake / TABLE).iterdir() if p.name.startswith(".s")]
    assert leftovers == []
    shutil.rmtree(tmp_path / "pause")
