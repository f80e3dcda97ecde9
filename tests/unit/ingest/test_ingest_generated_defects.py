"""Every defect the generator injects is caught: it lands in quarantine at its file and row
with the right check, nothing else is quarantined, and every table's accounting balances."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import pytest

from pipelines.generate import generate
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval

EXPECTED_CHECK = {
    "null_required": {"required_missing"},
    "duplicate_key": {"duplicate_key"},
    "out_of_range": {"out_of_range", "not_allowed"},
    "orphan_fk": {"orphan_fk"},
    "malformed_line": {"malformed_record"},
    "wrong_type": {"type_error"},
}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, contracts):
    from pipelines.protection import KeyRing
    from pipelines.settings import Settings

    data_dir = tmp_path_factory.mktemp("defects")
    settings = Settings(data_dir=data_dir, duckdb_memory_limit="1GB", duckdb_threads=2)
    generate(settings.landing, orders=400, days=4, seed=11, defects="all", defect_count=1)
    info = json.loads((settings.landing / "_generation.json").read_text())
    keyring = KeyRing.generate()
    days = sorted(p.name for p in settings.landing.iterdir() if p.is_dir())
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    whole = Interval.parse(days[0], (last + timedelta(days=1)).isoformat())
    results = {}
    for table in contracts.load_order():
        if table == "order_reviews":  # daily, so that a file delivered late is late
            day = first
            while day <= last:
                results[(table, day)] = ingest_table(
                    table, Interval.day(day), settings, keyring=keyring, contracts=contracts
                )
                day += timedelta(days=1)
        else:
            results[(table, first)] = ingest_table(
                table, whole, settings, keyring=keyring, contracts=contracts
            )
    return settings, info, results


def _quarantine(settings, table):
    con = duckdb.connect()
    return con.execute(
        f"SELECT _source_file, _source_row, failed_check, column_name FROM "
        f"read_parquet('{settings.lake / table}/dt=*/quarantine.parquet')"
    ).fetchall()


def test_every_row_defect_is_quarantined_where_it_was_injected(ingested, contracts):
    settings, info, _ = ingested
    row_defects = [d for d in info["defects"] if d["kind"] != "late_file"]
    assert {d["kind"] for d in row_defects} == set(EXPECTED_CHECK)
    for defect in row_defects:
        entries = {(f, r): (c, col) for f, r, c, col in _quarantine(settings, defect["table"])}
        key = (defect["file"], defect["row"])
        assert key in entries, defect
        check, column = entries[key]
        assert check in EXPECTED_CHECK[defect["kind"]], (defect, check)
        if defect["column"] and defect["kind"] != "orphan_fk":
            assert column == defect["column"], (defect, column)


def test_late_file_rows_are_quarantined_as_late(ingested):
    settings, info, _ = ingested
    late = [d for d in info["defects"] if d["kind"] == "late_file"]
    assert late
    entries = _quarantine(settings, "order_reviews")
    for defect in late:
        flagged = [e for e in entries if e[0] == defect["file"]]
        assert len(flagged) == defect["rows"] > 0
        assert {e[2] for e in flagged} == {"late_arrival"}


def test_nothing_but_the_defects_is_quarantined_and_accounting_balances(ingested, contracts):
    _, info, results = ingested
    expected_rows = {}
    for d in info["defects"]:
        n = d["rows"] if d["kind"] == "late_file" else 1
        expected_rows[d["table"]] = expected_rows.get(d["table"], 0) + n
    quarantined = {}
    for (table, _), result in results.items():
        counts = result.counts
        assert counts.read == counts.loaded + counts.quarantined, table
        quarantined[table] = quarantined.get(table, 0) + counts.quarantined
    for table in contracts:
        assert quarantined.get(table, 0) == expected_rows.get(table, 0), table
