"""Scrubbing free text: e-mail addresses -> ``[email]``, phone numbers -> ``[phone]``.

One set of patterns serves both Python ``re`` (:func:`scrub_text`) and DuckDB/RE2
(:func:`sql_scrub`), so they are written in the common subset: no lookaround, explicit
``[0-9]`` classes, ASCII ``\\b`` (Python runs with ``re.ASCII`` to match RE2), and both
engines pick the leftmost-first alternative. E-mails are replaced first, then phones.

Phone numbers recognised:

* international with ``+``: ``+55 11 91234-5678``, ``+1 415 555 0100``, ``+5511912345678``;
* Brazilian with area code (DDD): ``(11) 98765-4321``, ``(21) 3456-7890``,
  ``11 98765 4321``, ``11987654321``, ``011 98765-4321``;
* Brazilian mobile without area code, hyphenated: ``98765-4321``.

Left alone: dates (``2018-03-01``, ``01/03/2018``), prices (``R$ 1.234,56``), numbers of
fewer than 10 digits (order numbers), CEPs (``01310-100``), and 8-digit numbers without area
code (``3456-7890``: indistinguishable from ranges such as ``2017-2018``). Any run of 10 or 11
digits that reads as area code + number is treated as a phone.
"""

from __future__ import annotations

import re

_SEP = "[ .-]?"
_DDD = "0?[1-9][0-9]"
_SUBSCRIBER = f"9?[0-9]{{4}}{_SEP}[0-9]{{4}}"

_LOCAL = "(?:[A-Za-z0-9._%+-]|[^\\x00-\\x7f])"
_LABEL = "(?:[A-Za-z0-9-]|[^\\x00-\\x7f])"
EMAIL_PATTERN = f"{_LOCAL}+@{_LABEL}+(?:\\.{_LABEL}+)*\\.[A-Za-z]{{2,}}"

PHONE_PATTERN = "|".join(
    [
        # +CC [area] number: +55 11 91234-5678, +1 415 555 0100, +44 (20) 7946 0958
        f"\\+[0-9]{{1,3}}{_SEP}(?:\\([0-9]{{1,4}}\\){_SEP}|[0-9]{{1,4}}{_SEP})?"
        f"[0-9]{{3,5}}{_SEP}[0-9]{{4}}\\b",
        # (11) 98765-4321, (21) 3456-7890
        f"\\({_DDD}\\){_SEP}{_SUBSCRIBER}\\b",
        # 11 98765 4321, 11987654321, 21 3456-7890
        f"\\b{_DDD}{_SEP}{_SUBSCRIBER}\\b",
        # 98765-4321 (mobile, no area code)
        "\\b9[0-9]{4}-[0-9]{4}\\b",
    ]
)

EMAIL_TOKEN = "[email]"
PHONE_TOKEN = "[phone]"

_EMAIL_RE = re.compile(EMAIL_PATTERN, re.ASCII)
_PHONE_RE = re.compile(PHONE_PATTERN, re.ASCII)


def scrub_text(text: str | None) -> str | None:
    """``text`` with e-mail addresses and phone numbers replaced; ``None`` stays ``None``."""
    if text is None:
        return None
    return _PHONE_RE.sub(PHONE_TOKEN, _EMAIL_RE.sub(EMAIL_TOKEN, text))


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_scrub(column_sql: str) -> str:
    """The DuckDB expression scrubbing ``column_sql`` exactly as :func:`scrub_text` does."""
    emails = (
        f"regexp_replace(({column_sql}), {_sql_literal(EMAIL_PATTERN)}, "
        f"{_sql_literal(EMAIL_TOKEN)}, 'g')"
    )
    return (
        f"regexp_replace({emails}, {_sql_literal(PHONE_PATTERN)}, {_sql_literal(PHONE_TOKEN)}, 'g')"
    )
