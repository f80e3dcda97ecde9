"""``register_lake``: a partition registry and one typed view per contract table."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from pipelines.protection import KeyRing
from pipelines.warehouse.lake_views import (
    LakeRegistrationError,
    lake_columns,
    register_lake,
    select_partitions,
)
from tests.factories import clean_day, copy_rows, write_day
from tests.unit.warehouse.conftest import make_settings


@pytest.fixture(scope="module")
def lake(tmp_path_factory, contracts, clean_env):
    """Two daily partitions per table from the hand-written factory day (written twice)."""
    settings = make_settings(tmp_path_factory.mktemp("lake-views"))
    keyring = KeyRing.generate(note="lake view tests")

    def write_landing(day: str, name: str, text: str) -> None:
        folder = settings.landing / day
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")

    rows = copy_rows(clean_day())
    write_day(write_landing, contracts, rows, day="2018-01-01")
    later = copy_rows(rows)
    for table in ("customers", "customer_profiles", "products", "sellers"):
        later[table] = []
    for table in ("orders", "order_items", "order_payments", "order_reviews"):
        for row in later[table]:
            row["order_id"] = row["order_id"].replace("o", "q", 1)
    for row in later["orders"]:
        for col in ("order_purchase_timestamp", "order_approved_at"):
            row[col] = row[col].replace("2018-01-01", "2018-01-02")
    for row in later["order_reviews"]:
        row["review_creation_date"] = row["review_creation_date"].replace("01-01", "01-02")
        row["review_id"] = row["review_id"].replace("r", "t", 1)
    write_day(write_landing, contracts, later, day="2018-01-02")
    for day in ("2018-01-01", "2018-01-02"):
        for table in contracts.load_order():
            ingest_table(
                table,
                Interval.day(datetime.fromisoformat(day).date()),
                settings,
                keyring=keyring,
                contracts=contracts,
            )
    return settings.lake


def _describe(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE lake.{table}").fetchall()]


def test_empty_selection_gives_typed_empty_views(contracts):
    con = duckdb.connect()
    register_lake(con, {}, contracts=contracts)
    for table in contracts:
        assert con.execute(f"SELECT count(*) FROM lake.{table}").fetchone() == (0,)
        assert _describe(con, table) == lake_columns(contracts[table])
    assert _describe(con, "orders")[:4] == [
        ("order_id", "VARCHAR"),
        ("customer_id", "VARCHAR"),
        ("order_status", "VARCHAR"),
        ("order_purchase_timestamp", "TIMESTAMP"),
    ]
    assert ("age_band", "VARCHAR") in _describe(con, "customer_profiles")  # lake name
    assert "full_name" not in dict(_describe(con, "customer_profiles"))  # dropped
    assert con.execute("SELECT count(*) FROM lake.partitions").fetchone() == (0,)


def test_views_read_exactly_the_selected_partitions(lake, contracts):
    con = duckdb.connect()
    selection = select_partitions(lake, contracts)
    register_lake(con, selection, contracts=contracts)
    for table in contracts:
        expected = sum(p.manifest.counts.loaded for p in selection[table])
        assert con.execute(f"SELECT count(*) FROM lake.{table}").fetchone() == (expected,)
        assert _describe(con, table) == lake_columns(contracts[table])
    assert con.execute(
        "SELECT _partition, count(*), any_value(_dataset_version) FROM lake.orders GROUP BY 1 "
        "ORDER BY 1"
    ).fetchall() == [
        (p.folder.name, p.manifest.counts.loaded, p.manifest.dataset_version)
        for p in partitions(lake, "orders")
    ]
    registry = con.execute(
        "SELECT table_name, partition, interval_start, interval_end, rows_loaded, data_path "
        "FROM lake.partitions WHERE table_name = 'orders' ORDER BY partition"
    ).fetchall()
    assert registry == [
        (
            "orders",
            "dt=2018-01-01",
            datetime(2018, 1, 1),
            datetime(2018, 1, 2),
            3,
            str(lake.resolve() / "orders" / "dt=2018-01-01" / "data.parquet"),
        ),
        (
            "orders",
            "dt=2018-01-02",
            datetime(2018, 1, 2),
            datetime(2018, 1, 3),
            3,
            str(lake.resolve() / "orders" / "dt=2018-01-02" / "data.parquet"),
        ),
    ]
    # a narrower selection replaces the registration: views are not copies
    early = select_partitions(lake, contracts, before=datetime(2018, 1, 2, tzinfo=UTC))
    register_lake(con, early, contracts=contracts)
    assert con.execute("SELECT count(*), min(_partition) FROM lake.orders").fetchone() == (
        3,
        "dt=2018-01-01",
    )
    assert con.execute("SELECT count(*) FROM lake.partitions").fetchone() == (len(contracts),)


def test_views_survive_in_the_warehouse_file_and_other_schemas_keep_working(
    lake, contracts, tmp_path
):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        register_lake(con, select_partitions(lake, contracts), contracts=contracts)
        con.execute("CREATE SCHEMA staging")
        con.execute("CREATE VIEW staging.o AS SELECT order_id FROM lake.orders")
        register_lake(con, {}, contracts=contracts)  # re-register: dependants still resolve
        assert con.execute("SELECT count(*) FROM staging.o").fetchone() == (0,)
        register_lake(con, select_partitions(lake, contracts), contracts=contracts)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.o").fetchone() == (6,)


def test_bad_selections_are_refused_by_name(lake, contracts, tmp_path):
    import shutil

    lake = shutil.copytree(lake, tmp_path / "lake")
    con = duckdb.connect()
    orders = partitions(lake, "orders")
    with pytest.raises(LakeRegistrationError, match="'nope', which has no contract"):
        register_lake(con, {"nope": []}, contracts=contracts)
    with pytest.raises(
        LakeRegistrationError,
        match=r"partition orders/dt=2018-01-01 is listed under table 'customers'",
    ):
        register_lake(con, {"customers": orders[:1]}, contracts=contracts)
    with pytest.raises(LakeRegistrationError, match=r"orders/dt=2018-01-01 is selected twice"):
        register_lake(con, {"orders": [orders[0], orders[0]]}, contracts=contracts)
    orders[1].data_file.unlink()
    with pytest.raises(
        LakeRegistrationError, match=r"orders/dt=2018-01-02: data file .* does not exist"
    ):
        register_lake(con, {"orders": orders}, contracts=contracts)
    # a refused registration leaves the previous one in place
    register_lake(con, {"orders": orders[:1]}, contracts=contracts)
    with pytest.raises(LakeRegistrationError):
        register_lake(con, {"orders": orders}, contracts=contracts)
    assert con.execute("SELECT count(*) FROM lake.orders").fetchone() == (3,)


def test_a_changed_partition_is_refused_by_name_and_nothing_is_registered(
    lake, contracts, tmp_path
):
    """The feature build and provenance expose the lake through ``register_lake``: a data file
    changed after publication (prices x 100, same rows) must never become a view."""
    import shutil

    from pipelines.lake.partitions import LakeIntegrityError
    from tests.tamper import rewrite

    lake = shutil.copytree(lake, tmp_path / "lake")
    con = duckdb.connect()
    items = partitions(lake, "order_items")
    register_lake(con, {"order_items": items[:1]}, contracts=contracts)
    before = con.execute("SELECT sum(price) FROM lake.order_items").fetchone()
    rewrite(items[1].data_file, "* REPLACE (price * 100 AS price)")
    with pytest.raises(LakeIntegrityError, match=r"order_items/dt=2018-01-02: .*data\.parquet"):
        register_lake(con, {"order_items": items}, contracts=contracts)
    assert con.execute("SELECT sum(price) FROM lake.order_items").fetchone() == before
