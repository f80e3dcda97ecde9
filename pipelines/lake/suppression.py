"""The suppression list: erased subjects stay erased when their data arrives again.

``<lake>/_privacy/suppression.json`` holds, per erased subject, the digests of every key of
theirs (``customers.customer_unique_id``, ``customers.customer_id``, ``orders.order_id``,
...; SHA-256 of the lake value, never the value or token). Every ingestion drops the staged
rows that match it, before the key checks, and counts them as ``suppressed`` in the row
accounting (``read = loaded + quarantined + dropped + suppressed``): never silently. A row
suppressed there adds its own referenced keys to the list (a new ``customer_id`` of an erased
person suppresses the orders placed under it when ``orders`` is ingested next).

With the lake on an object store the list is ``_state/suppression.json`` there, shared by
every worker, and an update holds the ``lock_url`` advisory lock
(:func:`suppression_state`, :mod:`pipelines.lake.state`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.contracts import Contract, ContractSet
from pipelines.lake.state import state_file
from pipelines.lake.subject_match import data_value, load_keys, row_condition
from pipelines.lake.subjects import DEFAULT_SUBJECT_COLUMN, subject_graph
from pipelines.settings import Settings
from pipelines.statefile import LocalStateFile, StateFile

FOLDER = "_privacy"
NAME = "suppression.json"


def suppression_file(lake: Path) -> Path:
    return lake / FOLDER / NAME


def _local(lake: Path) -> LocalStateFile:
    path = suppression_file(lake)
    return LocalStateFile(path, path.with_suffix(".lock"))


def suppression_state(settings: Settings) -> StateFile:
    """The list: ``<lake_dir>/_privacy/suppression.json``, or ``_state/suppression.json`` on
    the lake's object store."""
    local = _local(settings.lake)
    return state_file(settings, NAME, local.path, local.lock)


def _state(lake: Path | StateFile) -> StateFile:
    return _local(lake) if isinstance(lake, Path) else lake


def read_list(lake: Path | StateFile) -> dict[str, Any]:
    """The list of a local lake folder, or of a state (:func:`suppression_state`)."""
    text = _state(lake).read()
    if text is None:
        return {"subject_column": DEFAULT_SUBJECT_COLUMN, "subjects": {}}
    data: dict[str, Any] = json.loads(text)
    return data


def all_keys(listing: dict[str, Any]) -> dict[str, set[str]]:
    """Every suppressed key digest, merged over subjects."""
    out: dict[str, set[str]] = {}
    for entry in listing["subjects"].values():
        for key, digests in entry["keys"].items():
            out.setdefault(key, set()).update(digests)
    return out


@contextmanager
def _locked(lake: Path | StateFile) -> Iterator[dict[str, Any]]:
    """The list, read under its lock; written back atomically when the block ends."""
    state = _state(lake)
    with state.locked():
        listing = read_list(state)
        yield listing
        state.write(json.dumps(listing, indent=2, sort_keys=True) + "\n")


def add_subject(
    lake: Path | StateFile, subject: str, keys: dict[str, set[str]], subject_column: str
) -> None:
    """Put a subject (``sha256:`` digest of the token) and its key digests on the list."""
    with _locked(lake) as listing:
        listing["subject_column"] = subject_column
        entry = listing["subjects"].setdefault(
            subject, {"erased_at": datetime.now(UTC).isoformat(), "keys": {}}
        )
        for key, digests in keys.items():
            entry["keys"][key] = sorted(set(entry["keys"].get(key, [])) | digests)


def _add_derived(lake: Path | StateFile, derived: dict[str, set[str]]) -> None:
    """Keys of rows suppressed at ingestion, recorded under a subject of their own."""
    if not any(derived.values()):
        return
    with _locked(lake) as listing:
        entry = listing["subjects"].setdefault(
            "derived", {"erased_at": datetime.now(UTC).isoformat(), "keys": {}}
        )
        for key, digests in derived.items():
            entry["keys"][key] = sorted(set(entry["keys"].get(key, [])) | digests)


def suppress_staged(
    con: duckdb.DuckDBPyConnection,
    lake: Path | StateFile,
    contracts: ContractSet,
    contract: Contract,
) -> int:
    """Delete the suppressed subjects' rows from ``staged``; return how many."""
    listing = read_list(lake)
    if not listing["subjects"]:
        return 0
    graph = subject_graph(contracts, listing["subject_column"])
    table = graph.table(contract.table)
    if table is None:
        return 0
    load_keys(con, all_keys(listing))
    where = row_condition(contract, table)
    derived = {
        f"{contract.table}.{column}": {
            str(r[0])
            for r in con.execute(
                f"SELECT DISTINCT sha256({data_value(contract, column)}) FROM staged "
                f"WHERE {where} AND {data_value(contract, column)} IS NOT NULL"
            ).fetchall()
        }
        for column in table.exports
    }
    _add_derived(lake, derived)
    deleted = con.execute(f"DELETE FROM staged WHERE {where}").fetchone()
    return int(deleted[0]) if deleted else 0
