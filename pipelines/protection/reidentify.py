"""Audited re-identification: decrypting one encrypted value for a stated reason.

Only columns whose contract protection is ``encrypt`` can be re-identified. Pseudonymized
columns hold keyed HMAC tokens, which are one-way: there is nothing to decrypt. The quarantine
holds the values of every column encrypted (``--column _quarantine.<column>``, and
``--column _malformed_record`` for the text of a malformed record): those can be read back
the same way, audited.

Every attempt is written to the audit log - success, refusal (also for a blank actor or
reason, or, from the command line, a missing or unusable key ring) or failed decryption - and
a clear value is returned only after its audit entry is on disk. The
log records the table, column, key id and ``sha256:`` of the ciphertext, never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipelines.contracts import Column, Contract, ContractSet, Protection, load_contracts
from pipelines.protection.audit import AuditLog, scrub_reason, subject_digest
from pipelines.protection.encrypt import (
    MALFORMED_RECORD,
    QUARANTINE_PREFIX,
    Encryptor,
    encryption_context,
)
from pipelines.protection.errors import (
    DecryptionError,
    KeyMismatchError,
    NotReversibleError,
    ReidentificationRefused,
)
from pipelines.protection.keys import KeyRing
from pipelines.protection.pseudonymize import is_token
from pipelines.protection.registry import KeyRegistry

ACTION = "reidentify"


BLANK = "(blank)"


def audit_request(
    audit_log: AuditLog,
    *,
    actor: object,
    reason: object,
    token: object,
    details: Mapping[str, str | bool | None],
    outcome: str,
    error: Exception | None = None,
    unauthenticated: bool = False,
) -> None:
    """One audit entry for a re-identification request, also a malformed one: a blank actor
    or reason is recorded as ``(blank)``; the token only as its ``sha256:`` digest."""
    audit_log.append(
        actor=actor.strip() or BLANK if isinstance(actor, str) else BLANK,
        action=ACTION,
        reason=reason.strip() or BLANK if isinstance(reason, str) else BLANK,
        subject=subject_digest(token) if isinstance(token, str) and token else None,
        details={**details, "outcome": outcome, "error": type(error).__name__ if error else None},
        unauthenticated=unauthenticated,
    )


def _resolve_column(
    table: str | Contract, column: str | Column, contracts: ContractSet | Path | None
) -> tuple[str, str, Column | None]:
    """``(table, column, Column or None if no contract was given to check against)``.

    A quarantine column (``_quarantine.<column>``, ``_malformed_record``) resolves to the
    contract's column it holds values of (None for a malformed record's text).
    """
    table_name = table.table if isinstance(table, Contract) else table
    if isinstance(column, Column):
        return table_name, column.name, column
    held = column.removeprefix(QUARANTINE_PREFIX)
    try:
        if isinstance(table, Contract):
            contract = table
        elif contracts is not None:
            contract_set = load_contracts(contracts) if isinstance(contracts, Path) else contracts
            contract = contract_set[table_name]
        else:
            return table_name, column, None
        if column == MALFORMED_RECORD:
            return table_name, column, None
        return table_name, column, contract.column(held)
    except KeyError as exc:
        raise ReidentificationRefused(str(exc.args[0]) if exc.args else str(exc)) from None


def _quarantined(column: str) -> bool:
    """Whether ``column`` names values the quarantine holds encrypted, whatever the class of
    the column they belong to (quarantined values are encrypted for every column)."""
    return column == MALFORMED_RECORD or column.startswith(QUARANTINE_PREFIX)


def reidentify(
    keyring: KeyRing,
    audit_log: AuditLog,
    *,
    table: str | Contract,
    column: str | Column,
    token: str,
    actor: str,
    reason: str,
    contracts: ContractSet | Path | None = None,
    registry: KeyRegistry | None = None,
) -> str:
    """Decrypt ``token`` from ``table.column`` for ``actor``, audited; returns the clear value.

    ``table``/``column`` may be contract objects, or names checked against ``contracts`` (a
    :class:`ContractSet` or a contracts directory). With plain names and no contracts the
    column's protection is not checked (the ciphertext is still bound to ``table.column``).
    With a ``registry`` (the lake's), a ring holding other bytes under a known encryption key
    id is refused (:class:`KeyMismatchError`) before anything is decrypted.
    """
    key_id = token.partition(":")[0] if isinstance(token, str) else ""
    known_id = key_id in keyring.encryption or key_id in keyring.pseudonymization
    details: dict[str, str | bool | None] = {  # names as typed: scrubbed like the reason
        "table": scrub_reason(table.table if isinstance(table, Contract) else str(table)),
        "column": scrub_reason(column.name if isinstance(column, Column) else str(column)),
        "key_id": key_id if known_id else None,
        "contract_checked": False,
    }

    def audit(outcome: str, error: Exception | None = None) -> None:
        audit_request(
            audit_log, actor=actor, reason=reason, token=token, details=details,
            outcome=outcome, error=error,
        )  # fmt: skip

    try:
        if not isinstance(actor, str) or not actor.strip():
            raise ReidentificationRefused("re-identification needs an actor (who is asking)")
        if not isinstance(reason, str) or not reason.strip():
            raise ReidentificationRefused("re-identification needs a reason (why it is needed)")
        if not isinstance(token, str) or not token:
            raise ReidentificationRefused("re-identification needs the encrypted token")
        table_name, column_name, col = _resolve_column(table, column, contracts)
        details.update(
            table=scrub_reason(table_name),
            column=scrub_reason(column_name),
            contract_checked=col is not None,
        )
        where = f"{table_name}.{column_name}"
        quarantined = _quarantined(column_name)
        if not quarantined and (
            (col is not None and col.protection is Protection.PSEUDONYMIZE)
            or (col is None and is_token(token) and key_id in keyring.pseudonymization)
        ):
            raise NotReversibleError(
                f"{where} is pseudonymized: its values are keyed HMAC tokens, which are one-way "
                "and cannot be re-identified; look the record up in the source system instead"
            )
        if not quarantined and col is not None and col.protection is not Protection.ENCRYPT:
            raise ReidentificationRefused(
                f"{where} is not encrypted (protection: {col.protection.value}); "
                "only encrypted columns can be re-identified"
            )
        if registry is not None:
            registry.check(keyring, purposes=["encryption"])
    except (ReidentificationRefused, KeyMismatchError) as exc:
        audit("refused", exc)
        raise

    try:
        clear = Encryptor(keyring).decrypt(token, encryption_context(table_name, column_name))
    except DecryptionError as exc:
        audit("failed", exc)
        raise
    audit("success")
    return clear
