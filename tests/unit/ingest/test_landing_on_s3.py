"""Landing files on an S3-compatible store (``landing_url``, moto's server): ingestion lists
them with the local rules, copies them into its scratch folder and publishes what a local run
of the same files publishes; a file cut short is a named error; retention deletes the objects
and audits them; commands that need a local landing say so (issue #19)."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from pipelines.contracts import ContractSet, load_contracts
from pipelines.hashing import file_sha256
from pipelines.ingest import IngestResult, ingest_table
from pipelines.ingest.integrity import CorruptFileError
from pipelines.ingest.landing import (
    IncompleteLandingFile,
    LandingOnStoreError,
    fetch_landing_files,
    find_landing_files,
    find_stored_files,
    local_landing,
)
from pipelines.ingest.lineage import ingestion_lineage
from pipelines.lake.interval import Interval
from pipelines.lake.storage import lake_storage
from pipelines.lineage.naming import landing_dataset
from pipelines.privacy.retention import purge
from pipelines.protection import AuditLog, KeyRing
from pipelines.settings import PROJECT_DIR, Settings
from tests.factories import DAY, clean_day, to_csv, write_day
from tests.s3server import S3Server, upload_landing_tree

INTERVAL = Interval.parse(DAY, "2018-01-02")
TABLES = ("customers", "orders")  # orders' foreign key reads the customers just published


def _ingest(settings: Settings, keyring: KeyRing, contracts: ContractSet) -> list[IngestResult]:
    return [
        ingest_table(t, INTERVAL, settings, keyring=keyring, contracts=contracts) for t in TABLES
    ]


def _worker(settings: Settings, name: str, **update: object) -> Settings:
    """Another worker: its own data folder (no local landing files), the given stores."""
    return settings.model_copy(update={"data_dir": settings.data_dir.parent / name, **update})


def _same_content(mine: IngestResult, theirs: IngestResult) -> None:
    local, stored = mine.manifest, theirs.manifest
    assert stored.counts == local.counts and local.counts.loaded > 0
    assert stored.dataset_version == local.dataset_version
    assert stored.quarantine_version == local.quarantine_version
    assert [s.model_dump() for s in stored.source_files] == [
        s.model_dump() for s in local.source_files
    ]


def test_ingestion_from_landing_on_s3_publishes_what_a_local_run_publishes(
    settings, keyring, contracts, write_landing, s3_env: S3Server, pg_url: str, tmp_path: Path
):
    write_day(write_landing, contracts, clean_day(), fmt="csv.gz")
    url = upload_landing_tree(s3_env, settings.landing, f"{tmp_path.name}/landing")
    local = _ingest(settings, keyring, contracts)

    on_s3 = _worker(settings, "w1", landing_url=url)
    # the lake on the store too: its shared state (key registry) is locked in PostgreSQL
    lake = f"s3://lake/{tmp_path.name}/lake"
    both = _worker(settings, "w2", landing_url=url, lake_url=lake, lock_url=SecretStr(pg_url))
    for worker in (on_s3, both):
        results = _ingest(worker, keyring, contracts)
        for mine, theirs in zip(local, results, strict=True):
            _same_content(mine, theirs)
        assert not worker.landing.exists()
        assert not list((worker.data_dir / "tmp").glob("ingest-*")), "the copies are removed"

    entry = local[0].manifest.source_files[0]
    assert entry.path == f"{DAY}/olist_customers_dataset.csv.gz"
    customers = results[0]
    parts = ingestion_lineage(customers.manifest, both, contracts)
    [landing_input] = parts.inputs
    assert (landing_input.namespace, landing_input.name) == (
        "s3://lake",
        f"{tmp_path.name}/landing/{entry.path}",
    )
    assert landing_input.facets["datasetVersion"].datasetVersion == entry.sha256


def test_a_store_listing_follows_the_local_rules(
    settings, contracts, write_landing, s3_env: S3Server, tmp_path: Path
):
    stem = contracts["orders"].source.file_stem
    for day, name in [
        (DAY, f"{stem}.csv"),
        (DAY, f"{stem}-part-2.csv.gz"),
        (DAY, f"{stem}.txt"),  # not a landing format
        (DAY, "olist_customers_dataset.csv"),  # another table's
        ("2018-01-02", f"{stem}.csv"),  # outside the interval
        ("not-a-day", f"{stem}.csv"),
        ("2018-1-1", f"{stem}.csv"),
    ]:
        write_landing(day, name, "order_id\n1\n")
    (settings.landing / f"{stem}.csv").write_text("at the root: no delivery folder\n")
    inner = settings.landing / DAY / f"{stem}.jsonl"  # a folder named like a file
    inner.mkdir()
    (inner / f"{stem}.csv").write_text("order_id\n1\n")
    store = lake_storage(upload_landing_tree(s3_env, settings.landing, tmp_path.name))

    for table in ("orders", "customers", "products"):
        local = find_landing_files(settings.landing, contracts[table], INTERVAL)
        stored = find_stored_files(store, contracts[table], INTERVAL)
        assert [(f.relative, f.format, f.delivery_date, f.size) for f in local] == [
            (f.relative, f.format, f.delivery_date, f.size) for f in stored
        ]
    assert [f.relative for f in stored] == []  # products: none delivered
    assert [f.relative for f in find_stored_files(store, contracts["orders"], INTERVAL)] == [
        f"{DAY}/{stem}-part-2.csv.gz",
        f"{DAY}/{stem}.csv",
    ]


def test_an_empty_landing_store_is_an_error_not_no_files(
    settings, keyring, contracts, s3_env: S3Server, tmp_path: Path
):
    worker = _worker(settings, "w", landing_url=f"s3://lake/{tmp_path.name}/nothing")
    with pytest.raises(FileNotFoundError, match=f"nothing under s3://lake/{tmp_path.name}"):
        ingest_table("customers", INTERVAL, worker, keyring=keyring, contracts=contracts)


def test_a_truncated_gzip_object_is_a_named_error(
    settings, keyring, contracts, write_landing, s3_env: S3Server, tmp_path: Path
):
    stem = contracts["customers"].source.file_stem
    data = gzip.compress(to_csv(contracts, "customers", clean_day()["customers"]).encode())
    (settings.landing / DAY).mkdir(parents=True)
    (settings.landing / DAY / f"{stem}.csv.gz").write_bytes(data[:-9])  # no CRC and length
    url = upload_landing_tree(s3_env, settings.landing, tmp_path.name)
    worker = _worker(settings, "w", landing_url=url)
    with pytest.raises(CorruptFileError) as err:
        ingest_table("customers", INTERVAL, worker, keyring=keyring, contracts=contracts)
    assert f"{DAY}/{stem}.csv.gz" in str(err.value) and "truncated" in str(err.value)


def test_an_object_shorter_than_listed_is_a_named_error(
    settings, contracts, write_landing, s3_env: S3Server, tmp_path: Path
):
    stem = contracts["customers"].source.file_stem
    write_landing(DAY, f"{stem}.csv", to_csv(contracts, "customers", clean_day()["customers"]))
    store = lake_storage(upload_landing_tree(s3_env, settings.landing, tmp_path.name))
    [listed] = find_stored_files(store, contracts["customers"], INTERVAL)
    short = tmp_path / "short.csv"
    short.write_bytes((settings.landing / listed.relative).read_bytes()[:-10])
    store.put(short, listed.relative)  # replaced (cut short) after the listing

    with pytest.raises(IncompleteLandingFile) as err:
        fetch_landing_files(store, [listed], tmp_path / "copies")
    message = str(err.value)
    assert message.startswith(f"{DAY}/{stem}.csv: ")
    assert f"copied {listed.size - 10:,} bytes" in message and f"{listed.size:,}" in message


def test_retention_deletes_landing_objects_and_audits_them(
    settings, contracts, write_landing, keyed_settings, keyring, s3_env: S3Server, tmp_path
):
    write_day(write_landing, contracts, clean_day())
    url = upload_landing_tree(s3_env, settings.landing, tmp_path.name)
    folder = tmp_path / "contracts"
    shutil.copytree(PROJECT_DIR / "contracts", folder)
    reviews = folder / "order_reviews.yml"
    reviews.write_text(reviews.read_text() + "retention_days: 30\n")
    worker = _worker(keyed_settings, "w", landing_url=url, contracts_dir=folder)
    log = AuditLog(worker.audit, keyring)
    mine = load_contracts(folder)
    stem = mine["order_reviews"].source.file_stem
    local = settings.landing / DAY / f"{stem}.csv"

    early = purge(worker, mine, log, now=datetime(2018, 1, 20, tzinfo=UTC), actor="t")
    assert early.landing == []
    late = purge(worker, mine, log, now=datetime(2018, 3, 1, tzinfo=UTC), actor="t")

    gone = {"table": "order_reviews", "file": f"{DAY}/{stem}.csv", "sha256": file_sha256(local)}
    assert late.landing == [gone]
    store = lake_storage(url)
    assert store.sha256(gone["file"]) is None
    assert f"{contracts['orders'].source.file_stem}.csv" in store.scan(DAY).files
    entry = log.entries()[-1]
    assert entry["action"] == "retention_purge" and entry["details"]["landing_files"] == 1
    assert json.loads(entry["details"]["purged"])["landing"] == [gone]
    log.verify()


def test_commands_that_read_a_local_landing_say_so(settings, keyring, contracts):
    on_s3 = settings.model_copy(update={"landing_url": "s3://lake/landing"})
    assert local_landing(settings, "x") == settings.landing
    with pytest.raises(LandingOnStoreError, match=r"^privacy verify reads a local landing"):
        local_landing(on_s3, "privacy verify")

    from pipelines.lake.subjects import subject_graph
    from pipelines.privacy.authorize import Request
    from pipelines.privacy.erase import erase
    from pipelines.privacy.verify import verify_erasure

    graph = subject_graph(contracts)
    with pytest.raises(LandingOnStoreError, match="landing_url = s3://lake/landing"):
        verify_erasure(on_s3, keyring, contracts, graph, "token")
    log = AuditLog(on_s3.audit, keyring)
    request = Request("privacy_erase", "t", "test", "token")
    with pytest.raises(LandingOnStoreError, match=r"^privacy erase \(without --keep-landing\)"):
        erase(on_s3, keyring, log, request, contracts, graph)
    assert not on_s3.audit.exists(), "refused before anything changed"


def test_landing_names_and_settings_on_a_store():
    on_s3 = landing_dataset("s3://b/pre/fix/2018-01-01/f.csv")
    assert on_s3 == ("s3://b", "pre/fix/2018-01-01/f.csv")
    assert landing_dataset(Path("/x/2018-01-01/f.csv")) == ("file", "/x/2018-01-01/f.csv")
    assert Settings(landing_url="s3://b/landing").describe()["landing (effective)"] == (
        "s3://b/landing"
    )
    assert Settings(landing_url=" ").landing_url is None
    with pytest.raises(ValueError, match="landing_url must be s3://bucket"):
        Settings(landing_url="/local/landing")
