"""`pipelines contracts init`: a contract and a starter suite from a sample file of each
format, with source names, types, key candidates and a PII proposal per column that passes
`contracts check`; against an existing contract, the differences; never a sample value of a
PII-looking column in what it prints or writes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.cli import main
from pipelines.contracts import load_contracts
from pipelines.quality.suites import file_checks, load_suite_file
from tests.conftest import SHARED_DATA

N = 40
EMAILS = [f"canary.person{i}@example.com" for i in range(N)]


def _records() -> list[dict]:
    return [
        {
            "Order No": f"A{i:04d}",
            "Customer ID": float(1000 + i % 7),
            "Email": EMAILS[i],
            "Amount": round(1.5 + i * 2.25, 2),
            "Placed At": f"2018-01-{1 + i % 28:02d} 10:{i % 60:02d}:00",
            "Comment": f"please write to me at canary.comment{i}@example.org thank you so much",
            "Country": ["United Kingdom", "France"][i % 2],
            "Postcode": f"0{1000 + i * 37:04d}",  # a leading zero: a code, not a number
        }
        for i in range(N)
    ]


def _csv(records: list[dict]) -> str:
    header = list(records[0])
    lines = [",".join(header)] + [",".join(str(r[h]) for h in header) for r in records]
    return "\n".join(lines) + "\n"


def _write(folder: Path, fmt: str, records: list[dict]) -> Path:
    path = folder / f"shop_orders.{fmt}"
    if fmt == "csv":
        path.write_text(_csv(records))
    elif fmt == "csv.gz":
        path.write_bytes(gzip.compress(_csv(records).encode()))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        pq.write_table(pa.Table.from_pylist(records), path)
    return path


EXPECTED = {  # name: (source_name, type, pii, protection)
    "order_no": ("Order No", "string", "none", "keep"),
    "customer_id": ("Customer ID", "string", "indirect_identifier", "pseudonymize"),
    "email": ("Email", "string", "direct_identifier", "pseudonymize"),
    "amount": ("Amount", "double", "none", "keep"),
    "placed_at": ("Placed At", "timestamp", "none", "keep"),
    "comment": ("Comment", "string", "free_text", "scrub"),
    "country": ("Country", "string", "quasi_identifier", "keep"),
    "postcode": ("Postcode", "string", "quasi_identifier", "generalize"),
}


def _init(tmp_path: Path, sample: Path, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setenv("PIPELINES_CONTRACTS_DIR", str(tmp_path / "contracts"))
    code = main(
        [
            *("contracts", "init", "--from", str(sample), "--table", "shop_orders"),
            *("--suites-dir", str(tmp_path / "expectations")),
        ]
    )
    return code, capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "jsonl", "parquet"])
def test_init_proposes_a_contract_that_passes_check_for_each_format(
    tmp_path: Path, fmt: str, monkeypatch, capsys
):
    sample = _write(tmp_path, fmt, _records())
    code, out = _init(tmp_path, sample, monkeypatch, capsys)
    assert code == 0, out

    contracts = load_contracts(tmp_path / "contracts")  # what `contracts check` runs
    contract = contracts["shop_orders"]
    found = {
        c.name: (c.source_name, c.type, c.pii.value, c.protection.value) for c in contract.columns
    }
    assert found == EXPECTED
    assert contract.primary_key == ["order_no"]  # unique in the sample, no missing value
    assert contract.source.file_stem == "shop_orders"
    assert contract.source.region == "BR"  # scrubbing needs one
    text = (tmp_path / "contracts" / "shop_orders.yml").read_text()
    assert "#   order_no: 100.00%" in text  # key candidates with measured uniqueness
    assert "detector found EMAIL in 100% of 40 sampled values" in text

    suite = load_suite_file("shop_orders", tmp_path / "expectations")
    names = {s.name for s in file_checks(suite, contract)}
    assert names == {"amount_in_sample_range"}  # ranges of non-PII numbers only

    written = out + text + (tmp_path / "expectations" / "shop_orders.yml").read_text()
    leaks = [v for v in [*EMAILS, "canary.comment3@", "1003.0"] if v in written]
    assert leaks == []


def test_init_writes_the_starter_suite_into_the_settings_expectations_dir(
    tmp_path: Path, monkeypatch, capsys
):
    """Without --suites-dir the suite goes where the shop's settings keep suites, never into
    the repository's expectations/."""
    sample = _write(tmp_path, "csv", _records())
    monkeypatch.setenv("PIPELINES_CONTRACTS_DIR", str(tmp_path / "contracts"))
    monkeypatch.setenv("PIPELINES_EXPECTATIONS_DIR", str(tmp_path / "shop-suites"))
    code = main(["contracts", "init", "--from", str(sample), "--table", "shop_orders"])
    assert code == 0, capsys.readouterr().out
    assert (tmp_path / "shop-suites" / "shop_orders.yml").is_file()
    capsys.readouterr()
    # the draft's placeholders fail `contracts check` until someone fills them in
    assert main(["contracts", "check"]) == 1
    err = capsys.readouterr().err
    assert "shop_orders.yml: owner" in err and "shop_orders.yml: description" in err
    assert "columns.order_no.description" in err


def test_init_against_an_existing_contract_prints_the_drift_and_writes_nothing(
    tmp_path: Path, monkeypatch, capsys
):
    first = _write(tmp_path, "csv", _records())
    assert _init(tmp_path, first, monkeypatch, capsys)[0] == 0
    contract_file = tmp_path / "contracts" / "shop_orders.yml"
    before = contract_file.read_text()

    drifted = []
    for i, r in enumerate(_records()):
        r = {k: v for k, v in r.items() if k != "Amount"} | {"Discount": i * 0.5}
        if i % 3 == 0:
            r["Order No"] = ""  # now missing in some rows
        drifted.append(r)
    later = tmp_path / "later"
    later.mkdir()
    code, out = _init(tmp_path, _write(later, "jsonl", drifted), monkeypatch, capsys)

    assert code == 1
    assert "differs from the contract" in out
    assert "+ 'Discount': in the file, not in the contract (file type double)" in out
    assert "- 'Amount': in the contract, not in the file" in out
    assert contract_file.read_text() == before
    assert not any(e in out for e in EMAILS)


def test_init_on_online_retail_ii(tmp_path: Path, monkeypatch, capsys):
    sample = SHARED_DATA / "online_retail_ii" / "online_retail_ii_2009_2010.csv.gz"
    if not sample.is_file():
        pytest.skip(f"Online Retail II not available at {sample}")
    monkeypatch.setenv("PIPELINES_CONTRACTS_DIR", str(tmp_path / "contracts"))
    code = main(
        [
            *("contracts", "init", "--from", str(sample), "--table", "online_retail"),
            *("--suites-dir", str(tmp_path / "expectations")),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    contract = load_contracts(tmp_path / "contracts")["online_retail"]
    columns = {c.name: c for c in contract.columns}
    assert columns["customer_id"].source_name == "Customer ID"
    assert columns["customer_id"].protection.value == "pseudonymize"
    assert columns["country"].pii.value == "quasi_identifier"
    assert columns["invoice"].type == "string"  # cancellations are 'C536379'
    assert columns["invoice_date"].type == "timestamp"
    assert contract.primary_key == [] and contract.row_key is not None  # no natural key
    raw = yaml.safe_load((tmp_path / "contracts" / "online_retail.yml").read_text())
    assert raw["columns"][0]["source_name"] == "Invoice"


def test_name_hints_fit_the_column_type_and_an_id_is_no_text():
    from pipelines.contracts import PiiClass, Protection
    from pipelines.scaffold.pii import classify

    assert classify("review_id", "string", ["r1", "r2"], "BR").pii is PiiClass.NONE
    assert classify("review_comment", "string", ["ok"], "BR").protection is Protection.SCRUB
    assert classify("birth_year", "integer", None, "BR").pii is PiiClass.NONE  # no age band
    assert classify("birth_date", "date", None, "BR").generalize == "age_band"
    assert classify("product_name", "string", ["a lamp"], "BR").pii is PiiClass.NONE
