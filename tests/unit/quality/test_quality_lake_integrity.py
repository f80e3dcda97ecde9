"""The quality gate reads only verified lake files: a changed batch, quarantine or
referenced partition stops validation by name, before anything is checked or stored."""

from __future__ import annotations

import pytest

from pipelines.contracts import ContractSet
from pipelines.ingest import Interval
from pipelines.ingest.lake import LakeIntegrityError, partitions
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
