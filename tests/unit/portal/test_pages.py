"""What the pages show is what the stages recorded, and every page exports it."""

from __future__ import annotations

import csv
import io

from pipelines.quality.store import read_checks, read_gates
from tests.unit.portal.conftest import RUN


def test_overview_lists_the_gate_and_the_held_back_partitions(get, portal_data):
    sections = get("/?format=json").json()["sections"]
    [decision] = read_gates(portal_data.settings)
    [gate] = sections["gates"]
    assert gate["run_id"] == RUN
    assert gate["gate"] == ("passed" if decision["passed"] else "failed")
    assert gate["failed_checks"] == len(decision["failed_checks"])
    assert isinstance(sections["held_back"], list)


def test_findings_are_the_failed_and_warned_checks(get, portal_data):
    findings = get("/?format=json").json()["sections"]["findings"]
    expected = sorted(
        (r["table"], r["expectation"])
        for r in read_checks(portal_data.settings)
        if r["outcome"] in ("failed", "warned")
    )
    assert sorted((f["table"], f["what"]) for f in findings) == expected
    assert all(f["governed_by"] and f["observed"] for f in findings)
    for f in findings:  # each with its owner (the contract's, for a source) and state
        assert f["owner"].endswith("@example.com") and f["state"] == "open", f
        assert f["id"].startswith("f-")


def test_quality_csv_has_every_check_of_a_table(get, portal_data):
    text = get("/quality?table=orders&format=csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    stored = [r for r in read_checks(portal_data.settings) if r["table"] == "orders"]
    assert len(rows) == len(stored) > 0
    assert {r["severity"] for r in rows} <= {"critical", "warning"}
    assert {r["outcome"] for r in rows} <= {"passed", "warned", "failed"}
    # every check says what governs it: the contract, the suite file, a reference or threshold
    assert all(r["governed_by"] for r in rows)


def test_quality_of_one_dag_run(get):
    rows = get(f"/quality?run_id={RUN}&format=json").json()["sections"]["checks"]
    assert rows and {r["run_id"] for r in rows} == {RUN}


def test_representativeness_is_plotted_against_the_reference(get):
    page = get("/quality").text
    assert "<svg" in page and "reference" in page


def test_pii_map_states_class_protection_and_key_id(get, contracts):
    rows = get("/pii?format=json").json()["sections"]["columns"]
    by_column = {(r["table"], r["column"]): r for r in rows}
    expected = {(t, c.name) for t in contracts.load_order() for c in contracts[t].pii_columns}
    assert set(by_column) == expected
    email = by_column[("customer_profiles", "email")]
    assert email["protection"] == "encrypt" and email["key_version"]
    state = by_column[("customers", "customer_state")]
    assert state["protection"] == "keep" and "kept as it is by its contract" in state["meaning"]
    assert all("never written" not in r["meaning"] for r in rows if r["protection"] == "keep")


def test_releases_page_reads_the_recorded_release(get):
    [release] = get("/releases?format=json").json()["sections"]["releases"]
    assert release["as_of"] == "2018-01-02"


def test_audit_chain_is_verified(get):
    [chain] = get("/audit?format=json").json()["sections"]["chain"]
    assert chain["status"].startswith("ok: 1 entries, chain, head file")


def test_tampered_audit_log_shows_as_tampered(get, portal_data, tmp_path):
    from fastapi.testclient import TestClient

    from pipelines.portal.access import Role
    from pipelines.portal.app import create_app

    copy = tmp_path / "audit.jsonl"
    copy.write_text(portal_data.settings.audit.read_text().replace("subject access", "nothing"))
    settings = portal_data.settings.model_copy(update={"audit_log": copy})
    client = TestClient(create_app(settings, lambda: Role.GOVERNANCE))
    [chain] = client.get("/audit?format=json").json()["sections"]["chain"]
    assert chain["status"].startswith("tampered")


def test_pages_load_nothing_from_the_internet(get):
    for path in ["/", "/quality", "/pii", "/lineage", "/releases", "/audit"]:
        response = get(path)
        assert "http://" not in response.text and "https://" not in response.text
        assert "default-src 'none'" in response.headers["content-security-policy"]


def test_unknown_column_is_a_named_404(get):
    response = get("/lineage?column=no_such_table.nothing")
    assert response.status_code == 404


def test_one_validation_shows_observed_and_expected_values_with_severity(get, portal_data):
    rows = get(f"/quality?run_id={RUN}&table=orders&format=json").json()["sections"]["checks"]
    stored = [r for r in read_checks(portal_data.settings) if r["table"] == "orders"]
    assert len(rows) == len(stored) > 0
    by_name = {r["expectation"]: r for r in rows}
    status = by_name["contract.allowed_values.order_status"]
    assert '"delivered"' in status["expected"] and status["severity"] == "critical"
    assert status["observed_value"]
    assert all(r["expected"] for r in rows if r["expectation"].startswith("contract.allowed"))
    assert [r["outcome"] for r in rows] == sorted(
        (r["outcome"] for r in rows), key=["failed", "warned", "passed"].index
    )


def test_the_validation_list_links_each_validation(get):
    page = get("/quality").text
    assert f'href="?run_id={RUN}&amp;table=orders"' in page
    assert "GX Data Docs" in page


def test_a_table_shows_every_check_by_interval(get, portal_data):
    page = get("/quality?table=orders").text
    stored = {r["expectation"] for r in read_checks(portal_data.settings) if r["table"] == "orders"}
    grid = page[page.index("orders: every check by interval") :]
    grid = grid[: grid.index("</svg>")]
    assert grid.count("<rect") == len(stored)
    assert all(f"<title>{name} 2018-01-01: " in grid for name in stored)


def test_each_lineage_run_opens_its_graph(get):
    runs = get("/lineage?format=json").json()["sections"]["runs"]
    assert runs
    page = get(f"/lineage?run={runs[0]['run_id']}")
    assert page.status_code == 200 and 'class="graph"' in page.text
    assert f'href="?run={runs[0]["run_id"]}"' in get("/lineage").text


def test_the_lineage_page_shows_where_each_datasets_subjects_live(get):
    rows = get("/lineage?format=json").json()["sections"]["datasets"]
    lake = {r["dataset"]: r["subjects_in"] for r in rows if r["layer"] == "lake"}
    assert lake and set(lake.values()) == {"BR"}  # policy.yml: every demo source is BR
    assert "<b>lake.orders</b> [BR]: " in get("/lineage").text
