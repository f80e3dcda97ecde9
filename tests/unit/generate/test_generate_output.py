"""Layout, determinism, formats and chunking of the generator's output."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import ContractSet
from pipelines.generate import generate, orders_for_items

STEMS_FIRST_DAY_ONLY = ("olist_products_dataset", "olist_sellers_dataset")


def _tree(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }


def _table_of(name: str, contracts: ContractSet) -> str:
    for table in contracts:
        stem = contracts[table].source.file_stem
        if name.startswith(stem + ".") or name.startswith(stem + "-"):
            return table
    raise AssertionError(f"{name} belongs to no contract")


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    kwargs = dict(orders=1500, seed=3, days=3, defects="all", chunk_rows=700)
    generate(tmp_path / "a", **kwargs)  # type: ignore[arg-type]
    generate(tmp_path / "b", **kwargs)  # type: ignore[arg-type]
    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert list(first) == list(second)
    assert first == second


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    generate(tmp_path / "a", orders=500, seed=1, days=2)
    generate(tmp_path / "b", orders=500, seed=2, days=2)
    name = "2018-01-01/olist_orders_dataset.csv.gz"
    assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "b" / name).read_bytes()


def test_gzip_headers_carry_no_name_or_time(clean) -> None:
    for path in clean.out.rglob("*.csv.gz"):
        header = path.read_bytes()[:10]
        assert header[:3] == b"\x1f\x8b\x08"
        assert header[3] == 0, f"{path}: gzip header has flags (a file name?)"
        assert header[4:8] == b"\0\0\0\0", f"{path}: gzip mtime is set"


def test_every_header_is_the_contract_column_list(clean, contracts, read_text) -> None:
    files = [p for p in clean.out.rglob("*.csv.gz")]
    assert files
    for path in files:
        table = _table_of(path.name, contracts)
        header = read_text(path).split("\n", 1)[0]
        assert header == ",".join(contracts[table].column_names), path


def test_folder_layout(clean, contracts) -> None:
    folders = sorted(p.name for p in clean.out.iterdir() if p.is_dir())
    start = date(2018, 1, 1)
    purchase_days = [(start + timedelta(d)).isoformat() for d in range(5)]
    assert folders[:5] == purchase_days
    # Reviews are delivered on their creation date, weeks after the last purchase day.
    assert folders[-1] > purchase_days[-1]
    for folder in folders:
        names = {p.name for p in (clean.out / folder).iterdir()}
        for stem in STEMS_FIRST_DAY_ONLY:
            assert (f"{stem}.csv.gz" in names) == (folder == purchase_days[0])
        has_orders = "olist_orders_dataset.csv.gz" in names
        assert has_orders == (folder in purchase_days)
        if has_orders:
            for table in ("customers", "customer_profiles", "order_items", "order_payments"):
                assert f"{contracts[table].source.file_stem}.csv.gz" in names


def test_manifest_counts_match_the_files(clean, con, scan) -> None:
    manifest = clean.manifest
    assert manifest["arguments"]["orders"] == 6000
    assert manifest["arguments"]["seed"] == 7
    assert manifest["arguments"]["start"] == "2018-01-01"
    for table, rows in manifest["rows"].items():
        assert con.sql(f"SELECT count(*) FROM {scan(clean.out, table)}").fetchone() == (rows,)
    for entry in manifest["files"]:
        assert (clean.out / entry["path"]).is_file()
    by_day = manifest["rows_by_day"]
    assert sum(day.get("orders", 0) for day in by_day.values()) == 6000
    assert clean.report.rows == manifest["rows"]
    assert not manifest["defects"]


def test_reviews_land_in_the_folder_of_their_creation_date(clean, con, scan) -> None:
    wrong = con.sql(
        f"SELECT count(*) FROM {scan(clean.out, 'order_reviews')} "
        "WHERE left(review_creation_date, 10) <> folder"
    ).fetchone()
    assert wrong == (0,)


def test_chunk_rows_splits_files_without_changing_data(tmp_path: Path, read_text) -> None:
    generate(tmp_path / "whole", orders=2000, seed=5, days=2)
    report = generate(tmp_path / "parts", orders=2000, seed=5, days=2, chunk_rows=300)
    folder = tmp_path / "parts" / "2018-01-01"
    parts = sorted(folder.glob("olist_orders_dataset-part-*.csv.gz"))
    assert len(parts) >= 3
    assert [p.name for p in parts][:2] == [
        "olist_orders_dataset-part-00001.csv.gz",
        "olist_orders_dataset-part-00002.csv.gz",
    ]
    assert not (folder / "olist_orders_dataset.csv.gz").exists()
    bodies = [read_text(p).split("\n", 1) for p in parts]
    assert all(len(body.splitlines()) <= 300 for _, body in bodies)
    whole = read_text(tmp_path / "whole" / "2018-01-01" / "olist_orders_dataset.csv.gz")
    assert whole == bodies[0][0] + "\n" + "".join(body for _, body in bodies)
    assert any("part-" in f for f in report.files)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "jsonl.gz", "parquet"])
def test_other_formats_hold_the_same_data(
    fmt: str, tmp_path: Path, contracts: ContractSet, con: duckdb.DuckDBPyConnection
) -> None:
    generate(tmp_path / "gz", orders=800, seed=9, days=2)
    generate(tmp_path / fmt, orders=800, seed=9, days=2, fmt=fmt)
    columns = contracts["order_reviews"].column_names
    stem = contracts["order_reviews"].source.file_stem
    reference = con.sql(
        f"SELECT {', '.join(columns)} FROM read_csv('{tmp_path}/gz/*/{stem}.csv.gz', "
        "all_varchar=true, header=true) ORDER BY review_id"
    ).fetchall()
    source = f"'{tmp_path}/{fmt}/*/{stem}.{fmt}'"
    if fmt.startswith("jsonl"):
        relation = con.sql(f"SELECT * FROM read_json({source}, format='newline_delimited')")
    elif fmt == "parquet":
        relation = con.sql(f"SELECT * FROM read_parquet({source})")
    else:
        relation = con.sql(f"SELECT * FROM read_csv({source}, all_varchar=true, header=true)")
    assert relation.columns == columns
    rows = con.sql(
        f"SELECT {', '.join(f'CAST({c} AS VARCHAR)' for c in columns)} FROM relation "
        "ORDER BY review_id"
    ).fetchall()
    assert rows == reference


def test_jsonl_values_are_strings_or_null(tmp_path: Path, read_text) -> None:
    generate(tmp_path, orders=300, seed=1, days=1, fmt="jsonl")
    lines = read_text(tmp_path / "2018-01-01" / "olist_orders_dataset.jsonl").splitlines()
    assert len(lines) == 300
    for line in lines:
        record = json.loads(line)
        assert all(v is None or isinstance(v, str) for v in record.values())


def test_items_target(tmp_path: Path) -> None:
    report = generate(tmp_path, items=5000, seed=2, days=2)
    assert report.orders == orders_for_items(5000)
    assert abs(report.items - 5000) / 5000 < 0.05


def test_refuses_a_non_empty_folder_unless_forced(tmp_path: Path) -> None:
    generate(tmp_path, orders=200, days=2)
    keep = tmp_path / "notes.txt"
    keep.write_text("not generated")
    stray = tmp_path / "2017-12-31"
    stray.mkdir()
    with pytest.raises(FileExistsError):
        generate(tmp_path, orders=200, days=2)
    generate(tmp_path, orders=100, days=1, force=True)
    assert keep.read_text() == "not generated"
    assert not stray.exists()
    assert not (tmp_path / "2018-01-02" / "olist_orders_dataset.csv.gz").exists()
    assert json.loads((tmp_path / "_generation.json").read_text())["arguments"]["orders"] == 100


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        generate(tmp_path, orders=10, items=10)
    with pytest.raises(ValueError, match="unknown defect"):
        generate(tmp_path, orders=10, defects=["typo"])
    with pytest.raises(ValueError, match="format"):
        generate(tmp_path, orders=10, fmt="xlsx")


def test_progress_reports_each_day(tmp_path: Path) -> None:
    lines: list[str] = []
    generate(tmp_path, orders=300, days=3, progress=lines.append)
    days = [line for line in lines if re.match(r"^\d{4}-\d{2}-\d{2}: [\d,]+ orders", line)]
    assert len(days) == 3
    assert all("rows/s" in line for line in days)
    assert lines[-1].startswith("done: 300 orders")


def test_columns_follow_the_contracts(tmp_path: Path, read_text) -> None:
    """Reordered or added contract columns change the files; nothing is hard-coded."""
    import shutil

    import yaml

    from pipelines.settings import PROJECT_DIR

    contracts_dir = tmp_path / "contracts"
    shutil.copytree(PROJECT_DIR / "contracts", contracts_dir)
    path = contracts_dir / "sellers.yml"
    raw = yaml.safe_load(path.read_text())
    raw["columns"] = [
        *reversed(raw["columns"]),
        {"name": "seller_rating", "type": "double", "description": "new"},
    ]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    report = generate(tmp_path / "out", orders=100, days=1, contracts_dir=contracts_dir)
    text = read_text(tmp_path / "out" / "2018-01-01" / "olist_sellers_dataset.csv.gz")
    header, first = text.splitlines()[:2]
    assert header == "seller_state,seller_city,seller_zip_code_prefix,seller_id,seller_rating"
    assert first.endswith(",") and len(first.split(",")[3]) == 32
    assert report.warnings == ["sellers.seller_rating: not generated (written empty)"]
