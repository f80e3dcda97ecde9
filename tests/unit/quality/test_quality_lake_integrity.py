"""The quality gate reads only verified lake files: a changed batch, quarantine or
referenced partition stops validation by name, before anything is checked or stored."""

from __future__ import annotations

import pytest

from pipelines.contracts import ContractSet
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import LakeIntegrityError, partitions
from pipelines.protection import KeyRing
from pipelines.quality import store
from pipelines.quality.runner import validate_partition
from pipelines.settings import Settings
from tests.factories import DAY, clean_day, write_day
from tests.tamper import rewrite
from tests.unit.quality.conftest import ingest_all

INTERVAL = Interval.parse(DAY, "2018-01-02")


@pytest.fixture
def lake(settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing) -> Settings:
    write_day(write_landing, contracts, clean_day())
    ingest_all(settings, keyring, contracts, INTERVAL)
    return settings


def _stored(settings: Settings) -> list[dict]:
    try:
        return store.read_checks(settings)
    except Exception:  # no results at all
        return []


@pytest.mark.parametrize(
    ("table", "changed", "file"),
    [
        ("order_items", "order_items", "data.parquet"),  # the batch (prices x 100)
        ("order_items", "order_items", "quarantine.parquet"),
        ("order_items", "orders", "data.parquet"),  # a partition its foreign key reads
    ],
)
def test_validation_stops_on_a_changed_lake_file(
    lake: Settings, contracts: ContractSet, table: str, changed: str, file: str
):
    [part] = partitions(lake.lake, changed)
    if changed == "order_items" and file == "data.parquet":
        rewrite(part.folder / file, "* REPLACE (price * 100 AS price)")
    else:
        rewrite(part.folder / file)
    with pytest.raises(LakeIntegrityError) as error:
        validate_partition(table, INTERVAL, lake, run_id="r1", contracts=contracts)
    assert f"{changed}/dt=2018-01-01" in str(error.value)
    assert str(part.folder / file) in str(error.value)
    assert _stored(lake) == []  # nothing was validated, so nothing vouches for the file


def test_the_gate_does_not_move_rows_of_a_partition_republished_since_it_was_read(
    lake: Settings, keyring, contracts: ContractSet, write_landing
):
    """The gate's quarantine republishes under the partition lock, and only the version it
    validated: a re-ingestion in between (another run) wins, and the gate says so."""
    from pipelines.ingest import ingest_table
    from pipelines.quality.quarantine import QuarantineError, ensure_unchanged
    from tests.factories import copy_rows

    [read] = partitions(lake.lake, "orders")
    ensure_unchanged(read)  # nothing happened since
    rows = copy_rows(clean_day())
    rows["orders"] = rows["orders"][:2]
    write_day(write_landing, contracts, {"orders": rows["orders"]})
    ingest_table("orders", INTERVAL, lake, keyring=keyring, contracts=contracts)
    with pytest.raises(QuarantineError, match=r"orders/dt=2018-01-01 was re-published"):
        ensure_unchanged(read)
