"""Types from the contract, checked at the source (issue #12).

Timestamps with an offset are converted to UTC exactly, or quarantined when the source forbids
offsets; naive timestamps are read in the time zone the source declares. Parquet column types
and JSON value kinds are compared with the contract before anything is cast to text: a type
that could change a value's meaning is schema drift, named, unless the contract allows it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.contracts import Column, Contract, ContractError, ContractSet, Source, load_contract
from pipelines.ingest import Interval, ingest_table
from pipelines.ingest.transform import typed_expr
from tests.factories import DAY, clean_day, write_day

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
