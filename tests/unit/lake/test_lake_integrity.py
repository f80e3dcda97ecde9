"""Verified reads: a lake file that no longer matches its manifest is never read.

The reliability run multiplied the prices of an ``order_items`` partition by 100 (row count
unchanged) and every stage used it. Each reader now goes through
:func:`pipelines.lake.partitions.verified_data_file` and friends; these tests cover the function
and ingestion's own read of the lake (foreign keys against the parents' partitions).
"""

from __future__ import annotations

import pytest

from pipelines.contracts import ContractSet
from pipelines.hashing import file_sha256
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import (
    LakeIntegrityError,
    partitions,
    verified_data_file,
    verified_data_files,
    verified_quarantine_file,
)
from pipelines.protection import KeyRing
from pipelines.settings import Settings
from tests.factories import DAY, clean_day, write_day
from tests.tamper import rewrite

INTERVAL = Interval.parse(DAY, "2018-01-02")


@pytest.fixture
def lake(settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing) -> Settings:
    write_day(write_landing, contracts, clean_day())
    for table in ("customers", "orders", "products", "sellers", "order_items"):
        ingest_table(table, INTERVAL, settings, keyring=keyring, contracts=contracts)
    return settings


def test_an_untouched_partition_verifies(lake: Settings):
    [part] = partitions(lake.lake, "order_items")
    assert verified_data_file(part) == str(part.data_file)
    assert verified_quarantine_file(part) == str(part.quarantine_file)
    assert verified_data_files([part]) == [str(part.data_file)]


def test_a_changed_data_file_is_refused_naming_table_partition_file_hashes_and_the_fix(
    lake: Settings,
):
    [part] = partitions(lake.lake, "order_items")
    expected = part.manifest.dataset_version
    rewrite(part.data_file, "* REPLACE (price * 100 AS price)")
    found = file_sha256(part.data_file)

    with pytest.raises(LakeIntegrityError) as error:
        verified_data_file(part)
    message = str(error.value)
    assert "order_items/dt=2018-01-01" in message
    assert str(part.data_file) in message
    assert f"expected SHA-256 {expected}" in message and f"found {found}" in message
    assert "pipelines ingest --table order_items --start 2018-01-01 --end 2018-01-02" in message
    with pytest.raises(LakeIntegrityError, match="order_items/dt=2018-01-01"):
        verified_data_files(partitions(lake.lake, "order_items"))


def test_a_changed_quarantine_file_and_a_missing_data_file_are_refused(lake: Settings):
    [part] = partitions(lake.lake, "order_items")
    rewrite(part.quarantine_file)
    with pytest.raises(LakeIntegrityError, match=r"quarantine\.parquet does not match"):
        verified_quarantine_file(part)
    part.data_file.unlink()
    with pytest.raises(LakeIntegrityError, match=r"data\.parquet is missing"):
        verified_data_file(part)


def test_ingestion_refuses_to_check_foreign_keys_against_a_changed_parent(
    lake: Settings, keyring: KeyRing, contracts: ContractSet
):
    [orders] = partitions(lake.lake, "orders")
    [before] = partitions(lake.lake, "order_items")
    rewrite(orders.data_file)  # same rows, other bytes: no longer the published file
    with pytest.raises(LakeIntegrityError, match="orders/dt=2018-01-01"):
        ingest_table("order_items", INTERVAL, lake, keyring=keyring, contracts=contracts)
    [after] = partitions(lake.lake, "order_items")
    assert after.manifest == before.manifest  # nothing was published
