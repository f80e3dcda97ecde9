"""No PII canary of the landing data appears in any page or export, as any role."""

from __future__ import annotations

import pytest

from pipelines.portal.access import PAGES, Role
from tests.factories import CANARIES

PATHS = [
    "/",
    "/quality",
    "/quality?table=customer_profiles",
    "/quality?table=customers",
    "/quality?run_id=manual__portal-test&table=customer_profiles",
    "/quality?run_id=manual__portal-test",
    "/lineage",
    "/lineage?column=lake.customers.customer_state",
    "/pii",
    "/releases",
    "/audit",
]


def test_the_landing_data_carries_the_canaries(portal_data):
    landing = "".join(p.read_text() for p in portal_data.settings.landing.rglob("*.csv"))
    assert sum(c in landing for c in CANARIES) >= 10


@pytest.mark.parametrize("role", list(Role))
def test_no_canary_in_any_page_or_export(get, role):
    seen = 0
    for path in PATHS:
        page = path.split("?")[0].strip("/") or "overview"
        if role not in PAGES[page]:
            continue
        for fmt in ("", "format=csv", "format=json"):
            sep = "&" if "?" in path else "?"
            response = get(path + (sep + fmt if fmt else ""), role)
            assert response.status_code == 200
            seen += len(response.text)
            for canary in CANARIES:
                assert canary.lower() not in response.text.lower(), (path, fmt, canary)
    assert seen > 10_000
