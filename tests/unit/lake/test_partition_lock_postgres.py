"""The partition lock as a PostgreSQL advisory lock (``lock_url``): writers with different
lake folders (two machines, no shared disk) serialize on the same partition, a killed holder
frees it, and a writer that waits too long fails naming the lock."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from pydantic import SecretStr

from pipelines.lake.publish import PartitionBusy, partition_lock

FORK = multiprocessing.get_context("fork")  # the children use no DuckDB, only PostgreSQL
PARTITION = "dt=2018-01-02"


def _hold(lake: str, url: str, held: Any, go: Any) -> None:
    with partition_lock(Path(lake) / "orders", PARTITION, lock_url=SecretStr(url)):
        held.set()
        go.poll(120)  # a pipe, not an Event: a killed waiter on an Event wedges its set()


def _take(lake: str, url: str, acquired: Any) -> None:
    with partition_lock(Path(lake) / "orders", PARTITION, lock_url=SecretStr(url), timeout=120):
        acquired.set()


def _waiting_advisory_locks(url: str) -> int:
    con = psycopg2.connect(url)
    try:
        with con, con.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            return int(cur.fetchone()[0])
    finally:
        con.close()


def _poll(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def holder(pg_url: str, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """A process holding the partition's lock (lake folder ``a``) until ``go`` is sent."""
    held = FORK.Event()
    wait_end, go = FORK.Pipe(duplex=False)
    process = FORK.Process(target=_hold, args=(str(tmp_path / "a"), pg_url, held, wait_end))
    process.start()
    assert held.wait(60), "the holder never took the lock"
    yield process, go
    go.send(True)
    process.join(60)


def test_two_writers_without_a_shared_disk_serialize(
    holder: tuple[Any, Any], pg_url: str, tmp_path: Path
) -> None:
    process, go = holder
    acquired = FORK.Event()
    waiter = FORK.Process(target=_take, args=(str(tmp_path / "b"), pg_url, acquired))
    waiter.start()
    _poll(lambda: _waiting_advisory_locks(pg_url) == 1, "the second writer to wait")
    assert not acquired.is_set()
    go.send(True)
    assert acquired.wait(60), "the second writer never got the lock after the first let go"
    waiter.join(60)
    assert waiter.exitcode == 0
    process.join(60)
    assert process.exitcode == 0


def test_other_partitions_are_free_and_a_timeout_names_the_lock(
    holder: tuple[Any, Any], pg_url: str, tmp_path: Path
) -> None:
    url = SecretStr(pg_url)
    with partition_lock(tmp_path / "c" / "orders", "dt=2018-01-03", lock_url=url, timeout=0):
        pass
    with partition_lock(tmp_path / "c" / "customers", PARTITION, lock_url=url, timeout=0):
        pass
    with (
        pytest.raises(PartitionBusy, match="PostgreSQL advisory lock"),
        partition_lock(tmp_path / "c" / "orders", PARTITION, lock_url=url, timeout=0.2),
    ):
        pass


def test_a_killed_holder_frees_the_partition(
    holder: tuple[Any, Any], pg_url: str, tmp_path: Path
) -> None:
    process, _ = holder
    os.kill(process.pid, signal.SIGKILL)
    process.join(60)
    url = SecretStr(pg_url)
    with partition_lock(tmp_path / "b" / "orders", PARTITION, lock_url=url, timeout=60):
        assert _waiting_advisory_locks(pg_url) == 0
