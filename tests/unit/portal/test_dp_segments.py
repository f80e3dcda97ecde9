"""Representativeness outside the governance role: the portal shows what privacy released
through OpenDP (one release per partition version and column, from the partition's budget),
never the exact shares; a view spends nothing; over budget the page says so."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from pipelines.lake.partitions import partitions, verified_data_file
from pipelines.portal.access import Role
from pipelines.portal.app import create_app
from pipelines.portal.pages import GOVERNANCE_ONLY
from pipelines.portal.records import DP_COLUMNS
from pipelines.privacy.dp import ledger_file, read_ledger
from pipelines.privacy.representativeness import ACTION, record_file, release_pending
from pipelines.protection import AuditLog, keyring_from_settings
from pipelines.settings import Settings
from tests.factories import DAY
from tests.unit.lineage.ol_schema import validate_event


@pytest.fixture
def mine(portal_data, tmp_path) -> Settings:
    """A copy of the portal's data directory (the session's stays unspent)."""
    shutil.copytree(portal_data.settings.data_dir, tmp_path / "data")
    return Settings(
        data_dir=tmp_path / "data",
        key_file=portal_data.settings.key_file,
        duckdb_memory_limit="1GB",
        duckdb_threads=2,
    )


def _page(settings: Settings, role: Role, path: str = "/quality?format=json") -> dict:
    response = TestClient(create_app(settings, lambda: role)).get(path)
    assert response.status_code == 200
    return response.json()["sections"]


def _release(settings: Settings, contracts, **kwargs):
    log = AuditLog(settings.audit, keyring_from_settings(settings))
    return release_pending(settings, contracts, log, actor="gov@example.com", reason="t", **kwargs)


def _exact_states(settings: Settings) -> dict[str, int]:
    (part,) = partitions(settings.lake, "customers")
    rows = duckdb.sql(
        f"SELECT customer_state, count(*) FROM '{verified_data_file(part)}' GROUP BY 1"
    ).fetchall()
    return {str(s): int(n) for s, n in rows}


def test_before_any_release_other_roles_see_no_figures(mine):
    ml = _page(mine, Role.ML)["segments"]
    assert ml and {r["status"] for r in ml} == {
        "not released yet (pipelines privacy dp-representativeness)"
    }
    assert all(r["share"] is None and r["count"] is None for r in ml)
    governance = _page(mine, Role.GOVERNANCE)["segments"]
    assert governance and all(r["share"] is not None for r in governance)  # exact


def test_other_roles_read_the_recorded_noisy_release_never_the_exact_shares(mine, contracts):
    outcome = _release(mine, contracts, epsilon=0.01)  # noise scale 100
    assert outcome.released and not outcome.refused
    (part,) = partitions(mine.lake, "customers")
    record = json.loads(record_file(mine, part, "customer_state").read_text())
    assert record["noise_scale"] == pytest.approx(100.0)
    assert "__other__" in {s["segment"] for s in record["segments"]}  # public segments only

    ml = _page(mine, Role.ML)["segments"]
    assert set(ml[0]) == set(DP_COLUMNS)  # no ratio, level or drift: derived from exact shares
    shown = {
        r["segment"]: (r["count"], r["share"])
        for r in ml
        if (r["table"], r["column"]) == ("customers", "customer_state")
    }
    assert shown == {s["segment"]: (s["count"], s["share"]) for s in record["segments"]}
    exact = _exact_states(mine)
    noisy = {s: c for s, (c, _) in shown.items()}
    differing = [s for s in exact if noisy[s] != exact[s]]
    assert differing  # scale 100 on 27 states: equal everywhere has probability ~1e-35
    # no exact share (as governance sees them) is what ML sees for those segments
    governance = _page(mine, Role.GOVERNANCE)["segments"]
    exact_shares = {(r["segment"], r["share"]) for r in governance if r["table"] == "customers"}
    assert not {(s, shown[s][1]) for s in differing} & exact_shares
    assert any(r["status"] == "released" and r["epsilon"] == 0.01 for r in ml)
    # the checks' observed shares are governance-only too
    checks = _page(mine, Role.ML, "/quality?table=customers&format=json")["checks"]
    shares = [r for r in checks if r["source"] in ("representativeness", "drift")]
    assert shares and {r["observed_value"] for r in shares} == {GOVERNANCE_ONLY}
    mine_checks = _page(mine, Role.GOVERNANCE, "/quality?table=customers&format=json")["checks"]
    assert GOVERNANCE_ONLY not in {r["observed_value"] for r in mine_checks}


def test_one_spend_per_release_not_per_view(mine, contracts):
    outcome = _release(mine, contracts, epsilon=0.1)
    ledger = read_ledger(mine.data_dir)
    per_dataset = {d: len(e["releases"]) for d, e in ledger.items()}
    expected: dict[str, int] = {}
    for r in outcome.released:
        expected[r["ledger_dataset"]] = expected.get(r["ledger_dataset"], 0) + 1
    assert per_dataset == expected and per_dataset["lake.customers/" + f"dt={DAY}"] == 1
    before = ledger_file(mine.data_dir).read_bytes()
    for role in (Role.ML, Role.ENGINEERING, Role.ML):
        assert any(r["status"] == "released" for r in _page(mine, role)["segments"])
    assert ledger_file(mine.data_dir).read_bytes() == before  # views spend nothing
    assert _release(mine, contracts, epsilon=0.1).records == []  # released once per version
    assert ledger_file(mine.data_dir).read_bytes() == before
    log = AuditLog(mine.audit, keyring_from_settings(mine))
    entries = [e for e in log.entries() if e["action"] == ACTION]
    assert len(entries) == len(outcome.records)
    assert {e["details"]["outcome"] for e in entries} == {"released"}


def test_over_budget_the_release_is_refused_and_the_page_says_so(mine, contracts):
    outcome = _release(mine, contracts, epsilon=0.5, budget=0.2)
    assert outcome.records and outcome.released == []
    assert all(not e["releases"] for e in read_ledger(mine.data_dir).values())
    ml = _page(mine, Role.ML)["segments"]
    assert ml and {r["status"] for r in ml} == {
        "privacy budget spent: not shown outside governance"
    }
    assert all(r["share"] is None and r["count"] is None for r in ml)
    html = TestClient(create_app(mine, lambda: Role.ML)).get("/quality").text
    assert "privacy budget spent" in html
    log = AuditLog(mine.audit, keyring_from_settings(mine))
    refused = [e for e in log.entries() if e["action"] == ACTION]
    assert refused and {e["details"]["outcome"] for e in refused} == {"refused"}
    assert all(r["share"] is not None for r in _page(mine, Role.GOVERNANCE)["segments"])


def test_the_dag_task_releases_audited_and_in_lineage(mine):
    from pipelines.privacy.tasks import release_representativeness

    day = datetime.fromisoformat(DAY).replace(tzinfo=UTC)
    first = release_representativeness(day, day, None, settings=mine)
    assert first["released"] > 0 and first["refused"] == 0
    assert release_representativeness(day, day, None, settings=mine) == {
        "released": 0,
        "refused": 0,
    }
    lines = Path(mine.data_dir / "lineage/events.jsonl").read_text().splitlines()
    completes = [json.loads(x) for x in lines if '"COMPLETE"' in x and "representativeness" in x]
    event = completes[-2]  # the first call's run: it read every released partition
    validate_event(event)
    facet = event["run"]["facets"]["pipelines_privacy"]
    assert (facet["action"], facet["releases"]) == ("dp_representativeness", first["released"])
    assert {i["name"].split("/")[-1] for i in event["inputs"]} >= {"customers"}
