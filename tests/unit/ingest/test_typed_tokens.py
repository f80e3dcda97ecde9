"""Tokens and ciphertexts of a typed column are of its typed value, printed canonically: the
same number written ``13085.0`` in one export and ``13085`` in another is one pseudonym."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.contracts import Contract, ContractSet
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from tests.factories import DAY, clean_day, to_csv

INTERVAL = Interval.parse(DAY, "2018-01-02")


def _products_with(contracts: ContractSet, protection: str) -> ContractSet:
    data = contracts["products"].model_dump(mode="json", exclude_none=True)
    for column in data["columns"]:
        if column["name"] == "product_name_lenght":  # an integer column
            column.update(pii="indirect_identifier", protection=protection)
    return ContractSet([Contract.model_validate(data)])


@pytest.mark.parametrize("protection", ["pseudonymize", "encrypt"])
def test_one_integer_written_two_ways_gets_one_token(
    settings, keyring, contracts, write_landing, protection
) -> None:
    base = clean_day()["products"][0]
    written = ["13085", "13085.0", " 13085 ", "+13085", "13086"]
    rows = [
        dict(base, product_id=f"p{i:031d}", product_name_lenght=value)
        for i, value in enumerate(written, 1)
    ]
    write_landing(DAY, "olist_products_dataset.csv", to_csv(contracts, "products", rows))
    only = _products_with(contracts, protection)
    result = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=only)
    assert result.manifest.counts.loaded == 5
    values = [
        row[0]
        for row in duckdb.sql(
            f"SELECT product_name_lenght FROM read_parquet('{result.partition_dir}/data.parquet') "
            "ORDER BY _source_row"
        ).fetchall()
    ]
    assert len(set(values[:4])) == 1 and values[4] != values[0]
    assert all(v.startswith(("p1:", "e1:")) for v in values)


def test_a_subject_id_typed_another_way_finds_the_same_token(
    settings, keyring, contracts, write_landing
) -> None:
    """``pipelines privacy ...`` with ``--subject 13085.0``: the id is printed as ingestion
    prints the subject column's typed value before pseudonymizing it."""
    from pipelines.ingest.transform import canonical_text
    from pipelines.privacy.authorize import subject_token
    from pipelines.protection.pseudonymize import Pseudonymizer

    column = _products_with(contracts, "pseudonymize")["products"].column("product_name_lenght")
    assert [canonical_text(column, v) for v in ("13085.0", " +13085 ", "abc")] == [
        "13085",
        "13085",
        "abc",
    ]
    expected = Pseudonymizer(keyring).token("13085")
    assert subject_token("13085.0", keyring, settings.lake, "products", column) == expected
    assert subject_token("13085.0", keyring, settings.lake, "products") != expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0.001", "price: the value has more than 2 decimal place(s) (decimal(12,2))"),
        ("123456789012.5", "price: the value has more than 10 digit(s) before the decimal point"),
        ("1,50", "price: the value is not a valid decimal(12,2)"),
    ],
)
def test_a_decimal_that_does_not_fit_says_why(value: str, reason: str) -> None:
    """The quarantine reason says what is wrong with the number, never the number."""
    from pipelines.ingest.transform import _decimal_error

    sql = _decimal_error("$v", "'price: the value'", 12, 2)
    [(said,)] = duckdb.execute(f"SELECT {sql}", {"v": value}).fetchall()
    assert said.startswith(reason) and value not in said
