"""The readers of lake manifests give the same answer from a lake on an object store as from
the local lake on the same data (issue #19): the portal's key versions (tables listed on the
store, reserved ``_``/``.`` names skipped), undeclared-PII findings, lineage's table reads and
the summary. The store lake is the local one published to moto's server; the store's
"worker" has a data folder of its own, without the local lake."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from pipelines.contracts import ContractSet, UndeclaredPii
from pipelines.ingest import ingest_table
from pipelines.lake.findings import undeclared_inventory
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import tables
from pipelines.lake.storage import lake_storage
from pipelines.lineage.datasets import lake_table_read
from pipelines.portal.records import _key_versions
from pipelines.protection import KeyRing
from pipelines.settings import Settings
from pipelines.summary import collect, print_summary
from tests.factories import DAY, clean_day, write_day
from tests.s3server import S3Server, mirror_lake

INTERVAL = Interval.parse(DAY, "2018-01-02")
TABLES = ("customers", "orders", "products", "sellers", "order_items")


def _warn_on_undeclared(contracts: ContractSet) -> ContractSet:
    changed = {"undeclared_pii": UndeclaredPii(on_hit="warn")}
    return ContractSet(
        contracts[t].model_copy(update=changed) if t == "products" else contracts[t]
        for t in contracts
    )


@pytest.fixture
def lakes(
    settings: Settings,
    keyring: KeyRing,
    contracts: ContractSet,
    write_landing,
    s3_env: S3Server,
    tmp_path: Path,
) -> tuple[Settings, Settings, ContractSet]:
    """(local settings, store settings, contracts): a day ingested locally (a product
    category holding an e-mail address, loaded with a warning), then published to S3."""
    contracts = _warn_on_undeclared(contracts)
    day = clean_day()
    day["products"].append({**day["products"][0], "product_id": "p" + "7" * 31,
                            "product_category_name": "x.y@example.com"})  # fmt: skip
    write_day(write_landing, contracts, day)
    for table in TABLES:
        ingest_table(table, INTERVAL, settings, keyring=keyring, contracts=contracts)
    url = f"s3://{s3_env.bucket}/{tmp_path.name}"
    mirror_lake(settings.lake, url, s3_env.env())
    store = lake_storage(url, s3_env.env())
    marker = tmp_path / "marker.json"
    marker.write_text("{}", encoding="utf-8")
    for reserved in ("_quality/checks/x.json", "_state/keys.json", ".staging/x.json"):
        store.put(marker, reserved)  # not tables
    other = Settings(data_dir=tmp_path / "worker2", lake_url=url, duckdb_memory_limit="1GB")
    return settings, other, contracts


def test_the_portal_lists_the_same_tables_and_key_versions(lakes) -> None:
    local, on_s3, _ = lakes
    assert tables(lake_storage(str(on_s3.lake_url))) == tables(local.lake) == sorted(TABLES)
    keys = _key_versions(local)
    assert keys and set(keys) == set(TABLES)
    assert _key_versions(on_s3) == keys
    assert not on_s3.lake.exists()


def test_findings_lineage_and_summary_read_the_same_manifests(lakes, capsys) -> None:
    local, on_s3, contracts = lakes
    found = undeclared_inventory(local, contracts)
    assert [(r["table"], r["column"]) for r in found] == [("products", "product_category_name")]
    assert undeclared_inventory(on_s3, contracts) == found

    until = datetime.fromisoformat("2018-01-02T00:00:00+00:00")
    read_local = lake_table_read(local, contracts["orders"], until)
    read_s3 = lake_table_read(on_s3, contracts["orders"], until)
    assert read_s3.namespace == f"s3://{str(on_s3.lake_url)[5:].split('/')[0]}"
    partitions_local = read_local.facets["pipelines_partitions"]
    assert partitions_local.partitions == 1
    assert read_s3.facets["pipelines_partitions"] == partitions_local

    rows_local, rows_s3 = collect(local), collect(on_s3)
    assert [r.pop("location") for r in rows_s3] == [
        f"{on_s3.lake_url}/{r['table']}" for r in rows_s3
    ]
    assert [r.pop("location") for r in rows_local] == [
        str(local.lake / r["table"]) for r in rows_local
    ]
    assert rows_s3 == rows_local and sum(r["loaded"] for r in rows_local) > 0
    assert print_summary(on_s3, None) == 0
    assert f"lake: {on_s3.lake_url}  (data-<sha256>.parquet" in capsys.readouterr().out
