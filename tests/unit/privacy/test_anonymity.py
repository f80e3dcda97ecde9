"""The k-anonymity / l-diversity gate on published feature tables.

Quasi-identifiers come from the dbt models' lake_column links and the contracts; the SQL is
checked against pycanon on the same data; a snapshot built to fail blocks its release.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pycanon import anonymity

from pipelines.features.paths import feature_table_names, snapshot_file
from pipelines.features.release import Release
from pipelines.features.snapshots import read_release, write_release
from pipelines.privacy.anonymity import Policy, evaluate, policy_for
from pipelines.settings import Settings
from pipelines.warehouse.project import DBT_PROJECT_DIR

FEATURE_TABLES = feature_table_names(Settings())  # the declared feature tables (Olist package on)

AS_OF = date(2018, 1, 8)
STATES = ["SP", "RJ", "MG", "AC", "RS"]


def test_quasi_identifiers_are_derived_from_the_models_and_contracts(contracts):
    policy = policy_for("customer_features", contracts, DBT_PROJECT_DIR)
    assert policy.quasi_identifiers == ("customer_state", "age_band")  # no zip prefix
    assert (policy.k, policy.enforce) == (5, True)  # declared in the model: enforced
    assert policy_for("product_features", contracts, DBT_PROJECT_DIR).quasi_identifiers == ()


def _people(n: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    return pd.DataFrame(
        {
            "customer_state": [rng.choice(STATES) for _ in range(n)],
            "customer_zip3": [f"{rng.randrange(10):03d}xx" for _ in range(n)],
            "age_band": [rng.choice(["18-24", "25-34", None]) for _ in range(n)],
            "favourite_category": [rng.choice(["a", "b", "c", None]) for _ in range(n)],
        }
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_agrees_with_pycanon(seed):
    frame = _people(400, seed).fillna("(null)")  # pycanon groups values; nulls as one value
    qi = ["customer_state", "customer_zip3", "age_band"]
    policy = Policy("t", tuple(qi), sensitive=("favourite_category",))
    con = duckdb.connect()
    con.register("people", frame)
    result = evaluate(con, "people", policy)
    assert result.k == anonymity.k_anonymity(frame, qi)
    assert result.l_values["favourite_category"] == anonymity.l_diversity(
        frame, qi, ["favourite_category"]
    )


def _write(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.register("f", frame)
    con.execute(f"COPY f TO '{path}' (FORMAT parquet)")


@pytest.fixture
def recording_only(tmp_path, monkeypatch) -> Path:
    """The dbt project's models with customer_features' gate set to record, not enforce."""
    import shutil

    from pipelines.warehouse import project

    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR / "models", copy / "models")
    model = copy / "models" / "marts" / "customer_features.yml"
    text = model.read_text(encoding="utf-8")
    assert "anonymity: {k: 5}" in text
    model.write_text(text.replace("anonymity: {k: 5}", "anonymity: {k: 5, enforce: false}"))
    monkeypatch.setattr(project, "DBT_PROJECT_DIR", copy)
    return copy


QI = ["customer_state", "age_band"]


def _release(settings) -> None:
    now = datetime.now(UTC).isoformat()
    write_release(settings, Release("r-test", AS_OF.isoformat(), None, [], [], now))
    for table in FEATURE_TABLES:
        _write(snapshot_file(settings, table, AS_OF), pd.DataFrame({"x": [1]}))


def test_a_snapshot_below_k_blocks_its_release_and_the_report_proposes_generalizations(
    settings,
):
    from pipelines.features.tasks import _decide_publication

    _release(settings)
    rows = [("SP", "25-34")] * 30 + [("AC", "65+")]  # one person alone
    frame = pd.DataFrame(rows, columns=QI)
    _write(snapshot_file(settings, "customer_features", AS_OF), frame)
    _decide_publication(datetime(2018, 1, 8, tzinfo=UTC), "run-1", settings)
    release = read_release(settings, AS_OF)
    assert release.status == "failed"
    blocked = [p for p in release.problems if "k-anonymity 1 < 5" in p]
    assert len(blocked) == 1 and "customer_features" in blocked[0]
    assert release.checks["anonymity"]["customer_features"]["k"] == 1
    from pipelines.features.lineage import publish_lineage

    facet = publish_lineage(settings, release).run_facets["pipelines_release"]
    assert [(a.table, a.k, a.required_k, a.enforced, a.blocked) for a in facet.anonymity] == [
        ("customer_features", 1, 5, True, True)
    ]  # the refused publication's lineage run says why
    from openlineage.client.serde import Serde

    from tests.unit.lineage.ol_schema import _facet_problems

    assert _facet_problems({"pipelines_release": Serde.to_dict(facet)}, "run", "run") == []

    result = evaluate(
        duckdb.connect(),
        f"read_parquet('{snapshot_file(settings, 'customer_features', AS_OF)}')",
        policy_for("customer_features", settings_contracts(), DBT_PROJECT_DIR),
    )
    assert result.smallest[0] == {"customer_state": "AC", "age_band": "65+", "rows": 1}
    assert (result.below_k, result.suppressed) == (1, 0)
    assert {p["change"] for p in result.proposals} >= {
        "customer_state -> region",
        "age_band -> 20-year band",
        "drop age_band",
    }
    assert result.plan[-1]["k"] >= 5  # the combined proposal reaches k


def test_a_table_that_does_not_enforce_records_its_k_without_blocking(settings, recording_only):
    from pipelines.features.tasks import _decide_publication

    _release(settings)
    frame = pd.DataFrame([("AC", "65+")], columns=QI)
    _write(snapshot_file(settings, "customer_features", AS_OF), frame)
    _decide_publication(datetime(2018, 1, 8, tzinfo=UTC), "run-1", settings)
    release = read_release(settings, AS_OF)
    assert not [p for p in release.problems if "anonymity" in p]
    recorded = release.checks["anonymity"]["customer_features"]
    assert (recorded["k"], recorded["enforced"]) == (1, False) and recorded["problems"]


def test_a_snapshot_at_k_passes_the_gate(settings):
    from pipelines.features.tasks import _decide_publication

    _release(settings)
    rows = [("SP", "25-34")] * 5 + [("AC", "65+")] * 5
    frame = pd.DataFrame(rows, columns=QI)
    _write(snapshot_file(settings, "customer_features", AS_OF), frame)
    _decide_publication(datetime(2018, 1, 8, tzinfo=UTC), "run-1", settings)
    release = read_release(settings, AS_OF)
    assert not [p for p in release.problems if "anonymity" in p]
    assert release.checks["anonymity"]["customer_features"]["k"] == 5


def test_suppressed_rows_are_one_class_and_counted_on_the_release(settings):
    """What the mart publishes: people of classes below k with state and age band '*'. They
    form one class of their own (here 6 >= 5), the table passes, the release counts them."""
    from pipelines.features.tasks import _decide_publication
    from pipelines.privacy.anonymity import SUPPRESSED

    _release(settings)
    rows = [("SP", "25-34")] * 7 + [("RJ", None)] * 5 + [(SUPPRESSED, SUPPRESSED)] * 6
    frame = pd.DataFrame(rows, columns=QI)
    _write(snapshot_file(settings, "customer_features", AS_OF), frame)
    _decide_publication(datetime(2018, 1, 8, tzinfo=UTC), "run-1", settings)
    release = read_release(settings, AS_OF)
    recorded = release.checks["anonymity"]["customer_features"]
    assert not [p for p in release.problems if "anonymity" in p]
    assert (recorded["k"], recorded["suppressed"], recorded["rows"]) == (5, 6, 18)
    assert (recorded["classes"], recorded["enforced"]) == (3, True)


def settings_contracts():
    from pipelines.contracts import load_contracts
    from pipelines.settings import PROJECT_DIR

    return load_contracts(PROJECT_DIR / "contracts")
