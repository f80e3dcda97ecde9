"""Types from the contract, checked at the source (issue #12).

Timestamps with an offset are converted to UTC exactly, or quarantined when the source forbids
offsets; naive timestamps are read in the time zone the source declares. Parquet column types
and JSON value kinds are compared with the contract before anything is cast to text: a type
that could change a value's meaning is schema drift, named, unless the contract allows it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.contracts import Column, Contract, ContractError, ContractSet, Source, load_contract
from pipelines.ingest import ingest_table
from pipelines.ingest.readers import SchemaDriftError
from pipelines.ingest.source_types import json_column_problem, parquet_problem
from pipelines.ingest.transform import typed_expr
from pipelines.lake.interval import Interval
from tests.factories import DAY, clean_day, to_jsonl, write_day

INTERVAL = Interval.parse(DAY, "2018-01-02")
TS = Column(name="ts", type="timestamp", description="a time")


def _typed(values: list[str | None], source: Source) -> list[datetime | None]:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
    rows = con.execute(f"SELECT {typed_expr(TS, 'v', source)} FROM t ORDER BY i").fetchall()
    return [r[0] for r in rows]


def _with(contracts: ContractSet, table: str, **changes: dict[str, Any]) -> ContractSet:
    """The contracts with ``table``'s contract changed (``source={...}``, ...), validated."""
    changed = []
    for contract in contracts.values():
        if contract.table == table:
            data = contract.model_dump(exclude={"path"})
            for key, update in changes.items():
                data[key] = {**data[key], **update}
            contract = Contract.model_validate(data)
        changed.append(contract)
    return ContractSet(changed)


def _rows(path: Path, order: str = "_source_row") -> list[dict[str, Any]]:
    rel = duckdb.connect().sql(f"SELECT * FROM read_parquet('{path}') ORDER BY {order}")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


# --- timestamps -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2018-01-01 08:43:07-03:00", "2018-01-01 11:43:07"),
        ("2018-01-01T08:43:07-03", "2018-01-01 11:43:07"),
        ("2018-01-01 08:43:07Z", "2018-01-01 08:43:07"),
        ("2018-01-01 08:43:07 UTC", "2018-01-01 08:43:07"),
        ("2018-01-01 08:43:07+0530", "2018-01-01 03:13:07"),  # half-hour zone (India)
        ("2018-01-01 08:43:07+05:45", "2018-01-01 02:58:07"),  # quarter-hour zone (Nepal)
        ("2018-01-01 08:43:07-09:30", "2018-01-01 18:13:07"),  # Marquesas
        ("2018-01-01 02:00:00+14:00", "2017-12-31 12:00:00"),  # the day before in UTC
        ("2018-01-01 08:43:07.250+01:00", "2018-01-01 07:43:07.25"),
        (" 2018-01-01 08:43:07-03:00\u00a0", "2018-01-01 11:43:07"),
        ("2018-01-01 08:43:07", "2018-01-01 08:43:07"),  # naive: UTC by default
        ("2018-01-01", "2018-01-01 00:00:00"),  # a date's "-01" is no offset
    ],
)
def test_offsets_are_converted_to_utc_exactly(value: str, utc: str) -> None:
    assert _typed([value], Source(file_stem="x")) == [datetime.fromisoformat(utc)]


def test_forbidden_offsets_are_not_typed_naive_values_are() -> None:
    source = Source(file_stem="x", timestamp_offsets="quarantine")
    values = ["2018-01-01 08:43:07-03:00", "2018-01-01 08:43:07Z", "2018-01-01 08:43:07"]
    assert _typed(values, source) == [None, None, datetime(2018, 1, 1, 8, 43, 7)]


@pytest.mark.parametrize(
    ("zone", "local", "utc"),
    [
        ("America/Sao_Paulo", "2018-01-01 08:00:00", "2018-01-01 10:00:00"),  # summer: -02
        ("America/Sao_Paulo", "2018-06-01 08:00:00", "2018-06-01 11:00:00"),  # winter: -03
        ("Asia/Kolkata", "2018-01-01 08:00:00", "2018-01-01 02:30:00"),  # +05:30, no DST
        ("UTC", "2018-01-01 08:00:00", "2018-01-01 08:00:00"),
    ],
)
def test_naive_timestamps_get_the_declared_zone(zone: str, local: str, utc: str) -> None:
    source = Source(file_stem="x", timezone=zone)
    assert _typed([local], source) == [datetime.fromisoformat(utc)]


def test_an_offset_wins_over_the_declared_zone() -> None:
    source = Source(file_stem="x", timezone="America/Sao_Paulo")
    assert _typed(["2018-01-01 08:00:00+00:00"], source) == [datetime(2018, 1, 1, 8)]


def test_local_times_skipped_or_repeated_by_dst_are_not_guessed() -> None:
    source = Source(file_stem="x", timezone="America/Sao_Paulo")
    # 2017-10-15: clocks went from 00:00 to 01:00; 2018-02-17: from 24:00 back to 23:00.
    values = ["2017-10-15 00:30:00", "2018-02-17 23:30:00", "2018-02-17 22:30:00"]
    assert _typed(values, source) == [None, None, datetime(2018, 2, 18, 0, 30)]


def test_the_time_zone_must_be_an_iana_name(tmp_path: Path, contracts: ContractSet) -> None:
    data = contracts["orders"].model_dump(exclude={"path"})
    data["source"]["timezone"] = "Brasilia"
    path = tmp_path / "orders.yml"
    path.write_text(json.dumps(data, default=str))
    with pytest.raises(ContractError, match="'Brasilia' is not an IANA time zone"):
        load_contract(path)


def _orders_with(write_landing, contracts: ContractSet, **changes: str) -> None:  # type: ignore[no-untyped-def]
    rows = clean_day()
    for i, (column, value) in enumerate(changes.items()):
        rows["orders"][i][column] = value
    write_day(write_landing, contracts, {"customers": rows["customers"], "orders": rows["orders"]})


def test_offsets_reach_the_lake_as_utc(settings, keyring, contracts, write_landing) -> None:
    _orders_with(
        write_landing,
        contracts,
        order_purchase_timestamp="2018-01-01 08:43:07-03:00",
        order_approved_at="2018-01-01 08:43:07+0530",
    )
    ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    result = ingest_table("orders", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert result.counts.quarantined == 0
    lake = _rows(result.partition_dir / "data.parquet")
    assert lake[0]["order_purchase_timestamp"] == datetime(2018, 1, 1, 11, 43, 7)
    assert lake[1]["order_approved_at"] == datetime(2018, 1, 1, 3, 13, 7)
    assert lake[2]["order_purchase_timestamp"] == datetime(2018, 1, 1, 3)  # naive, unchanged


def test_forbidden_offsets_are_quarantined_with_a_named_reason(
    settings, keyring, contracts, write_landing
) -> None:
    contracts = _with(contracts, "orders", source={"timestamp_offsets": "quarantine"})
    _orders_with(write_landing, contracts, order_approved_at="2018-01-01 08:43:07-03:00")
    ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    result = ingest_table("orders", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert (result.counts.loaded, result.counts.quarantined) == (2, 1)
    (bad,) = _rows(result.partition_dir / "quarantine.parquet")
    assert (bad["_source_row"], bad["failed_check"], bad["column_name"]) == (
        1,
        "type_error",
        "order_approved_at",
    )
    assert "carries a UTC offset" in bad["reason"]
    assert "source.timestamp_offsets: quarantine" in bad["reason"]


def test_naive_timestamps_are_read_in_the_declared_zone_end_to_end(
    settings, keyring, contracts, write_landing
) -> None:
    contracts = _with(contracts, "orders", source={"timezone": "America/Sao_Paulo"})
    _orders_with(write_landing, contracts, order_delivered_carrier_date="2017-10-15 00:30:00")
    ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    result = ingest_table("orders", INTERVAL, settings, keyring=keyring, contracts=contracts)
    lake = _rows(result.partition_dir / "data.parquet")
    # clean_day's purchases are 02:00 and 03:00 local, -02:00 in January
    assert [r["order_purchase_timestamp"] for r in lake] == [
        datetime(2018, 1, 1, 4),
        datetime(2018, 1, 1, 5),
    ]
    (bad,) = _rows(result.partition_dir / "quarantine.parquet")
    assert bad["column_name"] == "order_delivered_carrier_date"
    assert "America/Sao_Paulo skips or repeats" in bad["reason"]


# --- Parquet column types -------------------------------------------------------------------

ITEMS_FILE = f"{DAY}/olist_order_items_dataset.parquet"


def _items_parents(settings, keyring, contracts, write_landing) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    rows = clean_day()
    parents = {t: rows[t] for t in ("customers", "orders", "products", "sellers")}
    write_day(write_landing, contracts, parents)
    for table in parents:
        ingest_table(table, INTERVAL, settings, keyring=keyring, contracts=contracts)
    return rows["order_items"]


def _items_parquet(settings, items: list[dict[str, Any]], **types: pa.DataType) -> None:  # type: ignore[no-untyped-def]
    """order_items as Parquet: ids as text, order_item_id int64, the rest typed as ``types``
    say (default: the contract's own types)."""
    declared: dict[str, pa.DataType] = {
        "order_id": pa.string(),
        "order_item_id": pa.int64(),
        "product_id": pa.string(),
        "seller_id": pa.string(),
        "shipping_limit_date": pa.timestamp("us"),
        "price": pa.decimal128(12, 2),
        "freight_value": pa.decimal128(12, 2),
    }
    declared.update(types)

    def value(column: str, text: str) -> Any:
        kind = declared[column]
        if pa.types.is_integer(kind):
            if column == "price":  # cents
                return int(Decimal(text) * 100)
            return int(text)
        if pa.types.is_decimal(kind):
            return Decimal(text)
        if pa.types.is_timestamp(kind):
            parsed = datetime.fromisoformat(text)
            return parsed.replace(tzinfo=UTC) if kind.tz else parsed
        return text

    table = pa.table(
        {c: pa.array([value(c, r[c]) for r in items], type=t) for c, t in declared.items()}
    )
    folder = settings.landing / DAY
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "olist_order_items_dataset.parquet")


def test_parquet_int64_cents_where_decimal_is_declared_is_drift(
    settings, keyring, contracts, write_landing
) -> None:
    items = _items_parents(settings, keyring, contracts, write_landing)
    _items_parquet(settings, items, price=pa.int64())
    with pytest.raises(SchemaDriftError) as err:
        ingest_table("order_items", INTERVAL, settings, keyring=keyring, contracts=contracts)
    message = str(err.value)
    assert ITEMS_FILE in message
    assert "column price: found BIGINT, contract declares decimal(12,2)" in message
    assert "100 times too high" in message
    assert "schema_policy.mismatched_types: parse" in message  # what to do
    assert "freight_value" not in message
    assert not list((settings.lake / "order_items").glob("dt=*"))  # nothing published


def test_parquet_declared_types_load_exact_values(
    settings, keyring, contracts, write_landing
) -> None:
    items = _items_parents(settings, keyring, contracts, write_landing)
    _items_parquet(
        settings,
        items,
        price=pa.decimal128(10, 1),  # fewer places than declared: fits
        order_item_id=pa.int32(),
        shipping_limit_date=pa.timestamp("ms", tz="America/Sao_Paulo"),
    )
    result = ingest_table("order_items", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert result.counts.quarantined == 0
    lake = _rows(result.partition_dir / "data.parquet")
    assert [r["price"] for r in lake] == [Decimal(r["price"]) for r in items]
    # a zoned Parquet timestamp is an instant: the lake holds it in UTC
    assert {r["shipping_limit_date"] for r in lake} == {datetime(2018, 1, 3)}


@pytest.mark.parametrize(
    ("types", "found"),
    [
        ({"price": pa.decimal128(12, 4)}, "found DECIMAL(12,4)"),
        ({"shipping_limit_date": pa.int64()}, "found BIGINT, contract declares timestamp"),
        ({"order_id": pa.int64()}, "column order_id: found BIGINT, contract declares string"),
    ],
)
def test_parquet_types_that_could_change_meaning_are_drift(
    settings, keyring, contracts, write_landing, types, found
) -> None:
    items = _items_parents(settings, keyring, contracts, write_landing)
    for n, row in enumerate(items):
        if "order_id" in types:
            row["order_id"] = str(n)
        if "shipping_limit_date" in types:
            row["shipping_limit_date"] = "1514937600"
    _items_parquet(settings, items, **types)
    with pytest.raises(SchemaDriftError, match=re.escape(found)):
        ingest_table("order_items", INTERVAL, settings, keyring=keyring, contracts=contracts)


def test_zoned_parquet_timestamps_are_drift_when_offsets_are_forbidden(
    settings, keyring, contracts, write_landing
) -> None:
    items = _items_parents(settings, keyring, contracts, write_landing)
    _items_parquet(settings, items, shipping_limit_date=pa.timestamp("us", tz="UTC"))
    strict = _with(contracts, "order_items", source={"timestamp_offsets": "quarantine"})
    with pytest.raises(SchemaDriftError, match="TIMESTAMP WITH TIME ZONE, contract declares"):
        ingest_table("order_items", INTERVAL, settings, keyring=keyring, contracts=strict)


def test_mismatched_types_policy_parse_reads_the_values_as_text(
    settings, keyring, contracts, write_landing
) -> None:
    items = _items_parents(settings, keyring, contracts, write_landing)
    _items_parquet(settings, items, price=pa.int64())
    lenient = _with(contracts, "order_items", schema_policy={"mismatched_types": "parse"})
    result = ingest_table("order_items", INTERVAL, settings, keyring=keyring, contracts=lenient)
    lake = _rows(result.partition_dir / "data.parquet")
    assert [r["price"] for r in lake] == [Decimal(r["price"]) * 100 for r in items]


def test_parquet_text_columns_are_parsed_unless_the_policy_says_fail(
    settings, keyring, contracts, write_landing
) -> None:
    items = _items_parents(settings, keyring, contracts, write_landing)
    _items_parquet(settings, items, price=pa.string(), shipping_limit_date=pa.string())
    result = ingest_table("order_items", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert [r["price"] for r in _rows(result.partition_dir / "data.parquet")] == [
        Decimal(r["price"]) for r in items
    ]
    strict = _with(contracts, "order_items", schema_policy={"text_columns": "fail"})
    with pytest.raises(SchemaDriftError, match=r"schema_policy\.text_columns: parse") as err:
        ingest_table("order_items", INTERVAL, settings, keyring=keyring, contracts=strict)
    assert "column price: found VARCHAR, contract declares decimal(12,2)" in str(err.value)


# --- JSON value kinds -----------------------------------------------------------------------


def _orders_jsonl(write_landing, contracts: ContractSet, rows: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    write_landing(DAY, "olist_orders_dataset.jsonl", to_jsonl(contracts, "orders", rows))


def test_json_numbers_where_a_timestamp_is_declared_are_drift(
    settings, keyring, contracts, write_landing
) -> None:
    rows = clean_day()
    write_day(write_landing, contracts, {"customers": rows["customers"]})
    ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    for row in rows["orders"]:
        row["order_approved_at"] = 1514768400  # epoch seconds
    _orders_jsonl(write_landing, contracts, rows["orders"])
    with pytest.raises(SchemaDriftError) as err:
        ingest_table("orders", INTERVAL, settings, keyring=keyring, contracts=contracts)
    message = str(err.value)
    assert f"{DAY}/olist_orders_dataset.jsonl" in message
    assert "column order_approved_at: found JSON integer number, contract declares timestamp" in (
        message
    )
    assert "epoch seconds, milliseconds or days?" in message


def test_json_kind_varying_per_record_quarantines_those_records(
    settings, keyring, contracts, write_landing
) -> None:
    rows = clean_day()
    write_day(write_landing, contracts, {"customers": rows["customers"]})
    ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    rows["orders"][1]["order_status"] = 7  # a number where text is declared
    rows["orders"][2]["order_approved_at"] = 1514768400
    _orders_jsonl(write_landing, contracts, rows["orders"])
    result = ingest_table("orders", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert (result.counts.loaded, result.counts.quarantined) == (1, 2)
    bad = _rows(result.partition_dir / "quarantine.parquet")
    assert [(b["_source_row"], b["failed_check"], b["column_name"]) for b in bad] == [
        (2, "type_error", "order_status"),
        (3, "type_error", "order_approved_at"),
    ]
    assert "a JSON integer number where the contract declares string" in bad[0]["reason"]
    # the reason names the column, never the value (pipelines.lake.quarantine)
    assert "order_approved_at: the value is not a valid timestamp" in bad[1]["reason"]
    assert "1514768400" not in bad[1]["reason"]


def test_json_whole_numbers_where_a_decimal_is_declared_are_drift(
    settings, keyring, contracts, write_landing
) -> None:
    items = _items_parents(settings, keyring, contracts, write_landing)
    cents = [dict(r, price=int(Decimal(r["price"]) * 100)) for r in items]
    jsonl = "olist_order_items_dataset.jsonl"
    write_landing(DAY, jsonl, to_jsonl(contracts, "order_items", cents))
    with pytest.raises(SchemaDriftError, match="price: found JSON integer numbers only"):
        ingest_table("order_items", INTERVAL, settings, keyring=keyring, contracts=contracts)
    # whole and fractional numbers together are amounts in BRL: they load as they are
    amounts = [dict(r, price=n) for r, n in zip(items, [100, 59.9, 100, 25.5], strict=True)]
    write_landing(DAY, jsonl, to_jsonl(contracts, "order_items", amounts))
    result = ingest_table("order_items", INTERVAL, settings, keyring=keyring, contracts=contracts)
    lake = _rows(result.partition_dir / "data.parquet")
    assert [r["price"] for r in lake] == [Decimal("100"), Decimal("59.9"), 100, Decimal("25.5")]


# --- the compatibility tables ---------------------------------------------------------------


def _col(kind: str) -> Column:
    return Column(name="c", type=kind, description="a column")


@pytest.mark.parametrize(
    ("declared", "found", "fits"),
    [
        ("string", "VARCHAR", True),
        ("string", "BIGINT", False),
        ("integer", "INTEGER", True),
        ("integer", "UBIGINT", True),
        ("integer", "DECIMAL(18,0)", True),
        ("integer", "DECIMAL(18,2)", False),
        ("integer", "DOUBLE", False),
        ("decimal(12,2)", "DECIMAL(12,2)", True),
        ("decimal(12,2)", "DECIMAL(38,1)", True),
        ("decimal(12,2)", "DECIMAL(12,3)", False),
        ("decimal(12,2)", "BIGINT", False),
        ("decimal(12,2)", "DOUBLE", True),
        ("decimal(10,0)", "BIGINT", False),
        ("double", "BIGINT", True),
        ("boolean", "BOOLEAN", True),
        ("boolean", "INTEGER", False),
        ("date", "DATE", True),
        ("date", "TIMESTAMP", False),
        ("timestamp", "TIMESTAMP_NS", True),
        ("timestamp", "TIMESTAMP WITH TIME ZONE", True),
        ("timestamp", "DATE", False),
        ("timestamp", "BIGINT", False),
        ("timestamp", "INTEGER[]", False),
    ],
)
def test_parquet_compatibility_table(contracts, declared: str, found: str, fits: bool) -> None:
    problem = parquet_problem(contracts["orders"], _col(declared), found)
    assert (problem is None) is fits, problem


@pytest.mark.parametrize(
    ("declared", "kinds", "fits"),
    [
        ("string", {"VARCHAR"}, True),
        ("string", {"UBIGINT"}, False),
        ("string", {"VARCHAR", "UBIGINT"}, True),  # per record instead
        ("timestamp", {"UBIGINT"}, False),
        ("timestamp", {"DOUBLE", "BIGINT"}, False),
        ("date", {"VARCHAR"}, True),
        ("integer", {"UBIGINT", "VARCHAR"}, True),
        ("decimal(12,2)", {"UBIGINT"}, False),  # cents?
        ("decimal(12,2)", {"UBIGINT", "DOUBLE"}, True),
        ("decimal(12,2)", {"UBIGINT", "VARCHAR"}, True),
        ("decimal(10,0)", {"UBIGINT"}, True),
        ("boolean", {"BOOLEAN"}, True),
        ("boolean", {"UBIGINT"}, False),
        ("double", {"OBJECT"}, False),
        ("string", {"ARRAY"}, False),
        ("string", set(), True),  # only nulls or absent
    ],
)
def test_json_kind_table(declared: str, kinds: set[str], fits: bool) -> None:
    problem = json_column_problem(_col(declared), kinds)
    assert (problem is None) is fits, problem


def test_offsets_are_converted_by_the_one_statement_load_too(
    settings, keyring, contracts, write_landing, caplog
) -> None:
    items = _items_parents(settings, keyring, contracts, write_landing)
    items[0]["shipping_limit_date"] = "2018-01-03 00:00:00-03:00"
    items[1]["shipping_limit_date"] = "2018-01-03 00:00:00+0530"
    write_day(write_landing, contracts, {"order_items": items})
    with caplog.at_level("INFO"):
        result = ingest_table(
            "order_items", INTERVAL, settings, keyring=keyring, contracts=contracts
        )
    assert "(one statement)" in caplog.text  # order_items has no PII: the direct load
    lake = _rows(result.partition_dir / "data.parquet")
    assert [r["shipping_limit_date"] for r in lake[:3]] == [
        datetime(2018, 1, 3, 3),
        datetime(2018, 1, 2, 18, 30),
        datetime(2018, 1, 3),
    ]
