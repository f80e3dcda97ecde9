"""Ingestion end to end on hand-written landing files: accounting, checks, protection."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import ContractSet
from pipelines.ingest import IngestionError, ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.manifest import Manifest
from pipelines.protection import DecryptionError, Encryptor, KeyRing, Pseudonymizer
from pipelines.settings import Settings
from tests.factories import DAY, clean_day, copy_rows, write_day

INTERVAL = Interval.parse(DAY, "2018-01-02")


def ingest_all(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, interval: Interval = INTERVAL
):
    return {
        t: ingest_table(t, interval, settings, keyring=keyring, contracts=contracts)
        for t in contracts.load_order()
    }


def lake_rows(settings: Settings, table: str) -> list[dict]:
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_parquet('{settings.lake / table}/dt=*/data.parquet')")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def quarantine_rows(settings: Settings, table: str) -> list[dict]:
    con = duckdb.connect()
    rel = con.sql(
        f"SELECT * FROM read_parquet('{settings.lake / table}/dt=*/quarantine.parquet') "
        "ORDER BY _source_file, _source_row"
    )
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def test_clean_day_loads_every_row_and_balances(settings, keyring, contracts, write_landing):
    rows = clean_day()
    write_day(write_landing, contracts, rows)
    results = ingest_all(settings, keyring, contracts)
    for table, result in results.items():
        counts = result.counts
        assert counts.read == len(rows[table]), table
        assert counts.loaded == counts.read and counts.quarantined == 0, table
        manifest = Manifest.read(result.partition_dir)
        assert manifest.counts == counts
        assert manifest.source_files[0].records == len(rows[table])
        assert len(manifest.dataset_version) == 64


def test_pii_is_protected_in_the_lake(settings, keyring, contracts, write_landing):
    rows = clean_day()
    write_day(write_landing, contracts, rows)
    ingest_all(settings, keyring, contracts)
    tokens = Pseudonymizer(keyring)

    customers = lake_rows(settings, "customers")
    assert [c["customer_id"] for c in customers] == [
        tokens.token(r["customer_id"]) for r in rows["customers"]
    ]
    assert {c["customer_zip3"] for c in customers} == {"013xx", "200xx"}
    assert "customer_city" not in customers[0]

    # Join-stable: the order's customer token equals the customer's token.
    orders = lake_rows(settings, "orders")
    assert {o["customer_id"] for o in orders} == {c["customer_id"] for c in customers}

    profiles = lake_rows(settings, "customer_profiles")
    assert set(profiles[0]) >= {"customer_unique_id", "email", "phone", "age_band", "gender"}
    assert "full_name" not in profiles[0] and "street_address" not in profiles[0]
    assert [p["age_band"] for p in profiles] == ["25-34", "<18"]  # as of the interval end
    encryptor = Encryptor(keyring)
    assert (
        encryptor.decrypt(profiles[0]["email"], "customer_profiles.email")
        == rows["customer_profiles"][0]["email"]
    )
    with pytest.raises(DecryptionError):
        Encryptor(KeyRing.generate()).decrypt(profiles[0]["email"], "customer_profiles.email")

    reviews = lake_rows(settings, "order_reviews")
    assert (
        reviews[0]["review_comment_message"] == "Chegou rápido!\nQualquer coisa: [EMAIL] ou [PHONE]"
    )


def test_review_texts_are_scrubbed_by_the_detectors(settings, keyring, contracts, write_landing):
    rows = clean_day()
    review = rows["order_reviews"][0]
    review["review_comment_title"] = "cartão 4111 1111 1111 1111"
    review["review_comment_message"] = (
        "cpf 529.982.247-25, tel (11) 9 1860-3552 ou 94212\u20131267,\n"  # en dash
        "maria arroba gmail ponto com, Rua Augusta, 1500 - pedido 123456789"
    )
    write_day(write_landing, contracts, rows)
    ingest_all(settings, keyring, contracts)
    reviews = lake_rows(settings, "order_reviews")
    assert reviews[0]["review_comment_title"] == "cartão [CARD]"
    assert reviews[0]["review_comment_message"] == (
        "cpf [CPF], tel [PHONE] ou [PHONE],\n[EMAIL], [ADDRESS] - pedido 123456789"
    )
    assert reviews[1]["review_comment_message"] is None


def test_a_scrubbed_column_needs_the_source_region(contracts):
    from pydantic import ValidationError

    from pipelines.contracts import Contract

    data = contracts["order_reviews"].model_dump(exclude={"path"})
    assert data["source"]["region"] == "BR"
    del data["source"]["region"]
    with pytest.raises(ValidationError, match=r"source\.region is not declared"):
        Contract.model_validate(data)
    data["source"]["region"] = "Brazil"
    with pytest.raises(ValidationError, match="region"):
        Contract.model_validate(data)


def test_review_texts_reach_staging_only_scrubbed(contracts):
    from pipelines.ingest.stream import needs_value

    reviews = contracts["order_reviews"]
    assert not needs_value(reviews, reviews.column("review_comment_message"))
    assert needs_value(reviews, reviews.column("review_score"))


@pytest.mark.parametrize(
    ("table", "index", "column", "value", "check"),
    [
        ("orders", 1, "order_purchase_timestamp", None, "required_missing"),
        ("order_items", 2, "price", "12,50x", "type_error"),
        ("order_items", 0, "price", "-1.00", "out_of_range"),
        ("order_reviews", 1, "review_score", "7", "out_of_range"),
        ("orders", 2, "order_status", "lost_in_space", "not_allowed"),
        ("customers", 1, "customer_zip_code_prefix", "2003", "pattern_mismatch"),
        ("order_items", 3, "order_item_id", "2.5", "type_error"),
        ("order_payments", 0, "order_id", "o_does_not_exist_anywhere_000000", "orphan_fk"),
    ],
)
def test_bad_value_is_quarantined_with_file_row_column_and_reason(
    settings, keyring, contracts, write_landing, table, index, column, value, check
):
    rows = copy_rows(clean_day())
    rows[table][index][column] = value
    write_day(write_landing, contracts, rows)
    results = ingest_all(settings, keyring, contracts)
    counts = results[table].counts
    assert (counts.read, counts.loaded, counts.quarantined) == (
        len(rows[table]),
        len(rows[table]) - 1,
        1,
    )
    [entry] = quarantine_rows(settings, table)
    stem = contracts[table].source.file_stem
    assert entry["_source_file"] == f"{DAY}/{stem}.csv"
    assert entry["_source_row"] == index + 1
    assert (entry["failed_check"], entry["column_name"]) == (check, column)
    assert entry["reason"]
    assert results[table].manifest.quarantine_by_check == {check: 1}


def test_duplicate_key_keeps_the_first_and_quarantines_the_rest(
    settings, keyring, contracts, write_landing
):
    rows = copy_rows(clean_day())
    rows["order_items"].append(dict(rows["order_items"][1]))
    write_day(write_landing, contracts, rows)
    results = ingest_all(settings, keyring, contracts)
    assert results["order_items"].counts.quarantined == 1
    [entry] = quarantine_rows(settings, "order_items")
    assert entry["failed_check"] == "duplicate_key"
    assert entry["_source_row"] == 5
    assert "row 2" in entry["reason"]


def test_pii_value_is_withheld_from_quarantine_reason(settings, keyring, contracts, write_landing):
    rows = copy_rows(clean_day())
    rows["customer_profiles"][0]["birth_date"] = "CANARYDATE"
    write_day(write_landing, contracts, rows)
    ingest_all(settings, keyring, contracts)
    [entry] = quarantine_rows(settings, "customer_profiles")
    assert entry["failed_check"] == "type_error" and entry["column_name"] == "birth_date"
    assert "CANARY" not in json.dumps(entry, default=str)
    record = json.loads(entry["record"])
    assert record["email"].startswith(keyring.encryption.active_id + ":")
    assert "full_name" not in record


def test_quarantine_holds_values_of_every_column_encrypted_and_reads_them_back_audited(
    settings, keyring, contracts, write_landing, tmp_path
):
    from pipelines.protection import AuditLog, ReidentificationRefused, reidentify

    rows = copy_rows(clean_day())
    rows["orders"][2]["order_status"] = "ana@example.com"  # personal data in a non-PII column
    write_day(write_landing, contracts, rows)
    ingest_all(settings, keyring, contracts)
    [entry] = quarantine_rows(settings, "orders")
    assert (entry["failed_check"], entry["column_name"]) == ("not_allowed", "order_status")
    assert entry["reason"] == (
        "order_status: the value is not an allowed value (see the encrypted record)"
    )
    assert "ana@" not in json.dumps(entry, default=str)
    record = json.loads(entry["record"])
    assert record["order_status"].startswith(keyring.encryption.active_id + ":")
    assert record["customer_id"].startswith(keyring.pseudonymization.active_id + ":")
    log = AuditLog(tmp_path / "audit.jsonl", keyring)

    def read(column: str, token: str) -> str:
        return reidentify(
            keyring,
            log,
            table="orders",
            column=column,
            token=token,
            actor="ops",
            reason="quarantine review",
            contracts=contracts,
        )

    assert read("_quarantine.order_status", record["order_status"]) == "ana@example.com"
    assert read("_quarantine.order_id", record["order_id"]) == rows["orders"][2]["order_id"]
    with pytest.raises(ReidentificationRefused):  # the lake column is not encrypted
        read("order_status", record["order_status"])
    with pytest.raises(ReidentificationRefused):
        read("_quarantine.no_such_column", record["order_status"])
    assert [e["details"]["outcome"] for e in log.entries()] == [
        "success",
        "success",
        "refused",
        "refused",
    ]


def test_malformed_lines_are_quarantined_and_record_numbers_stay_exact(
    settings, keyring, contracts, write_landing
):
    rows = clean_day()
    write_day(write_landing, contracts, rows)
    header = ",".join(contracts["order_payments"].column_names)
    lines = [
        header,
        "o0000000000000000000000000000001,1,credit_card,1,180.90",
        "o0000000000000000000000000000002,1,boleto",  # too few fields
        "o0000000000000000000000000000002,2,boleto,1,110.50",
        "o0000000000000000000000000000003,1,voucher,1,35.50,surplus",  # too many
        "o0000000000000000000000000000003,2,voucher,1,1.00",
    ]
    write_landing(DAY, "olist_order_payments_dataset.csv", "\n".join(lines) + "\n")
    results = ingest_all(settings, keyring, contracts)
    counts = results["order_payments"].counts
    assert (counts.read, counts.loaded, counts.quarantined) == (5, 3, 2)
    bad = quarantine_rows(settings, "order_payments")
    assert [(q["_source_row"], q["failed_check"]) for q in bad] == [
        (2, "malformed_record"),
        (4, "malformed_record"),
    ]
    assert "boleto" not in bad[0]["record"]  # the raw line is stored encrypted
    from pipelines.protection import AuditLog, reidentify

    line = reidentify(
        keyring,
        AuditLog(settings.data_dir / "audit.jsonl", keyring),
        table="order_payments",
        column="_malformed_record",
        token=json.loads(bad[0]["record"])["encrypted_record"],
        actor="ops",
        reason="malformed line review",
        contracts=contracts,
    )
    assert line == lines[2]  # an operator reads it back, audited
    loaded = lake_rows(settings, "order_payments")
    assert sorted(r["_source_row"] for r in loaded) == [1, 3, 5]
    by_row = {r["_source_row"]: r for r in loaded}
    assert by_row[5]["payment_sequential"] == 2 and by_row[3]["payment_sequential"] == 2


def test_records_up_to_10_mb_load_and_longer_ones_are_malformed(
    settings, keyring, contracts, write_landing
):
    header = ",".join(contracts["products"].column_names)
    lines = [header] + [
        f"p{i:031d},{name},{i},1,1,500,20,10,15"
        for i, name in enumerate(["cat", "x" * 9_000_000, "cat", "y" * 11_000_000, "cat"], 1)
    ]
    write_landing(DAY, "olist_products_dataset.csv.gz", "\n".join(lines) + "\n")
    result = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert (result.counts.read, result.counts.loaded, result.counts.quarantined) == (5, 4, 1)
    loaded = lake_rows(settings, "products")
    assert [(r["_source_row"], len(r["product_category_name"])) for r in loaded] == [
        (1, 3),
        (2, 9_000_000),
        (3, 3),
        (5, 3),
    ]
    [bad] = quarantine_rows(settings, "products")
    assert (bad["_source_row"], bad["failed_check"]) == (4, "malformed_record")


def test_late_records_are_quarantined(settings, keyring, contracts, write_landing):
    rows = copy_rows(clean_day())
    rows["order_reviews"][0]["review_creation_date"] = "2017-12-29 09:00:00"
    write_day(write_landing, contracts, rows)
    results = ingest_all(settings, keyring, contracts)
    assert results["order_reviews"].manifest.quarantine_by_check == {"late_arrival": 1}


def test_orphans_need_the_referenced_table_first(settings, keyring, contracts, write_landing):
    write_day(write_landing, contracts, clean_day())
    with pytest.raises(IngestionError, match="ingest orders first"):
        ingest_table("order_items", INTERVAL, settings, keyring=keyring, contracts=contracts)


def test_formats_give_the_same_lake_content(
    settings, keyring, contracts, write_landing, tmp_path: Path
):
    results = {}
    for fmt in ("csv", "csv.gz", "jsonl"):
        run_settings = settings.model_copy(update={"data_dir": tmp_path / fmt})

        def write(day, name, text, _s=run_settings):
            import gzip

            folder = _s.landing / str(day)
            folder.mkdir(parents=True, exist_ok=True)
            data = text.encode()
            (folder / name).write_bytes(
                gzip.compress(data, mtime=0) if name.endswith(".gz") else data
            )

        write_day(write, contracts, clean_day(), fmt=fmt)
        ingest_all(run_settings, keyring, contracts)
        results[fmt] = {
            t: [
                {k: v for k, v in r.items() if k != "_source_file"}
                for r in lake_rows(run_settings, t)
            ]
            for t in contracts
        }
    assert results["csv"] == results["csv.gz"] == results["jsonl"]


def test_source_rows_follow_file_order_in_a_large_parallel_read(
    settings, keyring, contracts, write_landing
):
    """DuckDB reads a big uncompressed CSV with several threads; row numbers must still be exact."""
    header = ",".join(contracts["products"].column_names)
    n = 300_000
    lines = [header] + [f"p{i:031d},cat,{i},{i % 997},1,500,20,10,15" for i in range(1, n + 1)]
    write_landing(DAY, "olist_products_dataset.csv", "\n".join(lines) + "\n")
    result = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert result.counts.loaded == n
    con = duckdb.connect()
    mismatched = con.execute(
        f"SELECT count(*) FROM read_parquet('{result.partition_dir}/data.parquet') "
        "WHERE _source_row <> product_name_lenght"
    ).fetchone()
    assert mismatched == (0,)
