"""Injected defects are exactly where ``_generation.json`` says, and nothing else changes."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import ContractSet
from pipelines.generate import DEFECT_KINDS, generate


def _stated(dirty) -> list[dict]:
    return dirty.manifest["defects"]


def _violates(contract_column, value: str) -> bool:
    if contract_column.allowed_values is not None:
        return value not in contract_column.allowed_values
    number = float(value)
    low, high = contract_column.min, contract_column.max
    return (low is not None and number < float(low)) or (high is not None and number > float(high))


def test_every_kind_is_injected_the_stated_number_of_times(dirty) -> None:
    counts = Counter(d["kind"] for d in _stated(dirty))
    assert counts == {kind: 4 for kind in DEFECT_KINDS}
    assert dirty.report.defects == _stated(dirty)
    assert dirty.manifest["warnings"] == []
    for defect in _stated(dirty):
        assert set(defect) >= {"kind", "table", "file", "line", "row", "column", "primary_key"}
        assert (dirty.out / defect["file"]).is_file()


def test_row_defects_sit_at_the_stated_line_and_row(
    dirty, contracts: ContractSet, csv_records, read_text, con: duckdb.DuckDBPyConnection, scan
) -> None:
    for defect in _stated(dirty):
        if defect["kind"] == "late_file":
            continue
        contract = contracts[defect["table"]]
        columns = contract.column_names
        records = csv_records(dirty.out / defect["file"])
        starts = {line: (number, record) for number, (line, record) in enumerate(records)}
        assert defect["line"] in starts, defect
        number, record = starts[defect["line"]]
        assert number == defect["row"], defect  # records[0] is the header
        kind = defect["kind"]
        if kind == "malformed_line":
            variant = defect["variant"]
            if variant == "too_many_fields":
                assert len(record) > len(columns)
            elif variant == "too_few_fields":
                assert len(record) < len(columns)
            else:
                assert variant == "unterminated_quote"
                assert number == len(records) - 1, "an open quote must be on the last record"
                text = read_text(dirty.out / defect["file"])
                assert text.splitlines()[defect["line"] - 1].count('"') % 2 == 1
            continue
        assert len(record) == len(columns), defect
        values = dict(zip(columns, record, strict=True))
        assert {k: values[k] for k in contract.primary_key} == defect["primary_key"]
        column = defect["column"]
        if kind == "null_required":
            assert values[column] == ""
            assert contract.column(column).required
        elif kind in ("out_of_range", "wrong_type", "orphan_fk"):
            assert values[column] == defect["value"]
        if kind == "out_of_range":
            assert _violates(contract.column(column), values[column])
        elif kind == "wrong_type":
            type_ = contract.column(column).duckdb_type
            parsed = con.execute(f"SELECT TRY_CAST(? AS {type_})", [values[column]]).fetchone()
            assert parsed == (None,), defect
        elif kind == "orphan_fk":
            fk = next(f for f in contract.foreign_keys if f.column == column)
            found = con.sql(
                f"SELECT count(*) FROM {scan(dirty.out, fk.ref_table)} "
                f"WHERE {fk.ref_column} = '{values[column]}'"
            ).fetchone()
            assert found == (0,)
        elif kind == "duplicate_key":
            previous = records[number - 1][1]
            assert previous == record


def test_late_files_arrive_three_days_after_their_date(dirty, con, scan, contracts) -> None:
    late = [d for d in _stated(dirty) if d["kind"] == "late_file"]
    stem = contracts["order_reviews"].source.file_stem
    for defect in late:
        created = date.fromisoformat(defect["created_on"])
        path = Path(defect["file"])
        assert path.parent.name == (created + timedelta(days=3)).isoformat()
        assert path.name.startswith(f"{stem}-{created.isoformat()}")
        dates = con.sql(
            f"SELECT DISTINCT left(review_creation_date, 10), count(*) OVER () "
            f"FROM read_csv('{dirty.out / path}', header=true, all_varchar=true)"
        ).fetchall()
        assert dates == [(created.isoformat(), defect["rows"])]
        # Nothing else of that creation date was delivered on time.
        assert not (dirty.out / created.isoformat() / f"{stem}.csv.gz").exists()
        assert defect["column"] == contracts["order_reviews"].event_time.column


def test_defects_leave_every_other_row_alone(clean, dirty, read_text) -> None:
    """Clean and defective runs differ only in the stated records."""
    stated = _stated(dirty)
    touched = {d["file"] for d in stated}
    moved = {d["file"]: d for d in stated if d["kind"] == "late_file"}
    for entry in clean.manifest["files"]:
        path = entry["path"]
        same = dirty.out / path
        if path not in touched and same.exists():
            assert same.read_bytes() == (clean.out / path).read_bytes(), path
    for path in touched - set(moved):
        clean_lines = read_text(clean.out / path).splitlines()
        dirty_lines = read_text(dirty.out / path).splitlines()
        changed = [line for line in dirty_lines if line not in set(clean_lines)]
        in_file = [d for d in stated if d["file"] == path]
        # Each defect changes or adds exactly one line (a duplicate adds an identical one).
        duplicates = sum(d["kind"] == "duplicate_key" for d in in_file)
        assert len(changed) == len(in_file) - duplicates, path
        assert len(dirty_lines) == len(clean_lines) + duplicates, path
    for path, defect in moved.items():
        original = f"{defect['created_on']}/{Path(path).name.split('-20')[0]}.csv.gz"
        assert (dirty.out / path).read_bytes() == (clean.out / original).read_bytes()


def test_jsonl_defects(tmp_path: Path, contracts: ContractSet) -> None:
    report = generate(tmp_path, orders=2000, seed=4, days=3, fmt="jsonl", defects="all")
    assert len(report.defects) == 3 * len(DEFECT_KINDS)
    for defect in report.defects:
        if defect["kind"] == "late_file":
            continue
        lines = (tmp_path / defect["file"]).read_text(encoding="utf-8").split("\n")
        assert defect["line"] == defect["row"]
        line = lines[defect["line"] - 1]
        if defect["kind"] == "malformed_line":
            assert defect["variant"] == "truncated_json"
            with pytest.raises(json.JSONDecodeError):
                json.loads(line)
            continue
        record = json.loads(line)
        keys = contracts[defect["table"]].primary_key
        assert {k: record[k] for k in keys} == defect["primary_key"]
        if defect["kind"] == "null_required":
            assert record[defect["column"]] is None
        elif defect["column"]:
            assert record[defect["column"]] == defect["value"]


def test_parquet_has_no_malformed_lines(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    report = generate(tmp_path, orders=1500, seed=4, days=3, fmt="parquet", defects="all")
    kinds = Counter(d["kind"] for d in report.defects)
    assert "malformed_line" not in kinds
    assert any("malformed_line" in w for w in report.warnings)
    for defect in report.defects:
        if defect["kind"] in ("late_file",):
            continue
        assert defect["line"] is None
        row = con.sql(
            f"SELECT * FROM read_parquet('{tmp_path / defect['file']}', file_row_number=true) "
            f"WHERE file_row_number = {defect['row'] - 1}"
        ).fetchone()
        assert row is not None
        if defect["kind"] == "null_required":
            assert None in row


def test_selected_kinds_only(tmp_path: Path) -> None:
    report = generate(
        tmp_path, orders=1500, days=3, defects=["orphan_fk", "late_file"], defect_count=2
    )
    assert Counter(d["kind"] for d in report.defects) == {"orphan_fk": 2, "late_file": 2}
    assert {d["table"] for d in report.defects if d["kind"] == "orphan_fk"} == {
        "order_items",
        "order_payments",
    }
