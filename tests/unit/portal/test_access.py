"""Every page, as every role: allowed pages answer, the others are refused (403), and the
audit log's entries are shown to governance only."""

from __future__ import annotations

import pytest

from pipelines.portal.access import PAGES, Role, role_of_airflow_user
from pipelines.portal.pages import PAGES as RENDERED

PATHS = {"overview": "/", **{k: f"/{k}" for k in RENDERED if k != "overview"}}
VIEWS = {  # every view of a page (its query parameters), checked like the page itself
    **{path: page for page, path in PATHS.items()},
    "/quality?table=orders": "quality",
    "/quality?run_id=manual__portal-test&table=orders": "quality",
    "/lineage?column=lake.customers.customer_state": "lineage",
    "/lineage?column=lake.customers.customer_state&direction=downstream": "lineage",
}

G, E, M = Role.GOVERNANCE, Role.ENGINEERING, Role.ML
EXPECTED = {  # the roles, written out (not derived from the code under test)
    "overview": {G, E, M},
    "quality": {G, E, M},
    "lineage": {G, E, M},
    "releases": {G, E, M},
    "pii": {G, E},
    "audit": {G, E},
}


def test_access_rules_are_the_agreed_ones():
    assert {k: set(v) for k, v in PAGES.items() if k in EXPECTED} == EXPECTED


def test_every_rendered_page_has_an_access_rule():
    assert set(RENDERED) <= set(PAGES)


@pytest.mark.parametrize("role", [*Role, None])
@pytest.mark.parametrize("path", sorted(VIEWS))
@pytest.mark.parametrize("fmt", ["", "format=csv", "format=json"])
def test_each_endpoint_checks_the_role(get, path, role, fmt):
    page = VIEWS[path]
    response = get(path + ("&" if "?" in path else "?") + fmt if fmt else path, role)
    if role is not None and role in EXPECTED[page]:
        assert response.status_code == 200, response.text[:300]
    else:
        assert response.status_code == 403
        assert "may not read" in response.text


def test_ml_consumers_see_no_pii_map_and_no_audit(get):
    page = get("/", Role.ML).text
    assert "/pii" not in page and "/audit" not in page
    assert "/quality" in page and "/lineage" in page and "/releases" in page


def test_audit_entries_are_for_governance_only(get):
    governance = get("/audit?format=json", Role.GOVERNANCE).json()
    engineering = get("/audit?format=json", Role.ENGINEERING).json()
    assert governance["sections"]["entries"][0]["action"] == "reidentify"
    assert engineering["sections"]["entries"] == []
    assert engineering["sections"]["chain"] == governance["sections"]["chain"]


class _FabRole:
    def __init__(self, name: str):
        self.name = name


class _User:
    def __init__(self, role: str | None = None, roles: list[str] | None = None):
        self.role = role
        self.roles = [_FabRole(r) for r in roles or []]


def test_airflow_roles_map_to_the_strongest_portal_role():
    assert role_of_airflow_user(_User(role="ADMIN")) is Role.GOVERNANCE
    assert role_of_airflow_user(_User(role="VIEWER")) is Role.ML
    assert role_of_airflow_user(_User(roles=["Viewer", "Op"])) is Role.ENGINEERING
    assert role_of_airflow_user(_User(roles=["Public"])) is None
    mapping = {"Auditors": "governance"}
    assert role_of_airflow_user(_User(roles=["Auditors"]), mapping) is Role.GOVERNANCE
    assert role_of_airflow_user(_User(role="ADMIN"), mapping) is None
