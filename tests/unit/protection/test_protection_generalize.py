from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from pipelines.contracts import Generalization
from pipelines.protection import age_band, generalize, sql_generalize, zip_prefix_3

FULLWIDTH_ZIP = "\uff10\uff11\uff13\uff11\uff10"  # fullwidth digits: not ASCII
ZIPS = ["01310", "99999", "00000", "1310", "013100", "0131a", " 01310", "01310 ", FULLWIDTH_ZIP, ""]


def test_zip_prefix_3_python() -> None:
    assert zip_prefix_3("01310") == "013xx"
    assert zip_prefix_3("99999") == "999xx"
    for bad in ["1310", "013100", "0131a", " 01310", FULLWIDTH_ZIP, "", None]:
        assert zip_prefix_3(bad) is None


def test_zip_prefix_3_sql_matches_python(con: duckdb.DuckDBPyConnection) -> None:
    values: list[str | None] = [*ZIPS, None]
    con.register("src", pa.table({"id": range(len(values)), "z": pa.array(values, pa.string())}))
    expr = sql_generalize(Generalization.ZIP_PREFIX_3, "z")
    got = [r[0] for r in con.execute(f"SELECT {expr} FROM src ORDER BY id").fetchall()]
    assert got == [zip_prefix_3(v) for v in values]
    assert generalize("zip_prefix_3", "01310") == "013xx"


@pytest.mark.parametrize(
    ("birth", "reference", "band"),
    [
        (date(2000, 6, 15), date(2018, 6, 14), "<18"),
        (date(2000, 6, 15), date(2018, 6, 15), "18-24"),
        (date(2000, 2, 29), date(2018, 2, 28), "<18"),
        (date(2000, 2, 29), date(2018, 3, 1), "18-24"),
        (date(2000, 2, 29), date(2020, 2, 29), "18-24"),
        (date(1993, 9, 1), date(2018, 8, 31), "18-24"),
        (date(1993, 9, 1), date(2018, 9, 1), "25-34"),
        (date(1953, 9, 1), date(2018, 9, 1), "65+"),
        (date(1953, 9, 2), date(2018, 9, 1), "55-64"),
        (date(2018, 9, 1), date(2018, 9, 1), "<18"),
        (date(2018, 9, 2), date(2018, 9, 1), None),
        (None, date(2018, 9, 1), None),
    ],
)
def test_age_band_examples(birth: date | None, reference: date, band: str | None) -> None:
    assert age_band(birth, reference) == band


def _grid() -> tuple[list[date], list[date]]:
    births = [date(1900, 1, 1), date(1952, 2, 29), date(2000, 2, 29), date(2004, 2, 29)]
    start = date(1930, 1, 1)
    births += [start + timedelta(days=d) for d in range(0, 365 * 90, 97)]
    for year in (1953, 1963, 1973, 1983, 1993, 1999, 2000, 2001):
        births += [date(year, 2, 28), date(year, 3, 1), date(year, 9, 1), date(year, 8, 31)]
    refs = [
        date(2016, 2, 28),
        date(2016, 2, 29),
        date(2016, 3, 1),
        date(2017, 2, 28),
        date(2017, 3, 1),
        date(2018, 8, 31),
        date(2018, 9, 1),
        date(2018, 12, 31),
        date(2019, 1, 1),
        date(2020, 2, 29),
    ]
    return births, refs


def test_age_band_sql_matches_python_on_grid(con: duckdb.DuckDBPyConnection) -> None:
    births, refs = _grid()
    pairs = [(b, r) for b in [*births, *refs] for r in refs]
    con.register(
        "src",
        pa.table(
            {
                "id": range(len(pairs)),
                "b": pa.array([b for b, _ in pairs], pa.date32()),
                "r": pa.array([r for _, r in pairs], pa.date32()),
            }
        ),
    )
    expr = sql_generalize("age_band", "b", "r")
    got = [row[0] for row in con.execute(f"SELECT {expr} FROM src ORDER BY id").fetchall()]
    assert got == [age_band(b, r) for b, r in pairs]
    assert len(set(got)) == 8  # every band, and NULL for future birth dates


def test_age_band_sql_with_timestamp_parameter_and_null(con: duckdb.DuckDBPyConnection) -> None:
    expr = sql_generalize("age_band", "b", "$interval_end")
    end = datetime(2018, 9, 1, 23, 59)
    rows = con.execute(
        f"SELECT {expr} FROM (VALUES (DATE '2000-09-01'), (NULL::DATE), (DATE '2000-09-02')) t(b)",
        {"interval_end": end},
    ).fetchall()
    assert [r[0] for r in rows] == ["18-24", None, "<18"]
    assert generalize("age_band", date(2000, 9, 1), end.date()) == "18-24"
    assert age_band(datetime(2000, 9, 1, 12), end) == "18-24"


def test_age_band_needs_reference() -> None:
    with pytest.raises(ValueError, match="reference date"):
        sql_generalize("age_band", "b")
    with pytest.raises(ValueError, match="reference date"):
        generalize("age_band", date(2000, 1, 1))
    with pytest.raises(ValueError):
        sql_generalize("truncate", "b")
