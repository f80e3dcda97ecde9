"""Who may act on a subject's data: the rules of audited re-identification.

A request needs an actor and a reason, the key ring (whose keys must be the ones the lake
was written with), and is written to the audit log whatever its outcome: refused, failed or
done. The subject appears there only as ``sha256:`` of its token. The ``customer_unique_id``
a request may name is turned into its token at once and never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelines.contracts import Column, Source
from pipelines.ingest.transform import canonical_text
from pipelines.lake.partitions import partitions
from pipelines.lake.storage import LakeStorage
from pipelines.protection.audit import AuditLog, subject_digest
from pipelines.protection.errors import ReidentificationRefused
from pipelines.protection.keys import KeyRing
from pipelines.protection.pseudonymize import Pseudonymizer, is_token
from pipelines.protection.registry import KeyRegistry

_Scalar = str | int | float | bool | None
BLANK = "(blank)"


class PrivacyRequestRefused(ReidentificationRefused):
    """A subject request without an actor, a reason or a subject; nothing was done."""


@dataclass(frozen=True)
class Request:
    action: str  # privacy_erase, privacy_verify_erasure, privacy_export, ...
    actor: str
    reason: str
    token: str

    @property
    def subject(self) -> str:
        return subject_digest(self.token)


def subject_token(
    subject: str,
    keyring: KeyRing,
    lake: Path | LakeStorage,
    table: str,
    column: Column | None = None,
    source: Source | None = None,
) -> str:
    """The token of ``subject`` (a token already, or the clear id pseudonymized with the key
    the lake's ``table`` was written with, printed first as ingestion prints the subject
    ``column``'s typed value: ``13085.0`` is the integer ``13085``)."""
    if is_token(subject):
        return subject
    if column is not None:
        subject = canonical_text(column, subject, source)
    key_id = None
    for part in partitions(lake, table):
        key_id = part.manifest.key_versions.get("pseudonymization") or key_id
    return Pseudonymizer(keyring, key_id).token(subject)


def audit_outcome(
    log: AuditLog,
    request: Request | None,
    *,
    action: str,
    actor: object,
    reason: object,
    outcome: str,
    details: Mapping[str, _Scalar] | None = None,
    error: Exception | None = None,
    unauthenticated: bool = False,
) -> int:
    """One audit entry for a request (also a malformed one); returns its ``seq``.
    ``unauthenticated``: refused for want of a key ring (logged without a MAC)."""
    entry = log.append(
        actor=actor.strip() or BLANK if isinstance(actor, str) else BLANK,
        action=action,
        reason=reason.strip() or BLANK if isinstance(reason, str) else BLANK,
        subject=request.subject if request else None,
        details={
            **(details or {}),
            "outcome": outcome,
            "error": type(error).__name__ if error else None,
        },
        unauthenticated=unauthenticated,
    )
    return int(entry["seq"])


def authorize(
    log: AuditLog,
    keyring: KeyRing,
    lake: Path,
    *,
    action: str,
    actor: object,
    reason: object,
    subject: object,
    subject_table: str,
    registry: KeyRegistry | None = None,
    store: LakeStorage | None = None,
    subject_column: Column | None = None,
    source: Source | None = None,
) -> Request:
    """The request, checked; a refusal is audited and raised. ``registry``: the lake's key
    registry (:func:`pipelines.lake.state.key_registry`; default the local lake's).
    ``store``: where the lake's partitions are (``lake_store(settings)``; default the local
    folder ``lake``), whose manifests give the key a clear subject id is pseudonymized with."""
    try:
        if not isinstance(actor, str) or not actor.strip():
            raise PrivacyRequestRefused(f"{action} needs an actor (who is asking)")
        if not isinstance(reason, str) or not reason.strip():
            raise PrivacyRequestRefused(f"{action} needs a reason (why it is needed)")
        if not isinstance(subject, str) or not subject.strip():
            raise PrivacyRequestRefused(f"{action} needs a subject (customer_unique_id or token)")
        (registry or KeyRegistry.for_lake(lake)).check(keyring)
        token = subject_token(
            subject.strip(), keyring, store or lake, subject_table, subject_column, source
        )
    except Exception as exc:
        audit_outcome(
            log, None, action=action, actor=actor, reason=reason, outcome="refused", error=exc
        )
        raise
    return Request(action, actor.strip(), reason.strip(), token)
