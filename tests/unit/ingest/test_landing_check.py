"""Landing entries a table would pass over are named: an error when they are plainly the
table's, a warning listing the files no contract claims when the table found none."""

from __future__ import annotations

import pytest

from pipelines.ingest import ingest_table
from pipelines.ingest.landing import Listing
from pipelines.ingest.landing_check import LandingNameError, check_listings
from pipelines.lake.interval import Interval
from tests.factories import DAY, clean_day, to_csv

INTERVAL = Interval.parse(DAY, "2018-01-02")


@pytest.mark.parametrize(
    "name",
    [
        "olist_products_dataset.CSV",
        "olist_products_dataset.csv.bz2",
        "olist_products_dataset.tsv",
        "OLIST_PRODUCTS_DATASET-2.csv",
        "olist_products_dataset.zip",
        "olist_products_dataset (1).csv.gz",
        "olist_products_dataset_2.csv.gz",
    ],
)
def test_a_file_that_is_plainly_the_tables_but_unreadable_is_an_error(contracts, name) -> None:
    listing = Listing(DAY, ["olist_products_dataset.csv", name])
    with pytest.raises(LandingNameError) as err:
        check_listings([listing], contracts, contracts["products"])
    assert f"{DAY}/{name} looks like a products file but would not be read" in str(err.value)
    assert ".csv.gz" in str(err.value) and "Nothing was published" in str(err.value)


def test_sidecars_of_delivered_files_are_no_files_of_the_table(contracts) -> None:
    names = ["olist_products_dataset.csv", "olist_products_dataset.csv.md5",
             "olist_products_dataset.csv.done"]  # fmt: skip
    assert check_listings([Listing(DAY, names)], contracts, contracts["products"]) == []


def test_a_sub_folder_named_like_the_table_is_an_error(contracts) -> None:
    for listing in (
        Listing(DAY, [], {"olist_products_dataset": []}),
        Listing(DAY, [], {"extra": ["olist_products_dataset.csv.gz"]}),
    ):
        with pytest.raises(LandingNameError, match="never from a sub-folder"):
            check_listings([listing], contracts, contracts["products"])
    # a sub-folder of other things is not this table's business
    assert check_listings([Listing(DAY, [], {"docs": ["README.txt"]})], contracts,
                          contracts["products"]) == []  # fmt: skip


def test_files_no_contract_claims_are_named_when_the_table_found_none(contracts) -> None:
    listing = Listing(DAY, ["invoice_lines.csv", "olist_orders_dataset.csv"])
    [warning] = check_listings([listing], contracts, contracts["products"])
    assert f"{DAY}/invoice_lines.csv" in warning and "olist_orders_dataset" not in warning
    assert "olist_products_dataset[-<part>].<ext>" in warning and "file_stem" in warning
    # with a file of its own, the table says nothing of the others' folder contents
    mine = Listing(DAY, ["invoice_lines.csv", "olist_products_dataset.csv"])
    assert check_listings([mine], contracts, contracts["products"]) == []
    # another table's file is not unclaimed
    assert check_listings([Listing(DAY, ["olist_orders_dataset.csv"])], contracts,
                          contracts["products"]) == []  # fmt: skip


def test_ingestion_stops_at_an_unreadable_file_of_the_table(
    settings, keyring, contracts, write_landing
) -> None:
    rows = clean_day()["products"]
    write_landing(DAY, "olist_products_dataset.csv", to_csv(contracts, "products", rows))
    write_landing(DAY, "olist_products_dataset-2.CSV", to_csv(contracts, "products", rows))
    with pytest.raises(LandingNameError, match=r"olist_products_dataset-2\.CSV looks like"):
        ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert not (settings.lake / "products" / INTERVAL.partition).exists()


def test_ingestion_warns_of_unclaimed_files_when_it_found_none(
    settings, keyring, contracts, write_landing
) -> None:
    rows = clean_day()["products"]
    write_landing(DAY, "products_export.csv", to_csv(contracts, "products", rows))
    result = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert result.manifest.counts.read == 0
    assert any(f"{DAY}/products_export.csv" in w for w in result.warnings)


def test_a_redelivery_that_differs_says_so_with_both_counts(
    settings, keyring, contracts, write_landing
) -> None:
    rows = [dict(clean_day()["products"][0], product_id=f"p{i:031d}") for i in range(5)]
    write_landing(DAY, "olist_products_dataset.csv", to_csv(contracts, "products", rows))
    first = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert first.warnings == ()
    again = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert again.warnings == ()  # the same files: an idempotent re-run says nothing
    write_landing(DAY, "olist_products_dataset.csv", to_csv(contracts, "products", rows[:3]))
    shorter = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    [warning] = shorter.warnings
    assert "1 changed, 0 gone, 0 new" in warning and "5 records read before, 3 now" in warning


def test_names_in_landing_messages_show_no_personal_data(contracts) -> None:
    """A name the check reports may hold a CPF or an e-mail address: replaced, like a
    claimed file's (``check_file_names``)."""
    cpf = "52998224725"
    for listing in (
        Listing(DAY, [f"olist_products_dataset-{cpf}.CSV"]),
        Listing(DAY, [], {f"olist_products_dataset-{cpf}": []}),
    ):
        with pytest.raises(LandingNameError) as err:
            check_listings([listing], contracts, contracts["products"])
        assert cpf not in str(err.value) and "[CPF]" in str(err.value)
    [warning] = check_listings(
        [Listing(DAY, ["export_529.982.247-25.csv.gz"])], contracts, contracts["products"]
    )
    assert "529.982" not in warning and f"{DAY}/export_[CPF].csv.gz" in warning


@pytest.mark.parametrize("folder", ["20180101", "2018-1-1", "2018_01_01"])
def test_a_delivery_folder_named_like_a_date_in_another_form_is_an_error(folder) -> None:
    from pipelines.ingest.landing import check_folder_names

    with pytest.raises(LandingNameError, match=f"landing folder {folder} looks like"):
        check_folder_names([folder, "2018-01-01"], INTERVAL)
    check_folder_names(["20170101", "archive", "2018-01-01"], INTERVAL)  # outside: no error
