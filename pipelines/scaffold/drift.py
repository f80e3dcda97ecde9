"""How a sample file differs from the existing contract of its table (no values)."""

from __future__ import annotations

from pipelines.contracts import Contract, PiiClass
from pipelines.scaffold.profile import Profile


def differences(prof: Profile, existing: Contract) -> list[str]:
    """How the sample differs from an existing contract, by source header; no values."""
    theirs = {c.header: c for c in existing.columns}
    ours = {c.header: c for c in prof.columns}
    out = []
    for header, c in ours.items():
        if header not in theirs:
            out.append(f"+ {header!r}: in the file, not in the contract (file type {c.type})")
            continue
        declared = theirs[header]
        if declared.type != c.type and not _compatible(declared.type, c.type):
            out.append(f"~ {header!r}: contract type {declared.type}, the file reads as {c.type}")
        if declared.required and c.missing:
            out.append(
                f"~ {header!r}: required in the contract, missing in {c.missing:,} of "
                f"{c.rows:,} sampled rows"
            )
        if declared.pii is PiiClass.NONE and c.evidence.startswith("detector"):
            out.append(
                f"~ {header!r}: no PII in the contract, but {c.evidence}: consider pii "
                f"{c.pii.value}, protection {c.protection.value}"
            )
    out += [
        f"- {header!r}: in the contract, not in the file" for header in theirs if header not in ours
    ]
    return out


def _compatible(declared: str, found: str) -> bool:
    """Types a contract may declare for what the sample reads as."""
    numeric = ("integer", "double")
    if found == "string" or declared == "string":  # text holds anything; anything parses
        return True
    if declared.startswith("decimal") and found in numeric:
        return True
    return declared == "double" and found == "integer"
