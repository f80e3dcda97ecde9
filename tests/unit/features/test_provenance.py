"""``explain``: one served feature row down to the landing records it was computed from.

One generated lake (300 orders, 2018-01-01..14) ingested as two partitions per table: the
days before ``AS_OF`` (quality-gated, released) and everything from ``AS_OF`` on (ingested,
never released). The features as of ``AS_OF`` are built, checked and published with the
feature tasks, so the snapshot and release are the real ones.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from pydantic import SecretStr

from pipelines.cli import main
from pipelines.contracts import ContractSet
from pipelines.features import tasks
from pipelines.features.api import FeatureNotFound, load_features
from pipelines.features.paths import feature_table_names
from pipelines.features.provenance import Provenance, explain, render_text
from pipelines.features.snapshots import read_release
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.protection import KeyRing
from pipelines.quality.tasks import gate
from pipelines.settings import Settings
from tests.unit.quality.conftest import validate_all

FEATURE_TABLES = feature_table_names(Settings())  # the declared feature tables (Olist package on)

pytestmark = pytest.mark.integration  # ingests, gates and builds with dbt (integration tier)

START = date(2018, 1, 1)
AS_OF = date(2018, 1, 12)
LAST = date(2018, 3, 15)  # after every generated review
RUN = "run-explain"


@dataclass(frozen=True)
class Built:
    settings: Settings
    released: dict[str, list[str]]  # lake table -> released data files
    everything: dict[str, list[str]]  # lake table -> every data file (released or not)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, contracts: ContractSet) -> Iterator[Built]:
    from pipelines.generate import generate

    with pytest.MonkeyPatch.context() as mp:
        for var in ("PIPELINES_KEYS", "PIPELINES_KEY_FILE", "PIPELINES_SETTINGS_FILE"):
            mp.delenv(var, raising=False)
        mp.setenv("OPENLINEAGE_DISABLED", "true")
        root = tmp_path_factory.mktemp("provenance")
        keyring = KeyRing.generate(note="provenance tests")
        settings = Settings(
            data_dir=root / "data", duckdb_memory_limit="1GB", duckdb_threads=2,
            keys=SecretStr(keyring.to_json()),  # publication audits the k-anonymity gate
        )  # fmt: skip
        generate(settings.landing, orders=300, days=14, start=START, seed=7, fmt="csv")
        early = Interval.parse(START.isoformat(), AS_OF.isoformat())
        late = Interval.parse(AS_OF.isoformat(), LAST.isoformat())
        for interval in (early, late):
            for table in contracts.load_order():
                ingest_table(table, interval, settings, keyring=keyring, contracts=contracts)
        validate_all(settings, contracts, early, "quality-early")
        gate(early.start, early.end, "quality-early", settings=settings)
        tasks.build(early.start, early.end, RUN, settings=settings)
        for table in FEATURE_TABLES:
            tasks.check(table, early.start, early.end, RUN, settings=settings)
        tasks.publish(early.start, early.end, RUN, settings=settings)
        release = load_features("customer_features", purpose="churn", settings=settings).release
        released: dict[str, list[str]] = {}
        for p in release.partitions:
            released.setdefault(p.table, []).append(p.data_file)
        everything = {
            t: sorted(str(f) for f in (settings.lake / t).glob("dt=*/data.parquet"))
            for t in contracts.load_order()
        }
        yield Built(settings, released, everything)


def lake_sql(files: dict[str, list[str]], sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """``sql`` over views ``customers``, ``orders``, ... of the given lake data files."""
    with duckdb.connect() as con:
        for table, paths in files.items():
            listing = ", ".join(f"'{p}'" for p in paths)
            con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM read_parquet([{listing}], "
                "union_by_name = true, hive_partitioning = false)"
            )
        return con.execute(sql, params).fetchall()


def snapshot(settings: Settings, table: str) -> pl.DataFrame:
    return load_features(table, purpose="recommendation", settings=settings).frame


def landing_record(settings: Settings, file: str, row: int) -> dict[str, str]:
    """Record number ``row`` (1-based, header excluded) of a landing CSV file."""
    with (settings.landing / file).open(newline="", encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))
    return records[row - 1]


def records(settings: Settings, prov: Provenance, table: str) -> list[dict[str, str]]:
    return [landing_record(settings, f, r) for f, r in prov.source(table).locators]


def busiest_customer(settings: Settings) -> dict[str, Any]:
    frame = snapshot(settings, "customer_features")
    return frame.sort(["orders", "customer_unique_token"], descending=[True, False]).row(
        0, named=True
    )


def test_a_customers_orders_items_and_payments_match_the_row_and_the_lake(built: Built):
    row = busiest_customer(built.settings)
    assert row["orders"] >= 2
    token = row["customer_unique_token"]
    prov = explain(built.settings, "customer_features", token)

    assert prov.as_of == AS_OF and prov.features == row
    # canceled orders count in canceled_orders, the others in orders: both are explained
    assert prov.source("orders").rows == row["orders"] + row["canceled_orders"]
    assert prov.source("order_reviews").rows == row["review_count"]
    [(orders, items, payments)] = lake_sql(
        built.released,
        """
        SELECT count(DISTINCT o.order_id),
               (SELECT count(*) FROM order_items i WHERE i.order_id IN (
                    SELECT o2.order_id FROM orders o2 JOIN customers c2
                    ON o2.customer_id = c2.customer_id
                    WHERE c2.customer_unique_id = $1 AND o2.order_purchase_timestamp < $2)),
               (SELECT count(*) FROM order_payments p WHERE p.order_id IN (
                    SELECT o3.order_id FROM orders o3 JOIN customers c3
                    ON o3.customer_id = c3.customer_id
                    WHERE c3.customer_unique_id = $1 AND o3.order_purchase_timestamp < $2))
        FROM orders o JOIN customers c ON o.customer_id = c.customer_id
        WHERE c.customer_unique_id = $1 AND o.order_purchase_timestamp < $2
        """,
        [token, datetime(2018, 1, 12)],
    )
    assert prov.source("orders").rows == orders
    assert prov.source("order_items").rows == items > 0
    assert prov.source("order_payments").rows == payments > 0
    assert prov.source("customer_profiles").rows == 1


def test_every_locator_names_the_landing_record_it_came_from(built: Built):
    prov = explain(
        built.settings,
        "customer_features",
        busiest_customer(built.settings)["customer_unique_token"],
    )
    orders = records(built.settings, prov, "orders")
    order_ids = {r["order_id"] for r in orders}
    assert len(order_ids) == len(orders)
    # the clear customer ids of the orders are exactly those of the customer records, and
    # every customer record belongs to the one person whose profile is explained
    customers = records(built.settings, prov, "customers")
    assert {r["customer_id"] for r in customers} == {r["customer_id"] for r in orders}
    people = {r["customer_unique_id"] for r in customers}
    [profile] = records(built.settings, prov, "customer_profiles")
    assert people == {profile["customer_unique_id"]}
    for child in ("order_items", "order_payments", "order_reviews"):
        assert {r["order_id"] for r in records(built.settings, prov, child)} <= order_ids
    items = records(built.settings, prov, "order_items")
    assert {r["product_id"] for r in records(built.settings, prov, "products")} == {
        r["product_id"] for r in items
    }
    # every locator of a product and a seller row points at a record of that entity
    product = snapshot(built.settings, "product_features").sort("units_sold").row(-1, named=True)
    pprov = explain(built.settings, "product_features", product["product_id"])
    [catalogue] = records(built.settings, pprov, "products")
    assert catalogue["product_id"] == product["product_id"]
    product_items = records(built.settings, pprov, "order_items")
    assert {r["product_id"] for r in product_items} == {product["product_id"]}
    assert len(product_items) >= product["units_sold"] > 0
    assert {r["order_id"] for r in records(built.settings, pprov, "orders")} == {
        r["order_id"] for r in product_items
    }
    seller = snapshot(built.settings, "seller_features").sort("orders").row(-1, named=True)
    sprov = explain(built.settings, "seller_features", seller["seller_id"])
    [shop] = records(built.settings, sprov, "sellers")
    assert shop["seller_id"] == seller["seller_id"]
    seller_items = records(built.settings, sprov, "order_items")
    assert {r["seller_id"] for r in seller_items} == {seller["seller_id"]}
    assert len(seller_items) >= seller["items_sold"] > 0
    assert sprov.source("orders").rows >= seller["orders"] > 0


def test_orders_from_as_of_on_and_later_answered_reviews_are_not_explained(built: Built):
    # a person who ordered before AS_OF and again on/after it (the later order is in the lake,
    # in a partition the release does not include)
    repeat = lake_sql(
        built.everything,
        """
        SELECT c.customer_unique_id, o.order_id FROM orders o
        JOIN customers c ON o.customer_id = c.customer_id
        WHERE o.order_purchase_timestamp >= $1 AND c.customer_unique_id IN (
            SELECT c2.customer_unique_id FROM orders o2
            JOIN customers c2 ON o2.customer_id = c2.customer_id
            WHERE o2.order_purchase_timestamp < $1)
        ORDER BY 1, 2
        """,
        [datetime(2018, 1, 12)],
    )
    assert repeat, "the generated lake should have a customer ordering on both sides of AS_OF"
    token, late_order = repeat[0]
    prov = explain(built.settings, "customer_features", token)
    explained = {r["order_id"] for r in records(built.settings, prov, "orders")}
    assert late_order not in explained and explained
    assert all(f < AS_OF.isoformat() for f, _ in prov.source("orders").locators)
    row = prov.features
    assert len(explained) == row["orders"] + row["canceled_orders"]

    # a review created before AS_OF but answered on/after it is not explained; one answered
    # before is
    reviews = lake_sql(
        built.released,
        """
        SELECT r.order_id, r.review_answer_timestamp < $1 AS counted, c.customer_unique_id
        FROM order_reviews r JOIN orders o ON r.order_id = o.order_id
        JOIN customers c ON o.customer_id = c.customer_id
        ORDER BY 1
        """,
        [datetime(2018, 1, 12)],
    )
    late = [r for r in reviews if not r[1]]
    on_time = [r for r in reviews if r[1]]
    assert late and on_time, "the released reviews should straddle AS_OF"
    for order_id, counted, person in (late[0], on_time[0]):
        p = explain(built.settings, "customer_features", person)
        explained_reviews = {r["order_id"] for r in records(built.settings, p, "order_reviews")}
        assert (order_id in explained_reviews) is counted
        assert p.source("order_reviews").rows == p.features["review_count"]


def test_an_unknown_key_table_or_date_is_a_lookup_error_and_exit_1(
    built: Built, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(LookupError, match=r"customer_features.*'p1:nobody'.*2018-01-12"):
        explain(built.settings, "customer_features", "p1:nobody")
    with pytest.raises(FeatureNotFound):
        explain(built.settings, "order_features", "x")
    with pytest.raises(FeatureNotFound, match="no published release"):
        explain(built.settings, "seller_features", "x", as_of="2018-01-01")
    base = ["--data-dir", str(built.settings.data_dir), "lineage", "explain"]
    for args in (
        ["customer_features", "p1:nobody"],
        ["order_features", "x"],
        ["seller_features", "x", "--as-of", "2018-01-01"],
        ["seller_features", "x", "--as-of", "yesterday"],
    ):
        capsys.readouterr()
        assert main([*base, *args]) == 1
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_the_cli_shows_counts_and_locators_but_no_clear_personal_data(
    built: Built, capsys: pytest.CaptureFixture[str]
):
    row = busiest_customer(built.settings)
    token = row["customer_unique_token"]
    base = ["--data-dir", str(built.settings.data_dir), "lineage", "explain"]
    capsys.readouterr()
    assert main([*base, "customer_features", token, "--format", "json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    prov = explain(built.settings, "customer_features", token)
    assert data["release_id"] == prov.release_id and data["as_of"] == AS_OF.isoformat()
    assert data["features"]["orders"] == row["orders"]
    assert data["sources"]["orders"]["rows"] == len(data["sources"]["orders"]["locators"])
    assert {p["partition"] for p in data["sources"]["orders"]["partitions"]} == {
        f"dt={START.isoformat()}"
    }
    # each partition names the passed quality gate run that vouched for its version
    release = read_release(built.settings, AS_OF)
    [vouched] = [
        p for p in release.partitions if p.table == "orders" and p.partition == f"dt={START}"
    ]
    [used] = data["sources"]["orders"]["partitions"]
    assert used["dataset_version"] == vouched.dataset_version
    assert used["gate_run_id"] == vouched.gate_run_id and used["checks_passed"] > 0

    [profile] = records(built.settings, prov, "customer_profiles")
    customers = records(built.settings, prov, "customers")
    clear = [profile[c] for c in ("email", "phone", "full_name", "street_address")]
    clear += [c[k] for c in customers for k in ("customer_unique_id", "customer_id")]
    clear += [c["customer_city"] for c in customers]
    clear = [v for v in clear if v]
    assert clear
    for value in clear:
        assert value not in out

    assert main([*base, "customer_features", token, "--limit", "1", "--as-of", "2018-02-01"]) == 0
    text = capsys.readouterr().out
    assert text == render_text(prov, limit=1) + "\n"
    assert f"orders: {prov.source('orders').rows} rows" in text
    assert f"... and {prov.source('orders').rows - 1} more" in text
    assert all(value not in text for value in clear)


def test_a_released_partition_changed_after_publication_is_refused_by_name(built: Built):
    """Provenance reads the release's lake files: one changed since (prices x 100, same rows)
    stops ``explain`` with the table, partition and file, instead of explaining wrong rows."""
    from pipelines.lake.partitions import LakeIntegrityError
    from tests.tamper import rewrite

    token = busiest_customer(built.settings)["customer_unique_token"]
    [items] = built.released["order_items"]
    original = Path(items).read_bytes()
    try:
        rewrite(Path(items), "* REPLACE (price * 100 AS price)")
        with pytest.raises(LakeIntegrityError, match=r"order_items/dt=2018-01-01: .*data\.parquet"):
            explain(built.settings, "customer_features", token)
    finally:
        Path(items).write_bytes(original)
