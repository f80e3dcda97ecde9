"""Values DuckDB would read but nothing downstream takes for the same value: years outside
1-9999, offsets no zone uses, numbers that are no finite double: ``type_error``."""

from __future__ import annotations

from datetime import timedelta

import duckdb

from pipelines.contracts import Contract, ContractSet
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from tests.factories import DAY

INTERVAL = Interval.parse(DAY, "2018-01-02")

PROBE = Contract.model_validate(
    {
        "table": "probe",
        "version": 1,
        "description": "dates and timestamps",
        "owner": "data@example.com",
        "source": {"file_stem": "probe"},
        "primary_key": ["id"],
        "columns": [
            {"name": "id", "type": "string", "required": True, "description": "key"},
            {"name": "d", "type": "date", "description": "a date"},
            {"name": "ts", "type": "timestamp", "description": "a timestamp"},
        ],
    }
)


def _load(settings, keyring, write_landing, contract: Contract, text: str):
    """Ingest ``text`` as the day's ``probe.csv`` under ``contract`` alone."""
    write_landing(DAY, "probe.csv", text.encode())
    return ingest_table(
        "probe", INTERVAL, settings, keyring=keyring, contracts=ContractSet([contract])
    )


def _quarantined(result, columns: str) -> list[tuple]:
    return duckdb.execute(
        f"SELECT {columns} FROM read_parquet('{result.partition_dir}/quarantine.parquet') "
        "ORDER BY _source_row"
    ).fetchall()


def test_out_of_range_years_and_offsets_are_quarantined(settings, keyring, write_landing):
    rows = [
        ("ok", "2018-01-01", "2018-01-01 10:00:00-03:00"),
        ("year0", "0000-01-01", "2018-01-01 10:00:00"),
        ("year10000", "10000-01-01", "2018-01-01 10:00:00"),
        ("ts_year0", "2018-01-01", "0000-01-01 00:00:00"),
        ("offset99", "2018-01-01", "2018-01-01 10:00:00+99:00"),
        ("offset25", "2018-01-01", "2018-01-01 10:00+25:00"),
        ("minutes75", "2018-01-01", "2018-01-01 10:00:00+05:75"),
        ("plus14", "2018-01-01", "2018-01-01 10:00:00+14:00"),
    ]
    text = "id,d,ts\n" + "".join(",".join(r) + "\n" for r in rows)
    result = _load(settings, keyring, write_landing, PROBE, text)
    assert (result.counts.loaded, result.counts.quarantined) == (2, 6)
    quarantined = _quarantined(result, "column_name, reason")
    assert [c for c, _ in quarantined] == ["d", "d", "ts", "ts", "ts", "ts"]
    assert "outside the years 1 to 9999" in quarantined[2][1]
    loaded = duckdb.execute(
        f"SELECT id, ts FROM read_parquet('{result.partition_dir}/data.parquet') ORDER BY id"
    ).fetchall()
    assert [(i, str(t)) for i, t in loaded] == [
        ("ok", "2018-01-01 13:00:00"),
        ("plus14", "2017-12-31 20:00:00"),
    ]


def test_numbers_that_are_no_finite_double_are_quarantined(settings, keyring, write_landing):
    data = PROBE.model_dump(mode="json", exclude_none=True)
    data["columns"].append({"name": "x", "type": "double", "description": "a number"})
    contract = Contract.model_validate(data)
    values = ["1.5", "1e400", "-1e400", "NaN", "inf", "-Infinity", "1e308"]
    text = "id,d,ts,x\n" + "".join(f"r{i},,,{v}\n" for i, v in enumerate(values))
    result = _load(settings, keyring, write_landing, contract, text)
    assert (result.counts.loaded, result.counts.quarantined) == (2, 5)
    reasons = _quarantined(result, "reason")
    assert all("is not a finite number" in r for (r,) in reasons)


def test_events_ahead_of_the_interval_are_quarantined(settings, keyring, write_landing):
    """A whole year's export in one day's folder, or a mistyped date: events 14 hours or more
    after the interval end belong to a later interval (``ahead_of_interval``)."""
    data = PROBE.model_dump(mode="json", exclude_none=True)
    data["event_time"] = {"column": "ts"}
    contract = Contract.model_validate(data)
    end = INTERVAL.end.replace(tzinfo=None)
    stamps = {
        "in": INTERVAL.start.replace(tzinfo=None).isoformat(sep=" "),
        "ahead13h": (end + timedelta(hours=13)).isoformat(sep=" "),
        "ahead14h": (end + timedelta(hours=14)).isoformat(sep=" "),
        "next_year": (end + timedelta(days=365)).isoformat(sep=" "),
    }
    text = "id,d,ts\n" + "".join(f"{k},,{v}\n" for k, v in stamps.items())
    result = _load(settings, keyring, write_landing, contract, text)
    rows = _quarantined(result, "failed_check, reason")
    assert (result.counts.loaded, result.counts.quarantined) == (2, 2)
    assert [c for c, _ in rows] == ["ahead_of_interval", "ahead_of_interval"]
    assert "14h or more after the interval end" in rows[0][1]
    assert stamps["next_year"][:10] not in rows[1][1]  # the value itself is never shown
