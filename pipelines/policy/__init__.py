"""Governance policy as code: teams, owners, approved purposes, jurisdictions and transfers
(``policy.yml``, :mod:`pipelines.policy.model`), enforced where data is used
(:mod:`pipelines.policy.enforce`), and findings with an owner (:mod:`pipelines.policy.findings`)."""

from pipelines.policy.enforce import PurposeRefused, TransferRefused, check_purpose, check_transfer
from pipelines.policy.model import Policy, PolicyError, load_policy

__all__ = [
    "Policy",
    "PolicyError",
    "PurposeRefused",
    "TransferRefused",
    "check_purpose",
    "check_transfer",
    "load_policy",
]
