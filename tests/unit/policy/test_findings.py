"""Findings: an owner from the policy, a state, and a history in the HMAC-chained audit log."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr

from pipelines.policy import load_policy
from pipelines.policy.enforce import enforce_purpose, enforce_transfer
from pipelines.policy.findings import FindingError, change, findings
from pipelines.protection.audit import AuditLog
from pipelines.protection.keys import KeyRing
from pipelines.settings import Settings

CHECK = {
    "kind": "check failed",
    "table": "orders",
    "partition": "interval=2018-01-02",
    "what": "expect_column_values_to_not_be_null",
    "column": "order_id",
    "severity": "error",
}
OWNERS = {"orders": "commerce-data@example.com"}


@pytest.fixture
def keyed(settings: Settings, keyring: KeyRing) -> Settings:
    return settings.model_copy(update={"keys": SecretStr(keyring.to_json())})


def test_a_check_finding_gets_its_owner_and_moves_through_states(keyed: Settings, keyring):
    policy = load_policy(keyed.policy_file)
    [found] = findings(keyed, policy, [CHECK], OWNERS)
    assert (found.owner, found.state, found.history) == ("commerce-data@example.com", "open", [])
    change(keyed, [found], found.id, "acknowledged", actor="steward-commerce", reason="")
    [again] = findings(keyed, policy, [CHECK], OWNERS)  # the next run sees the same finding
    assert again.id == found.id and again.state == "acknowledged"
    with pytest.raises(FindingError, match="needs a reason"):
        change(keyed, [again], again.id, "accepted", actor="lead-commerce", reason=" ")
    change(keyed, [again], again.id, "accepted", actor="lead-commerce", reason="known late file")
    [last] = findings(keyed, policy, [CHECK], OWNERS)
    assert last.state == "accepted"
    assert [(h["actor"], h["state"]) for h in last.history] == [
        ("steward-commerce", "acknowledged"),
        ("lead-commerce", "accepted"),
    ]
    assert AuditLog(keyed.audit, keyring).verify().unauthenticated == 0


def test_unknown_finding_and_state_are_refused(keyed: Settings):
    policy = load_policy(keyed.policy_file)
    known = findings(keyed, policy, [CHECK], OWNERS)
    with pytest.raises(FindingError, match="pipelines findings list"):
        change(keyed, known, "f-000000000000", "resolved", actor="a", reason="")
    with pytest.raises(FindingError, match="acknowledged, resolved, accepted"):
        change(keyed, known, known[0].id, "closed", actor="a", reason="")


def test_a_refused_use_becomes_a_finding_for_the_tables_owner(keyed: Settings):
    with pytest.raises(PermissionError, match=re.escape("ml-lead@example.com")):
        enforce_purpose(keyed, "customer_features", "credit_scoring", actor="notebook")
    policy = load_policy(keyed.policy_file)
    [found] = findings(keyed, policy)
    assert (found.kind, found.dataset, found.owner) == (
        "refused_use",
        "customer_features",
        "ml-platform@example.com",
    )
    assert found.history[0]["actor"] == "notebook"
    change(keyed, [found], found.id, "resolved", actor="lead-ml", reason="told the team")
    assert findings(keyed, policy)[0].state == "resolved"


def test_a_refused_transfer_names_the_jurisdictions_and_becomes_a_finding(keyed: Settings):
    with pytest.raises(PermissionError) as err:
        enforce_transfer(keyed, ["customer_features"], "s3://partner-us/drop/x.parquet")
    assert "subjects are in BR, which allows BR, EU, not US" in str(err.value)
    assert enforce_transfer(keyed, ["customer_features"], "s3://analytics-eu/x") == "EU"
    assert (
        enforce_transfer(
            keyed, ["customer_features"], "s3://partner-us/x", anonymous_aggregate=True
        )
        == "US"
    )
    [found] = findings(keyed, load_policy(keyed.policy_file))
    assert (found.kind, found.owner) == ("refused_transfer", "ml-platform@example.com")
