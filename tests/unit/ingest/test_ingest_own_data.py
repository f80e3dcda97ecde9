"""Onboarding a shop's own export by contract alone: source names, file patterns, and a table
without a natural key (the example contract in docs/examples/contracts/invoice_lines.yml)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.cli import main
from pipelines.contracts import load_contracts
from pipelines.ingest import ingest_table
from pipelines.ingest.readers import SchemaDriftError
from pipelines.lake.interval import Interval
from pipelines.lake.manifest import Manifest
from pipelines.protection import create_keyring
from pipelines.settings import PROJECT_DIR, Settings
from pipelines.summary import print_summary

EXAMPLE = PROJECT_DIR / "docs" / "examples" / "contracts" / "invoice_lines.yml"
DAY = "2010-12-01"
INTERVAL = Interval.parse(DAY, "2010-12-02")
HEADER = [
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
]
LINES = [
    ["536365", "85123A", "WHITE HANGING HEART", "6", "2010-12-01 08:26:00", "2.55", "17850", "UK"],
    ["536365", "71053", "WHITE METAL LANTERN", "6", "2010-12-01 08:26:00", "3.39", "17850", "UK"],
    # the same line twice on one invoice: legitimate, not a duplicate key
    ["536365", "71053", "WHITE METAL LANTERN", "6", "2010-12-01 08:26:00", "3.39", "17850", "UK"],
    # a return (negative quantity), and a guest line without a customer id
    ["C536379", "D", "Discount", "-1", "2010-12-01 09:41:00", "27.50", "14527", "UK"],
    ["536544", "21773", "DECORATIVE BOX", "1", "2010-12-01 14:32:00", "2.51", "", "UK"],
]


def own_settings(settings: Settings, tmp_path: Path, **changes: object) -> Settings:
    """Settings whose contracts directory holds only the example contract, changed."""
    folder = tmp_path / "contracts"
    folder.mkdir(exist_ok=True)
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw.update(changes)
    (folder / "invoice_lines.yml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return settings.model_copy(update={"contracts_dir": folder})


def csv_text(header: list[str], lines: list[list[str]]) -> str:
    def field(v: str) -> str:
        return f'"{v}"' if "," in v or " " in v else v

    return "\n".join(",".join(field(v) for v in row) for row in [header, *lines]) + "\n"


def write_file(settings: Settings, name: str, fmt: str, lines: list[list[str]] = LINES) -> None:
    folder = settings.landing / DAY
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        (folder / name).write_text(csv_text(HEADER, lines), encoding="utf-8")
    elif fmt == "jsonl":
        records = [{h: v for h, v in zip(HEADER, row, strict=True) if v} for row in lines]
        (folder / name).write_text("\n".join(json.dumps(r) for r in records) + "\n")
    else:
        columns = {h: [row[i] or None for row in lines] for i, h in enumerate(HEADER)}
        pq.write_table(pa.table(columns), folder / name)


def ingest(settings: Settings, keyring):
    contracts = load_contracts(settings.contracts_dir)
    return ingest_table("invoice_lines", INTERVAL, settings, keyring=keyring, contracts=contracts)


def lake(result, name: str = "data.parquet") -> list[dict]:
    rel = duckdb.connect().sql(f"SELECT * FROM read_parquet('{result.partition_dir / name}')")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("Online Retail 2010.csv", "csv"),
        ("online_retail-1.jsonl", "jsonl"),
        ("online_retail_2010.parquet", "parquet"),
    ],
)
def test_source_names_map_headers_keys_and_parquet_columns(settings, keyring, tmp_path, name, fmt):
    settings = own_settings(settings, tmp_path)
    write_file(settings, name, fmt)
    result = ingest(settings, keyring)
    assert result.counts.read == result.counts.loaded == len(LINES)
    rows = lake(result)
    assert [r["invoice_no"] for r in rows] == [line[0] for line in LINES]
    assert [r["quantity"] for r in rows] == [6, 6, 6, -1, 1]
    assert rows[0]["_source_file"] == f"{DAY}/{name}"
    # the pseudonymized customer id: a token, never the number; missing stays missing
    assert re.fullmatch(r"p1:[0-9a-f]{32}", rows[0]["customer_id"])
    assert rows[4]["customer_id"] is None
    assert "17850" not in json.dumps(rows, default=str)


def test_a_missing_source_column_is_named_by_its_header(settings, keyring, tmp_path):
    settings = own_settings(settings, tmp_path)
    folder = settings.landing / DAY
    folder.mkdir(parents=True)
    header = [h for h in HEADER if h != "Quantity"]
    lines = [[v for h, v in zip(HEADER, row, strict=True) if h != "Quantity"] for row in LINES]
    (folder / "invoice_lines.csv").write_text(csv_text(header, lines))
    with pytest.raises(SchemaDriftError, match=r"invoice_lines\.csv: missing column\(s\) Quantity"):
        ingest(settings, keyring)


def test_a_contract_name_in_place_of_the_source_name_is_not_taken(settings, keyring, tmp_path):
    settings = own_settings(settings, tmp_path)
    folder = settings.landing / DAY
    folder.mkdir(parents=True)
    header = ["quantity" if h == "Quantity" else h for h in HEADER]
    (folder / "invoice_lines.csv").write_text(csv_text(header, LINES))
    with pytest.raises(SchemaDriftError, match=r"missing column\(s\) Quantity"):
        ingest(settings, keyring)


def test_repeated_lines_load_with_distinct_row_keys_stable_across_runs(settings, keyring, tmp_path):
    settings = own_settings(settings, tmp_path)
    write_file(settings, "invoice_lines.csv", "csv")
    first = ingest(settings, keyring)
    counts = first.counts
    assert (counts.read, counts.loaded, counts.quarantined, counts.dropped) == (5, 5, 0, 0)
    keys = [r["_row_key"] for r in lake(first)]
    assert all(re.fullmatch(r"[0-9a-f]{32}-[0-9]+", k) for k in keys)
    assert len(set(keys)) == 5
    # the repeated line: same fingerprint, occurrence 1 and 2
    assert keys[1].split("-")[0] == keys[2].split("-")[0]
    assert (keys[1].split("-")[1], keys[2].split("-")[1]) == ("1", "2")
    again = ingest(settings, keyring)
    assert [r["_row_key"] for r in lake(again)] == keys
    assert again.manifest.dataset_version == first.manifest.dataset_version


def test_exact_duplicates_can_be_quarantined_naming_the_first(settings, keyring, tmp_path):
    settings = own_settings(settings, tmp_path, row_key={"duplicates": "quarantine"})
    write_file(settings, "invoice_lines.csv", "csv")
    result = ingest(settings, keyring)
    counts = result.counts
    assert (counts.read, counts.loaded, counts.quarantined, counts.dropped) == (5, 4, 1, 0)
    assert result.manifest.quarantine_by_check == {"exact_duplicate": 1}
    (bad,) = lake(result, "quarantine.parquet")
    assert bad["_source_row"] == 3 and bad["failed_check"] == "exact_duplicate"
    assert bad["reason"] == f"exact duplicate of {DAY}/invoice_lines.csv row 2 (loaded)"
    assert "17850" not in bad["record"]


def test_exact_duplicates_can_be_dropped_and_are_counted(settings, keyring, tmp_path, capsys):
    settings = own_settings(settings, tmp_path, row_key={"duplicates": "drop"})
    write_file(settings, "invoice_lines.csv", "csv")
    result = ingest(settings, keyring)
    counts = Manifest.read(result.partition_dir).counts
    assert (counts.read, counts.loaded, counts.quarantined, counts.dropped) == (5, 4, 0, 1)
    assert counts.balanced
    assert [r["_source_row"] for r in lake(result)] == [1, 2, 4, 5]
    assert lake(result, "quarantine.parquet") == []
    assert print_summary(settings, INTERVAL) == 0
    out = capsys.readouterr().out
    assert "row accounting: read = loaded + quarantined + dropped for every table" in out
    assert "(row_key.duplicates: drop): invoice_lines 1" in out


def test_an_empty_key_table_without_pii_loads_in_one_statement_too(
    settings, keyring, tmp_path, caplog
):
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    columns = [
        {**c, "pii": "none"} if c["name"] == "country" else c
        for c in raw["columns"]
        if c["name"] != "customer_id"
    ]
    settings = own_settings(settings, tmp_path, columns=columns)
    folder = settings.landing / DAY
    folder.mkdir(parents=True)
    keep = [i for i, h in enumerate(HEADER) if h != "Customer ID"]
    (folder / "invoice_lines.csv").write_text(
        csv_text([HEADER[i] for i in keep], [[row[i] for i in keep] for row in LINES])
    )
    caplog.set_level("INFO", logger="pipelines.ingest.run")
    result = ingest(settings, keyring)
    assert "(one statement)" in caplog.text
    assert result.counts.loaded == 5
    assert len({r["_row_key"] for r in lake(result)}) == 5


def test_the_example_contract_is_a_valid_contract_set(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder)
    contract = load_contracts(folder)["invoice_lines"]
    assert contract.primary_key == [] and contract.row_key is not None


def test_pipelines_ingest_onboards_the_example_from_settings_alone(
    settings, tmp_path, monkeypatch, capsys
):
    """No Python: a contracts directory, a start date and a key file in the environment."""
    own = own_settings(settings, tmp_path, row_key={"duplicates": "drop"})
    write_file(own, "Online Retail 2010.csv", "csv")
    key_file = tmp_path / "keyring.json"
    create_keyring(key_file)
    monkeypatch.setenv("PIPELINES_DATA_DIR", str(own.data_dir))
    monkeypatch.setenv("PIPELINES_CONTRACTS_DIR", str(own.contracts_dir))
    monkeypatch.setenv("PIPELINES_KEY_FILE", str(key_file))
    monkeypatch.setenv("PIPELINES_DAG_START_DATE", DAY)
    assert main(["ingest", "--all", "--start", DAY, "--end", "2010-12-02"]) == 0
    out = capsys.readouterr().out
    header, _, row = out.splitlines()[:3]
    assert header.split()[:6] == ["table", "read", "loaded", "quarantined", "dropped", "partition"]
    assert row.split()[:5] == ["invoice_lines", "5", "4", "0", "1"]
