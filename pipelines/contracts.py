"""Source contracts: the one declaration of each source table.

A contract (``contracts/<table>.yml``) states a table's columns, types, keys, checks, owner,
its source (file names, the time zone of its timestamps and whether they may carry offsets:
:class:`Source`), what a landing file may differ in (:class:`SchemaPolicy`) and, for every
column, its PII class and the protection applied at ingestion. Ingestion, the
quality checks, the dbt sources, the lineage schema and the PII inventory all read these
objects; nothing downstream restates them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ContractError(ValueError):
    """A contract file is missing, malformed or inconsistent."""


class PiiClass(StrEnum):
    """How a column relates to a natural person."""

    NONE = "none"
    DIRECT_IDENTIFIER = "direct_identifier"  # names, e-mails, phones, addresses
    INDIRECT_IDENTIFIER = "indirect_identifier"  # ids that single out one person
    QUASI_IDENTIFIER = "quasi_identifier"  # identifying in combination (zip, birth date)
    FREE_TEXT = "free_text"  # text that may contain any of the above


class Protection(StrEnum):
    """What ingestion does to a column before anything is written."""

    KEEP = "keep"
    PSEUDONYMIZE = "pseudonymize"  # keyed HMAC-SHA256 token, join-stable
    ENCRYPT = "encrypt"  # AES-SIV, recoverable through audited re-identification
    GENERALIZE = "generalize"  # coarser value (zip prefix, age band)
    DROP = "drop"  # never written
    SCRUB = "scrub"  # e-mails and phone numbers replaced inside free text


class Generalization(StrEnum):
    ZIP_PREFIX_3 = "zip_prefix_3"
    AGE_BAND = "age_band"


_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")
_SIMPLE_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def duckdb_type(logical: str) -> str:
    """The DuckDB type for a contract type name (``string``, ``decimal(12,2)``, ...)."""
    if logical in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[logical]
    match = _DECIMAL.match(logical)
    if match:
        return f"DECIMAL({match.group(1)},{match.group(2)})"
    raise ContractError(f"unknown column type {logical!r}")


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: str
    description: str
    required: bool = False
    pii: PiiClass = PiiClass.NONE
    protection: Protection = Protection.KEEP
    generalize: Generalization | None = None
    output_name: str | None = None
    min: float | int | str | None = None
    max: float | int | str | None = None
    allowed_values: list[str] | None = None
    pattern: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if not _IDENT.match(self.name):
            raise ValueError(f"column name {self.name!r} is not a lower-case identifier")
        duckdb_type(self.type)
        if self.protection is Protection.GENERALIZE and self.generalize is None:
            raise ValueError(f"{self.name}: protection 'generalize' needs a 'generalize' method")
        if self.generalize is not None and self.protection is not Protection.GENERALIZE:
            raise ValueError(
                f"{self.name}: 'generalize' is only valid with protection 'generalize'"
            )
        if self.protection is Protection.KEEP and self.pii in (
            PiiClass.DIRECT_IDENTIFIER,
            PiiClass.FREE_TEXT,
        ):
            raise ValueError(f"{self.name}: a {self.pii.value} column cannot be kept in clear text")
        if self.pii is PiiClass.NONE and self.protection is not Protection.KEEP:
            raise ValueError(f"{self.name}: protection {self.protection.value} on a non-PII column")
        if self.protection is Protection.SCRUB and self.type != "string":
            raise ValueError(f"{self.name}: only string columns can be scrubbed")
        return self

    @property
    def duckdb_type(self) -> str:
        return duckdb_type(self.type)

    @property
    def written(self) -> bool:
        """Whether the column reaches the lake at all."""
        return self.protection is not Protection.DROP

    @property
    def lake_name(self) -> str:
        """The column's name in the lake (generalized columns may be renamed)."""
        return self.output_name or self.name

    @property
    def lake_type(self) -> str:
        """The column's DuckDB type in the lake, after protection."""
        if self.protection in (Protection.PSEUDONYMIZE, Protection.ENCRYPT, Protection.GENERALIZE):
            return "VARCHAR"
        return self.duckdb_type

    @property
    def masked(self) -> bool:
        """Whether the lake value hides the source value (OpenLineage ``masking``)."""
        return self.protection in (
            Protection.PSEUDONYMIZE,
            Protection.ENCRYPT,
            Protection.GENERALIZE,
            Protection.SCRUB,
        )


class ForeignKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    references: str  # "<table>.<column>"

    @property
    def ref_table(self) -> str:
        return self.references.split(".", 1)[0]

    @property
    def ref_column(self) -> str:
        return self.references.split(".", 1)[1]


class EventTime(BaseModel):
    """The column that says when a record happened, and what to do with late records."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    allowed_lateness_hours: int = 24
    on_late: Literal["quarantine", "load"] = "quarantine"


class SchemaPolicy(BaseModel):
    """What to do when a landing file's columns differ from the contract.

    ``mismatched_types``: a Parquet column, or a JSON lines column, whose own type could change
    what a value means under the contract's type (an integer column where a decimal is
    declared: cents read as units; a JSON number where a timestamp is declared: epoch seconds
    or milliseconds?) is schema drift (``fail``, an error naming the file, column, both types
    and what to do) unless this is ``parse``: then its values are printed as text and parsed
    like CSV text. The table of compatible types is in :mod:`pipelines.ingest.source_types`.

    ``text_columns``: a Parquet text column where a non-text type is declared is parsed like
    CSV text (``parse``: strict, offsets and time zones as the source declares, values that do
    not parse are quarantined) or is schema drift (``fail``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    extra_columns: Literal["fail", "ignore"] = "fail"
    missing_columns: Literal["fail", "null"] = "fail"
    # A column whose non-null values fail to parse at or above this share, in one file, is
    # treated as retyped (schema drift, an error) rather than as bad rows to quarantine.
    retyped_share: float = Field(default=0.5, gt=0, le=1)
    retyped_min_values: int = Field(default=20, ge=1)
    mismatched_types: Literal["fail", "parse"] = "fail"
    text_columns: Literal["parse", "fail"] = "parse"


class Source(BaseModel):
    """Where a table's landing files come from, and how their timestamps are to be read.

    ``timezone``: the IANA time zone of timestamps written without an offset (naive ones),
    ``UTC`` by default (what ingestion always assumed). Naive values are converted from it to
    UTC exactly; a local time that does not exist in the zone (skipped when clocks go forward)
    or occurs twice (when they go back) is quarantined rather than guessed.

    ``timestamp_offsets``: what to do with a timestamp that carries its own offset
    (``-03:00``, ``+0530``, ``Z``, ``UTC``): ``convert`` it to UTC exactly (default), or
    ``quarantine`` the record (for sources whose timestamps must all be local). A Parquet
    column typed ``TIMESTAMP WITH TIME ZONE`` is converted, or with ``quarantine`` is schema
    drift. The lake always holds timestamps as UTC without an offset.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    file_stem: str
    timezone: str = "UTC"
    timestamp_offsets: Literal["convert", "quarantine"] = "convert"
    region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    """Where the source's people live (ISO 3166 alpha-2, e.g. ``BR``): the region phone
    numbers written without ``+`` are read in when free text is scrubbed."""

    @model_validator(mode="after")
    def _known_zone(self) -> Source:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone {self.timezone!r} is not an IANA time zone name "
                "(e.g. UTC, America/Sao_Paulo)"
            ) from None
        return self


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    version: int
    description: str
    owner: str
    source: Source
    primary_key: list[str]
    foreign_keys: list[ForeignKey] = []
    event_time: EventTime | None = None
    schema_policy: SchemaPolicy = SchemaPolicy()
    columns: list[Column]
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("duplicate column names")
        lake_names = [c.lake_name for c in self.columns if c.written]
        if len(set(lake_names)) != len(lake_names):
            raise ValueError("two columns share a lake name")
        known = set(names)
        for key in self.primary_key:
            if key not in known:
                raise ValueError(f"primary key column {key!r} is not declared")
            if not self.column(key).required:
                raise ValueError(f"primary key column {key!r} must be required")
        for fk in self.foreign_keys:
            if fk.column not in known:
                raise ValueError(f"foreign key column {fk.column!r} is not declared")
        if self.event_time and self.event_time.column not in known:
            raise ValueError(f"event time column {self.event_time.column!r} is not declared")
        scrubbed = [c.name for c in self.columns if c.protection is Protection.SCRUB]
        if scrubbed and self.source.region is None:
            raise ValueError(
                f"{', '.join(scrubbed)} scrubbed but source.region is not declared: add the "
                "ISO country code (e.g. BR) in which phone numbers without + are read"
            )
        return self

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.table} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def written_columns(self) -> list[Column]:
        return [c for c in self.columns if c.written]

    @property
    def pii_columns(self) -> list[Column]:
        return [c for c in self.columns if c.pii is not PiiClass.NONE]

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the contract's content, recorded in every manifest."""
        payload = self.model_dump_json(exclude={"path"})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def version_tag(self) -> str:
        return f"{self.table}@v{self.version}+{self.fingerprint}"


class ContractSet(Mapping[str, Contract]):
    """All contracts of a project, by table name, with cross-table checks applied."""

    def __init__(self, contracts: Iterable[Contract]):
        self._by_table = {c.table: c for c in contracts}
        for contract in self._by_table.values():
            for fk in contract.foreign_keys:
                target = self._by_table.get(fk.ref_table)
                if target is None:
                    raise ContractError(
                        f"{contract.table}.{fk.column} references unknown table {fk.ref_table!r}"
                    )
                if fk.ref_column not in target.column_names:
                    raise ContractError(
                        f"{contract.table}.{fk.column} references unknown column {fk.references!r}"
                    )
                own, ref = contract.column(fk.column), target.column(fk.ref_column)
                if own.protection is not ref.protection:
                    raise ContractError(
                        f"{contract.table}.{fk.column} ({own.protection.value}) and "
                        f"{fk.references} ({ref.protection.value}) must be protected alike "
                        "or the join breaks"
                    )
        self.load_order()  # raises on cycles

    def __getitem__(self, table: str) -> Contract:
        try:
            return self._by_table[table]
        except KeyError:
            raise KeyError(
                f"no contract for table {table!r}; known: {', '.join(sorted(self._by_table))}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_table)

    def __len__(self) -> int:
        return len(self._by_table)

    def load_order(self) -> list[str]:
        """Tables ordered so that every referenced table comes before its referrers."""
        order: list[str] = []
        state: dict[str, str] = {}

        def visit(table: str, trail: tuple[str, ...]) -> None:
            if state.get(table) == "done":
                return
            if state.get(table) == "visiting":
                raise ContractError("foreign keys form a cycle: " + " -> ".join((*trail, table)))
            state[table] = "visiting"
            for fk in self._by_table[table].foreign_keys:
                if fk.ref_table != table:
                    visit(fk.ref_table, (*trail, table))
            state[table] = "done"
            order.append(table)

        for table in sorted(self._by_table):
            visit(table, ())
        return order

    def upstream(self, table: str) -> list[str]:
        """Tables that ``table`` references directly."""
        return sorted({fk.ref_table for fk in self[table].foreign_keys if fk.ref_table != table})


def load_contract(path: Path) -> Contract:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: expected a mapping at the top level")
    try:
        contract = Contract.model_validate({**raw, "path": path})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ContractError(f"{path}: {problems}") from None
    if contract.table != path.stem:
        raise ContractError(
            f"{path}: declares table {contract.table!r}; file must be named after it"
        )
    return contract


def load_contracts(directory: Path) -> ContractSet:
    """Load every ``*.yml`` contract in ``directory``."""
    files = sorted(directory.glob("*.yml"))
    if not files:
        raise ContractError(f"no contracts (*.yml) found in {directory}")
    return ContractSet(load_contract(p) for p in files)
