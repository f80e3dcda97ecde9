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
from pydantic import SecretStr

from pipelines.features.paths import feature_table_names, snapshot_file
from pipelines.features.release import Release
from pipelines.features.snapshots import read_release, write_release
from pipelines.privacy.anonymity import Policy, evaluate, policy_for
from pipelines.protection import AuditLog
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


@pytest.fixture
def settings(keyed_settings):
    """With a key ring: the gate's decisions go to the audit log."""
    return keyed_settings


def _decide(settings, audit=None) -> Release:
    """The publication decision as the task makes it (the key ring from the settings)."""
    from pipelines.features.tasks import _decide_publication
    from pipelines.privacy.anonymity_audit import publication_audit

    _decide_publication(
        datetime(2018, 1, 8, tzinfo=UTC), "run-1", settings, audit or publication_audit(settings)
    )
    return read_release(settings, AS_OF)


def _release(settings) -> None:
    now = datetime.now(UTC).isoformat()
    write_release(settings, Release("r-test", AS_OF.isoformat(), None, [], [], now))
    for table in FEATURE_TABLES:
        _write(snapshot_file(settings, table, AS_OF), pd.DataFrame({"x": [1]}))


def test_a_snapshot_below_k_blocks_its_release_and_the_report_proposes_generalizations(
    settings,
):
    _release(settings)
    rows = [("SP", "25-34")] * 30 + [("AC", "65+")]  # one person alone
    frame = pd.DataFrame(rows, columns=QI)
    _write(snapshot_file(settings, "customer_features", AS_OF), frame)
    _decide(settings)
    release = read_release(settings, AS_OF)
    assert release.status == "failed"
    blocked = [p for p in release.problems if "k-anonymity 1 < 5" in p]
    assert len(blocked) == 1 and "customer_features" in blocked[0]
    assert release.checks["anonymity"]["customer_features"]["k"] == 1
    from pipelines.features.lineage import publish_lineage

    facet = publish_lineage(settings, release).run_facets["pipelines_release"]
    checks = [
        (a.table, a.k, a.required_k, a.enforced, a.blocked, a.audit_seq) for a in facet.anonymity
    ]
    assert checks == [("customer_features", 1, 5, True, True, 1)]
    # the refused publication's lineage run says why, and names the decision's audit entry
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
    _release(settings)
    frame = pd.DataFrame([("AC", "65+")], columns=QI)
    _write(snapshot_file(settings, "customer_features", AS_OF), frame)
    _decide(settings)
    release = read_release(settings, AS_OF)
    assert not [p for p in release.problems if "anonymity" in p]
    recorded = release.checks["anonymity"]["customer_features"]
    assert (recorded["k"], recorded["enforced"]) == (1, False) and recorded["problems"]
    [entry] = AuditLog(settings.audit).entries()
    assert (entry["details"]["outcome"], entry["details"]["enforced"]) == ("recorded", False)


def test_a_snapshot_at_k_passes_the_gate(settings):
    _release(settings)
    rows = [("SP", "25-34")] * 5 + [("AC", "65+")] * 5
    frame = pd.DataFrame(rows, columns=QI)
    _write(snapshot_file(settings, "customer_features", AS_OF), frame)
    _decide(settings)
    release = read_release(settings, AS_OF)
    assert not [p for p in release.problems if "anonymity" in p]
    assert release.checks["anonymity"]["customer_features"]["k"] == 5


def test_suppressed_rows_are_one_class_and_counted_on_the_release(settings):
    """What the mart publishes: people of classes below k with state and age band '*'. They
    form one class of their own (here 6 >= 5), the table passes, the release counts them."""
    from pipelines.privacy.anonymity import SUPPRESSED

    _release(settings)
    rows = [("SP", "25-34")] * 7 + [("RJ", None)] * 5 + [(SUPPRESSED, SUPPRESSED)] * 6
    frame = pd.DataFrame(rows, columns=QI)
    _write(snapshot_file(settings, "customer_features", AS_OF), frame)
    _decide(settings)
    release = read_release(settings, AS_OF)
    recorded = release.checks["anonymity"]["customer_features"]
    assert not [p for p in release.problems if "anonymity" in p]
    assert (recorded["k"], recorded["suppressed"], recorded["rows"]) == (5, 6, 18)
    assert (recorded["classes"], recorded["enforced"]) == (3, True)


CANARY_STATE, CANARY_BAND = "ZQ-canary-7d41", "canary-band-93"


def test_every_gate_decision_is_a_chained_audit_entry_with_figures_and_no_value(settings, keyring):
    """A blocked and then a passing decision on the same release: two entries chained under
    the audit key, with the figures the release records, and no quasi-identifier value."""
    _release(settings)
    rows = [("SP", "25-34")] * 30 + [(CANARY_STATE, CANARY_BAND)]  # one person alone
    _write(snapshot_file(settings, "customer_features", AS_OF), pd.DataFrame(rows, columns=QI))
    assert _decide(settings).status == "failed"
    rows = [("SP", "25-34")] * 5 + [("RJ", "65+")] * 6
    _write(snapshot_file(settings, "customer_features", AS_OF), pd.DataFrame(rows, columns=QI))
    release = _decide(settings)
    assert not [p for p in release.problems if "anonymity" in p]

    log = AuditLog(settings.audit, keyring)
    blocked, passed = log.entries()
    common = {"release_id": "r-test", "as_of": AS_OF.isoformat(), "run_id": "run-1",
              "table": "customer_features", "required_k": 5, "l": None, "required_l": None,
              "quasi_identifiers": 2, "suppressed": 0, "enforced": True}  # fmt: skip
    assert blocked["details"] == {
        **common, "k": 1, "rows": 31, "classes": 2, "below_k": 1, "outcome": "blocked"
    }  # fmt: skip
    assert passed["details"] == {
        **common, "k": 5, "rows": 11, "classes": 2, "below_k": 0, "outcome": "passed"
    }  # fmt: skip
    assert {e["action"] for e in (blocked, passed)} == {"anonymity_gate"}
    assert (blocked["seq"], passed["seq"], passed["prev_mac"]) == (1, 2, blocked["mac"])
    assert {e["key_id"] for e in (blocked, passed)} == {keyring.keyset("audit").active_id}
    assert log.verify().entries == 2 and log.verify().unauthenticated == 0
    assert release.checks["anonymity"]["customer_features"]["audit_seq"] == 2
    written = settings.audit.read_text() + log.head_path.read_text()
    assert CANARY_STATE not in written and CANARY_BAND not in written


def test_without_an_audit_key_publication_is_refused_and_the_decision_logged_unkeyed(
    settings, keyring
):
    """A key ring without an audit key: the decision is logged without a MAC (it keeps the
    chain for the next keyed entry) and the release is refused, even though k is met."""
    from pipelines.privacy.anonymity_audit import GateAudit

    _release(settings)
    rows = [("SP", "25-34")] * 5 + [("RJ", "65+")] * 5
    _write(snapshot_file(settings, "customer_features", AS_OF), pd.DataFrame(rows, columns=QI))
    release = _decide(settings, GateAudit(AuditLog(settings.audit), "MissingKeyError"))
    assert release.status == "failed"
    assert [p for p in release.problems if p.startswith("audit log: no audit key")]
    [entry] = AuditLog(settings.audit).entries()
    assert (entry["key_id"], entry["details"]["outcome"]) == (None, "passed")
    log = AuditLog(settings.audit, keyring)
    log.append(actor="t", action="check", reason="the next keyed entry chains on")
    assert log.verify().unauthenticated == 1


def test_a_key_ring_without_an_audit_key_is_found_at_the_edge(settings, keyring):
    from dataclasses import replace

    from pipelines.privacy.anonymity_audit import publication_audit

    ring = replace(keyring, audit=None)
    unaudited = settings.model_copy(update={"keys": SecretStr(ring.to_json())})
    assert publication_audit(unaudited).missing_key == "MissingKeyError"
    assert publication_audit(settings.model_copy(update={"keys": None})).missing_key
    assert publication_audit(settings).missing_key is None


def settings_contracts():
    from pipelines.contracts import load_contracts
    from pipelines.settings import PROJECT_DIR

    return load_contracts(PROJECT_DIR / "contracts")
