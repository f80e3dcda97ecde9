"""DuckLake snapshots as the lake's dataset versions downstream (issue #19): a partition
listed from the catalog carries the snapshot that committed it, and lineage, releases and
explain name it beside the data file's SHA-256; the catalog is named without credentials."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import duckdb
import pytest
from pydantic import SecretStr

from pipelines.cli import main
from pipelines.contracts import ContractSet
from pipelines.features.lineage import publish_lineage
from pipelines.features.provenance import LakeSources, PartitionUsed, Provenance, render_text
from pipelines.features.release import Release, select_release
from pipelines.ingest import ingest_table
from pipelines.ingest.lineage import ingestion_lineage
from pipelines.lake.ducklake.history import history
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions, published
from pipelines.lake.storage import LakeStorage, catalog_of, lake_storage, lake_store
from pipelines.lineage import client
from pipelines.lineage.emit import task_run
from pipelines.protection import KeyRing
from pipelines.quality.tasks import gate, validate
from pipelines.reporting.store import events_path
from pipelines.settings import Settings
from pipelines.warehouse.lake_views import register_lake, select_partitions
from tests.factories import DAY, clean_day, write_day
from tests.s3server import S3Server
from tests.unit.lake.ducklake_writer import publish

DAYS = ["dt=2024-01-01", "dt=2024-01-02"]
PASSWORD = "catalog-pw-canary-5e1d"
INTERVAL = Interval.parse(DAY, "2018-01-02")
AS_OF = date.fromisoformat(DAY) + timedelta(days=1)
RUN = "manual__2018-01-01T00:00:00+00:00"


@pytest.fixture
def secret_catalog(catalog_url: SecretStr) -> SecretStr:
    """The test's catalog URL with a password (the machine's trust auth ignores it): it must
    reach no event, log or output."""
    parts = urlsplit(catalog_url.get_secret_value())
    netloc = f"{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port}"
    return SecretStr(urlunsplit(parts._replace(netloc=netloc)))


@pytest.fixture
def store(s3_env: S3Server, tmp_path: Path, secret_catalog: SecretStr) -> LakeStorage:
    return lake_storage(f"s3://{s3_env.bucket}/{tmp_path.name}", catalog=secret_catalog)


def _last_commits(store: LakeStorage, table: str) -> dict[str, int]:
    """Each partition's last publishing commit in the catalog's history."""
    catalog = catalog_of(store)
    assert catalog is not None
    return {c.partition: c.snapshot for c in history(catalog, table) if c.dataset_version}


def test_listed_partitions_carry_the_snapshot_of_their_commit(
    store: LakeStorage, tmp_path: Path
) -> None:
    publish(store, "orders", DAYS[0], [1, 2], tmp_path)
    publish(store, "orders", DAYS[1], [3], tmp_path)
    [first, _] = partitions(store, "orders")
    publish(store, "orders", DAYS[0], [1, 2, 4], tmp_path)  # re-published: a new commit

    listed = partitions(store, "orders")
    commits = _last_commits(store, "orders")
    assert {p.name: p.snapshot for p in listed} == commits
    assert first.snapshot is not None and commits[DAYS[0]] > first.snapshot
    one = published(store, "orders", DAYS[0])
    assert one is not None and (one.snapshot, one.manifest) == (
        commits[DAYS[0]],
        listed[0].manifest,
    )
    # as of the first commit's snapshot: that version, named by that snapshot
    [then] = partitions(store, "orders", snapshot=first.snapshot)
    assert (then.snapshot, then.manifest) == (first.snapshot, first.manifest)

    catalog = catalog_of(store)
    assert catalog is not None
    where = one.manifest_location
    assert where == f"{catalog.location}#_pipelines_manifests/orders/{DAYS[0]}"
    assert where.startswith("ducklake:postgresql://127.0.0.1:5432/pipelines_dl_")
    assert PASSWORD not in where and "postgres@" not in where


def test_without_a_catalog_a_partition_has_no_snapshot(
    s3_env: S3Server, tmp_path: Path, settings: Settings
) -> None:
    plain = lake_storage(f"s3://{s3_env.bucket}/{tmp_path.name}-plain")
    local = lake_storage(settings.lake)
    for lake in (plain, local):
        publish(lake, "orders", DAYS[0], [1], tmp_path)
        [part] = partitions(lake, "orders")
        assert part.snapshot is None and published(lake, "orders", DAYS[0]) == part
        assert part.manifest_location.endswith(f"orders/{DAYS[0]}/manifest.json")
        assert published(lake, "orders", DAYS[1]) is None


@pytest.fixture
def lineage_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Lineage on the default file transport, no machine configuration."""
    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    client.reset_clients()
    yield
    client.reset_clients()


def _ingest(settings: Settings, keyring: KeyRing, contracts: ContractSet, table: str) -> None:
    """``table``'s day ingested as the DAG's task does: the run and its lineage event."""
    with task_run(
        f"ingest_{table}", run_id=RUN, settings=settings, interval=(INTERVAL.start, INTERVAL.end)
    ) as lineage:
        result = ingest_table(
            table, INTERVAL, settings, run_id=RUN, keyring=keyring, contracts=contracts
        )
        lineage.complete_with(lambda: ingestion_lineage(result.manifest, settings, contracts))


def _partition_facets(settings: Settings) -> list[tuple[str, str, dict[str, Any]]]:
    """``(job, role, pipelines_partition)`` of every lake partition dataset in the events."""
    found = []
    for line in events_path(settings).read_text().splitlines():
        event = json.loads(line)
        for role in ("inputs", "outputs"):
            for dataset in event.get(role) or []:
                facet = (dataset.get("facets") or {}).get("pipelines_partition")
                if facet:
                    found.append((event["job"]["name"].rsplit(".", 1)[-1], role, facet))
    return found


def test_lineage_releases_and_explain_name_the_snapshot_and_no_password(
    keyed_settings: Settings,
    keyring: KeyRing,
    contracts: ContractSet,
    write_landing,
    s3_env: S3Server,
    pg_url: str,
    secret_catalog: SecretStr,
    lineage_env: None,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = keyed_settings.model_copy(
        update={
            "lake_url": f"s3://{s3_env.bucket}/{tmp_path.name}",
            "lock_url": SecretStr(pg_url),
            "lake_catalog_url": secret_catalog,
        }
    )
    store = lake_store(settings)
    write_day(write_landing, contracts, clean_day())
    for table in contracts.load_order():
        _ingest(settings, keyring, contracts, table)
    for table in contracts.load_order():
        validate(table, INTERVAL.start, INTERVAL.end, RUN, settings=settings)
    gate(INTERVAL.start, INTERVAL.end, RUN, settings=settings)
    release = Release.from_json(select_release(settings, AS_OF, RUN).to_json())
    commits = {t: _last_commits(store, t) for t in contracts.load_order()}
    assert {(p.table, p.partition, p.snapshot) for p in release.partitions} == {
        (t, f"dt={DAY}", commits[t][f"dt={DAY}"]) for t in contracts.load_order()
    }
    con = duckdb.connect()  # the warehouse's registry names the catalog row, no manifest.json
    register_lake(con, select_partitions(store, contracts), contracts=contracts)
    catalog = catalog_of(store)
    assert catalog is not None
    assert sorted(
        r[0] for r in con.execute("SELECT manifest_path FROM lake.partitions").fetchall()
    ) == sorted(catalog.row_location(t, f"dt={DAY}") for t in contracts.load_order())
    with task_run("publish_features", run_id=RUN, settings=settings) as lineage:
        lineage.complete_with(lambda: publish_lineage(settings, release))

    # every lake partition in the events names its commit's snapshot and catalog row
    facets = _partition_facets(settings)
    jobs = {job for job, _, _ in facets}
    assert {f"ingest_{t}" for t in contracts.load_order()} <= jobs
    assert {f"quality_{t}" for t in contracts.load_order()} | {"quality_gate"} <= jobs
    for _, _, facet in facets:
        assert facet["snapshot"] == commits[facet["table"]][facet["partition"]]
        assert facet["manifest"].endswith(f"#_pipelines_manifests/{facet['table']}/dt={DAY}")
    events = [json.loads(line) for line in events_path(settings).read_text().splitlines()]
    [used] = [
        e["run"]["facets"]["pipelines_release"]["partitions"]
        for e in events
        if e["job"]["name"].endswith(".publish_features") and e["eventType"] == "COMPLETE"
    ]
    assert {(p["table"], p["snapshot"]) for p in used} == {
        (p.table, p.snapshot) for p in release.partitions
    }

    # a re-published partition gets a new snapshot; the release built before names the old
    sellers = next(p for p in release.partitions if p.table == "sellers")
    rows = clean_day()
    rows["sellers"] = [*rows["sellers"], dict(rows["sellers"][0], seller_id="s" + "9" * 31)]
    write_day(write_landing, contracts, rows)
    _ingest(settings, keyring, contracts, "sellers")
    now = published(store, "sellers", f"dt={DAY}")
    assert now is not None and sellers.snapshot is not None
    assert now.snapshot == _last_commits(store, "sellers")[f"dt={DAY}"] > sellers.snapshot
    assert Release.from_json(release.to_json()).partitions == release.partitions
    [then] = partitions(store, "sellers", snapshot=sellers.snapshot)
    assert (then.snapshot, then.manifest.dataset_version) == (
        sellers.snapshot,
        sellers.dataset_version,
    )
    assert now.manifest.dataset_version != sellers.dataset_version
    [held] = select_release(settings, AS_OF, RUN).held_back
    assert (held.table, held.dataset_version) == ("sellers", now.manifest.dataset_version)

    # explain prints each partition's version with the release's snapshot
    used_parts = [
        PartitionUsed(sellers.partition, sellers.dataset_version, snapshot=sellers.snapshot)
    ]
    prov = Provenance(
        "t", "k", "1", AS_OF, release.release_id, {}, [LakeSources("sellers", used_parts, [])]
    )
    text = render_text(prov)
    assert f"({sellers.dataset_version[:12]}, snapshot {sellers.snapshot})" in text

    # the catalog's password reaches no event, log line or command output
    monkeypatch.setenv("PIPELINES_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PIPELINES_LAKE_URL", str(settings.lake_url))
    monkeypatch.setenv("PIPELINES_LAKE_CATALOG_URL", secret_catalog.get_secret_value())
    assert main(["lake", "history", "--table", "sellers"]) == 0
    as_of = ["--snapshot", str(sellers.snapshot)]
    assert main(["lake", "partitions", "--table", "sellers", *as_of]) == 0
    out, err = capfd.readouterr()
    assert f"snapshot {now.snapshot}" in out  # the history
    assert f"dataset {sellers.dataset_version}" in out  # the as-of listing, with its commit
    assert f"run {RUN}  snapshot {sellers.snapshot}\n" in out
    written = events_path(settings).read_text()
    assert "_pipelines_manifests" in written
    for text in (written, out, err, caplog.text):
        assert PASSWORD not in text
