"""Erasure of one person: found through the contracts' foreign keys, removed from every lake
partition (data and quarantine), the retained landing files, feature snapshots and the
warehouse, kept out of later ingestions by the suppression list, certified in the audit log.

The person is the factory day's ``u1`` (CANARYNAME Alpha): two order-level customer records
(``c1``, ``c3``), orders ``o1`` and ``o3`` with their items, payments and review, one more
order that is quarantined, and a profile with an encrypted e-mail and phone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from pipelines.lake.subjects import SubjectGraphError, subject_graph
from pipelines.protection import AuditLog, create_keyring
from pipelines.protection.encrypt import Encryptor, encryption_context
from pipelines.protection.keys import FileKeyProvider
from pipelines.protection.pseudonymize import Pseudonymizer
from tests.factories import DAY, _id, clean_day, copy_rows, write_day
from tests.unit.lineage.ol_schema import validate_event

SUBJECT = _id("u", 1)
# u1's clear values: none may survive anywhere once u1 is erased (landing included).
SUBJECT_CANARIES = [
    SUBJECT,
    _id("c", 1),
    _id("c", 3),
    _id("o", 1),
    _id("o", 3),
    _id("o", 4),
    "CANARYNAME Alpha",
    "canary.alpha",
    "90000-1111",
    "1985-06-15",
    "CANARYSTREET, 100",
    "CANARYCITY1",
    "canary.review",
]


def test_the_tables_holding_a_person_come_from_the_contracts(contracts):
    graph = subject_graph(contracts)
    assert graph.names == [
        "customers",
        "customer_profiles",
        "orders",
        "order_items",
        "order_payments",
        "order_reviews",
    ]
    assert "products" not in graph.names and "sellers" not in graph.names
    orders = graph.table("orders")
    assert orders is not None
    assert [(m.column, m.key) for m in orders.matches] == [("customer_id", "customers.customer_id")]
    assert orders.exports == ("order_id",)
    with pytest.raises(SubjectGraphError, match="not pseudonymized"):
        subject_graph(contracts, "customers.customer_state")


def _day_with_quarantined_order() -> dict:
    rows = copy_rows(clean_day())
    quarantined = dict(rows["orders"][0], order_id=_id("o", 4), order_status="lost-in-space")
    rows["orders"].append(quarantined)  # u1's order, quarantined (not_allowed)
    return rows


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args], env=env, capture_output=True, text=True
    )


def _ingest(settings, keyring, contracts) -> dict[str, object]:
    interval = Interval.day(date.fromisoformat(DAY))
    return {
        t: ingest_table(t, interval, settings, keyring=keyring, contracts=contracts).counts
        for t in contracts.load_order()
    }


def _bytes_of(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def _leaks(root: Path, needles: list[str]) -> list[str]:
    return [f"{p}: {n}" for p, data in _bytes_of(root) for n in needles if n.encode() in data]


def test_erase_removes_a_person_everywhere_and_a_rerun_does_not_bring_them_back(
    settings, contracts, write_landing, tmp_path
):
    write_day(write_landing, contracts, _day_with_quarantined_order())
    original = tmp_path / "landing-copy"
    shutil.copytree(settings.landing, original)
    key_file = tmp_path / "keys.json"
    create_keyring(key_file)
    keyring = FileKeyProvider(key_file).load()
    counts = _ingest(settings, keyring, contracts)
    assert counts["orders"].quarantined == 1
    token = Pseudonymizer(keyring).token(SUBJECT)
    tokens = [Pseudonymizer(keyring).token(v) for v in (SUBJECT, _id("c", 1), _id("c", 3))]
    email = Encryptor(keyring).encrypt(
        "canary.alpha@CANARYMAIL.example", encryption_context("customer_profiles", "email")
    )
    assert _leaks(settings.lake, [*tokens, email])  # the premise: the lake holds them
    before = {
        p.table: p.manifest.dataset_version
        for t in contracts.load_order()
        for p in partitions(settings.lake, t)
    }

    env = dict(
        os.environ, PIPELINES_DATA_DIR=str(settings.data_dir), PIPELINES_KEY_FILE=str(key_file)
    )
    who = ["--actor", "alice", "--reason", "erasure request DSR-1"]
    done = _run(env, "privacy", "erase", "--subject", SUBJECT, *who, "--json")
    assert done.returncode == 0, done.stderr
    cert = json.loads(done.stdout)
    rewritten = {r["table"]: r for r in cert["lake"]}
    assert set(rewritten) == {
        "customers", "customer_profiles", "orders", "order_items", "order_payments", "order_reviews"
    }  # fmt: skip
    assert rewritten["customers"]["data_rows_removed"] == 2
    assert rewritten["orders"]["data_rows_removed"] == 2
    assert rewritten["orders"]["quarantine_rows_removed"] == 1
    assert rewritten["order_items"]["data_rows_removed"] == 3
    assert rewritten["order_reviews"]["data_rows_removed"] == 1
    for table, r in rewritten.items():
        assert r["old_version"] == before[table] != r["new_version"]
    assert {f["file"].split("/")[-1] for f in cert["landing"]} >= {
        "olist_customers_dataset.csv",
        "synthetic_customer_profiles.csv",
        "olist_order_items_dataset.csv",
    }
    # The old partition files are gone (not hidden): only published folders remain.
    for table in rewritten:
        assert [p.name for p in (settings.lake / table).iterdir()] == [f"dt={DAY}"]
    # The certificate is in the audit log, MAC-chained, without a clear value or token.
    log = AuditLog(settings.audit, keyring)
    log.verify()
    entry = log.entries()[-1]
    assert entry["action"] == "privacy_erase" and entry["details"]["outcome"] == "success"
    assert json.loads(entry["details"]["certificate"])["lake"] == cert["lake"]

    events = [json.loads(line) for line in (settings.data_dir / "lineage/events.jsonl").open()]
    complete = [e for e in events if e["eventType"] == "COMPLETE"][-1]
    assert complete["job"]["name"] == "pipelines.privacy.erase"
    validate_event(complete)  # the OpenLineage schemas, custom facets included
    assert complete["run"]["facets"]["pipelines_privacy"]["audit_seq"] == entry["seq"]
    assert {o["facets"]["datasetVersion"]["datasetVersion"] for o in complete["outputs"]} == {
        r["new_version"] for r in cert["lake"]
    }

    verify = _run(env, "privacy", "verify-erasure", "--subject", token, *who)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "ABSENT" in verify.stdout

    # Re-run the pipeline over the same landing data as it was delivered.
    shutil.rmtree(settings.landing)
    shutil.copytree(original, settings.landing)
    ingested = _run(env, "ingest", "--all", "--start", DAY, "--end", "2018-01-02")
    assert ingested.returncode == 0, ingested.stderr
    assert "rows of erased subjects suppressed" in ingested.stdout
    counts = {t: partitions(settings.lake, t)[0].manifest.counts for t in contracts.load_order()}
    assert counts["customers"].suppressed == 2 and counts["customers"].balanced
    assert counts["orders"].suppressed == 3 and counts["orders"].quarantined == 0
    assert counts["order_items"].suppressed == 3
    assert counts["customer_profiles"].loaded == 1
    shutil.rmtree(settings.landing)
    shutil.copytree(original, settings.landing)
    again = _run(env, "privacy", "verify-erasure", "--subject", SUBJECT, *who, "--keep-landing")
    assert again.returncode == 2  # argparse: verify has no --keep-landing
    again = _run(env, "privacy", "verify-erasure", "--subject", SUBJECT, *who)
    assert again.returncode == 1  # the restored landing copy holds the person again
    assert "landing:" in again.stdout and "lake:" not in again.stdout

    summary = _run(env, "summary")
    assert "suppressed" in summary.stdout
    shutil.rmtree(settings.landing)
    output = done.stdout + done.stderr + verify.stdout + again.stdout + summary.stdout
    output += ingested.stdout + ingested.stderr
    assert [n for n in [*SUBJECT_CANARIES, *tokens, email] if n in output] == []
    assert _leaks(settings.data_dir, [*SUBJECT_CANARIES, *tokens, email]) == []


def test_a_refused_erasure_is_audited_and_changes_nothing(
    settings, contracts, write_landing, tmp_path
):
    write_day(write_landing, contracts, clean_day())
    key_file = tmp_path / "keys.json"
    create_keyring(key_file)
    keyring = FileKeyProvider(key_file).load()
    _ingest(settings, keyring, contracts)
    before = {p: p.read_bytes() for p in settings.lake.rglob("*.parquet")}
    env = dict(
        os.environ, PIPELINES_DATA_DIR=str(settings.data_dir), PIPELINES_KEY_FILE=str(key_file)
    )
    done = _run(env, "privacy", "erase", "--subject", SUBJECT, "--actor", "alice", "--reason", " ")
    assert done.returncode == 1 and "needs a reason" in done.stderr
    assert {p: p.read_bytes() for p in settings.lake.rglob("*.parquet")} == before
    entry = AuditLog(settings.audit, keyring).entries()[-1]
    assert (entry["action"], entry["details"]["outcome"]) == ("privacy_erase", "refused")
    assert entry["subject"] is None
    no_keys = {k: v for k, v in env.items() if k != "PIPELINES_KEY_FILE"}
    done = _run(no_keys, "privacy", "erase", "--subject", SUBJECT, "--actor", "a", "--reason", "r")
    assert done.returncode == 1
    assert {p: p.read_bytes() for p in settings.lake.rglob("*.parquet")} == before
    entry = AuditLog(settings.audit, keyring).entries()[-1]
    assert (entry["details"]["outcome"], entry["key_id"]) == ("refused", None)  # unauthenticated


def test_derived_artifacts_lose_the_persons_rows_and_the_old_bytes(settings, keyring, tmp_path):
    """Feature snapshots and the warehouse: rows holding a key of the person go, and the
    warehouse file is replaced (DuckDB keeps deleted rows in free blocks)."""
    from pipelines.lake.subject_match import digest, load_keys
    from pipelines.privacy.derived import rewrite_features, rewrite_warehouse
    from pipelines.privacy.locate import connect

    token = Pseudonymizer(keyring).token(SUBJECT)
    other = Pseudonymizer(keyring).token(_id("u", 2))
    snapshot = settings.data_dir / "features/customer_features/as_of=2018-01-08/data.parquet"
    snapshot.parent.mkdir(parents=True)
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse)) as wh:
        wh.execute("CREATE SCHEMA marts")
        wh.execute(
            "CREATE TABLE marts.customer_features AS SELECT * FROM (VALUES (?, 3), (?, 1)) "
            "AS t(customer_unique_token, orders)",
            [token, other],
        )
        wh.execute("CREATE VIEW marts.v AS SELECT * FROM marts.customer_features")
        wh.execute(f"COPY marts.customer_features TO '{snapshot}' (FORMAT parquet)")
    from pipelines.features.release import Release
    from pipelines.features.snapshots import read_release, write_release
    from pipelines.hashing import file_sha256

    release = Release("r1", "2018-01-08", None, [], [], "2018-01-08T00:00:00+00:00")
    release.status = "published"
    old = file_sha256(snapshot)
    release.features = {"customer_features": {"rows": 2, "sha256": old, "decided_sha256": old}}
    write_release(settings, release)
    con = connect(keyring)
    load_keys(con, {"customers.customer_unique_id": {digest(token)}})
    features = rewrite_features(con, settings.data_dir / "features", [])
    warehouse = rewrite_warehouse(con, settings.warehouse)
    assert [(d.artifact, d.rows_removed) for d in features] == [
        ("features/customer_features/as_of=2018-01-08", 1)
    ]
    assert [(d.artifact, d.rows_removed) for d in warehouse] == [
        ("warehouse:marts.customer_features", 1)
    ]
    with duckdb.connect(str(settings.warehouse), read_only=True) as wh:
        assert wh.execute("SELECT customer_unique_token FROM marts.v").fetchall() == [(other,)]
    assert duckdb.sql(f"SELECT orders FROM '{snapshot}'").fetchall() == [(1,)]
    assert token.encode() not in settings.warehouse.read_bytes()
    assert token.encode() not in snapshot.read_bytes()
    served = read_release(settings, date(2018, 1, 8)).features["customer_features"]
    assert served == {
        "rows": 1,
        "rows_erased": 1,
        "sha256": file_sha256(snapshot),
        "decided_sha256": file_sha256(snapshot),
    }

    from pipelines.features import load_features

    assert load_features("customer_features", purpose="churn", settings=settings).frame.height == 1


def test_subject_access_export_decrypts_under_audit(settings, contracts, write_landing, tmp_path):
    write_day(write_landing, contracts, _day_with_quarantined_order())
    key_file = tmp_path / "keys.json"
    create_keyring(key_file)
    keyring = FileKeyProvider(key_file).load()
    _ingest(settings, keyring, contracts)
    env = dict(
        os.environ, PIPELINES_DATA_DIR=str(settings.data_dir), PIPELINES_KEY_FILE=str(key_file)
    )
    out = tmp_path / "dsr.json"
    who = ["--actor", "alice", "--reason", "access request DSR-2"]
    done = _run(env, "privacy", "export", "--subject", SUBJECT, *who, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "canary" not in done.stdout + done.stderr  # the values go to the file only
    assert out.stat().st_mode & 0o077 == 0
    export = json.loads(out.read_text())
    assert export["lake"]["customer_profiles"][0]["email"] == "canary.alpha@CANARYMAIL.example"
    assert {len(export["lake"][t]) for t in ("customers", "orders")} == {2}
    assert len(export["lake"]["order_items"]) == 3
    assert export["quarantined_records"] == {f"orders/dt={DAY}": 1}
    entry = AuditLog(settings.audit, keyring).entries()[-1]
    assert (entry["action"], entry["details"]["outcome"]) == ("privacy_export", "success")
    assert entry["details"]["lake_rows"] == 2 + 1 + 2 + 3 + 2 + 1
    assert "canary" not in json.dumps(entry)


def test_verify_erasure_reports_aggregates_whose_rebuild_failed(settings, keyring, contracts):
    """A certificate recording a failed rebuild makes verify-erasure name that snapshot while
    it is still the version the erasure left; once rebuilt (another version), it is clean."""
    from pipelines.hashing import file_sha256
    from pipelines.privacy.erase import ACTION, Certificate
    from pipelines.privacy.rebuild import Rebuilt
    from pipelines.privacy.verify import verify_erasure
    from pipelines.protection.audit import subject_digest

    token = Pseudonymizer(keyring).token(SUBJECT)
    snapshot = settings.data_dir / "features/product_features/as_of=2018-01-10/data.parquet"
    snapshot.parent.mkdir(parents=True)
    duckdb.sql(f"COPY (SELECT 'p1' AS product_id, 2 AS orders) TO '{snapshot}' (FORMAT parquet)")
    graph = subject_graph(contracts)
    cert = Certificate(subject_digest(token), graph.subject_column, graph.names)
    kept = {"product_features": {"old_version": file_sha256(snapshot), "kept": True}}
    cert.rebuilt = [Rebuilt("2018-01-10", None, False, kept)]
    assert cert.aggregates_kept == ["features/product_features/as_of=2018-01-10"]
    log = AuditLog(settings.audit, keyring)
    log.append(
        actor="a", action=ACTION, reason="r", details={"certificate": json.dumps(cert.as_dict())}
    )
    result = verify_erasure(settings, keyring, contracts, graph, token)
    assert result.findings == {"aggregates:product_features/as_of=2018-01-10": 1}
    assert not result.absent
    duckdb.sql(f"COPY (SELECT 'p1' AS product_id, 1 AS orders) TO '{snapshot}' (FORMAT parquet)")
    assert verify_erasure(settings, keyring, contracts, graph, token).findings == {}
