"""Retention: what is older than its contract's retention_days is deleted, audited, in lineage."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime

from pipelines.contracts import load_contracts
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from pipelines.protection import AuditLog, create_keyring
from pipelines.protection.keys import FileKeyProvider
from pipelines.settings import PROJECT_DIR, Settings
from tests.factories import DAY, clean_day, write_day
from tests.unit.lineage.ol_schema import validate_event


def test_purge_deletes_what_is_past_retention_only(settings, contracts, write_landing, tmp_path):
    write_day(write_landing, contracts, clean_day())
    key_file = tmp_path / "keys.json"
    create_keyring(key_file)
    keyring = FileKeyProvider(key_file).load()
    for table in contracts.load_order():
        ingest_table(table, Interval.day(date.fromisoformat(DAY)), settings, keyring=keyring)
    folder = tmp_path / "contracts"
    shutil.copytree(PROJECT_DIR / "contracts", folder)
    reviews = folder / "order_reviews.yml"
    reviews.write_text(reviews.read_text() + "retention_days: 30\n")
    mine = Settings(
        data_dir=settings.data_dir, contracts_dir=folder, key_file=key_file, duckdb_threads=2
    )
    assert load_contracts(folder)["order_reviews"].retention_days == 30
    assert (
        load_contracts(folder)["orders"].fingerprint == contracts["orders"].fingerprint
    )  # the new field changes no existing contract's hash

    from pipelines.privacy.tasks import purge_retention

    early = datetime(2018, 1, 20, tzinfo=UTC)
    assert purge_retention(early, early, None, settings=mine) == {
        "partitions": 0, "landing_files": 0
    }  # fmt: skip
    late = datetime(2018, 3, 1, tzinfo=UTC)
    assert purge_retention(late, late, None, settings=mine) == {
        "partitions": 1, "landing_files": 1
    }  # fmt: skip
    assert partitions(settings.lake, "order_reviews") == []
    assert len(partitions(settings.lake, "orders")) == 1
    assert not list(settings.landing.rglob("olist_order_reviews_dataset*"))
    assert list(settings.landing.rglob("olist_orders_dataset*"))
    log = AuditLog(settings.audit, keyring)
    log.verify()
    entry = log.entries()[-1]
    assert (entry["action"], entry["details"]["partitions"]) == ("retention_purge", 1)
    assert json.loads(entry["details"]["purged"])["partitions"][0]["table"] == "order_reviews"
    lines = (settings.data_dir / "lineage/events.jsonl").read_text().splitlines()
    complete = [json.loads(x) for x in lines if '"COMPLETE"' in x][-1]
    assert complete["run"]["facets"]["pipelines_privacy"]["action"] == "purge"
    (output,) = complete["outputs"]
    validate_event(complete)  # the OpenLineage schemas, custom facets included
    assert output["facets"]["lifecycleStateChange"]["lifecycleStateChange"] == "DROP"
