"""How ingestion applies each protection type: its SQL form and, for the types ingestion
computes on whole Arrow batches, its Arrow form.

One :class:`Application` per type of :data:`pipelines.protection_types.PROTECTION_TYPES`
(which says what each type is; this module, how it is computed with this package's
primitives). Ingestion's SELECT (:mod:`pipelines.ingest.transform`), its Arrow batches
(:mod:`pipelines.ingest.protect`) and the lineage's SQL facet read :data:`APPLICATIONS`; a
keyed type reaches its key through :class:`SqlKeys` / :class:`ArrowKeys`, which ingestion
binds to a key ring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol

from pipelines.contracts import Column, Contract
from pipelines.protection.encrypt import encryption_context
from pipelines.protection.generalize import sql_generalize
from pipelines.protection.scrub import scrub_arrow, sql_scrub
from pipelines.protection_types import Protection

if TYPE_CHECKING:
    import pyarrow as pa

    from pipelines.protection.encrypt import Encryptor
    from pipelines.protection.pseudonymize import Pseudonymizer

ArrowFunction = Callable[["pa.Array"], "pa.Array"]


class SqlKeys(Protocol):
    """The keyed SQL building blocks (key-derived values only ever as parameters)."""

    def token(self, column_sql: str, param_prefix: str) -> tuple[str, dict[str, bytes]]: ...

    def encrypt(self, column_sql: str, context: str) -> str: ...


class ArrowKeys(Protocol):
    """The keyed primitives bound to a key ring."""

    pseudonymizer: Pseudonymizer
    encryptor: Encryptor


@dataclass(frozen=True)
class Target:
    """The column being protected: ``raw`` and ``typed`` are the SQL of its raw text and of
    its typed value, ``reference_date`` the SQL date a generalization is as of."""

    contract: Contract
    col: Column
    raw: str = ""
    typed: str = ""
    reference_date: str = ""

    @property
    def clear(self) -> str:
        """The SQL of the text a token or ciphertext is computed from: a text column's raw
        text; a typed column's typed value printed canonically (``13085.0`` and ``13085`` are
        one integer), or its raw text where it did not parse (the record is quarantined)."""
        if self.col.type == "string":
            return self.raw
        return f"coalesce(CAST({self.typed} AS VARCHAR), {self.raw})"

    @property
    def context(self) -> str:
        """What an encryption of this column is bound to."""
        return encryption_context(self.contract.table, self.col.name)

    @property
    def region(self) -> str:
        assert self.contract.source.region is not None  # the contract requires it to scrub
        return self.contract.source.region


SqlForm = Callable[[Target, SqlKeys], tuple[str, dict[str, bytes]]]
ArrowForm = Callable[[Target, ArrowKeys], ArrowFunction]


@dataclass(frozen=True)
class Application:
    sql: SqlForm | None
    """The lake value as SQL, with the parameters it binds; None for a type never written."""
    arrow: ArrowForm | None = None
    """For a type ingestion precomputes: the function protecting a whole Arrow array."""


def _generalized(t: Target, keys: SqlKeys) -> tuple[str, dict[str, bytes]]:
    assert t.col.generalize is not None  # the contract requires it
    return sql_generalize(t.col.generalize.value, t.typed, t.reference_date), {}


APPLICATIONS: dict[Protection, Application] = {
    Protection.KEEP: Application(lambda t, keys: (t.typed, {})),
    Protection.PSEUDONYMIZE: Application(
        lambda t, keys: keys.token(t.clear, f"p_{t.col.name}"),
        lambda t, keys: keys.pseudonymizer.tokens_arrow,
    ),
    Protection.ENCRYPT: Application(
        lambda t, keys: (keys.encrypt(t.clear, t.context), {}),
        lambda t, keys: partial(keys.encryptor.encrypt_arrow, context=t.context),
    ),
    Protection.GENERALIZE: Application(_generalized),
    Protection.DROP: Application(None),
    Protection.SCRUB: Application(
        lambda t, keys: (sql_scrub(t.raw, t.region), {}),
        lambda t, keys: partial(scrub_arrow, region=t.region),
    ),
}
"""Every protection type's application (a test checks each registered type has one, and an
Arrow form exactly when :attr:`~pipelines.protection_types.ProtectionType.precomputed`)."""


def application(protection: Protection) -> Application:
    if protection not in APPLICATIONS:
        raise ValueError(
            f"protection {protection.value!r} is registered in pipelines/protection_types.py "
            "but has no application in pipelines/protection/types.py: add one"
        )
    return APPLICATIONS[protection]


def sql_form(target: Target, keys: SqlKeys) -> tuple[str, dict[str, bytes]]:
    """The SQL of ``target``'s lake value and the parameters it binds."""
    form = application(target.col.protection).sql
    if form is None:
        raise ValueError(
            f"{target.contract.table}.{target.col.name}: protection "
            f"{target.col.protection.value} writes no lake value"
        )
    return form(target, keys)


def arrow_form(target: Target, keys: ArrowKeys) -> ArrowFunction:
    """The function protecting a whole Arrow array of ``target``'s clear values."""
    form = application(target.col.protection).arrow
    if form is None:
        raise ValueError(
            f"{target.contract.table}.{target.col.name}: {target.col.protection} is not "
            "computed on Arrow batches"
        )
    return form(target, keys)
