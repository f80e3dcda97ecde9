"""``pipelines contracts init --from FILE --table NAME``: a contract and a starter suite from a
sample file (CSV, CSV.gz, JSON lines, Parquet).

What it proposes, per column: the contract name (snake case of the header, the header kept
as ``source_name`` when they differ), the type DuckDB reads, ``required`` when the sample has
no missing value, and a PII class and protection found by the detectors ingestion uses for
free text (:mod:`pipelines.protection.detect`) on the sampled values, plus hints from the
column's name (``Customer ID`` -> indirect identifier, pseudonymize). Key candidates are the
columns (or pairs) whose values are unique in the sample, with their measured uniqueness; a
table without one gets a surrogate row key. Nothing printed or written holds a sample value
of any column (only counts, shares, types and names), and the numeric ranges proposed in the
suite come from columns without personal data only.

With an existing contract for the table, nothing is written: the difference between the
file and the contract is printed instead (schema drift).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from pipelines.contracts import Contract, PiiClass, Protection, _identifier
from pipelines.protection.detect import DEFAULT_REGION, Entity, detect

SAMPLE_ROWS = 200_000
"""Rows read from the sample file (types, missing values, uniqueness)."""
DETECT_VALUES = 200
"""Distinct values of a text column run through the PII detectors."""
DETECT_SHARE = 0.5
"""Share of sampled values holding an entity above which a column is taken for personal data."""

_TYPES = {
    "VARCHAR": "string",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "DOUBLE": "double",
    "FLOAT": "double",
}
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}

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
_ID_NAME = re.compile(r"(^|_)(id|no|code|number|key|ref|zip|postal|postcode|prefix|phone)$")
_ENTITY_PROTECTION = {
    Entity.EMAIL: Protection.PSEUDONYMIZE,
    Entity.PHONE: Protection.PSEUDONYMIZE,
    Entity.CPF: Protection.PSEUDONYMIZE,
    Entity.CNPJ: Protection.PSEUDONYMIZE,
    Entity.CARD: Protection.DROP,
    Entity.ADDRESS: Protection.ENCRYPT,
    Entity.URL: Protection.ENCRYPT,
    Entity.HANDLE: Protection.PSEUDONYMIZE,
}


class ScaffoldError(ValueError):
    """The sample file cannot be read or described."""


@dataclass
class ColumnProfile:
    """What the sample says about one column (no values)."""

    header: str
    name: str
    duckdb_type: str
    type: str
    rows: int
    missing: int
    distinct: int
    pii: PiiClass = PiiClass.NONE
    protection: Protection = Protection.KEEP
    generalize: str | None = None
    evidence: str = "no personal data found"
    minimum: Any = None
    maximum: Any = None

    @property
    def uniqueness(self) -> float:
        present = self.rows - self.missing
        return self.distinct / present if present else 0.0


@dataclass
class Profile:
    """The sample file, described."""

    path: Path
    rows: int
    columns: list[ColumnProfile]
    keys: list[tuple[list[str], float]] = field(default_factory=list)  # candidates, uniqueness
    region: str = DEFAULT_REGION

    @property
    def primary_key(self) -> list[str]:
        exact = [cols for cols, share in self.keys if share == 1.0]
        return exact[0] if exact else []


def _reader(path: Path) -> str:
    name = path.name.lower()
    literal = "'" + str(path).replace("'", "''") + "'"
    if name.endswith((".csv", ".csv.gz")):
        return f"read_csv({literal}, header=true, all_varchar=true)"
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".json")):
        return f"read_json({literal}, format='newline_delimited')"
    if name.endswith(".parquet"):
        return f"read_parquet({literal})"
    raise ScaffoldError(
        f"{path}: unknown format; give a .csv, .csv.gz, .jsonl, .jsonl.gz or .parquet file"
    )


def contract_type(duck: str, name: str) -> str:
    """The contract type for a DuckDB type; identifiers stay text (``13085.0`` is an id)."""
    if _ID_NAME.search(name) and duck not in ("DATE", "TIMESTAMP"):
        return "string"
    if duck in _INTEGERS:
        return "integer"
    if duck.startswith("DECIMAL"):
        return "decimal" + duck[len("DECIMAL") :].replace(" ", "")
    return _TYPES.get(duck, "string")


def profile(path: Path, region: str = DEFAULT_REGION, sample_rows: int = SAMPLE_ROWS) -> Profile:
    """Read up to ``sample_rows`` rows of ``path`` and describe every column."""
    if not path.is_file():
        raise ScaffoldError(f"{path}: no such file")
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE sample AS SELECT * FROM {_reader(path)} LIMIT {sample_rows}")
    except duckdb.Error as exc:
        raise ScaffoldError(
            f"{path}: DuckDB could not read it ({type(exc).__name__}); check its format"
        ) from None
    described = [
        (header, _text_type(con, header) if duck == "VARCHAR" else duck)
        for header, duck, *_ in con.execute("DESCRIBE sample").fetchall()
    ]
    rows = int(con.execute("SELECT count(*) FROM sample").fetchone()[0])  # type: ignore[index]
    columns = [_column(con, header, duck, rows, region) for header, duck in described]
    result = Profile(path, rows, columns, region=region)
    result.keys = _key_candidates(con, columns, rows)
    con.close()
    return result


_TEXT_TYPES = [  # the first type every present value of a text column parses as
    # a leading zero ('01310') is a code, not a number: kept as text
    ("BIGINT", "regexp_full_match(trim(v), '[+-]?(0|[1-9][0-9]{0,17})')"),
    ("DOUBLE", "regexp_full_match(trim(v), '[+-]?(0|[1-9][0-9]*)([.][0-9]+)?([eE][+-]?[0-9]+)?')"),
    ("BOOLEAN", "lower(trim(v)) IN ('true', 'false')"),
    ("DATE", "regexp_full_match(trim(v), '[0-9]{4}-[0-9]{2}-[0-9]{2}')"),
    ("TIMESTAMP", "regexp_full_match(trim(v), '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+')"),
]


def _text_type(con: duckdb.DuckDBPyConnection, header: str) -> str:
    """The narrowest type all present values of a text column parse as (else VARCHAR)."""
    col = _q(header)
    tests = ", ".join(f"bool_and({test})" for _, test in _TEXT_TYPES)
    row = con.execute(
        f"SELECT count(v), {tests} FROM (SELECT {col} AS v FROM sample) WHERE v IS NOT NULL"
        " AND trim(v) <> ''"
    ).fetchone()
    if row is None or not row[0]:
        return "VARCHAR"
    for (duck, _), ok in zip(_TEXT_TYPES, row[1:], strict=True):
        if ok:
            return duck
    return "VARCHAR"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column(
    con: duckdb.DuckDBPyConnection, header: str, duck: str, rows: int, region: str
) -> ColumnProfile:
    name = _identifier(header)
    col = _q(header)
    missing, distinct = con.execute(
        f"SELECT count(*) - count({col}), count(DISTINCT {col}) FROM sample"
    ).fetchone()  # type: ignore[misc]
    prof = ColumnProfile(header, name, duck, contract_type(duck, name), rows, missing, distinct)
    _classify(con, prof, region)
    numeric = prof.type in ("integer", "double") or prof.type.startswith("decimal")
    if numeric and prof.pii is PiiClass.NONE:
        prof.minimum, prof.maximum = con.execute(
            f"SELECT min({col}), max({col}) FROM sample"
        ).fetchone()  # type: ignore[misc]
    return prof


def _classify(con: duckdb.DuckDBPyConnection, prof: ColumnProfile, region: str) -> None:
    """PII class and protection: the detectors on sampled values first, then the name."""
    if prof.duckdb_type == "VARCHAR":
        values = [
            str(v)
            for (v,) in con.execute(
                f"SELECT DISTINCT {_q(prof.header)} FROM sample "
                f"WHERE {_q(prof.header)} IS NOT NULL LIMIT {DETECT_VALUES}"
            ).fetchall()
        ]
        found = _detected(values, region)
        if found:
            entity, share, inside_text = found
            if inside_text:
                prof.pii, prof.protection = PiiClass.FREE_TEXT, Protection.SCRUB
            else:
                prof.pii = PiiClass.DIRECT_IDENTIFIER
                prof.protection = _ENTITY_PROTECTION[entity]
            where = "inside longer text" if inside_text else "as the whole value"
            prof.evidence = (
                f"detector found {entity.value} in {share:.0%} of {len(values)} sampled values "
                f"({where})"
            )
            return
    for pattern, pii, protection, method in _HINTS:
        if pattern.search(prof.name):
            if protection is Protection.SCRUB and (
                prof.type != "string" or _ID_NAME.search(prof.name)
            ):
                continue  # `review_id` is no review text
            if (
                protection is Protection.GENERALIZE
                and method == "age_band"
                and prof.type
                not in (
                    "date",
                    "timestamp",
                )
            ):
                continue
            prof.pii, prof.protection, prof.generalize = pii, protection, method
            prof.evidence = f"name hint ({prof.name}); no detector finding in the sample"
            return


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


def _key_candidates(
    con: duckdb.DuckDBPyConnection, columns: list[ColumnProfile], rows: int
) -> list[tuple[list[str], float]]:
    """Single columns, then pairs, without missing values, by measured uniqueness (best
    first, at most five); a pair only when no single column is unique."""
    if not rows:
        return []
    complete = [c for c in columns if c.missing == 0]
    singles = sorted((([c.name], c.distinct / rows) for c in complete), key=lambda k: -k[1])
    found = [k for k in singles if k[1] >= 0.5][:5]
    if any(share == 1.0 for _, share in found):
        return found
    by_name = {c.name: c for c in complete}
    top = [c.name for c in sorted(complete, key=lambda c: -c.distinct)[:6]]
    pairs = []
    for i, a in enumerate(top):
        for b in top[i + 1 :]:
            (n,) = con.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT {_q(by_name[a].header)}, "
                f"{_q(by_name[b].header)} FROM sample)"
            ).fetchone()  # type: ignore[misc]
            pairs.append(([a, b], n / rows))
    pairs.sort(key=lambda k: -k[1])
    return (pairs[:3] + found)[:5]


# --- writing -------------------------------------------------------------------------------


def contract_dict(prof: Profile, table: str) -> dict[str, Any]:
    """The proposed contract, as the YAML file holds it."""
    stem = prof.path.name
    for ext in (".csv.gz", ".jsonl.gz", ".csv", ".jsonl", ".ndjson", ".json", ".parquet"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    key = prof.primary_key
    columns = []
    for c in prof.columns:
        col: dict[str, Any] = {"name": c.name}
        if c.header != c.name:
            col["source_name"] = c.header
        col["type"] = c.type
        col["description"] = f"TODO: what {c.header} means."
        col["required"] = c.missing == 0
        col["pii"] = c.pii.value
        col["protection"] = c.protection.value
        if c.generalize:
            col["generalize"] = c.generalize
        columns.append(col)
    source: dict[str, Any] = {"file_stem": stem}
    if any(c.protection is Protection.SCRUB for c in prof.columns):
        source["region"] = prof.region
    data: dict[str, Any] = {
        "table": table,
        "version": 1,
        "description": f"TODO: what one record of {prof.path.name} is.",
        "owner": "TODO: who answers for this source",
        "source": source,
        "primary_key": key,
    }
    if not key:
        data["row_key"] = {"duplicates": "keep"}
    data["columns"] = columns
    return data


def render_contract(prof: Profile, table: str) -> str:
    """The contract's YAML with comments: the evidence behind each proposal."""
    data = contract_dict(prof, table)
    Contract.model_validate(data)  # what `contracts check` validates first
    lines = [
        f"# Proposed by `pipelines contracts init` from {prof.path.name} ({prof.rows:,} rows "
        "sampled). Review every TODO, PII class and protection before ingesting.",
        "# Key candidates (measured uniqueness in the sample):",
    ]
    lines += [f"#   {', '.join(cols)}: {share:.2%}" for cols, share in prof.keys] or [
        "#   none: no column or pair is unique; a surrogate row key is proposed (row_key)"
    ]
    lines.append("# PII evidence per column:")
    lines += [
        f"#   {c.name}: {c.pii.value} -> {c.protection.value} ({c.evidence})" for c in prof.columns
    ]
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(lines) + "\n" + body


def render_suite(prof: Profile, table: str) -> str:
    """A starter suite: the quarantine share, and observed ranges of non-PII numbers as
    warnings (values of PII columns are never written)."""
    expectations = []
    for c in prof.columns:
        if c.minimum is None or c.maximum is None:
            continue
        expectations.append(
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {
                    "column": c.name,
                    "min_value": _plain(c.minimum),
                    "max_value": _plain(c.maximum),
                    "mostly": 0.99,
                },
                "description": f"{c.name} within the range seen in the sample",
                "meta": {
                    "name": f"{c.name}_in_sample_range",
                    "severity": "warning",
                    "source": "business_rule",
                },
            }
        )
    data = {"name": table, "meta": {"max_quarantine_share": 0.05}, "expectations": expectations}
    head = (
        f"# Starter suite for {table}, proposed by `pipelines contracts init`. Add business "
        "rules, and representativeness against a reference in expectations/reference/ "
        "(see README, Quality gate).\n"
    )
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _plain(value: Any) -> Any:
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else value


# --- drift ---------------------------------------------------------------------------------


def differences(prof: Profile, existing: Contract) -> list[str]:
    """How the sample differs from an existing contract, by source header; no values."""
    theirs = {c.header: c for c in existing.columns}
    ours = {c.header: c for c in prof.columns}
    out = []
    for header, c in ours.items():
        if header not in theirs:
            out.append(f"+ {header!r}: in the file, not in the contract (file type {c.type})")
            continue
        declared = theirs[header]
        if declared.type != c.type and not _compatible(declared.type, c.type):
            out.append(f"~ {header!r}: contract type {declared.type}, the file reads as {c.type}")
        if declared.required and c.missing:
            out.append(
                f"~ {header!r}: required in the contract, missing in {c.missing:,} of "
                f"{c.rows:,} sampled rows"
            )
        if declared.pii is PiiClass.NONE and c.evidence.startswith("detector"):
            out.append(
                f"~ {header!r}: no PII in the contract, but {c.evidence}: consider pii "
                f"{c.pii.value}, protection {c.protection.value}"
            )
    out += [
        f"- {header!r}: in the contract, not in the file" for header in theirs if header not in ours
    ]
    return out


def _compatible(declared: str, found: str) -> bool:
    """Types a contract may declare for what the sample reads as."""
    numeric = ("integer", "double")
    if found == "string" or declared == "string":  # text holds anything; anything parses
        return True
    if declared.startswith("decimal") and found in numeric:
        return True
    return declared == "double" and found == "integer"


# --- the command ---------------------------------------------------------------------------


def init(
    sample: Path,
    table: str,
    contracts_dir: Path,
    suites_dir: Path,
    region: str = DEFAULT_REGION,
) -> int:
    """Write ``<contracts_dir>/<table>.yml`` and ``<suites_dir>/<table>.yml`` from ``sample``;
    with an existing contract for ``table``, print the differences and write nothing."""
    from pipelines.console import table as text_table
    from pipelines.contracts import ContractError, load_contract, load_contracts

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
        raise ScaffoldError(
            f"table name {table!r} is not a lower-case identifier: write e.g. {_identifier(table)}"
        )
    prof = profile(sample, region)
    target = contracts_dir / f"{table}.yml"
    if target.exists():
        diff = differences(prof, load_contract(target))
        if not diff:
            print(f"{sample.name} matches the contract {target}")
            return 0
        print(f"{sample.name} differs from the contract {target} (nothing written):")
        for line in diff:
            print(f"  {line}")
        return 1
    suite_path = suites_dir / f"{table}.yml"
    if suite_path.exists():
        raise ScaffoldError(f"{suite_path} exists: move it away, or write the contract by hand")
    contract_text, suite_text = render_contract(prof, table), render_suite(prof, table)
    contracts_dir.mkdir(parents=True, exist_ok=True)
    target.write_text(contract_text, encoding="utf-8")
    try:
        load_contracts(contracts_dir)  # what `pipelines contracts check` runs
    except ContractError:
        target.unlink()
        raise
    suites_dir.mkdir(parents=True, exist_ok=True)
    suite_path.write_text(suite_text, encoding="utf-8")
    rows = [
        [
            c.name,
            c.header if c.header != c.name else "",
            c.type,
            "yes" if c.missing == 0 else "",
            c.pii.value,
            c.protection.value,
            c.evidence,
        ]
        for c in prof.columns
    ]
    print(
        text_table(rows, ["column", "source_name", "type", "required", "pii", "protection", "why"])
    )
    print(
        "key candidates (uniqueness in the sample): "
        + (
            "; ".join(f"{', '.join(k)} {share:.2%}" for k, share in prof.keys)
            or "none (row_key proposed)"
        )
    )
    print(f"wrote {target}\nwrote {suite_path}")
    print("next: review the TODOs and every pii/protection, then `pipelines contracts check`")
    return 0
