"""The protection types: the one registry of what ingestion may do to a PII column.

Each type (:class:`Protection`, the name a contract writes) has one :class:`ProtectionType`
entry in :data:`PROTECTION_TYPES`: what the lake column holds, whether that hides the source
value (OpenLineage ``masking``), the key it needs, whether ingestion computes it on Arrow
batches, the pattern every lake value matches (the quality gate checks it) and how the dbt
sources, the portal, model cards and the lineage describe it. The contract model, ingestion,
the gate's protected-value checks, lineage masking, the dbt sources, the portal and the PII
inventory read these entries; none restates a list of protection names.

A new type is a member of :class:`Protection` and its entry here, and its application (SQL
and Arrow forms) in :mod:`pipelines.protection.types` beside its primitive. This module is
core: the contract model reads it, so it imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Protection(StrEnum):
    """What ingestion does to a column before anything is written."""

    KEEP = "keep"
    PSEUDONYMIZE = "pseudonymize"  # keyed HMAC-SHA256 token, join-stable
    ENCRYPT = "encrypt"  # AES-SIV, recoverable through audited re-identification
    GENERALIZE = "generalize"  # coarser value (zip prefix, age band)
    DROP = "drop"  # never written
    SCRUB = "scrub"  # personal data inside free text replaced by typed placeholders


Holds = Literal["clear", "token", "ciphertext", "generalized", "scrubbed", "nothing"]
"""What the lake column holds: the (typed) value itself, a keyed token, a ciphertext, a
coarser value, free text with identifiers replaced, or nothing (the column is not written)."""


@dataclass(frozen=True)
class ProtectionType:
    """One protection type, as every stage sees it."""

    protection: Protection
    holds: Holds
    meaning: str
    """In words, for the portal's PII map (``{method}``: the generalization method)."""
    dbt_note: str = ""
    """Appended to the column's description in the dbt sources (``{pii}``: its PII class)."""
    lineage: str = ""
    """The ingestion lineage's description of the transformation (``{key}``: the key id,
    ``{table}``/``{column}``, ``{method}`` and ``{detail}`` of a generalization)."""
    key_purpose: str | None = None
    """The key ring purpose whose key it needs (manifests record that key's id)."""
    precomputed: bool = False
    """Ingestion computes it on whole Arrow batches, not in SQL (:mod:`pipelines.ingest.stream`)."""
    strings_only: bool = False
    """Only string columns may have it."""
    lake_pattern: str | None = None
    """The regular expression every lake value matches (the gate's ``contract.protected``)."""
    participle: str = ""
    """``<column> is stored <participle>``."""
    transform_logic: str = ""
    """In a few words, for the ODCS export's ``transformLogic``."""

    @property
    def name(self) -> str:
        return self.protection.value

    @property
    def written(self) -> bool:
        """Whether the column reaches the lake at all."""
        return self.holds != "nothing"

    @property
    def masking(self) -> bool:
        """Whether what the lake holds hides the source value (OpenLineage ``masking``)."""
        return self.holds != "clear"

    @property
    def lake_text(self) -> bool:
        """Whether the lake column is text whatever the column's type."""
        return self.holds in ("token", "ciphertext", "generalized")


_SCRUBBED = (
    "e-mails, URLs, CPF/CNPJ, card and phone numbers, @handles, street addresses and personal "
    "names in the text replaced by [EMAIL], [URL], [CPF], [CNPJ], [CARD], [PHONE], [HANDLE], "
    "[ADDRESS], [NAME]"
)

PROTECTION_TYPES: Mapping[Protection, ProtectionType] = {
    t.protection: t
    for t in (
        ProtectionType(
            Protection.KEEP,
            "clear",
            "kept as it is by its contract (a quasi-identifier coarse enough on its own); "
            "it may reach feature tables, where it counts as a quasi-identifier",
            dbt_note="Kept in clear ({pii}).",
            participle="kept",
            transform_logic="kept as it arrives",
        ),
        ProtectionType(
            Protection.PSEUDONYMIZE,
            "token",
            "replaced by a keyed token (join-stable); the clear value is never written",
            dbt_note="Pseudonymized at ingestion: keyed HMAC-SHA256 token "
            "(`p<key>:<32 hex>`), the same in every table, so joins work.",
            lineage="pseudonymize: keyed HMAC-SHA256 token (pseudonymization key {key}); "
            "join-stable, not reversible",
            key_purpose="pseudonymization",
            precomputed=True,
            lake_pattern="^p[0-9]+:[0-9a-f]{32}$",
            participle="pseudonymized",
            transform_logic="pseudonymized: keyed HMAC-SHA256 token, join-stable",
        ),
        ProtectionType(
            Protection.ENCRYPT,
            "ciphertext",
            "encrypted (AES-SIV); readable only through audited re-identification",
            dbt_note="Encrypted at ingestion (AES-SIV, `e<key>:...`); recoverable only by "
            "audited re-identification. Never selected by any model.",
            lineage="encrypt: deterministic AES-256-SIV (encryption key {key}), bound to "
            "{table}.{column}; recoverable only by audited re-identification",
            key_purpose="encryption",
            precomputed=True,
            lake_pattern="^e[0-9]+:[A-Za-z0-9_-]+$",
            participle="encrypted",
            transform_logic="encrypted (AES-SIV), recoverable through audited re-identification",
        ),
        ProtectionType(
            Protection.GENERALIZE,
            "generalized",
            "generalized ({method}); the exact value is never written",
            dbt_note="{method_note}",
            lineage="generalize ({method}): {detail}",
            participle="generalized",
            transform_logic="generalized to a coarser value",
        ),
        ProtectionType(
            Protection.DROP,
            "nothing",
            "never written anywhere",
            participle="dropped",
            transform_logic="dropped at ingestion, never written",
        ),
        ProtectionType(
            Protection.SCRUB,
            "scrubbed",
            "free text with identifiers replaced by typed placeholders",
            dbt_note="Free text; e-mails, URLs, CPF/CNPJ, card and phone numbers, @handles and "
            "street addresses replaced by typed placeholders at ingestion. "
            "Never selected by any model.",
            lineage=f"scrub: {_SCRUBBED}",
            precomputed=True,
            strings_only=True,
            participle="scrubbed",
            transform_logic="e-mails and phone numbers inside the text replaced by placeholders",
        ),
    )
}
"""Every protection type, by name (a plain string looks an entry up as well)."""

GENERALIZATION_NOTES = {
    "zip_prefix_3": (
        "Generalized at ingestion to the 3-digit prefix (`013xx`).",
        "first three digits kept (01310 -> 013xx)",
    ),
    "age_band": (
        "Generalized at ingestion to an age band as of the partition's interval end.",
        "age band as of the interval end {interval_end}",
    ),
}
"""Generalization method -> (its dbt note, its lineage detail)."""


def protection_type(name: str) -> ProtectionType:
    """The entry of a protection name (:class:`Protection` or its string)."""
    return PROTECTION_TYPES[Protection(name)]


def holds(name: str) -> Holds | None:
    """What a column protected by ``name`` holds in the lake; None if ``name`` is not a
    protection type (a feature column's meta without one says ``none``)."""
    try:
        return protection_type(name).holds
    except ValueError:
        return None


def names(*, masking: bool | None = None, precomputed: bool | None = None) -> tuple[str, ...]:
    """Protection names, optionally only those that mask / that ingestion precomputes."""
    return tuple(
        t.name
        for t in PROTECTION_TYPES.values()
        if (masking is None or t.masking == masking)
        and (precomputed is None or t.precomputed == precomputed)
    )


def dbt_note(protection: str, pii: str, method: str | None) -> str:
    """The note the dbt sources add to a column's description."""
    if pii == "none":
        return ""
    default = ("Generalized at ingestion.", "")
    note = GENERALIZATION_NOTES.get(method or "", default)[0]
    return protection_type(protection).dbt_note.format(pii=pii.replace("_", "-"), method_note=note)


def lineage_description(
    protection: str, *, key: str, table: str, column: str, method: str | None, interval_end: str
) -> str:
    """How the ingestion lineage describes the transformation (never a key, only its id)."""
    method = method or "?"
    detail = GENERALIZATION_NOTES.get(method, ("", method))[1]
    return protection_type(protection).lineage.format(
        key=key,
        table=table,
        column=column,
        method=method,
        detail=detail.format(interval_end=interval_end),
    )


SUPPRESSED = "*"
"""A quasi-identifier suppressed for k-anonymity (``dbt_project/macros/anonymity.sql``): a
published row whose class is smaller than k carries this instead of its value; readers count
it as unknown."""
