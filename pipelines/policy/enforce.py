"""Purpose limitation and transfer rules: checks that refuse a use the policy does not allow.

The checks are pure (a :class:`~pipelines.policy.model.Policy` in, an error out);
:func:`enforce_purpose` and :func:`enforce_transfer` resolve the policy from settings and
record a refusal as a finding for the table's owner before raising.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipelines.policy.model import DOCS, Policy, PolicyError, load_policy
from pipelines.settings import Settings


class PurposeRefused(PermissionError):
    """A table was requested for a purpose its policy entry does not approve."""

    def __init__(self, table: str, purpose: str, approvers: list[str], why: str):
        self.table, self.purpose, self.approvers = table, purpose, approvers
        super().__init__(
            f"{table} is not approved for purpose {purpose!r} ({why}). Ask its owner to "
            f"approve it in the policy file (features.{table}.purposes): "
            f"{', '.join(approvers)} (see {DOCS})"
        )


class TransferRefused(PermissionError):
    """Data derived from subjects of one jurisdiction was sent where it may not go."""

    def __init__(self, tables: list[str], target: str, why: str):
        self.tables, self.target = tables, target
        super().__init__(f"transfer of {', '.join(tables)} to {target} refused: {why}")


def check_purpose(policy: Policy, table: str, purpose: str) -> None:
    """Raise :class:`PurposeRefused` unless ``purpose`` is approved for feature ``table``."""
    if not purpose or not purpose.strip():
        raise PolicyError(
            f"a purpose is required to use {table}: pass purpose=... (one of "
            f"{', '.join(policy.features[table].purposes) if table in policy.features else '?'})"
        )
    feature = policy.features.get(table)
    if feature is None:
        raise PurposeRefused(table, purpose, [], f"{policy.path} has no entry for it")
    approvers = policy.teams[feature.owner].approvers()
    for attribute in feature.sensitive:
        if purpose in policy.purpose_restrictions.get(attribute, ()):
            raise PurposeRefused(
                table, purpose, approvers, f"never allowed for a table carrying {attribute}"
            )
    if purpose not in feature.purposes:
        raise PurposeRefused(
            table, purpose, approvers, f"approved for: {', '.join(feature.purposes) or 'nothing'}"
        )


def check_transfer(
    policy: Policy, tables: Iterable[str], target: str, *, anonymous_aggregate: bool = False
) -> str | None:
    """The destination's jurisdiction, or :class:`TransferRefused` when the subjects'
    jurisdiction does not allow it. Aggregates that passed the anonymity gate go anywhere."""
    names = sorted(tables)
    destination = policy.destination_for(target)
    if anonymous_aggregate:
        return destination.jurisdiction if destination else None
    for table in names:
        check_subjects(policy, policy.jurisdictions_of(table), target, table, names)
    if destination is None:  # no table with subjects named: still an undeclared destination
        check_subjects(policy, [], target, ", ".join(names), names)
    return destination.jurisdiction if destination else None


def check_subjects(
    policy: Policy, subjects: Iterable[str], target: str, what: str, tables: list[str] | None = None
) -> str:
    """The jurisdiction of destination ``target``, or :class:`TransferRefused` when it is not
    declared or data about subjects living in ``subjects`` may not go there (``what``: what
    is sent, for the message)."""
    destination = policy.destination_for(target)
    if destination is None:
        raise TransferRefused(
            tables or [what],
            target,
            "the destination is not declared; add it under destinations with its "
            f"jurisdiction in {policy.path} (see {DOCS})",
        )
    for home in sorted(set(subjects)):
        entry = policy.jurisdictions.get(home)
        allowed = entry.allowed_destinations if entry else []
        if destination.jurisdiction not in allowed:
            raise TransferRefused(
                tables or [what],
                target,
                f"{what}: subjects are in {home}, which allows {', '.join(allowed) or 'nothing'}, "
                f"not {destination.jurisdiction} ({destination.name}); only aggregates "
                "that passed the anonymity gate may go there",
            )
    return destination.jurisdiction


def policy_for(settings: Settings) -> Policy:
    return load_policy(settings.policy)


def enforce_purpose(settings: Settings, table: str, purpose: str, *, actor: str = "api") -> None:
    """:func:`check_purpose` with the settings' policy; a refusal becomes a finding."""
    policy = policy_for(settings)
    try:
        check_purpose(policy, table, purpose)
    except PurposeRefused as refused:
        from pipelines.policy.findings import record_refusal

        record_refusal(settings, policy, "refused_use", table, str(refused), actor=actor)
        raise


def enforce_transfer(
    settings: Settings,
    tables: Iterable[str],
    target: str,
    *,
    anonymous_aggregate: bool = False,
    actor: str = "api",
) -> str | None:
    """:func:`check_transfer` with the settings' policy; a refusal becomes a finding."""
    policy = policy_for(settings)
    names = sorted(tables)
    try:
        return check_transfer(policy, names, target, anonymous_aggregate=anonymous_aggregate)
    except TransferRefused as refused:
        from pipelines.policy.findings import record_refusal

        for table in names:
            record_refusal(settings, policy, "refused_transfer", table, str(refused), actor=actor)
        raise
