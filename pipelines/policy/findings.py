"""Findings with an owner, a state and a history in the audit log.

A finding is something an owner must look at: a failed or warned check, undeclared personal
data, a drift alert (the quality results store holds those) or a refused use or transfer
(recorded here when it happens). Its id is derived from what it is about, so the same check
on the same partition is the same finding across runs. Its state (``open``,
``acknowledged``, ``resolved``, ``accepted``: accepted with a reason) and history are entries
of the HMAC-chained audit log (``finding.<state>``, details ``finding=<id>``): who changed
it, when and why. Nothing here holds data values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.policy.model import Policy
from pipelines.protection.audit import AuditLog
from pipelines.protection.audit_pg import open_audit_log
from pipelines.settings import Settings

_OWN = {"kind", "table", "partition", "what", "column", "severity"}
STATES = ("open", "acknowledged", "resolved", "accepted")
ACTION_PREFIX = "finding."


class FindingError(ValueError):
    """A finding cannot change as asked (unknown id, missing reason)."""


@dataclass
class Finding:
    id: str
    kind: str
    dataset: str
    what: str
    owner: str
    partition: str = ""
    column: str = ""
    severity: str = ""
    state: str = "open"
    opened_at: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # what the observer adds (observed...)

    def row(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return {
            "id": self.id,
            "kind": self.kind,
            "table": self.dataset,
            "partition": self.partition,
            "what": self.what,
            "column": self.column,
            "severity": self.severity,
            "owner": self.owner,
            "state": self.state,
            "changed_by": last.get("actor", ""),
            "changed_at": last.get("time", ""),
            **self.extra,
        }


def finding_id(kind: str, dataset: str, what: str, partition: str = "", column: str = "") -> str:
    key = "\x1f".join((kind, dataset, partition, what, column))
    return "f-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def _log(settings: Settings) -> AuditLog:
    from pipelines.protection.errors import KeyRingError
    from pipelines.protection.keys import keyring_from_settings

    try:
        return open_audit_log(settings, keyring_from_settings(settings))
    except (KeyRingError, OSError):
        return open_audit_log(settings)


def _append(
    settings: Settings, action: str, reason: str, details: Mapping[str, Any], actor: str
) -> dict[str, Any]:
    from pipelines.protection.errors import AuditLogError

    log = _log(settings)
    try:
        return log.append(actor=actor, action=action, reason=reason, details=details)
    except AuditLogError:  # no usable audit key: keep the entry, unauthenticated
        return log.append(
            actor=actor, action=action, reason=reason, details=details, unauthenticated=True
        )


def open_finding(
    settings: Settings, kind: str, dataset: str, what: str, owner: str, *, actor: str
) -> str:
    """Open a finding (``what`` names it, without data values); returns its id."""
    fid = finding_id(kind, dataset, what)
    details = {"finding": fid, "kind": kind, "dataset": dataset, "owner": owner, "what": what}
    _append(settings, ACTION_PREFIX + "open", what, details, actor)
    return fid


def record_refusal(
    settings: Settings, policy: Policy, kind: str, table: str, message: str, *, actor: str
) -> str:
    """Open a finding for a refused use or transfer of ``table``; returns its id."""
    owner = (
        policy.owner_contact(table) if table in policy.features else _source_owner(settings, table)
    )
    return open_finding(settings, kind, table, message, owner, actor=actor)


def _source_owner(settings: Settings, table: str) -> str:
    from pipelines.contracts import ContractError, load_contracts

    try:
        contracts = load_contracts(settings.contracts_dir)
        return contracts[table].owner
    except (ContractError, KeyError):
        return ""


def owner_of(policy: Policy, contract_owners: Mapping[str, str], table: str) -> str:
    """Feature tables: the policy's team; sources: the contract's owner."""
    if table in policy.features:
        return policy.feature_owner(table).contact
    return contract_owners.get(table, "")


def _entries(settings: Settings) -> list[dict[str, Any]]:
    return [
        e for e in open_audit_log(settings).entries() if str(e["action"]).startswith(ACTION_PREFIX)
    ]


def state_of(settings: Settings, fid: str) -> str | None:
    """The latest state of finding ``fid`` in the audit log, or None if it was never opened."""
    states = [
        str(e["action"]).removeprefix(ACTION_PREFIX)
        for e in _entries(settings)
        if (e.get("details") or {}).get("finding") == fid
    ]
    return states[-1] if states else None


def findings(
    settings: Settings,
    policy: Policy,
    observed: Iterable[Mapping[str, Any]] = (),
    contract_owners: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every finding: the ``observed`` ones (rows with kind, table, partition, what, column,
    severity: the quality results) and those recorded in the audit log, each with its owner,
    state and history."""
    owners = dict(contract_owners or {})
    found: dict[str, Finding] = {}
    for row in observed:
        table = str(row["table"])
        kind, what = str(row["kind"]), str(row["what"])
        partition, column = str(row.get("partition") or ""), str(row.get("column") or "")
        fid = finding_id(kind, table, what, partition, column)
        found[fid] = Finding(
            fid,
            kind,
            table,
            what,
            owner_of(policy, owners, table),
            partition,
            column,
            str(row.get("severity") or ""),
            extra={k: v for k, v in row.items() if k not in _OWN},
        )
    for entry in _entries(settings):
        _apply(found, entry)
    return sorted(found.values(), key=lambda f: (f.state != "open", f.dataset, f.id))


def _apply(found: dict[str, Finding], entry: Mapping[str, Any]) -> None:
    details = entry.get("details") or {}
    fid = str(details.get("finding", ""))
    state = str(entry["action"]).removeprefix(ACTION_PREFIX)
    if fid not in found:
        if state != "open":
            return
        found[fid] = Finding(
            fid,
            str(details.get("kind", "")),
            str(details.get("dataset", "")),
            str(details.get("what", "")),
            str(details.get("owner", "")),
        )
    finding = found[fid]
    finding.state = state
    finding.opened_at = finding.opened_at or str(entry["time"])
    finding.history.append(
        {"time": entry["time"], "actor": entry["actor"], "state": state, "reason": entry["reason"]}
    )


def change(
    settings: Settings, known: Iterable[Finding], fid: str, state: str, *, actor: str, reason: str
) -> Finding:
    """Move finding ``fid`` to ``state`` (acknowledged, resolved or accepted), as ``actor``."""
    by_id = {f.id: f for f in known}
    if fid not in by_id:
        raise FindingError(f"no finding {fid!r}; list them with: pipelines findings list")
    if state not in STATES[1:]:
        raise FindingError(f"state must be one of {', '.join(STATES[1:])}, not {state!r}")
    if state == "accepted" and not reason.strip():
        raise FindingError(f"accepting {fid} needs a reason: --reason '...why it is acceptable'")
    finding = by_id[fid]
    details = {"finding": fid, "kind": finding.kind, "dataset": finding.dataset}
    entry = _append(settings, ACTION_PREFIX + state, reason or state, details, actor)
    finding.state = state
    finding.history.append(
        {"time": entry["time"], "actor": actor, "state": state, "reason": entry["reason"]}
    )
    return finding
