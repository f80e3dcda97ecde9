"""Who may read which page: three portal roles and how a caller gets one.

* ``governance``: everything, including audit details, the PII map and the exact segment
  shares of representativeness and drift (every other role sees the shares that privacy
  released through OpenDP: :mod:`pipelines.portal.records`, ``dp_segments``).
* ``engineering``: everything but the audit log's entries (it sees the chain's status).
* ``ml``: features, quality summaries and lineage; not the PII map's details, not the audit.

Inside Airflow the caller's role comes from their Airflow user (see :func:`role_of_airflow_user`
and ``Settings.portal_roles``); standalone, the portal runs for one local user with the role
given on the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    GOVERNANCE = "governance"
    ENGINEERING = "engineering"
    ML = "ml"


ALL = frozenset(Role)

PAGES: dict[str, frozenset[Role]] = {
    "overview": ALL,
    "quality": ALL,
    "lineage": ALL,
    "releases": ALL,
    "pii": frozenset({Role.GOVERNANCE, Role.ENGINEERING}),
    "audit": frozenset({Role.GOVERNANCE, Role.ENGINEERING}),
    "audit_entries": frozenset({Role.GOVERNANCE}),
}
"""Page (or part of one) -> roles that may read it. The single source for every check."""

DEFAULT_AIRFLOW_ROLES: dict[str, Role] = {
    "admin": Role.GOVERNANCE,
    "governance": Role.GOVERNANCE,
    "op": Role.ENGINEERING,
    "dataengineer": Role.ENGINEERING,
    "data_engineer": Role.ENGINEERING,
    "user": Role.ML,
    "viewer": Role.ML,
    "mlconsumer": Role.ML,
    "ml_consumer": Role.ML,
}
"""Airflow role name (lower case) -> portal role, unless ``Settings.portal_roles`` says other."""


class AccessDenied(PermissionError):
    def __init__(self, page: str, role: Role | None):
        who = f"role {role.value!r}" if role else "a caller with no portal role"
        allowed = ", ".join(sorted(r.value for r in PAGES[page]))
        super().__init__(f"{who} may not read {page!r} (allowed: {allowed})")


def allowed(page: str, role: Role | None) -> bool:
    return role is not None and role in PAGES[page]


def check(page: str, role: Role | None) -> Role:
    if role is None or not allowed(page, role):
        raise AccessDenied(page, role)
    return role


def _airflow_role_names(user: Any) -> list[str]:
    """Role names of an Airflow user: SimpleAuthManager users have ``role``, FAB users
    ``roles`` (objects with ``name``)."""
    names: list[str] = []
    single = getattr(user, "role", None)
    if single:
        names.append(str(single))
    for role in getattr(user, "roles", None) or []:
        names.append(str(getattr(role, "name", role)))
    return names


def role_of_airflow_user(user: Any, mapping: Mapping[str, str] | None = None) -> Role | None:
    """The strongest portal role any of the user's Airflow roles maps to (None: no access)."""
    table = {k.lower(): Role(v) for k, v in (mapping or {}).items()} or DEFAULT_AIRFLOW_ROLES
    found = {table[n.lower()] for n in _airflow_role_names(user) if n.lower() in table}
    for role in (Role.GOVERNANCE, Role.ENGINEERING, Role.ML):
        if role in found:
            return role
    return None
