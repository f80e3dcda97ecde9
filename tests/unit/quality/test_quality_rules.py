"""Row-level rules on hand-written data: quarantine with the check's name, row accounting,
idempotency, the foreign-key cascade, critical failures and the gate's verdict."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import ContractSet
from pipelines.lake.interval import Interval
from pipelines.lake.manifest import Manifest
from pipelines.lake.partitions import partitions
from pipelines.protection import KeyRing
from pipelines.quality import store
from pipelines.quality.runner import QualityError, validate_partition
from pipelines.quality.tasks import QualityGateFailed, gate
from pipelines.settings import Settings
from tests.factories import DAY, clean_day, copy_rows, write_day
from tests.unit.quality.conftest import ingest_all

INTERVAL = Interval.parse(DAY, "2018-01-02")
PARENTS = ["customers", "customer_profiles", "orders"]
CHILDREN = ["products", "sellers", "order_items", "order_payments", "order_reviews"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path: Path, sql: str = "SELECT *") -> list[dict]:
    rel = duckdb.connect().sql(f"{sql} FROM read_parquet('{path}', hive_partitioning = false)")
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def _check(result, name):
    return next(c for c in result.checks if c.spec.name == name)


@pytest.fixture
def bad_timestamps(write_landing, contracts: ContractSet):
    rows = copy_rows(clean_day())
    rows["orders"][0]["order_delivered_carrier_date"] = "2017-12-31 10:00:00"  # before purchase
    rows["orders"][1]["order_approved_at"] = "2018-01-01 00:30:00"  # before purchase (02:00)
    write_day(write_landing, contracts, rows)
    return rows


def test_with_the_key_ring_the_gate_keeps_moved_values_encrypted(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, bad_timestamps
):
    from pipelines.lake import quarantine as records

    ingest_all(settings, keyring, contracts, INTERVAL, PARENTS)
    [part] = partitions(settings.lake, "orders")
    lake = {r["_source_row"]: r for r in _rows(part.data_file)}
    validate_partition(
        "orders", INTERVAL, settings, run_id="r1", contracts=contracts, keyring=keyring
    )
    moved = _rows(part.folder / "quarantine.parquet")
    assert sorted(r["_source_row"] for r in moved) == [1, 2]
    stored = [json.loads(r["record"]) for r in moved]
    ids = {keyring.encryption.active_id, keyring.pseudonymization.active_id}
    assert all(v.split(":")[0] in ids for r in stored for v in r.values()), stored
    con = duckdb.connect()
    records.register_decrypt_udf(con, keyring)
    values = records.lake_values_sql(contracts["orders"], "?::JSON", records.DECRYPT_UDF)
    for row in moved:  # the same record format as ingestion's: values come back
        back = con.execute(
            "SELECT " + ", ".join(values.values()), [row["record"]] * len(values)
        ).fetchone()
        restored = dict(zip(values, back, strict=True))
        original = lake[row["_source_row"]]
        assert restored["order_status"] == original["order_status"]
        assert restored["order_approved_at"] == str(original["order_approved_at"])
        assert restored["customer_id"] == original["customer_id"]


def test_row_level_rule_quarantines_rows_with_the_check_name(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, bad_timestamps
):
    ingest_all(settings, keyring, contracts, INTERVAL, PARENTS)
    result = validate_partition("orders", INTERVAL, settings, run_id="r1", contracts=contracts)

    approved = _check(result, "approved_after_purchase")
    carrier = _check(result, "carrier_after_purchase")
    assert (approved.unexpected_count, approved.quarantined) == (1, 1)
    assert (carrier.unexpected_count, carrier.quarantined) == (1, 1)
    # 1 of 3 orders is far more than the 1% a batch may lose: critical failure
    assert approved.outcome == carrier.outcome == "failed"
    assert result.quarantined == {"approved_after_purchase": 1, "carrier_after_purchase": 1}

    [part] = partitions(settings.lake, "orders")
    data = _rows(part.data_file)
    assert len(data) == 1 and data[0]["_source_row"] == 3
    quarantine = _rows(
        part.folder / "quarantine.parquet", "SELECT _source_row, failed_check, column_name, reason"
    )
    assert [
        (q["_source_row"], q["failed_check"])
        for q in sorted(quarantine, key=lambda q: q["_source_row"])
    ] == [
        (1, "gx:carrier_after_purchase"),
        (2, "gx:approved_after_purchase"),
    ]
    assert all("2017" not in q["reason"] and "quality gate" in q["reason"] for q in quarantine)
    # The record keeps PII columns as the lake has them (protected) and no clear value of any
    # other column: _source_file and _source_row locate the record in the landing file.
    records = [json.loads(r["record"]) for r in _rows(part.folder / "quarantine.parquet")]
    assert all(
        "2017-12-31" not in json.dumps(r) and "delivered" not in json.dumps(r) for r in records
    )
    assert all(set(r) == {"customer_id"} for r in records)
    assert all(
        r["customer_id"].startswith(keyring.pseudonymization.active_id + ":") for r in records
    )
    manifest = Manifest.read(part.folder)
    assert (manifest.counts.read, manifest.counts.loaded, manifest.counts.quarantined) == (3, 1, 2)
    assert manifest.counts.balanced
    assert manifest.quarantine_by_check == {
        "gx:approved_after_purchase": 1,
        "gx:carrier_after_purchase": 1,
    }
    assert manifest.dataset_version == _sha(part.data_file)
    # the stored results vouch for the partition as republished, not the version before the move
    assert {r["dataset_version"] for r in store.read_checks(settings)} == {manifest.dataset_version}

    with pytest.raises(QualityGateFailed) as failed:
        gate(INTERVAL.start, INTERVAL.end, "r1", tables=["orders"], settings=settings)
    message = str(failed.value)
    assert (
        "orders.approved_after_purchase" in message and "orders.carrier_after_purchase" in message
    )
    assert "2018-01-01 00:30" not in message  # names and counts, never values


def test_gating_again_changes_nothing(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, bad_timestamps
):
    ingest_all(settings, keyring, contracts, INTERVAL, PARENTS)
    validate_partition("orders", INTERVAL, settings, run_id="r1", contracts=contracts)
    [part] = partitions(settings.lake, "orders")
    before = {f.name: _sha(f) for f in part.folder.iterdir()}
    again = validate_partition("orders", INTERVAL, settings, run_id="r2", contracts=contracts)
    [part] = partitions(settings.lake, "orders")
    assert {f.name: _sha(f) for f in part.folder.iterdir()} == before
    assert again.quarantined == {}
    assert _check(again, "approved_after_purchase").outcome == "passed"


def test_children_ingested_after_the_parents_gate_lose_orphans_to_quarantine(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, bad_timestamps
):
    ingest_all(settings, keyring, contracts, INTERVAL, PARENTS)
    validate_partition("orders", INTERVAL, settings, run_id="r1", contracts=contracts)
    ingest_all(settings, keyring, contracts, INTERVAL, CHILDREN)  # the DAG's order
    items = partitions(settings.lake, "order_items")[0].manifest
    assert items.quarantine_by_check == {"orphan_fk": 3}  # order 1 had 2 items, order 2 one
    result = validate_partition("order_items", INTERVAL, settings, run_id="r1", contracts=contracts)
    assert _check(result, "contract.foreign_key.order_id").outcome == "passed"
    assert _check(result, "contract.quarantine.orphan_fk.order_id").unexpected_count == 3


def test_foreign_key_rule_quarantines_rows_whose_parent_the_gate_removed(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, bad_timestamps
):
    ingest_all(settings, keyring, contracts, INTERVAL)  # children before the parents' gate
    validate_partition("orders", INTERVAL, settings, run_id="r1", contracts=contracts)
    result = validate_partition("order_items", INTERVAL, settings, run_id="r1", contracts=contracts)
    fk = _check(result, "contract.foreign_key.order_id")
    assert (fk.unexpected_count, fk.quarantined, fk.outcome) == (3, 3, "failed")
    manifest = partitions(settings.lake, "order_items")[0].manifest
    assert manifest.quarantine_by_check == {"gx:contract.foreign_key.order_id": 3}
    assert manifest.counts.balanced and manifest.counts.loaded == 1


def test_payments_not_matching_order_totals_fail_critically(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing
):
    rows = copy_rows(clean_day())
    for payment in rows["order_payments"]:
        payment["payment_value"] = f"{float(payment['payment_value']) * 10:.2f}"
    write_day(write_landing, contracts, rows)
    ingest_all(settings, keyring, contracts, INTERVAL)
    result = validate_partition(
        "order_payments", INTERVAL, settings, run_id="r1", contracts=contracts
    )
    check = _check(result, "payments_match_order_totals")
    assert (check.success, check.outcome, check.observed) == (False, "failed", 3)
    assert check.details["allowed"] == 0  # 1% of 3 rows


def test_clean_day_passes_the_gate(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing
):
    write_day(write_landing, contracts, clean_day())
    ingest_all(settings, keyring, contracts, INTERVAL)
    tables = ["orders", "order_items", "order_payments"]  # all tables: test_quality_gate.py
    for table in tables:
        result = validate_partition(table, INTERVAL, settings, run_id="ok", contracts=contracts)
        assert result.count("failed") == 0, (table, [c.describe() for c in result.failed_critical])
    decision = gate(INTERVAL.start, INTERVAL.end, "ok", tables=tables, settings=settings)
    assert decision["passed"] and decision["missing_tables"] == []


def test_gate_fails_when_a_table_was_not_validated(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing
):
    write_day(write_landing, contracts, clean_day())
    ingest_all(settings, keyring, contracts, INTERVAL, ["customers"])
    validate_partition("customers", INTERVAL, settings, run_id="part", contracts=contracts)
    with pytest.raises(QualityGateFailed, match="orders: no quality results"):
        gate(INTERVAL.start, INTERVAL.end, "part", settings=settings)


def test_checks_on_loaded_data_catch_a_partition_published_with_bad_rows(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing
):
    write_day(write_landing, contracts, clean_day())
    ingest_all(settings, keyring, contracts, INTERVAL)
    [part] = partitions(settings.lake, "order_items")
    tampered = part.folder.parent / "tampered.parquet"
    duckdb.connect().execute(
        "COPY (SELECT * REPLACE (CASE WHEN _source_row IN (1, 2) THEN -5.00 ELSE price END "
        f"AS price) FROM read_parquet('{part.data_file}', hive_partitioning = false) "
        f"UNION ALL SELECT * FROM read_parquet('{part.data_file}', hive_partitioning = false) "
        f"WHERE _source_row = 4) TO '{tampered}' (FORMAT parquet)"
    )
    shutil.move(tampered, part.data_file)
    # published so (its manifest describes these bytes): a changed file that does not match
    # its manifest is refused before any check (test_quality_lake_integrity.py)
    part.manifest.model_copy(update={"dataset_version": _sha(part.data_file)}).write(part.folder)
    result = validate_partition("order_items", INTERVAL, settings, run_id="t", contracts=contracts)
    price = _check(result, "contract.range.price")
    assert (price.outcome, price.unexpected_count, price.element_count) == ("failed", 2, 5)
    key = _check(result, "contract.primary_key")
    assert (key.outcome, key.unexpected_count) == ("failed", 2)  # both copies of the duplicate
    rows = _check(result, "contract.row_count")
    assert (rows.outcome, rows.observed) == ("failed", 5)  # the manifest says 4


def test_missing_partition_is_a_clear_error(settings: Settings, contracts: ContractSet):
    with pytest.raises(QualityError, match="no lake partition"):
        validate_partition("orders", INTERVAL, settings, run_id="x", contracts=contracts)
