"""Loading a table that holds no personal data in one DuckDB statement.

The streaming loader (:mod:`pipelines.ingest.stream`) parses files on a separate instance
that never spills and hands every record through Arrow and Python, because pseudonymization
and encryption run there and clear PII must never reach an instance that may write to disk.
A table whose contract declares no PII column has nothing to protect, so when every file of
its load is CSV with one and the same header, ``staged`` is filled by a single ``INSERT`` of
the typing and checking query (:func:`~pipelines.ingest.transform.staged_query`) over one
multi-file ``read_csv``, on the staging instance itself. DuckDB then parses the files in
parallel and types them in the same pipeline; the Arrow hop (about a third of the streaming
read at 10M order items) is gone.

The parser runs strict and keeps no reject table: a reject table would hold the raw text of a
malformed record on an instance that may spill, where the streaming loader keeps it only
encrypted. So the first malformed record stops the statement, which then inserted nothing,
and the load goes the streaming way, which quarantines such records with their text
encrypted (:func:`load_direct` returns None).

Rows keep file order (``preserve_insertion_order``, which DuckDB keeps for a multi-file scan
even when it splits a large uncompressed file between threads); CSV records are numbered
afterwards from their position: the ``n``-th row of a file's block of rowids is its ``n``-th
record. :func:`~pipelines.ingest.readers.finish_file` then checks that each file's rows form
one block, in file order.
"""

from __future__ import annotations

import duckdb

from pipelines.contracts import Contract
from pipelines.ingest.read_errors import reduced
from pipelines.ingest.readers import FileScan, csv_scan, csv_select_list
from pipelines.ingest.transform import ProtectionSql, staged_query
from pipelines.lake.interval import Interval
from pipelines.sql import sql_str


def can_load_direct(contract: Contract, scans: list[FileScan]) -> bool:
    """Whether ``scans`` may be loaded by :func:`load_direct`: no PII column in the contract,
    and only CSV files, all with the same header."""
    return (
        bool(scans)
        and not contract.pii_columns
        and all(not s.numbered and not s.empty for s in scans)
        and len({s.header for s in scans}) == 1
    )


def load_direct(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    interval: Interval,
    protection: ProtectionSql,
    scans: list[FileScan],
) -> list[int] | None:
    """Fill the empty ``staged`` with the records of ``scans``; each file's record count.

    None if a file holds a malformed record: nothing was inserted, use the streaming loader.
    """
    files = "[" + ", ".join(sql_str(s.read.file.relative) for s in scans) + "]"
    scan = csv_scan([str(s.read.file.path) for s in scans], scans[0].header)
    source_file = f"{files}[CAST(file_index AS BIGINT) + 1]"  # file_index: position in the list
    raw = (
        f"SELECT {csv_select_list(contract, scans[0].header)}, {source_file} AS _source_file, "
        f"NULL::BIGINT AS _source_row FROM {scan}"
    )
    query = staged_query(contract, interval, raw, protection)
    failure = None
    try:
        con.execute(f"INSERT INTO staged {query.sql}", query.params or None)
    except duckdb.Error as error:
        if isinstance(error, duckdb.InvalidInputException) and "CSV Error" in str(error):
            return None  # the message quotes the record: dropped, never logged
        failure = reduced(error, "loading " + ", ".join(s.read.file.relative for s in scans))
    if failure is not None:
        raise failure
    counts = dict(
        con.execute(
            "SELECT CAST(_source_file AS VARCHAR), count(*) FROM staged GROUP BY ALL"
        ).fetchall()
    )
    parsed = [int(counts.get(s.read.file.relative, 0)) for s in scans]
    firsts, first = [], 0
    for count in parsed:
        firsts.append(first)
        first += count
    # Enum codes follow the load's files, which are the scans, in order.
    con.execute(
        "UPDATE staged SET _source_row = rowid + 1 - "
        f"{firsts}[CAST(enum_code(_source_file) AS BIGINT) + 1]"
    )
    return parsed
