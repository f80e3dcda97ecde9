"""Idempotency, atomic publication, schema drift and key handling of ingestion."""

from __future__ import annotations

import pytest

from pipelines.ingest import IngestionError, ingest_table
from pipelines.ingest import run as run_module
from pipelines.ingest.readers import SchemaDriftError
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from pipelines.protection import MissingKeyError
from tests.factories import DAY, clean_day, copy_rows, to_csv, write_day

INTERVAL = Interval.parse(DAY, "2018-01-02")


def test_rerun_replaces_the_partition_with_identical_content(
    settings, keyring, contracts, write_landing
):
    write_day(write_landing, contracts, clean_day())
    first = {
        t: ingest_table(t, INTERVAL, settings, keyring=keyring, contracts=contracts)
        for t in contracts.load_order()
    }
    second = {
        t: ingest_table(t, INTERVAL, settings, keyring=keyring, contracts=contracts)
        for t in contracts.load_order()
    }
    for table in contracts:
        assert first[table].manifest.dataset_version == second[table].manifest.dataset_version, (
            table
        )
        assert first[table].manifest.quarantine_version == second[table].manifest.quarantine_version
        assert len(partitions(settings.lake, table)) == 1
        leftovers = [p for p in (settings.lake / table).iterdir() if p.name.startswith(".")]
        assert leftovers == []
        stages = second[table].stages  # what the log line and bench.ingest_stages report
        assert list(stages) == ["read", "key_checks", "write", "seal"]
        assert all(s >= 0 for s in stages.values())
        assert sum(stages.values()) <= second[table].seconds


def test_changed_input_changes_the_dataset_version(settings, keyring, contracts, write_landing):
    rows = copy_rows(clean_day())
    write_day(write_landing, contracts, rows)
    before = ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    rows["customers"][0]["customer_state"] = "RJ"
    write_day(write_landing, contracts, rows)
    after = ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert before.manifest.dataset_version != after.manifest.dataset_version


def test_crash_while_writing_leaves_the_previous_partition_whole(
    settings, keyring, contracts, write_landing, monkeypatch
):
    write_day(write_landing, contracts, clean_day())
    good = ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    before = sorted(p.name for p in good.partition_dir.iterdir())

    real_write = run_module._write_outputs

    def crash_after_data(con, contract, folder):
        real_write(con, contract, folder)
        raise OSError("disk full (simulated) after writing data.parquet")

    monkeypatch.setattr(run_module, "_write_outputs", crash_after_data)
    rows = copy_rows(clean_day())
    rows["customers"][0]["customer_state"] = "RJ"
    write_day(write_landing, contracts, rows)
    with pytest.raises(OSError, match="simulated"):
        ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)

    [part] = partitions(settings.lake, "customers")
    assert part.manifest.dataset_version == good.manifest.dataset_version
    assert sorted(p.name for p in part.folder.iterdir()) == before
    assert [p.name for p in (settings.lake / "customers").iterdir()] == [part.folder.name]


def test_crash_before_the_first_publish_leaves_no_partition(
    settings, keyring, contracts, write_landing, monkeypatch
):
    write_day(write_landing, contracts, clean_day())

    def crash(con, contract, folder):
        (folder / "data.parquet").write_bytes(b"PAR1 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "_write_outputs", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert partitions(settings.lake, "customers") == []
    assert list((settings.lake / "customers").iterdir()) == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda cols: [c for c in cols if c != "customer_state"],
            "missing column(s) customer_state",
        ),
        (lambda cols: [*cols, "loyalty_tier"], "unexpected column(s) loyalty_tier"),
    ],
)
def test_schema_drift_names_the_file_and_columns(
    settings, keyring, contracts, write_landing, mutate, message
):
    columns = mutate(contracts["customers"].column_names)
    lines = [",".join(columns), ",".join("x" for _ in columns)]
    write_landing(DAY, "olist_customers_dataset.csv", "\n".join(lines) + "\n")
    with pytest.raises(SchemaDriftError) as err:
        ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert f"{DAY}/olist_customers_dataset.csv" in str(err.value)
    assert message in str(err.value)
    assert partitions(settings.lake, "customers") == []


def test_retyped_column_is_schema_drift_not_mass_quarantine(
    settings, keyring, contracts, write_landing
):
    write_day(write_landing, contracts, clean_day())
    for table in ("customers", "orders", "products", "sellers"):
        ingest_table(table, INTERVAL, settings, keyring=keyring, contracts=contracts)
    rows = [
        dict(clean_day()["order_items"][0], order_item_id=str(i + 1), price=f"BRL {i}")
        for i in range(30)
    ]
    write_landing(DAY, "olist_order_items_dataset.csv", to_csv(contracts, "order_items", rows))
    with pytest.raises(
        SchemaDriftError, match=r"price \(30 of 30 values are not decimal\(12,2\)\)"
    ):
        ingest_table("order_items", INTERVAL, settings, keyring=keyring, contracts=contracts)


def test_missing_key_is_a_clear_error(settings, contracts, write_landing):
    write_day(write_landing, contracts, clean_day())
    with pytest.raises(MissingKeyError, match="PIPELINES_KEY"):
        ingest_table("customers", INTERVAL, settings, contracts=contracts)


def test_changed_pseudonymization_key_is_refused(settings, keyring, contracts, write_landing):
    write_day(write_landing, contracts, clean_day())
    ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    rotated = keyring.rotated("pseudonymization")
    next_day = Interval.parse("2018-01-02", "2018-01-03")
    write_day(write_landing, contracts, clean_day(), day="2018-01-02")
    with pytest.raises(IngestionError, match="pseudonymized with key p1 but the active key is p2"):
        ingest_table("orders", next_day, settings, keyring=rotated, contracts=contracts)


def test_partition_of_another_token_scheme_is_refused(settings, keyring, contracts, write_landing):
    """A partition whose tokens were derived another way (older manifests record no scheme)."""
    import json

    write_day(write_landing, contracts, clean_day())
    first = ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    manifest_file = first.partition_dir / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    assert manifest["key_versions"]["pseudonymization_scheme"] == "hmac-sha256-hexkey"
    del manifest["key_versions"]["pseudonymization_scheme"]
    manifest_file.write_text(json.dumps(manifest))
    write_day(write_landing, contracts, clean_day(), day="2018-01-02")
    next_day = Interval.parse("2018-01-02", "2018-01-03")
    with pytest.raises(IngestionError, match=r"token scheme hmac-sha256-rawkey .* would not join"):
        ingest_table("orders", next_day, settings, keyring=keyring, contracts=contracts)
    # Re-ingesting the old partition itself is what the message asks for, and it works.
    ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    ingest_table("orders", next_day, settings, keyring=keyring, contracts=contracts)


def test_overlapping_intervals_are_refused(settings, keyring, contracts, write_landing):
    write_day(write_landing, contracts, clean_day())
    ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    with pytest.raises(IngestionError, match="overlaps the existing partition"):
        ingest_table(
            "customers",
            Interval.parse("2017-12-31", "2018-01-02"),
            settings,
            keyring=keyring,
            contracts=contracts,
        )


def test_empty_interval_publishes_an_empty_balanced_partition(settings, keyring, contracts):
    settings.landing.mkdir(parents=True)
    result = ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert (result.counts.read, result.counts.loaded, result.counts.quarantined) == (0, 0, 0)
