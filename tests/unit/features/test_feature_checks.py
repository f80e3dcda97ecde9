"""The feature gate: GX suites from expectations/features/ on exported snapshots decide
whether a release is served. Snapshots are written here with DuckDB, valid by default; each
test breaks one thing and expects exactly the check that guards it to stop publication."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from pipelines.features import tasks
from pipelines.features.paths import feature_table_names, snapshot_file
from pipelines.features.release import Release
from pipelines.features.snapshots import read_release, write_release
from pipelines.hashing import file_sha256
from pipelines.protection import AuditLog, KeyRing
from pipelines.quality import store
from pipelines.settings import Settings

FEATURE_TABLES = feature_table_names(Settings())  # the declared feature tables (Olist package on)

AS_OF = date(2018, 3, 1)
START, END = datetime(2018, 2, 28, tzinfo=UTC), datetime(2018, 3, 1, tzinfo=UTC)
RUN = "scheduled__2018-02-28T00:00:00+00:00"
N = 240

VALID = {
    "customer_features": f"""
        SELECT printf('p1:%032x', i) AS customer_unique_token, DATE '{AS_OF}' AS as_of_date,
               1 + i % 3 AS orders, (i % 5 = 0)::INT AS canceled_orders,
               10.5 * i AS spend, i % 40 AS recency_days, i AS tenure_days,
               0.5 AS credit_card_share, 0.25 AS boleto_share, 0.25 AS voucher_share,
               0.0 AS debit_card_share, (i % 2)::DOUBLE AS installment_order_share,
               CASE WHEN i % 4 = 0 THEN NULL ELSE 0.1 END AS late_delivery_share,
               CASE WHEN i % 3 = 0 THEN NULL ELSE 1 + i % 5 END AS avg_review_score,
               printf('%03dxx', i % 1000) AS customer_zip3,
               (['SP', 'SP', 'SP', 'RJ', 'MG', 'RS', 'PR'])[1 + i % 7] AS customer_state
        FROM range({N}) t(i)""",
    "product_features": f"""
        SELECT printf('%032x', i) AS product_id, DATE '{AS_OF}' AS as_of_date,
               (['cama_mesa_banho', 'esporte_lazer', 'moveis_decoracao', NULL])[1 + i % 4]
                   AS category,
               i % 9 AS units_sold, 20.0 * (i % 9) AS revenue,
               CASE WHEN i % 9 = 0 THEN NULL ELSE 20.0 END AS price_min,
               CASE WHEN i % 9 = 0 THEN NULL ELSE 20.0 + i END AS price_max,
               0.1 AS freight_share, 0.0 AS cancel_rate, 4.0 AS review_score_mean,
               0.5 AS review_share_5, 0.0 AS review_share_1, i % 30 AS days_since_last_sale
        FROM range({N}) t(i)""",
    "seller_features": f"""
        SELECT printf('%032x', i) AS seller_id, DATE '{AS_OF}' AS as_of_date,
               (['SP', 'SP', 'SP', 'PR', 'MG', 'SC', 'RJ'])[1 + i % 7] AS seller_state,
               printf('%03dxx', i % 1000) AS seller_zip3, i % 12 AS orders,
               35.0 * (i % 12) AS revenue, 0.9 AS on_time_share, 0.01 AS cancel_rate,
               CASE WHEN i % 12 = 0 THEN NULL ELSE 4.2 END AS review_score_mean
        FROM range({N}) t(i)""",
}


def write_snapshot(settings: Settings, table: str, query: str) -> Path:
    path = snapshot_file(settings, table, AS_OF)
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(f"COPY ({query}) TO '{path}' (FORMAT parquet)")
    return path


def build_release(settings: Settings, broken: dict[str, str] | None = None) -> None:
    """A built release whose snapshots are ``VALID``, with ``broken`` queries swapped in."""
    features = {}
    for table in FEATURE_TABLES:
        path = write_snapshot(settings, table, (broken or {}).get(table, VALID[table]))
        features[table] = {"rows": N, "file": str(path), "sha256": file_sha256(path)}
    release = Release(
        release_id="r-test",
        as_of=AS_OF.isoformat(),
        run_id=RUN,
        partitions=[],
        held_back=[],
        created_at="2018-03-01T00:00:00+00:00",
        status="built",
        features=features,
    )
    write_release(settings, release)


def check_all(settings: Settings) -> dict[str, dict]:
    return {t: tasks.check(t, START, END, RUN, settings=settings) for t in FEATURE_TABLES}


@pytest.fixture(autouse=True)
def _no_lineage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")


@pytest.fixture
def settings(keyed_settings: Settings) -> Settings:
    """With a key ring: publication writes the k-anonymity gate's decisions to the audit log."""
    return keyed_settings


def test_valid_snapshots_pass_every_critical_check_and_are_published(
    settings: Settings, keyring: KeyRing
):
    build_release(settings)
    results = check_all(settings)
    assert all(r["failed"] == 0 for r in results.values()), results
    assert all(r["passed"] >= 9 for r in results.values()), results
    published = tasks.publish(START, END, RUN, settings=settings)
    assert published["release_id"] == "r-test"
    release = read_release(settings, AS_OF)
    assert release.status == "published" and release.problems == []
    # the k-anonymity gate's decision on the one table with quasi-identifiers, audited
    [entry] = [e for e in AuditLog(settings.audit, keyring).entries()]
    assert (entry["action"], entry["key_id"]) == ("anonymity_gate", "a1")
    assert entry["details"]["table"] == "customer_features"
    assert (entry["details"]["outcome"], entry["details"]["rows"]) == ("passed", N)
    assert release.checks["anonymity"]["customer_features"]["audit_seq"] == entry["seq"]
    # the stored results name the snapshot file's content hash as the version validated
    rows = [r for r in store.read_checks(settings) if r["table"] == "seller_features"]
    assert {r["dataset_version"] for r in rows} == {
        file_sha256(snapshot_file(settings, "seller_features", AS_OF))
    }


@pytest.mark.parametrize(
    ("table", "replace", "check"),
    [
        # a duplicated customer: the last row repeats the first one's key
        (
            "customer_features",
            (
                "printf('p1:%032x', i) AS",
                f"printf('p1:%032x', CASE WHEN i = {N - 1} THEN 0 ELSE i END) AS",
            ),
            "customer_features.key_unique",
        ),
        # a clear identifier where a pseudonym belongs
        (
            "customer_features",
            (
                "printf('p1:%032x', i) AS",
                "CASE WHEN i = 7 THEN 'maria@example.com' ELSE printf('p1:%032x', i) END AS",
            ),
            "customer_features.key_is_pseudonym",
        ),
        # a negative count
        (
            "customer_features",
            ("1 + i % 3 AS orders", "CASE WHEN i = 3 THEN -1 ELSE 1 + i % 3 END AS orders"),
            "customer_features.orders_non_negative",
        ),
        # a share above one
        (
            "customer_features",
            ("0.25 AS boleto_share", "1.25 AS boleto_share"),
            "customer_features.boleto_share_is_share",
        ),
        # a full zip code instead of its generalized prefix
        (
            "seller_features",
            ("printf('%03dxx', i % 1000) AS seller_zip3", "printf('%05d', i) AS seller_zip3"),
            "seller_features.zip3_generalized",
        ),
        # price range inverted
        (
            "product_features",
            ("20.0 + i END AS price_max", "19.0 END AS price_max"),
            "product_features.price_max_at_least_min",
        ),
        # an empty snapshot
        (
            "seller_features",
            (f"FROM range({N}) t(i)", "FROM range(0) t(i)"),
            "seller_features.rows_present",
        ),
    ],
)
def test_a_broken_snapshot_fails_its_check_and_is_not_published(
    settings: Settings, table: str, replace: tuple[str, str], check: str
):
    old, new = replace
    assert old in VALID[table]
    build_release(settings, {table: VALID[table].replace(old, new)})
    results = check_all(settings)
    assert results[table]["failed"] >= 1
    assert all(r["failed"] == 0 for t, r in results.items() if t != table)
    with pytest.raises(tasks.FeatureGateFailed) as raised:
        tasks.publish(START, END, RUN, settings=settings)
    assert f"critical check failed: {check}" in str(raised.value)
    assert read_release(settings, AS_OF).status == "failed"


def test_a_customer_whose_every_order_was_canceled_is_published(settings: Settings):
    """The mart keeps every customer with an order before as_of; canceled ones count apart, so
    ``orders`` is 0 for a customer who only canceled (this held back a real release)."""
    only_canceled = VALID["customer_features"].replace(
        "1 + i % 3 AS orders", "CASE WHEN i = 5 THEN 0 ELSE 1 + i % 3 END AS orders"
    )
    build_release(settings, {"customer_features": only_canceled})
    results = check_all(settings)
    assert all(r["failed"] == 0 for r in results.values()), results
    assert tasks.publish(START, END, RUN, settings=settings)["release_id"] == "r-test"


def test_representativeness_is_a_warning_not_a_stop(settings: Settings):
    only_acre = VALID["customer_features"].replace(
        "(['SP', 'SP', 'SP', 'RJ', 'MG', 'RS', 'PR'])[1 + i % 7]", "'AC'"
    )
    build_release(settings, {"customer_features": only_acre})
    result = check_all(settings)["customer_features"]
    assert result["failed"] == 0
    assert "customer_state_representative" in result["warned_checks"]
    tasks.publish(START, END, RUN, settings=settings)
    assert read_release(settings, AS_OF).status == "published"


def test_a_snapshot_rewritten_after_its_checks_is_not_published(settings: Settings):
    build_release(settings)
    check_all(settings)
    write_snapshot(settings, "product_features", VALID["product_features"] + " LIMIT 10")
    with pytest.raises(tasks.FeatureGateFailed, match="product_features: the snapshot changed"):
        tasks.publish(START, END, RUN, settings=settings)
    # The release records the file the decision saw (and lineage reports it), not the export.
    from pipelines.hashing import file_sha256

    info = read_release(settings, AS_OF).features["product_features"]
    assert info["decided_sha256"] == file_sha256(Path(info["file"])) != info["sha256"]


def test_no_check_results_means_no_publication(settings: Settings):
    build_release(settings)
    with pytest.raises(tasks.FeatureGateFailed, match="not validated in run"):
        tasks.publish(START, END, RUN, settings=settings)


def test_cli_lists_shows_and_exports_the_published_release(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from pipelines.cli import main

    build_release(settings)
    check_all(settings)
    tasks.publish(START, END, RUN, settings=settings)
    base = ["--data-dir", str(settings.data_dir), "features"]
    capsys.readouterr()
    assert main([*base, "releases"]) == 0
    listing = capsys.readouterr().out
    assert AS_OF.isoformat() in listing and "published" in listing
    assert main([*base, "show", "--as-of", AS_OF.isoformat()]) == 0
    assert '"release_id": "r-test"' in capsys.readouterr().out
    out = tmp_path / "export" / "sellers.parquet"
    assert main([*base, "export", "seller_features", str(out), "--purpose", "fraud"]) == 0
    assert duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchone() == (N,)
    # a failed release is listed, and the command says so with its exit status
    build_release(
        settings, {"seller_features": VALID["seller_features"].replace("0.9 AS", "1.9 AS")}
    )
    check_all(settings)
    with pytest.raises(tasks.FeatureGateFailed):
        tasks.publish(START, END, RUN, settings=settings)
    assert main([*base, "releases"]) == 1
    assert "failed" in capsys.readouterr().out


def test_without_an_audit_key_the_gate_is_logged_unauthenticated_and_nothing_is_published(
    settings: Settings,
):
    """As for a re-identification refused for want of keys: the decision is logged (no MAC)
    and refused; nothing is served whose gate decision is not in the chained log."""
    unkeyed = settings.model_copy(update={"keys": None})
    build_release(unkeyed)
    check_all(unkeyed)
    with pytest.raises(tasks.FeatureGateFailed, match="audit log: no audit key"):
        tasks.publish(START, END, RUN, settings=unkeyed)
    assert read_release(unkeyed, AS_OF).status == "failed"
    [entry] = AuditLog(unkeyed.audit).entries()
    assert (entry["action"], entry["key_id"], entry["details"]["outcome"]) == (
        "anonymity_gate",
        None,
        "passed",
    )
