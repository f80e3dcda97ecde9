"""Differentially private segment counts and the privacy-budget ledger."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import duckdb
import pytest

from pipelines.privacy.dp import (
    BudgetExhausted,
    laplace_counts,
    read_ledger,
    release_counts,
    spent,
)
from pipelines.protection import AuditLog, create_keyring
from pipelines.protection.keys import FileKeyProvider
from tests.unit.lineage.ol_schema import validate_event


def test_the_noise_has_the_scale_epsilon_asks_for():
    epsilon = 0.5
    noisy, scale = laplace_counts([1000] * 4000, epsilon)
    assert scale == 2.0
    noise = [n - 1000 for n in noisy]
    # discrete Laplace with scale b: variance close to 2 b^2 (8 here); 4,000 draws put the
    # sample's standard deviation within a few percent of sqrt(8) = 2.83
    assert 2.5 < statistics.pstdev(noise) < 3.2
    assert abs(statistics.fmean(noise)) < 0.3
    assert noise != [0] * 4000


def test_the_ledger_adds_up_epsilon_and_refuses_a_release_over_budget(tmp_path):
    counts = {"SP": 120, "RJ": 40, "AC": 0}
    first = release_counts(tmp_path, "features.customer_features", "customer_state", counts, 0.4)
    assert set(first.counts) == {"SP", "RJ", "AC"}
    assert (first.scale, first.spent, first.budget) == (2.5, 0.4, 1.0)
    second = release_counts(tmp_path, "features.customer_features", "customer_state", counts, 0.4)
    assert second.spent == pytest.approx(0.8)
    before = read_ledger(tmp_path)
    with pytest.raises(BudgetExhausted, match=r"would spend 1\.2 of its budget 1"):
        release_counts(tmp_path, "features.customer_features", "customer_state", counts, 0.4)
    assert read_ledger(tmp_path) == before  # a refusal spends nothing
    last = release_counts(tmp_path, "features.customer_features", "customer_state", counts, 0.2)
    assert last.spent == pytest.approx(1.0)
    entry = read_ledger(tmp_path)["features.customer_features"]
    assert spent(entry) == pytest.approx(1.0)
    assert [r["epsilon"] for r in entry["releases"]] == [0.4, 0.4, 0.2]
    # another dataset has a budget of its own
    other = release_counts(tmp_path, "features.other", "customer_state", counts, 0.9, budget=2.0)
    assert (other.spent, other.budget) == (0.9, 2.0)


def test_the_command_releases_audited_with_lineage_and_refuses_once_spent(settings, tmp_path):
    snapshot = settings.data_dir / "features/customer_features/as_of=2018-01-08/data.parquet"
    snapshot.parent.mkdir(parents=True)
    duckdb.sql(
        "SELECT 'p1:' || i AS customer_unique_token, CASE WHEN i % 3 = 0 THEN 'RJ' ELSE 'SP' "
        "END AS customer_state FROM range(300) t(i)"
    ).write_parquet(str(snapshot))
    key_file = tmp_path / "keys.json"
    create_keyring(key_file)
    env = dict(
        os.environ, PIPELINES_DATA_DIR=str(settings.data_dir), PIPELINES_KEY_FILE=str(key_file)
    )
    args = ["privacy", "dp-release", "--as-of", "2018-01-08", "--epsilon", "0.6"]
    args += ["--actor", "bob", "--reason", "segment report for marketing"]
    # anonymous aggregates may go where the subjects' data may not (BR -> US): recorded
    args += ["--to", "s3://partner-us/reports/segments.json"]
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert len(out["counts"]) == 27  # every state of the contract, not only those in the data
    assert (out["noise_scale"], out["spent"]) == (pytest.approx(1 / 0.6), 0.6)
    again = subprocess.run(
        [sys.executable, "-m", "pipelines", *args], env=env, capture_output=True, text=True
    )
    assert again.returncode == 1 and "would spend 1.2 of its budget 1" in again.stderr
    log = AuditLog(settings.audit, FileKeyProvider(key_file).load())
    log.verify()
    outcomes = [(e["action"], e["details"]["outcome"]) for e in log.entries()]
    assert outcomes == [("privacy_dp_release", "released"), ("privacy_dp_release", "refused")]
    sent = log.entries()[0]["details"]
    assert (sent["destination"], sent["jurisdiction"]) == (
        "s3://partner-us/reports/segments.json",
        "US",
    )
    assert (out["destination"], out["jurisdiction"]) == (sent["destination"], "US")
    lines = (settings.data_dir / "lineage/events.jsonl").read_text().splitlines()
    events = [json.loads(x) for x in lines]
    complete = [e for e in events if e["eventType"] == "COMPLETE"]
    assert len(complete) == 1
    validate_event(complete[0])  # the OpenLineage schemas, custom facets included
    facet = complete[0]["run"]["facets"]["pipelines_privacy"]
    assert (facet["action"], facet["epsilon"], facet["dataset"]) == (
        "dp_release", 0.6, "features.customer_features"
    )  # fmt: skip
    assert (facet["destination_jurisdiction"], facet["destination"]) == ("US", sent["destination"])
    assert complete[0]["inputs"][0]["name"].endswith("customer_features")


def test_a_release_to_a_local_file_is_written_with_its_jurisdiction(settings, tmp_path):
    snapshot = settings.data_dir / "features/customer_features/as_of=2018-01-08/data.parquet"
    snapshot.parent.mkdir(parents=True)
    duckdb.sql(
        "SELECT 'p1:' || i AS customer_unique_token, 'SP' AS customer_state FROM range(50) t(i)"
    ).write_parquet(str(snapshot))
    key_file = tmp_path / "keys.json"
    create_keyring(key_file)
    env = dict(
        os.environ, PIPELINES_DATA_DIR=str(settings.data_dir), PIPELINES_KEY_FILE=str(key_file)
    )
    target = tmp_path / "out" / "segments.json"
    args = ["privacy", "dp-release", "--as-of", "2018-01-08", "--epsilon", "0.3"]
    args += ["--actor", "bob", "--reason", "dashboard", "--to", str(target)]
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    written = json.loads(target.read_text())
    assert (written["destination"], written["jurisdiction"]) == (str(target), "BR")
    assert written["counts"] == json.loads(done.stdout)["counts"]
