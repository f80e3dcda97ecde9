"""The gate's quarantine is reversible for rows that only lacked a parent.

The reliability run removed rows of a parent table from a partition: the quality run moved
the good child rows (``order_items``, ``order_payments``) into quarantine as orphans, and they
stayed there after the parent was repaired. Now each quarantined row records the run that
moved it, and a quality run re-evaluates the rows quarantined only for a missing parent:
those whose parent is back return to the data, the others stay visibly pending, and
``read = loaded + quarantined`` holds at every step.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines import summary
from pipelines.contracts import ContractSet
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from pipelines.protection import KeyRing
from pipelines.quality.runner import validate_partition
from pipelines.settings import Settings
from tests.factories import DAY, clean_day, copy_rows, to_csv
from tests.unit.quality.conftest import ingest_all

INTERVAL = Interval.parse(DAY, "2018-01-02")
CHILDREN = ["order_items", "order_payments"]
FK = "gx:contract.foreign_key.order_id"


def _rows(path: Path, sql: str = "SELECT *") -> list[tuple]:
    with duckdb.connect() as con:
        return con.sql(
            f"{sql} FROM read_parquet('{path}', hive_partitioning = false) "
            "ORDER BY _source_file, _source_row"
        ).fetchall()


def _write_orders(settings: Settings, contracts: ContractSet, keep: set[int]) -> None:
    rows = copy_rows(clean_day())["orders"]
    kept = [r for n, r in enumerate(rows, 1) if n in keep]
    path = settings.landing / DAY / f"{contracts['orders'].source.file_stem}.csv"
    path.write_text(to_csv(contracts, "orders", kept), encoding="utf-8")


def _republish_orders(settings, keyring, contracts, keep: set[int]) -> None:  # type: ignore[no-untyped-def]
    _write_orders(settings, contracts, keep)
    ingest_table("orders", INTERVAL, settings, keyring=keyring, contracts=contracts)


def _validate(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, table: str, run_id: str
):  # type: ignore[no-untyped-def]
    # with the key ring, as the DAG's task runs: quarantined values are encrypted
    return validate_partition(
        table, INTERVAL, settings, run_id=run_id, contracts=contracts, keyring=keyring
    )


@pytest.fixture
def clean(
    tmp_path: Path, settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing
):
    """The day's landing files, and the lake a clean run makes of them (the reference)."""
    from tests.factories import write_day

    write_day(write_landing, contracts, clean_day())
    reference = Settings(
        data_dir=tmp_path / "clean", landing_dir=settings.landing, duckdb_memory_limit="1GB"
    )
    ingest_all(reference, keyring, contracts, INTERVAL)
    return reference


def test_children_quarantined_for_a_missing_parent_come_back_when_it_is_republished(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, clean: Settings
):
    ingest_all(settings, keyring, contracts, INTERVAL)
    # rows of the parent go missing (orders 1 and 2 of 3), and the children's gate runs
    _republish_orders(settings, keyring, contracts, keep={3})
    for table in CHILDREN:
        result = _validate(settings, keyring, contracts, table, "run-broken")
        assert set(result.quarantined) == {"contract.foreign_key.order_id"}
    [items] = partitions(settings.lake, "order_items")
    assert items.manifest.quarantine_by_check == {FK: 3}  # order 1 had two items, order 2 one
    moved = _rows(items.quarantine_file, "SELECT failed_check, moved_by_run")
    assert moved == [(FK, "run-broken")] * 3  # which run moved each row, and for which check
    assert items.manifest.counts.balanced

    # order 1 comes back: the parent's quality run names the children waiting for it, and
    # the children's next quality run returns its two items; order 2's item stays pending
    _republish_orders(settings, keyring, contracts, keep={1, 3})
    parent = _validate(settings, keyring, contracts, "orders", "run-partial")
    assert set(parent.pending_children) == {
        "order_items/dt=2018-01-01",
        "order_payments/dt=2018-01-01",
    }
    assert parent.pending_children["order_items/dt=2018-01-01"] == 3
    result = _validate(settings, keyring, contracts, "order_items", "run-partial")
    assert result.reinstated == {FK: 2}
    assert result.quarantined == {}  # order 2's item is still out: pending, not moved again
    [items] = partitions(settings.lake, "order_items")
    assert items.manifest.quarantine_by_check == {FK: 1}
    assert _rows(items.quarantine_file, "SELECT moved_by_run") == [("run-broken",)]
    assert (items.manifest.counts.loaded, items.manifest.counts.quarantined) == (3, 1)
    assert items.manifest.counts.balanced
    accounting = {r["table"]: r for r in summary.collect(settings)}
    assert accounting["order_items"]["pending_parent"] == 1  # visibly pending, not lost
    assert accounting["order_items"]["read"] == 4

    # the parent is whole again: every child row is back, as a clean run has them
    _republish_orders(settings, keyring, contracts, keep={1, 2, 3})
    for table in CHILDREN:
        result = _validate(settings, keyring, contracts, table, "run-repaired")
        assert result.quarantined == {}
        assert result.failed_critical == []
        [part] = partitions(settings.lake, table)
        [reference] = partitions(clean.lake, table)
        assert part.manifest.counts == reference.manifest.counts
        assert part.manifest.quarantine_by_check == reference.manifest.quarantine_by_check == {}
        assert _rows(part.data_file) == _rows(reference.data_file)
        assert part.manifest.dataset_version == reference.manifest.dataset_version


def test_rows_quarantined_for_another_rule_are_not_reinstated(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, clean: Settings
):
    ingest_all(settings, keyring, contracts, INTERVAL)
    [orders] = partitions(settings.lake, "orders")
    # orders 1 and 2 break a business rule: the gate quarantines them, and then their
    # children as orphans; the orders stay out (their rule still fails), so do the children
    rows = copy_rows(clean_day())["orders"]
    rows[0]["order_delivered_carrier_date"] = "2017-12-31 10:00:00"
    rows[1]["order_approved_at"] = "2018-01-01 00:30:00"
    (settings.landing / DAY / f"{contracts['orders'].source.file_stem}.csv").write_text(
        to_csv(contracts, "orders", rows), encoding="utf-8"
    )
    ingest_table("orders", INTERVAL, settings, keyring=keyring, contracts=contracts)
    _validate(settings, keyring, contracts, "orders", "run-1")
    _validate(settings, keyring, contracts, "order_items", "run-1")
    again = _validate(settings, keyring, contracts, "orders", "run-2")
    assert again.reinstated == {}
    [orders] = partitions(settings.lake, "orders")
    assert orders.manifest.counts.quarantined == 2
    items = _validate(settings, keyring, contracts, "order_items", "run-2")
    assert items.reinstated == {}
    [part] = partitions(settings.lake, "order_items")
    assert part.manifest.quarantine_by_check == {FK: 3} and part.manifest.counts.balanced
