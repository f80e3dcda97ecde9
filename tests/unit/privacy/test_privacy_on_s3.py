"""Privacy operations on a lake on an S3-compatible store (moto's server), issue #19:
retention deletes a partition's manifest and objects; export reads the person's rows from
the store; erasure rewrites the current partitions and deletes every object still holding
the person (superseded versions included); verification searches every object of a table,
and finds a leftover planted after the erasure."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import SecretStr

from pipelines.contracts import ContractSet
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import PartitionSuperseded, partitions, verified_data_file
from pipelines.lake.storage import LakeStorage, lake_store
from pipelines.lake.stored import unreferenced
from pipelines.lake.subjects import subject_graph
from pipelines.protection import AuditLog, KeyRing
from pipelines.protection.pseudonymize import Pseudonymizer
from pipelines.settings import PROJECT_DIR, Settings
from tests.factories import DAY, _id, clean_day, copy_rows, write_day
from tests.other_engine import other_engine
from tests.s3server import S3Server

SUBJECT = _id("u", 1)
INTERVAL = Interval.day(date.fromisoformat(DAY))


@pytest.fixture
def s3_settings(
    keyed_settings: Settings, s3_env: S3Server, pg_url: str, tmp_path: Path
) -> Settings:
    """The lake on S3; partition locks and the shared state's lock in PostgreSQL."""
    lake_url = f"s3://{s3_env.bucket}/{tmp_path.name}"
    return keyed_settings.model_copy(update={"lake_url": lake_url, "lock_url": SecretStr(pg_url)})


def _ingest(settings: Settings, contracts: ContractSet, write_landing, tables: list[str]) -> None:
    """The factory day (one of u1's orders quarantined) ingested into the lake on S3."""
    rows = copy_rows(clean_day())
    rows["orders"].append(dict(rows["orders"][0], order_id=_id("o", 4), order_status="lost"))
    write_day(write_landing, contracts, rows)
    for table in tables:
        ingest_table(table, INTERVAL, settings, contracts=contracts)
    assert not list(settings.lake.glob("*/dt=*")), "the partitions are on the store only"


def _objects_holding(store: LakeStorage, tables: list[str], needle: str) -> list[str]:
    """Every Parquet object under the tables' prefixes (referenced or not) with a value
    containing ``needle``."""
    con = duckdb.connect()
    store.prepare(con)
    found = []
    for table in tables:
        for folder in store.listdir(table):
            for name in store.listdir(f"{table}/{folder}"):
                if name.endswith(".parquet"):
                    uri = store.uri(f"{table}/{folder}/{name}")
                    rows = con.execute("SELECT * FROM read_parquet(?)", [uri]).fetchall()
                    if needle in repr(rows):
                        found.append(f"{table}/{folder}/{name}")
    return found


def _publish_release(settings: Settings, *tokens: str) -> str:
    """A feature release as of 2018-01-08 published on the store, one row per token; the
    snapshot object's name."""
    from pipelines.features.release import Release
    from pipelines.features.snapshots import write_release
    from pipelines.features.stored import publish_release, snapshot_rel
    from pipelines.hashing import file_sha256

    snapshot = settings.data_dir / "features/customer_features/as_of=2018-01-08/data.parquet"
    snapshot.parent.mkdir(parents=True)
    pq.write_table(pa.table({"customer_unique_token": list(tokens)}), snapshot)
    release = Release("r1", "2018-01-08", None, [], [], "2018-01-08T00:00:00+00:00")
    release.status = "published"
    sha = file_sha256(snapshot)
    release.features = {"customer_features": {"rows": 2, "sha256": sha, "decided_sha256": sha}}
    write_release(settings, release)
    assert publish_release(settings, release)
    return snapshot_rel("customer_features", "2018-01-08", sha)


def _store_warehouse_and_handover(settings: Settings, *tokens: str) -> str:
    """Two builds' warehouses on the store (a feature table with one row per token), and a
    built hand-over holding the tokens; the hand-over object's name."""
    from pipelines.warehouse.stored import push_warehouse

    for build in ("b1", "b2"):
        settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(settings.warehouse)) as con:
            con.execute("CREATE OR REPLACE TABLE customer_features (customer_unique_token TEXT)")
            con.executemany("INSERT INTO customer_features VALUES (?)", [[t] for t in tokens])
            con.execute(f"CREATE OR REPLACE TABLE build AS SELECT '{build}' AS id")
        push_warehouse(settings, release_id=build, as_of="2018-01-08")
    settings.warehouse.unlink()  # built on another worker
    built = settings.data_dir / "built.parquet"
    pq.write_table(pa.table({"customer_unique_token": list(tokens)}), built)
    rel = f"_features/built/as_of=2018-01-08/customer_features/data-{'a' * 64}.parquet"
    lake_store(settings).put(built, rel)
    return rel


def _no_snapshot_returns(settings: Settings, store: LakeStorage, token: str, first) -> None:
    """Another engine attached to the DuckLake catalog reads every snapshot it keeps: none
    returns the erased person's rows (those that did were expired)."""
    assert settings.lake_catalog_url is not None
    con = other_engine(settings.lake_catalog_url)
    kept = [r[0] for r in con.execute("SELECT snapshot_id FROM ducklake_snapshots('lake')")
            .fetchall()]  # fmt: skip
    for table in ("customers", "features__customer_features"):  # a lake table, a release's
        read = 0
        for snapshot in kept:
            try:
                rows = con.execute(f"SELECT * FROM lake.{table} AT (VERSION => {snapshot})")
            except duckdb.CatalogException:  # before the table's first commit
                continue
            assert token not in repr(rows.fetchall()), (table, snapshot)
            read += 1
        assert read >= 1, table
    assert first.manifest.dataset_version not in repr(
        con.execute("SELECT commit_extra_info FROM ducklake_snapshots('lake')").fetchall()
    ), "the snapshot that published the superseded version holding the person is expired"


def test_retention_on_s3_deletes_the_manifest_and_every_object_of_the_partition(
    s3_settings: Settings, contracts: ContractSet, keyring: KeyRing, write_landing, tmp_path: Path
) -> None:
    from pipelines.privacy.tasks import purge_retention

    s3_lake = s3_settings
    _ingest(s3_lake, contracts, write_landing, ["customers", "orders", "order_reviews"])

    folder = tmp_path / "contracts"
    shutil.copytree(PROJECT_DIR / "contracts", folder)
    reviews = folder / "order_reviews.yml"
    reviews.write_text(reviews.read_text() + "retention_days: 30\n")
    mine = s3_lake.model_copy(update={"contracts_dir": folder})
    store = lake_store(mine)
    [part] = partitions(store, "order_reviews")
    stray = tmp_path / "stray.parquet"  # what a killed writer left in that partition
    duckdb.execute(f"COPY (SELECT 1 AS x) TO '{stray}' (FORMAT parquet)")
    store.put(stray, f"order_reviews/{part.name}/data-{'0' * 64}.parquet")

    late = datetime(2018, 3, 1, tzinfo=UTC)
    assert purge_retention(late, late, None, settings=mine)["partitions"] == 1
    assert partitions(store, "order_reviews") == []
    assert store.listdir(f"order_reviews/{part.name}") == [], "manifest and every object gone"
    assert len(partitions(store, "orders")) == 1
    with pytest.raises(PartitionSuperseded, match="order_reviews/dt=2018-01-01"):
        verified_data_file(part)  # a reader that listed it: a clean "gone, re-run" error

    log = AuditLog(mine.audit, keyring)
    log.verify()
    entry = log.entries()[-1]
    assert (entry["action"], entry["details"]["partitions"]) == ("retention_purge", 1)
    purged = json.loads(entry["details"]["purged"])["partitions"]
    assert purged == [
        {"table": "order_reviews", "partition": part.name,
         "dataset_version": part.manifest.dataset_version}
    ]  # fmt: skip
    lines = (mine.data_dir / "lineage/events.jsonl").read_text().splitlines()
    complete = [json.loads(x) for x in lines if '"COMPLETE"' in x][-1]
    (output,) = complete["outputs"]
    assert output["namespace"] == "s3://lake"
    assert output["name"] == f"{tmp_path.name}/order_reviews"


@pytest.mark.parametrize("catalog", [False, True], ids=["manifests", "ducklake"])
def test_export_erase_and_verify_on_s3_leave_no_object_holding_the_person(
    s3_settings: Settings,
    contracts: ContractSet,
    keyring: KeyRing,
    write_landing,
    tmp_path: Path,
    catalog: bool,
    request: pytest.FixtureRequest,
) -> None:
    from pipelines.features.stored import fetch_release
    from pipelines.privacy.authorize import Request, subject_token
    from pipelines.privacy.erase import erase
    from pipelines.privacy.export import counts, subject_export
    from pipelines.privacy.lineage import erasure_lineage
    from pipelines.privacy.verify import verify_erasure

    s3_lake = s3_settings
    if catalog:  # the lake's commits in a DuckLake catalog: erasure also expires history
        url = request.getfixturevalue("catalog_url")
        s3_lake = s3_lake.model_copy(update={"lake_catalog_url": url})
    _ingest(s3_lake, contracts, write_landing, contracts.load_order())
    store = lake_store(s3_lake)
    graph = subject_graph(contracts)
    token = Pseudonymizer(keyring).token(SUBJECT)
    # A superseded version holding the person: customers re-ingested with one more row.
    [first] = partitions(store, "customers")
    rows = clean_day()["customers"]
    rows.append({**rows[1], "customer_id": _id("c", 9)})
    write_day(write_landing, contracts, {"customers": rows})
    ingest_table("customers", INTERVAL, s3_lake, contracts=contracts)
    assert first.data_rel in unreferenced(store, "customers")
    assert f"{first.data_rel}" in _objects_holding(store, ["customers"], token)

    other = Pseudonymizer(keyring).token(_id("u", 2))
    old_snapshot = _publish_release(s3_lake, token, other)
    shutil.rmtree(s3_lake.data_dir / "features")  # published from another worker
    handover = _store_warehouse_and_handover(s3_lake, token, other)

    export = subject_export(s3_lake, keyring, contracts, graph, token)
    assert counts(export) == {"lake_rows": 11, "feature_rows": 1, "quarantined_records": 1}
    assert len(export["lake"]["customers"]) == 2
    assert export["lake"]["customer_profiles"][0]["email"] == "canary.alpha@CANARYMAIL.example"

    log = AuditLog(s3_lake.audit, keyring)
    assert subject_token(SUBJECT, keyring, store, "customers") == token  # key from the store
    request = Request("privacy_erase", "alice", "DSR-1", token)
    [before] = partitions(store, "orders")
    shutil.rmtree(s3_lake.data_dir / "features")  # the erasing worker has no cached release
    cert = erase(s3_lake, keyring, log, request, contracts, graph, rebuild=False)
    assert {r.table for r in cert.lake} == set(graph.names)
    assert all(r.objects_deleted >= 1 for r in cert.lake)  # the superseded data object(s)
    assert cert.unreferenced_deleted == 0  # customers' old version went with its rewrite
    assert _objects_holding(store, graph.names, token) == []
    assert cert.snapshots_deleted == 1 and store.sha256(old_snapshot) is None
    assert _objects_holding(store, ["_features"], token) == []
    published = fetch_release(s3_lake, date(2018, 1, 8))  # a file, or the catalog's row
    assert published is not None
    release = json.loads(published.read_text(encoding="utf-8"))
    assert release["features"]["customer_features"]["rows"] == 1
    assert release["features"]["customer_features"]["decided_sha256"] != old_snapshot
    for table in graph.names:
        assert unreferenced(store, table) == []
    # the store's warehouse: rewritten, pushed, no older copy left; hand-overs deleted
    assert cert.warehouse_pushed and cert.handovers_deleted == 1
    assert store.sha256(handover) is None
    [kept] = [n for n in store.listdir("_warehouse") if n.endswith(".duckdb")]
    local = tmp_path / "pulled.duckdb"
    store.get(f"_warehouse/{kept}", local)
    rows = duckdb.connect(str(local)).execute("SELECT * FROM customer_features").fetchall()
    assert rows == [(other,)]
    with pytest.raises(PartitionSuperseded, match="orders/dt=2018-01-01"):
        verified_data_file(before)  # a reader still holding the old manifest
    certificate = json.loads(log.entries()[-1]["details"]["certificate"])
    assert certificate["lake"] == [r.as_dict() for r in cert.lake]
    outputs = erasure_lineage(s3_lake, contracts, cert).outputs
    assert {o.namespace for o in outputs} == {"s3://lake"}

    result = verify_erasure(s3_lake, keyring, contracts, graph, token)
    assert result.absent, result.findings
    assert subject_export(s3_lake, keyring, contracts, graph, token)["lake"] == {}
    if catalog:
        _no_snapshot_returns(s3_lake, store, token, first)

    # A leftover on the store (say, a copy another tool put back) is found by verification.
    planted = tmp_path / "planted.parquet"
    pq.write_table(pa.table({"customer_unique_id": [token]}), planted)
    rel = f"customers/dt={DAY}/data-{'f' * 64}.parquet"
    store.put(planted, rel)
    again = verify_erasure(s3_lake, keyring, contracts, graph, token)
    assert not again.absent
    assert again.findings == {f"lake:{rel} (unreferenced)": 1}
