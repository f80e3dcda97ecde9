"""The policy file: validation errors that say where and what to write, and the demo's policy
covering every contract and feature table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipelines.contracts import ContractSet
from pipelines.policy import PolicyError, PurposeRefused, check_purpose, load_policy
from pipelines.policy.model import Policy
from pipelines.settings import PROJECT_DIR, Settings
from pipelines.warehouse.declared import feature_table_names

MINIMAL = {
    "version": 1,
    "teams": {
        "ml": {
            "contact": "ml@example.com",
            "members": [{"name": "lead", "email": "ml-lead@example.com", "role": "approver"}],
        },
    },
    "sources": {"customers": {"jurisdiction": "BR"}},
    "features": {
        "customer_features": {
            "owner": "ml",
            "purposes": ["churn"],
            "sensitive": ["gender"],
            "sources": ["customers"],
        }
    },
    "jurisdictions": {"BR": {"allowed_destinations": ["BR"]}},
}


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_demo_policy_covers_every_contract_and_feature_table(contracts: ContractSet):
    policy = load_policy(Settings().policy_file)
    feature_tables = feature_table_names(Settings())
    assert Settings().policy_file == PROJECT_DIR / "policy.yml"
    assert set(policy.features) == set(feature_tables)
    assert set(policy.sources) == set(contracts.load_order())
    for table in contracts.load_order():  # the contract's owner is a team's contact
        assert policy.team_of_contact(contracts[table].owner), table
    for table in feature_tables:
        assert set(policy.features[table].sources) <= set(contracts.load_order())


def test_credit_scoring_is_refused_in_the_file_for_a_table_with_gender(tmp_path: Path):
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["features"]["customer_features"]["purposes"].append("credit_scoring")
    with pytest.raises(PolicyError) as err:
        load_policy(write(tmp_path, data))
    text = str(err.value)
    assert str(tmp_path / "policy.yml") in text
    assert "features.customer_features.purposes" in text
    assert "credit_scoring is not allowed for a table carrying gender" in text


@pytest.mark.parametrize(
    ("change", "where", "what"),
    [
        (
            lambda d: d["features"]["customer_features"].update(owner="nobody"),
            "features.customer_features.owner",
            "write one of ml",
        ),
        (
            lambda d: d["sources"]["customers"].update(jurisdiction="EU"),
            "sources.customers.jurisdiction",
            "add jurisdictions.EU.allowed_destinations",
        ),
        (lambda d: d["teams"]["ml"].update(colour="red"), "teams.ml.colour", "unknown field"),
        (lambda d: d.pop("teams"), "teams", "required field is missing"),
    ],
)
def test_errors_name_the_file_the_field_and_what_to_write(tmp_path, change, where, what):
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    change(data)
    with pytest.raises(PolicyError) as err:
        load_policy(write(tmp_path, data))
    assert str(tmp_path / "policy.yml") in str(err.value)
    assert where in str(err.value)
    assert what in str(err.value)


def test_a_missing_file_says_which_setting_points_at_it(tmp_path: Path):
    with pytest.raises(PolicyError, match="PIPELINES_POLICY_FILE"):
        load_policy(tmp_path / "nope.yml")


def test_purpose_check_names_who_can_approve(tmp_path: Path):
    policy = load_policy(write(tmp_path, MINIMAL))
    check_purpose(policy, "customer_features", "churn")
    with pytest.raises(PurposeRefused) as err:
        check_purpose(policy, "customer_features", "fraud")
    assert err.value.approvers == ["ml-lead@example.com"]
    assert "ml-lead@example.com" in str(err.value)
    assert "approved for: churn" in str(err.value)
    with pytest.raises(PurposeRefused, match="never allowed for a table carrying gender"):
        check_purpose(policy, "customer_features", "credit_scoring")


def test_a_team_without_approvers_is_approved_through_its_contact():
    policy = Policy.model_validate({**MINIMAL, "teams": {"ml": {"contact": "ml@example.com"}}})
    with pytest.raises(PurposeRefused, match=re.escape("ml@example.com")):
        check_purpose(policy, "customer_features", "fraud")
