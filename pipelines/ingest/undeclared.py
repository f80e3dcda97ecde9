"""Personal data nobody declared: sampling the columns a contract keeps in clear.

After a load's rows are staged (typed and checked, PII protected), every value still to be
loaded is read in each column of :attr:`~pipelines.contracts.Contract.sampled_columns`, or,
when the contract sets ``undeclared_pii.sample_rows``, a sample: that many rows per landing
file, evenly spread, in a small load; whole vectors at random in a large one
(:func:`_sample`). The values go through the same detectors as free text
(:mod:`pipelines.protection.detect`), behind their vectorised RE2 prefilter, which also
passes over single word tokens (ids, codes): most values never reach Python. Landing file
names are checked before anything is read.

What a hit does is the contract's :class:`~pipelines.contracts.UndeclaredPii` policy. Nothing
here copies a value: findings carry the column, the detector, counts and record locators.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from pipelines.contracts import Column, Contract
from pipelines.ingest.landing import LandingFile, StoredLandingFile
from pipelines.ingest.transform import lake_struct
from pipelines.lake.manifest import UndeclaredPiiFinding
from pipelines.protection.detect import DEFAULT_REGION, Finding, detect, entities_in, mask
from pipelines.sql import q

log = logging.getLogger(__name__)

CHECK = "undeclared_pii"
_NAME_SEPARATORS = re.compile(r"[-_/]")
MAX_LOCATORS = 5


class UndeclaredPiiError(RuntimeError):
    """Personal data in a column kept in clear or in a landing file name; the message names
    where and what, never the value."""


@dataclass(frozen=True)
class StagedFile:
    """The staged rows of one landing file: rowids ``first`` to ``first + rows - 1``."""

    relative: str
    first: int
    rows: int


@dataclass
class _Hit:
    column: Column
    entity: str
    sampled: int
    rows: list[int] = field(default_factory=list)  # staged rowids
    locators: list[str] = field(default_factory=list)


def _region(contract: Contract) -> str:
    return contract.source.region or DEFAULT_REGION


def _what_to_do(contract: Contract) -> str:
    where = contract.path or f"contracts/{contract.table}.yml"
    return (
        f"declare the column's personal data in {where} (pii: free_text with protection: "
        "scrub, or pii: direct_identifier with encrypt, pseudonymize or drop), or, if these "
        "values may stay, set undeclared_pii.on_hit: quarantine (the rows are quarantined) "
        "or warn (they load, the finding is recorded)"
    )


def name_findings(name: str, contract: Contract) -> tuple[str, list[Finding]]:
    """A landing file or folder name of ``contract``'s table with personal data in it
    replaced, and the findings. ``-``, ``_`` and ``/`` separate a name's words: a value right
    after one is read."""
    words = _NAME_SEPARATORS.sub(" ", name)  # same length: spans stay valid
    found = detect(words, _region(contract))
    return (mask(name, found) if found else name), found


def check_file_names(contract: Contract, files: Sequence[LandingFile | StoredLandingFile]) -> None:
    """Raise if a landing file's name holds personal data (whatever ``on_hit`` says: the
    name would be written as the provenance of every row). The error shows the name with
    the value replaced by its placeholder."""
    for file in files:
        shown, found = name_findings(file.relative, contract)
        if found:
            raise UndeclaredPiiError(
                f"{contract.table}: landing file {shown} holds personal data in its name "
                f"({', '.join(sorted({f.entity.value for f in found}))}); "
                "a file name is written as the provenance of every row (manifest, lineage, logs), so it cannot be "
                "loaded or quarantined: rename the file (keep <file_stem>[-<part>].<ext>) and "
                "run again; nothing was published"
            )


STRIDE_BELOW = 100_000
"""Staged rows below which the sample is an exact stride over each file; above, DuckDB's
system sampling (whole vectors of 2,048 rows, chosen at random, the others never read)."""
VECTOR = 2048


def _sample_ids(files: Sequence[StagedFile], sample_rows: int) -> list[int]:
    """The staged rowids to sample: ``sample_rows`` per file, evenly spread (all of a
    smaller file), the file's first record always among them."""
    ids: list[int] = []
    for f in files:
        step = max(1, math.ceil(f.rows / sample_rows))
        ids += range(f.first, f.first + f.rows, step)
    return ids


def _sample(
    con: duckdb.DuckDBPyConnection,
    columns: Sequence[Column],
    files: Sequence[StagedFile],
    sample_rows: int,
) -> pa.Table:
    """About ``sample_rows`` staged rows per file, still to be loaded.

    A filter on rowids reads the whole table (0.1 s per million rows on a loaded machine),
    so a large load is sampled by whole vectors instead: about ``sample_rows`` times the
    files, spread at random over the table, costing a few milliseconds.
    """
    total = sum(f.rows for f in files)
    if total < STRIDE_BELOW:
        ids = _sample_ids(files, sample_rows)
        return _fetch(con, columns, "_id = ANY($ids)", {"ids": ids})
    wanted = max(sample_rows * len(files), 4 * VECTOR)
    percent = min(100.0, 100.0 * wanted / total)
    return _fetch(con, columns, "true", sample=f"{percent:.6f}% (system, 7)")


def _fetch(
    con: duckdb.DuckDBPyConnection,
    columns: Sequence[Column],
    where: str,
    params: dict[str, object] | None = None,
    sample: str | None = None,
) -> pa.Table:
    """The staged rows still to be loaded that match ``where`` (of the ``sample``, a DuckDB
    sample clause, if given): rowid, file, record number and ``columns``."""
    cols = ", ".join(q(c.lake_name) for c in columns)
    sampled = f" USING SAMPLE {sample}" if sample else ""
    return con.execute(
        f"SELECT _id, _file, _source_row, {cols} FROM (SELECT rowid AS _id, "
        f"CAST(_source_file AS VARCHAR) AS _file, _source_row, _reasons, {cols} "
        f"FROM staged{sampled}) WHERE ({where}) AND _reasons IS NULL",
        params,
    ).to_arrow_table()


def _hits(sample: pa.Table, columns: Sequence[Column], region: str) -> list[_Hit]:
    """Every (column, entity) found in ``sample``, with its rows and locators."""
    ids, files, rows = (sample.column(n).to_pylist() for n in ("_id", "_file", "_source_row"))
    hits: list[_Hit] = []
    for col in columns:
        values = sample.column(col.lake_name).combine_chunks()
        by_entity: dict[str, _Hit] = {}
        for index, entity in entities_in(values, region):
            hit = by_entity.setdefault(entity.value, _Hit(col, entity.value, len(values)))
            hit.rows.append(ids[index])
            if len(hit.locators) < MAX_LOCATORS:
                hit.locators.append(f"{files[index]} record {rows[index]}")
        hits += by_entity.values()
    return hits


def _describe(hit: _Hit) -> str:
    return (
        f"{hit.column.name}: {hit.entity} in {len(hit.rows):,} of {hit.sampled:,} values read"
        f"  ({'; '.join(hit.locators)})"
    )


def _full_hits(
    con: duckdb.DuckDBPyConnection, hits: list[_Hit], region: str
) -> dict[str, dict[str, list[int]]]:
    """Per column with a sampled hit: every row of it the detectors flag, per entity."""
    flagged: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for col in {h.column.name: h.column for h in hits}.values():
        full = _fetch(con, [col], f"{q(col.lake_name)} IS NOT NULL")
        for hit in _hits(full, [col], region):
            flagged[col.name][hit.entity] = hit.rows
    return flagged


def _quarantine(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    hits: list[_Hit],
    region: str,
    scanned: bool,
) -> dict[tuple[str, str], int]:
    """Quarantine every row the detectors flag (``scanned``: the hits hold every row; else
    each column with a hit is read in full first); return the rows per (column, entity)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _pii_failed (id BIGINT, col VARCHAR, entity VARCHAR)")
    counts: dict[tuple[str, str], int] = {}
    if scanned:
        flagged: dict[str, dict[str, list[int]]] = defaultdict(dict)
        for hit in hits:
            flagged[hit.column.name][hit.entity] = hit.rows
    else:
        flagged = _full_hits(con, hits, region)
    for col_name, by_entity in flagged.items():
        for entity, ids in by_entity.items():
            counts[(col_name, entity)] = len(ids)
            con.execute(
                "INSERT INTO _pii_failed SELECT unnest($ids), $col, $entity",
                {"ids": ids, "col": col_name, "entity": entity},
            )
    record = lake_struct(contract, "staged", text=True)
    con.execute(
        "UPDATE staged SET _reasons = f._failed_reasons, _record = to_json({" + record + "}) "
        "FROM (SELECT id AS _failed_row, list({'check': 'undeclared_pii', 'column': col, "
        "'reason': entity || ' found in a column the contract keeps in clear "
        "(undeclared_pii.on_hit: quarantine)'} ORDER BY col, entity) AS _failed_reasons "
        "FROM _pii_failed GROUP BY id) AS f WHERE staged.rowid = f._failed_row"
    )
    return counts


def check_columns(
    con: duckdb.DuckDBPyConnection, contract: Contract, files: Sequence[StagedFile]
) -> list[UndeclaredPiiFinding]:
    """Sample the kept columns of the ``staged`` rows of ``files`` and apply the contract's
    policy: raise :class:`UndeclaredPiiError` (``fail``), quarantine the flagged rows
    (``quarantine``) or only report (``warn``). Returns the findings for the manifest."""
    columns = contract.sampled_columns
    policy = contract.undeclared_pii
    if not columns:
        return []
    region = _region(contract)
    scanned = policy.sample_rows is None
    values = (
        _fetch(con, columns, "true")
        if scanned
        else _sample(con, columns, files, policy.sample_rows or 0)
    )
    hits = _hits(values, columns, region)
    if not hits:
        return []
    found = "; ".join(_describe(h) for h in hits)
    if policy.on_hit == "fail":
        raise UndeclaredPiiError(
            f"{contract.table}: personal data in column(s) the contract keeps in clear: "
            f"{found}. To go on, {_what_to_do(contract)}; nothing was published"
        )
    quarantined = (
        _quarantine(con, contract, hits, region, scanned) if policy.on_hit == "quarantine" else {}
    )
    log.warning(
        "%s: personal data in column(s) the contract keeps in clear: %s (undeclared_pii.on_hit: "
        "%s); to stop this, %s",
        contract.table,
        found,
        policy.on_hit,
        _what_to_do(contract),
    )
    return [
        UndeclaredPiiFinding(
            column=h.column.name,
            entity=h.entity,
            policy=policy.on_hit,
            sampled=h.sampled,
            hits=len(h.rows),
            quarantined=quarantined.get((h.column.name, h.entity), 0),
            locators=h.locators,
        )
        for h in hits
    ]
