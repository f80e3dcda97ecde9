"""Which tables hold a data subject, derived from the contracts (never a hard-coded list).

The subject is identified by one pseudonymized column, ``customers.customer_unique_id`` by
default. A table holds the subject when one of its columns

* is that column, or
* references (through a foreign key) a column whose values belong to the subject,

and the values of its columns that other tables reference then belong to the subject too:
a person's ``customers`` rows give their ``customer_id`` tokens, which select their
``orders``, whose ``order_id`` values select the items, payments and reviews. Walking the
contracts' load order (parents first) gives every table and the columns it is matched on.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.contracts import Contract, ContractSet, Protection

DEFAULT_SUBJECT_COLUMN = "customers.customer_unique_id"


class SubjectGraphError(ValueError):
    """The subject column is not one the contracts can identify a person by."""


@dataclass(frozen=True)
class Match:
    """Rows of ``table`` whose ``column`` holds a value of the subject's ``key``."""

    table: str
    column: str
    key: str  # "<table>.<column>" whose values are the subject's


@dataclass(frozen=True)
class SubjectTable:
    table: str
    matches: tuple[Match, ...]
    exports: tuple[str, ...]
    """Columns of this table that other tables reference: the matched rows' values of
    these become subject keys (``<table>.<column>``)."""


@dataclass(frozen=True)
class SubjectGraph:
    subject_column: str
    tables: tuple[SubjectTable, ...]

    def table(self, name: str) -> SubjectTable | None:
        return next((t for t in self.tables if t.table == name), None)

    @property
    def names(self) -> list[str]:
        return [t.table for t in self.tables]


def _referenced(contracts: ContractSet, table: str) -> list[str]:
    """Columns of ``table`` that some contract's foreign key references."""
    cols = {
        fk.ref_column
        for name in contracts.load_order()
        for fk in contracts[name].foreign_keys
        if fk.ref_table == table
    }
    return sorted(cols)


def _matches(contract: Contract, subject_column: str, keyed: set[str]) -> list[Match]:
    found = []
    own = f"{contract.table}."
    if subject_column.startswith(own):
        found.append(Match(contract.table, subject_column[len(own) :], subject_column))
    for fk in contract.foreign_keys:
        if fk.references in keyed:
            found.append(Match(contract.table, fk.column, fk.references))
    return found


def subject_graph(
    contracts: ContractSet, subject_column: str = DEFAULT_SUBJECT_COLUMN
) -> SubjectGraph:
    """Every table holding the subject, parents first, with how its rows are matched."""
    table, _, column = subject_column.partition(".")
    if table not in contracts or not column:
        raise SubjectGraphError(
            f"subject column {subject_column!r}: name a contract column as <table>.<column>"
        )
    col = contracts[table].column(column)
    if col.protection is not Protection.PSEUDONYMIZE:
        raise SubjectGraphError(
            f"subject column {subject_column} is not pseudonymized (protection: "
            f"{col.protection.value}); a subject is found by its token"
        )
    keyed = {subject_column}
    out = []
    for name in contracts.load_order():
        contract = contracts[name]
        matches = _matches(contract, subject_column, keyed)
        if not matches:
            continue
        exports = tuple(_referenced(contracts, name))
        keyed |= {f"{name}.{c}" for c in exports}
        out.append(SubjectTable(name, tuple(matches), exports))
    return SubjectGraph(subject_column, tuple(out))
