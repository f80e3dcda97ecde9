"""Typing timestamp text into the lake's UTC timestamps, as the source contract declares.

The lake holds every timestamp as UTC without an offset (DuckDB ``TIMESTAMP``). DuckDB's own
cast to ``TIMESTAMP`` accepts ``2018-01-01 08:43:07-03:00`` and silently drops the offset, so
typing looks for an offset first:

* a value with an offset (``-03:00``, ``-03``, ``+0530``, ``Z``, ``UTC``, ``GMT`` after the
  time) is read as an instant (``TIMESTAMPTZ``) and converted to UTC exactly, or, when the
  source declares ``timestamp_offsets: quarantine``, not typed at all (the record is
  quarantined as a ``type_error`` whose reason names the offset);
* a value without one is local time in the source's ``timezone`` (UTC unless declared) and is
  converted from it to UTC. A local time that the zone skips or repeats at a daylight-saving
  change (a one-hour change; zones with half-hour changes are not detected) has no single
  UTC instant: it is not typed, and its reason says so.

Nothing here reads DuckDB's session time zone: conversions name their zones.
"""

from __future__ import annotations

from pipelines.contracts import Source
from pipelines.sql import sql_str

OFFSET_PATTERN = r"'[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]*)?)?\s*([zZ]|[+-][0-9]{1,2}(:?[0-9]{2}){0,2}|UTC|GMT)\s*$'"
"""A time followed by an offset, at the end of the (trimmed) value. A date alone
(``2018-01-01``) has no time, so its ``-01`` is not taken for an offset."""

_NUMERIC_OFFSET = (
    r"'[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]*)?)?\s*[+-]([0-9]{1,2})(:?([0-9]{2}))?(:?[0-9]{2})?\s*$'"
)
"""A numeric offset after a time: group 3 its hours, group 5 its minutes."""

MAX_OFFSET_MINUTES = 14 * 60
"""The widest offset any zone uses (UTC+14, Kiribati); ``+25:00`` is no offset at all."""

UTC = "UTC"


def _offset_in_range(raw: str) -> str:
    """SQL: whether ``raw``'s offset, if numeric, is a real one (up to 14 hours, minutes
    under 60); DuckDB would convert ``10:00+99:00`` by 99 hours."""

    def part(group: int) -> str:
        text = f"regexp_extract(trim({raw}), {_NUMERIC_OFFSET}, {group})"
        return f"coalesce(TRY_CAST(nullif({text}, '') AS INTEGER), 0)"

    hours, minutes = part(3), part(5)
    return f"({minutes} < 60 AND {hours} * 60 + {minutes} <= {MAX_OFFSET_MINUTES})"


def has_offset(raw: str) -> str:
    """SQL: whether the text ``raw`` carries an offset."""
    return f"regexp_matches(trim({raw}), {OFFSET_PATTERN})"


def _zone(source: Source) -> str:
    return sql_str(source.timezone)


def _from_local(naive: str, source: Source) -> str:
    """SQL: the naive local timestamp ``naive`` in the source's zone, as a UTC timestamp;
    NULL when that local time is skipped or repeated by a daylight-saving change."""
    if source.timezone == UTC:
        return naive
    zone = _zone(source)
    utc = f"timezone('UTC', timezone({zone}, {naive}))"

    def local(instant: str) -> str:
        return f"timezone({zone}, timezone('UTC', {instant}))"

    return (
        f"CASE WHEN {local(utc)} = {naive} "
        f"AND {local(f'{utc} - INTERVAL 1 HOUR')} <> {naive} "
        f"AND {local(f'{utc} + INTERVAL 1 HOUR')} <> {naive} THEN {utc} END"
    )


def timestamp_expr(raw: str, source: Source) -> str:
    """SQL: the text ``raw`` as a UTC ``TIMESTAMP`` (NULL when it is not one).

    A value in DuckDB's canonical form (``2018-01-01 08:43:07``: the usual case) prints back
    as itself and cannot carry an offset, so only other values pay for the offset pattern.
    Surrounding spaces are allowed, as for every type.
    """
    naive = f"TRY_CAST({raw} AS TIMESTAMP)"
    trimmed = f"TRY_CAST(trim({raw}) AS TIMESTAMP)"
    if source.timestamp_offsets == "convert":
        with_offset = (
            f"CASE WHEN {_offset_in_range(raw)} "
            f"THEN timezone('UTC', TRY_CAST(trim({raw}) AS TIMESTAMPTZ)) END"
        )
    else:
        with_offset = "CAST(NULL AS TIMESTAMP)"
    return (
        f"CASE WHEN CAST({naive} AS VARCHAR) = {raw} THEN {_from_local(naive, source)} "
        f"WHEN {has_offset(raw)} THEN {with_offset} "
        f"ELSE {_from_local(f'coalesce({naive}, {trimmed})', source)} END"
    )


def timestamp_error(raw: str, shown: str, source: Source) -> str:
    """SQL: the quarantine reason for ``raw``, a value :func:`timestamp_expr` did not type;
    ``shown`` is how the value may appear in it (withheld for PII)."""
    cases = []
    if source.timestamp_offsets == "quarantine":
        cases.append(
            f"WHEN {has_offset(raw)} THEN {shown} || ' carries a UTC offset, which the "
            "contract forbids for this source (source.timestamp_offsets: quarantine): "
            f"send local {source.timezone.replace(chr(39), '')} time without an offset'"
        )
    if source.timezone != UTC:
        cases.append(
            f"WHEN NOT {has_offset(raw)} AND TRY_CAST(trim({raw}) AS TIMESTAMP) IS NOT NULL "
            f"THEN {shown} || ' is a local time that {source.timezone.replace(chr(39), '')} "
            "skips or repeats at a daylight-saving change, so it has no single UTC instant: "
            "send it with its offset'"
        )
    if not cases:
        return f"{shown} || ' is not a valid timestamp'"
    return f"CASE {' '.join(cases)} ELSE {shown} || ' is not a valid timestamp' END"
