"""A PII class and protection for a column: the detectors ingestion scrubs free text with
(:mod:`pipelines.protection.detect`) on sampled values first, then hints from the name."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from pipelines.contracts import PiiClass, Protection
from pipelines.protection.detect import Entity, detect

DETECT_VALUES = 200
"""Distinct values of a text column run through the PII detectors."""
DETECT_SHARE = 0.5
"""Share of sampled values holding an entity above which a column is taken for personal data."""

# name hints: (pattern on the snake_case name, pii class, protection, generalization, why)
_HINTS: list[tuple[re.Pattern[str], PiiClass, Protection, str | None]] = [
    (re.compile(r"(^|_)(e_?mail)(_|$)"), PiiClass.DIRECT_IDENTIFIER, Protection.PSEUDONYMIZE, None),
    (
        re.compile(r"(^|_)(phone|mobile|tel|telephone)(_|$)"),
        PiiClass.DIRECT_IDENTIFIER,
        Protection.PSEUDONYMIZE,
        None,
    ),
    (
        re.compile(r"^((first|last|full|given|family|sur|customer|contact|person|user)_?)?name$"),
        PiiClass.DIRECT_IDENTIFIER,
        Protection.ENCRYPT,
        None,
    ),
    (
        re.compile(r"(^|_)(address|street|addr)(_|$)"),
        PiiClass.DIRECT_IDENTIFIER,
        Protection.ENCRYPT,
        None,
    ),
    (
        re.compile(
            r"(^|_)(customer|client|user|person|member|buyer|shopper)(_unique)?_?(id|no|key)"
        ),
        PiiClass.INDIRECT_IDENTIFIER,
        Protection.PSEUDONYMIZE,
        None,
    ),
    (
        re.compile(r"(^|_)(zip|postal|postcode|post_code)(_|$)"),
        PiiClass.QUASI_IDENTIFIER,
        Protection.GENERALIZE,
        "zip_prefix_3",
    ),
    (
        re.compile(r"(^|_)(birth|dob|birthday)(_|$)"),
        PiiClass.QUASI_IDENTIFIER,
        Protection.GENERALIZE,
        "age_band",
    ),
    (
        re.compile(r"(^|_)(city|state|country|region|gender|sex)(_|$)"),
        PiiClass.QUASI_IDENTIFIER,
        Protection.KEEP,
        None,
    ),
    (
        re.compile(r"(^|_)(comment|message|review|note|notes|remark)(_|$)"),
        PiiClass.FREE_TEXT,
        Protection.SCRUB,
        None,
    ),
]
ID_NAME = re.compile(r"(^|_)(id|no|code|number|key|ref|zip|postal|postcode|prefix|phone)$")
_ENTITY_PROTECTION = {
    Entity.EMAIL: Protection.PSEUDONYMIZE,
    Entity.PHONE: Protection.PSEUDONYMIZE,
    Entity.CPF: Protection.PSEUDONYMIZE,
    Entity.CNPJ: Protection.PSEUDONYMIZE,
    Entity.CARD: Protection.DROP,
    Entity.ADDRESS: Protection.ENCRYPT,
    Entity.URL: Protection.ENCRYPT,
    Entity.HANDLE: Protection.PSEUDONYMIZE,
    Entity.NAME: Protection.ENCRYPT,
}


@dataclass(frozen=True)
class Proposal:
    """A column's proposed PII class and protection, and why (no values)."""

    pii: PiiClass = PiiClass.NONE
    protection: Protection = Protection.KEEP
    generalize: str | None = None
    evidence: str = "no personal data found"


def classify(name: str, type_: str, values: list[str] | None, region: str) -> Proposal:
    """The proposal for column ``name`` of contract type ``type_``; ``values`` are sampled
    distinct values of a text column (None for other columns)."""
    found = _detected(values, region) if values else None
    if found:
        entity, share, inside_text = found
        where = "inside longer text" if inside_text else "as the whole value"
        evidence = (
            f"detector found {entity.value} in {share:.0%} of {len(values or [])} sampled "
            f"values ({where})"
        )
        if inside_text:
            return Proposal(PiiClass.FREE_TEXT, Protection.SCRUB, None, evidence)
        return Proposal(
            PiiClass.DIRECT_IDENTIFIER,
            _ENTITY_PROTECTION.get(entity, Protection.ENCRYPT),
            None,
            evidence,
        )
    for pattern, pii, protection, method in _HINTS:
        if pattern.search(name) and _applies(protection, method, name, type_):
            return Proposal(pii, protection, method, f"name hint ({name}); no detector finding")
    return Proposal()


def _applies(protection: Protection, method: str | None, name: str, type_: str) -> bool:
    if protection is Protection.SCRUB:
        return type_ == "string" and not ID_NAME.search(name)  # `review_id` is no review text
    if method == "age_band":
        return type_ in ("date", "timestamp")
    return True


def _detected(values: list[str], region: str) -> tuple[Entity, float, bool] | None:
    """The most frequent entity in ``values`` when at least :data:`DETECT_SHARE` of them hold
    one, its share, and whether it sits inside longer text (free text)."""
    if not values:
        return None
    entities: Counter[Entity] = Counter()
    inside = 0
    for value in values:
        findings = detect(value, region)
        if not findings:
            continue
        entities[findings[0].entity] += 1
        covered = sum(f.end - f.start for f in findings)
        inside += covered < 0.8 * len(value.strip())
    hits = sum(entities.values())
    if hits / len(values) < DETECT_SHARE and not (hits and inside > 0 and _long(values)):
        return None
    entity = entities.most_common(1)[0][0]
    return entity, hits / len(values), inside > hits / 2


def _long(values: list[str]) -> bool:
    """Free text: values with several words on average."""
    return sum(v.count(" ") for v in values) / len(values) >= 3
