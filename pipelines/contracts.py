"""Source contracts: the one declaration of each source table.

A contract (``contracts/<table>.yml``) states a table's columns, types, keys, checks, owner,
its source (file names, the time zone of its timestamps and whether they may carry offsets:
:class:`Source`), what a landing file may differ in (:class:`SchemaPolicy`) and, for every
column, its PII class and the protection applied at ingestion. Ingestion, the
quality checks, the dbt sources, the lineage schema and the PII inventory all read these
objects; nothing downstream restates them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema

from pipelines.protection_types import Protection, protection_type
from pipelines.yamlfile import safe_load


class ContractError(ValueError):
    """A contract file is missing, malformed or inconsistent."""


class PiiClass(StrEnum):
    """How a column relates to a natural person."""

    NONE = "none"
    DIRECT_IDENTIFIER = "direct_identifier"  # names, e-mails, phones, addresses
    INDIRECT_IDENTIFIER = "indirect_identifier"  # ids that single out one person
    QUASI_IDENTIFIER = "quasi_identifier"  # identifying in combination (zip, birth date)
    FREE_TEXT = "free_text"  # text that may contain any of the above


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
    raise ContractError(
        f"unknown column type {logical!r}: write one of {', '.join(_SIMPLE_TYPES)} "
        "or decimal(<precision>,<scale>)"
    )


def _either(words: Iterable[str]) -> str:
    """``a, b or c``."""
    listed = list(words)
    return ", ".join(listed[:-1]) + " or " + listed[-1] if len(listed) > 1 else "".join(listed)


def _identifier(name: str) -> str:
    """A lower-case identifier suggested for a source column name (``Customer ID`` ->
    ``customer_id``, ``InvoiceNo`` -> ``invoice_no``)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    ident = re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")
    return ident if ident and not ident[0].isdigit() else f"c_{ident}"


class Column(BaseModel):
    """One column of the source table: its type, checks, PII class and protection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        description="The column's name in the contract and the lake: a lower-case identifier.",
        examples=["invoice_no"],
    )
    source_name: str | None = Field(
        default=None,
        description="The column's name as it arrives (CSV header, JSON key, Parquet column), "
        "when it differs from `name`.",
        examples=["InvoiceNo", "Customer ID"],
    )
    type: str = Field(
        description="string, integer, double, boolean, date, timestamp or decimal(p,s).",
        examples=["decimal(12,2)"],
    )
    description: str = Field(description="What the column means.", examples=["Invoice number."])
    required: bool = Field(
        default=False,
        description="A record without a value is quarantined (`required_missing`).",
        examples=[True],
    )
    pii: PiiClass = Field(
        default=PiiClass.NONE,
        description="How the column relates to a natural person.",
        examples=["indirect_identifier"],
    )
    protection: Protection = Field(
        default=Protection.KEEP,
        description="What ingestion does to the value before anything is written.",
        examples=["pseudonymize"],
    )
    generalize: Generalization | None = Field(
        default=None,
        description="The method of protection `generalize`.",
        examples=["zip_prefix_3"],
    )
    output_name: str | None = Field(
        default=None,
        description="The column's name in the lake, when it differs from `name`.",
        examples=["zip_prefix"],
    )
    min: float | int | str | None = Field(
        default=None,
        description="Smallest allowed value (`out_of_range` below it).",
        examples=[0],
    )
    max: float | int | str | None = Field(
        default=None,
        description="Largest allowed value (`out_of_range` above it).",
        examples=[10000],
    )
    allowed_values: list[str] | None = Field(
        default=None,
        description="The only values allowed (`not_allowed` otherwise).",
        examples=[["United Kingdom", "France"]],
    )
    pattern: str | None = Field(
        default=None,
        description="Regular expression the value must contain a match of "
        "(`pattern_mismatch`); anchor it with ^ and $ for a full match.",
        examples=["^C?[0-9]{6}$"],
    )

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if not _IDENT.match(self.name):
            raise ValueError(
                f"column name {self.name!r} is not a lower-case identifier: write e.g. "
                f"name: {_identifier(self.name)} and source_name: {self.name!r}"
            )
        if self.source_name is not None and not self.source_name.strip():
            raise ValueError(f"{self.name}: source_name is empty; remove it or write the header")
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
        if protection_type(self.protection).strings_only and self.type != "string":
            participle = protection_type(self.protection).participle
            raise ValueError(f"{self.name}: only string columns can be {participle}")
        return self

    @property
    def header(self) -> str:
        """The column's name in landing files."""
        return self.source_name or self.name

    @property
    def duckdb_type(self) -> str:
        return duckdb_type(self.type)

    @property
    def written(self) -> bool:
        """Whether the column reaches the lake at all."""
        return protection_type(self.protection).written

    @property
    def lake_name(self) -> str:
        """The column's name in the lake (generalized columns may be renamed)."""
        return self.output_name or self.name

    @property
    def lake_type(self) -> str:
        """The column's DuckDB type in the lake, after protection."""
        if protection_type(self.protection).lake_text:
            return "VARCHAR"
        return self.duckdb_type

    @property
    def masked(self) -> bool:
        """Whether the lake value hides the source value (OpenLineage ``masking``)."""
        return self.written and protection_type(self.protection).masking


class ForeignKey(BaseModel):
    """A column whose values must exist in another table's column (`orphan_fk` otherwise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(description="The referring column of this table.", examples=["order_id"])
    references: str = Field(
        description="The referenced column, as `<table>.<column>`.", examples=["orders.order_id"]
    )

    @property
    def ref_table(self) -> str:
        return self.references.split(".", 1)[0]

    @property
    def ref_column(self) -> str:
        return self.references.split(".", 1)[1]


class EventTime(BaseModel):
    """The column that says when a record happened, and what to do with late records."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(
        description="A timestamp column: when the record happened.", examples=["invoice_date"]
    )
    allowed_lateness_hours: int = Field(
        default=24,
        description="How long before the interval start a record's event may lie.",
        examples=[48],
    )
    allowed_ahead_hours: int | None = Field(
        default=14,
        ge=0,
        description="How long after the interval end a record's event may lie (the default "
        "covers any time zone's local midnight); a record further ahead is quarantined "
        "(`ahead_of_interval`): it belongs to a later interval, or its date is wrong. "
        "Null: never.",
        examples=[0],
    )
    on_late: Literal["quarantine", "load"] = Field(
        default="quarantine",
        description="What happens to a record later than `allowed_lateness_hours` "
        "(`late_arrival`) or further ahead than `allowed_ahead_hours` (`ahead_of_interval`).",
        examples=["load"],
    )


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

    extra_columns: Literal["fail", "ignore"] = Field(
        default="fail",
        description="A file column the contract does not declare: an error, or ignored.",
        examples=["ignore"],
    )
    missing_columns: Literal["fail", "null"] = Field(
        default="fail",
        description="A declared, not required column absent from a file: an error, or NULL.",
        examples=["null"],
    )
    # A column whose non-null values fail to parse at or above this share, in one file, is
    # treated as retyped (schema drift, an error) rather than as bad rows to quarantine.
    retyped_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of a column's values in one file that fail to parse from which "
        "the column counts as retyped (an error) rather than as bad rows.",
        examples=[0.5],
    )
    retyped_min_values: int = Field(
        default=20,
        ge=1,
        description="Values a column needs in a file before it can count as retyped.",
        examples=[20],
    )
    mismatched_types: Literal["fail", "parse"] = Field(
        default="fail",
        description="A Parquet column typed otherwise than declared (integers where a "
        "decimal or timestamp is declared, ...), or a JSON column whose values are all of a "
        "kind the column cannot take: schema drift, or parsed as text.",
        examples=["parse"],
    )
    text_columns: Literal["parse", "fail"] = Field(
        default="parse",
        description="A Parquet text column where another type is declared: parsed like CSV "
        "text, or schema drift.",
        examples=["fail"],
    )


class Source(BaseModel):
    """Which landing files hold the table, and how their timestamps are to be read.

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

    file_stem: str = Field(
        description="Files named `<file_stem>[-<part>].<ext>` in a delivery folder hold the "
        "table (`ext`: csv, csv.gz, jsonl, jsonl.gz, parquet).",
        examples=["online_retail"],
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone of timestamps written without an offset; converted to "
        "UTC exactly, and a local time the zone skips or repeats is quarantined.",
        examples=["Europe/London"],
    )
    timestamp_offsets: Literal["convert", "quarantine"] = Field(
        default="convert",
        description="A timestamp carrying its own offset is converted to UTC, or its record "
        "quarantined.",
        examples=["quarantine"],
    )
    region: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="Where the source's people live (ISO 3166 alpha-2): the region phone "
        "numbers written without `+` are read in when free text is scrubbed.",
        examples=["GB"],
    )
    file_patterns: list[str] = Field(
        default=[],
        description="More file names that hold the table: shell patterns (`*`, `?`, `[...]`) "
        "matched against the whole name, which must end in a supported extension.",
        examples=[["Online Retail*.csv", "invoices_*.jsonl.gz"]],
    )

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


LANDING_FORMATS = ("csv", "csv.gz", "jsonl", "jsonl.gz", "parquet")
"""The extensions of landing files (``<file_stem>[-<part>].<ext>``)."""

ROW_KEY_COLUMN = "_row_key"
"""The lake column holding the surrogate key of a table without a natural key."""


class RowKey(BaseModel):
    """A surrogate key for a table without a natural key (``primary_key: []``).

    Each loaded row gets ``_row_key``: the fingerprint of its lake values and its occurrence
    number among identical rows (``<32 hex>-<n>``, in file order), so the key is stable
    across re-runs of the same files. ``duplicates`` says what happens to exact duplicates
    (the second and later occurrences of identical rows).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    duplicates: Literal["keep", "quarantine", "drop"] = Field(
        default="keep",
        description="Exact duplicates are loaded (`keep`), quarantined as `exact_duplicate`, "
        "or dropped and counted in the manifest's `dropped` count (`drop`).",
        examples=["drop"],
    )


class UndeclaredPii(BaseModel):
    """Personal data nobody declared: what ingestion does when the PII detectors
    (:mod:`pipelines.protection.detect`) find an e-mail, phone, CPF/CNPJ, IBAN, card number,
    IP address, URL, @handle, street address, birth date or name in a column the contract
    keeps in clear (``protection: keep``).

    Every loaded value of every kept text column without ``allowed_values`` is read (about
    0.15 CPU s per million values: a vectorised prefilter passes over ids and codes), unless
    ``sample_rows`` is set: then, in a load of fewer than 100,000 rows, ``sample_rows`` per
    landing file, evenly spread (all rows of a smaller file); in a larger load, about
    ``sample_rows`` per file on average, as random blocks of 2,048 consecutive rows (DuckDB's
    system sampling: the other rows are not read). A sample can miss a value. A hit
    is reported without its value (column, detector, count, file and record numbers) in the
    manifest, the PII inventory, lineage (an ``undeclared_pii`` tag on the lake column) and
    the quality results (an ``undeclared_pii`` finding, also on the portal's findings list).

    Then ``on_hit``: ``fail`` (default) fails the table before anything is published, with an
    error naming the file, column and detector and saying what to do; ``quarantine`` scans
    that column in full and quarantines every row the detectors flag (check
    ``undeclared_pii``, values encrypted like any quarantined record), the rest loads;
    ``warn`` loads everything and records the finding.

    A landing file whose *name* holds personal data always fails the table: the name is the
    provenance of every row (manifest, lineage, logs), so it cannot be loaded or quarantined
    without being written. Rename the file.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_hit: Literal["fail", "quarantine", "warn"] = Field(
        default="fail",
        description="A detector hit in a kept column: fail the table, quarantine the rows "
        "it flags (after a full scan of that column), or load and record the finding.",
        examples=["quarantine"],
    )
    sample_rows: int | None = Field(
        default=None,
        ge=1,
        description="Unset (the default): every loaded value is read. Set: the loaded rows "
        "sampled per landing file (exactly, evenly spread, in a load under 100,000 rows; on "
        "average, in random blocks of 2,048 rows, above), for a very large load; a sample can "
        "miss a value.",
        examples=[5000],
    )


class Contract(BaseModel):
    """One source table: ``contracts/<table>.yml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(
        description="The table's name; the file must be named `<table>.yml`.",
        examples=["invoice_lines"],
    )
    version: int = Field(description="Raise it when the contract changes.", examples=[1])
    description: str = Field(
        description="What one record is.", examples=["One line of an invoice."]
    )
    owner: str = Field(description="Who answers for the source.", examples=["shop@example.com"])
    source: Source = Field(
        description="Which landing files hold the table.",
        examples=[{"file_stem": "invoice_lines", "file_patterns": ["Online Retail*.csv"]}],
    )
    primary_key: list[str] = Field(
        description="The required columns that identify a record (repeats are quarantined as "
        "`duplicate_key`); `[]` for a table without a natural key, which then declares "
        "`row_key`.",
        examples=[["invoice_no", "stock_code"], []],
    )
    row_key: RowKey | None = Field(
        default=None,
        description="For `primary_key: []`: a surrogate `_row_key` and the exact-duplicate policy.",
        examples=[{"duplicates": "keep"}],
    )
    foreign_keys: list[ForeignKey] = Field(
        default=[],
        description="Columns that reference other tables.",
        examples=[[{"column": "customer_id", "references": "customers.customer_id"}]],
    )
    event_time: EventTime | None = Field(
        default=None,
        description="When records happened, and what to do with late ones.",
        examples=[{"column": "invoice_date", "allowed_lateness_hours": 48}],
    )
    retention_days: int | None = Field(
        default=None,
        ge=1,
        description=(
            "How long landing files and lake partitions of this table are kept, in days after "
            "the end of their interval (delivery date for landing files); the retention purge "
            "(`pipelines privacy purge`) deletes older ones, audited. None: kept."
        ),
        examples=[730],
    )
    schema_policy: SchemaPolicy = Field(
        default=SchemaPolicy(),
        description="What to do when a file's columns differ.",
        examples=[{"extra_columns": "ignore"}],
    )
    undeclared_pii: UndeclaredPii = Field(
        default=UndeclaredPii(),
        description="What happens when personal data turns up in a column kept in clear.",
        examples=[{"on_hit": "warn"}],
    )
    columns: list[Column] = Field(
        description="Every column, in any order.",
        examples=[[{"name": "quantity", "source_name": "Quantity", "type": "integer"}]],
    )
    path: SkipJsonSchema[Path | None] = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        self._check_names()
        self._check_row_key()
        self._check_written()
        self._check_primary_key()
        self._check_foreign_keys()
        self._check_event_time_and_region()
        return self

    def _check_names(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("duplicate column names")
        headers = [c.header for c in self.columns]
        if len(set(headers)) != len(headers):
            twice = sorted({h for h in headers if headers.count(h) > 1})
            raise ValueError(
                f"two columns arrive under the same source name ({', '.join(twice)}): give "
                "each its own source_name"
            )

    def _check_row_key(self) -> None:
        if not self.primary_key and self.row_key is None:
            raise ValueError(
                "primary_key is empty: list the required columns that identify a record, or "
                "for a table without a natural key write `row_key: {duplicates: keep}` "
                "(or quarantine, or drop)"
            )
        if self.primary_key and self.row_key is not None:
            raise ValueError(
                "row_key is only for a table without a natural key: remove row_key, or write "
                "primary_key: []"
            )

    def _check_written(self) -> None:
        if not any(c.written for c in self.columns):
            raise ValueError(
                "every column is dropped, so nothing would be written: "
                f"{_either(p for p in Protection if protection_type(p).written)} at least one "
                "column"
            )
        if ROW_KEY_COLUMN in {c.lake_name for c in self.columns}:
            raise ValueError(f"{ROW_KEY_COLUMN} is reserved for the row key: rename the column")
        lake_names = [c.lake_name for c in self.columns if c.written]
        if len(set(lake_names)) != len(lake_names):
            raise ValueError("two columns share a lake name")

    def _check_primary_key(self) -> None:
        names = [c.name for c in self.columns]
        for key in self.primary_key:
            if key not in names:
                raise ValueError(
                    f"primary key column {key!r} is not declared: write one of "
                    f"{', '.join(names)} (contract names, not source names)"
                )
            if not self.column(key).required:
                raise ValueError(
                    f"primary key column {key!r} must be required: write required: true on "
                    "it, or leave it out of primary_key"
                )
            if not self.column(key).written:
                raise ValueError(
                    f"primary key column {key!r} is dropped, so its key cannot be checked: "
                    "protect it with pseudonymize or encrypt instead of drop"
                )

    def _check_foreign_keys(self) -> None:
        names = [c.name for c in self.columns]
        for fk in self.foreign_keys:
            if fk.column not in names:
                raise ValueError(
                    f"foreign key column {fk.column!r} is not declared: write one of "
                    f"{', '.join(names)}"
                )
            if not self.column(fk.column).written:
                raise ValueError(
                    f"foreign key column {fk.column!r} is dropped, so it cannot be checked: "
                    "protect it with pseudonymize or encrypt (like the column it references)"
                )

    def _check_event_time_and_region(self) -> None:
        names = [c.name for c in self.columns]
        if self.event_time and self.event_time.column not in names:
            raise ValueError(
                f"event time column {self.event_time.column!r} is not declared: write one of "
                f"{', '.join(names)}"
            )
        scrubbed = [c.name for c in self.columns if c.protection is Protection.SCRUB]
        if scrubbed and self.source.region is None:
            raise ValueError(
                f"{', '.join(scrubbed)} scrubbed but source.region is not declared: add the "
                "ISO country code (e.g. BR) in which phone numbers without + are read"
            )

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
    def sampled_columns(self) -> list[Column]:
        """Columns kept in clear whose values may hold undeclared personal data: text, not
        limited to ``allowed_values`` (:class:`UndeclaredPii`)."""
        return [
            c
            for c in self.columns
            if c.protection is Protection.KEEP and c.type == "string" and not c.allowed_values
        ]

    @property
    def pii_columns(self) -> list[Column]:
        return [c for c in self.columns if c.pii is not PiiClass.NONE]

    @property
    def surrogate_columns(self) -> list[tuple[str, str]]:
        """Lake columns ingestion adds besides the contract's (name, DuckDB type)."""
        return [(ROW_KEY_COLUMN, "VARCHAR")] if self.row_key is not None else []

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the contract's content, recorded in every manifest."""
        data = self.model_dump(mode="json", exclude={"path"})
        # Fields added later count only when used, so existing contracts keep their hash.
        for key, default in _LATER_FIELDS["contract"]:
            if data.get(key) == default:
                del data[key]
        for key, default in _LATER_FIELDS["source"]:
            if data["source"].get(key) == default:
                del data["source"][key]
        for key, default in _LATER_FIELDS["event_time"]:
            if data.get("event_time") and data["event_time"].get(key) == default:
                del data["event_time"][key]
        for column in data["columns"]:
            for key, default in _LATER_FIELDS["column"]:
                if column.get(key) == default:
                    del column[key]
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def version_tag(self) -> str:
        return f"{self.table}@v{self.version}+{self.fingerprint}"


_LATER_FIELDS: dict[str, tuple[tuple[str, Any], ...]] = {
    "contract": (
        ("row_key", None),
        ("undeclared_pii", UndeclaredPii().model_dump(mode="json")),
        ("retention_days", None),
    ),
    "source": (("file_patterns", []),),
    "event_time": (("allowed_ahead_hours", 14),),
    "column": (("source_name", None),),
}
"""Fields added after contracts were first fingerprinted, with their defaults."""


def _claims(source: Source, other: Source) -> str | None:
    """A file name of ``other``'s that ``source`` also claims (a description), else None."""
    if source.file_stem == other.file_stem:
        return f"file_stem {source.file_stem!r}"
    for pattern in source.file_patterns:
        if pattern in other.file_patterns:
            return f"file pattern {pattern!r}"
        for ext in LANDING_FORMATS:
            name = f"{other.file_stem}.{ext}"
            if fnmatch.fnmatchcase(name, pattern):
                return f"{name!r} (file pattern {pattern!r} of one, file_stem of the other)"
    return None


class ContractSet(Mapping[str, Contract]):
    """All contracts of a project, by table name, with cross-table checks applied."""

    def __init__(self, contracts: Iterable[Contract]):
        self._by_table = {c.table: c for c in contracts}
        for contract in self._by_table.values():
            for fk in contract.foreign_keys:
                where = f"{contract.path or contract.table}: foreign_keys"
                target = self._by_table.get(fk.ref_table)
                if target is None:
                    raise ContractError(
                        f"{where}: {contract.table}.{fk.column} references unknown table "
                        f"{fk.ref_table!r}; write references: <table>.<column> with one of "
                        f"{', '.join(sorted(self._by_table))}"
                    )
                if fk.ref_column not in target.column_names:
                    raise ContractError(
                        f"{where}: {contract.table}.{fk.column} references unknown column "
                        f"{fk.references!r}; {fk.ref_table} has {', '.join(target.column_names)}"
                    )
                own, ref = contract.column(fk.column), target.column(fk.ref_column)
                if own.protection is not ref.protection:
                    raise ContractError(
                        f"{where}: {contract.table}.{fk.column} ({own.protection.value}) and "
                        f"{fk.references} ({ref.protection.value}) must be protected alike "
                        "or the join breaks"
                    )
        self._check_sources()
        self.load_order()  # raises on cycles

    def _check_sources(self) -> None:
        """No landing file may belong to two tables (it would be ingested twice)."""
        contracts = sorted(self._by_table.values(), key=lambda c: c.table)
        for i, one in enumerate(contracts):
            for other in contracts[i + 1 :]:
                clash = _claims(one.source, other.source) or _claims(other.source, one.source)
                if clash:
                    raise ContractError(
                        f"{one.path or one.table} and {other.path or other.table}: source: "
                        f"both claim {clash}; make file_stem and file_patterns of each table "
                        "match only its own files"
                    )

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
                where = self._by_table[table].path or table
                raise ContractError(
                    f"{where}: foreign_keys form a cycle: {' -> '.join((*trail, table))}; "
                    "remove one of these references (a table must be loadable before the "
                    "tables that reference it)"
                )
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
        raw: Any = safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: expected a mapping at the top level")
    try:
        contract = Contract.model_validate({**raw, "path": path})
    except ValidationError as exc:
        problems = "; ".join(_problem(raw, err) for err in exc.errors())
        raise ContractError(f"{path}: {problems}") from None
    if contract.table != path.stem:
        raise ContractError(
            f"{path}: table: declares table {contract.table!r}; the file must be named after "
            f"it: rename the file to {contract.table}.yml or write table: {path.stem}"
        )
    return contract


_SECTIONS: dict[str, type[BaseModel]] = {
    "source": Source,
    "row_key": RowKey,
    "foreign_keys": ForeignKey,
    "event_time": EventTime,
    "schema_policy": SchemaPolicy,
    "columns": Column,
}


def _problem(raw: dict[str, Any], err: Any) -> str:
    """One validation error: where (field path, with the column's name), what, what to write."""
    loc = list(err["loc"])
    where = ".".join(str(p) for p in loc)
    if len(loc) >= 2 and loc[0] == "columns" and isinstance(loc[1], int):
        columns = raw.get("columns")
        if (
            isinstance(columns, list)
            and loc[1] < len(columns)
            and isinstance(columns[loc[1]], dict)
        ):
            where += f" ({columns[loc[1]].get('name', '?')})"
    message = err["msg"].removeprefix("Value error, ")
    section = [p for p in loc if isinstance(p, str)]
    model: type[BaseModel] = Contract
    if err["type"] == "extra_forbidden":
        parent = section[-2] if len(section) >= 2 else None
        model = _SECTIONS.get(parent, Contract) if parent else Contract
        message = f"unknown field, write one of {', '.join(_documented_fields(model))}"
    elif err["type"] == "missing":
        parent = section[-2] if len(section) >= 2 else None
        model = _SECTIONS.get(parent, Contract) if parent else Contract
        field = model.model_fields.get(str(loc[-1]))
        example = field.examples[0] if field is not None and field.examples else None
        message = "required field is missing" + (
            f", write e.g. {loc[-1]}: {json.dumps(example)}" if example is not None else ""
        )
    return f"{where + ': ' if where else ''}{message} (see docs/contracts.md)"


def _documented_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, f in model.model_fields.items() if not f.exclude]


def load_contracts(directory: Path) -> ContractSet:
    """Load every ``*.yml`` contract in ``directory``."""
    files = sorted(directory.glob("*.yml"))
    if not files:
        raise ContractError(f"no contracts (*.yml) found in {directory}")
    return ContractSet(load_contract(p) for p in files)
