"""Property: any contract that passes `contracts check` ingests with balanced row accounting,
or fails with one of the project's named errors; never an internal error.

Hypothesis generates contracts (column sets, types, source names, PII protections, keys,
empty keys, row-key policies, schema and type policies, time zones) and small landing files for them in CSV, JSON
lines or Parquet, with bad values, missing values, repeated records and, now and then, a
column too many or too few.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipelines.contracts import ContractError, load_contracts
from pipelines.ingest import IngestionError, ingest_table
from pipelines.ingest.integrity import UnreadableFileError
from pipelines.ingest.read_errors import ReadError
from pipelines.ingest.readers import FileOrderError, SchemaDriftError
from pipelines.lake.interval import Interval
from pipelines.protection import KeyRing
from pipelines.settings import Settings

NAMED_ERRORS = (
    ContractError,
    SchemaDriftError,
    IngestionError,
    FileOrderError,
    UnreadableFileError,
    ReadError,
)
KEYRING = KeyRing.generate(note="property test")
DAY = "2010-12-01"
INTERVAL = Interval.parse(DAY, "2010-12-02")

VALUES = {
    "string": ["a", "Ab c", 'q"uo,te', "ü", "  x "],
    "integer": ["12", "-3", "1.0", "x1", "99999999999999999999"],
    "decimal(6,2)": ["1.25", "-0.5", "abc", "12345.678"],
    "double": ["1.5", "1e3", "-0", "one"],
    "boolean": ["true", "false", "maybe"],
    "date": ["2010-12-01", "2010-13-45"],
    "timestamp": [
        "2010-12-01 10:00:00",
        "2010-11-01 00:00:00",
        "2010-12-01T10:00:00+01:00",
        "nope",
    ],
}
PROTECTIONS = [
    ("none", "keep"),
    ("indirect_identifier", "pseudonymize"),
    ("direct_identifier", "encrypt"),
    ("direct_identifier", "drop"),
    ("quasi_identifier", "keep"),
]


@st.composite
def column(draw: st.DrawFn, index: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(VALUES)))
    col: dict[str, Any] = {"name": f"c{index}", "type": kind, "description": "generated"}
    if draw(st.booleans()):
        col["required"] = True
    if draw(st.booleans()):
        col["source_name"] = draw(st.sampled_from([f"Col {index}", f"C{index}X", f"c{index}"]))
    if kind == "string":
        pii, protection = draw(st.sampled_from(PROTECTIONS))
        if pii != "none":
            col.update(pii=pii, protection=protection)
    if kind == "integer" and draw(st.booleans()):
        col["min"] = 0
    return col


@st.composite
def contract(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    columns = [draw(column(i)) for i in range(n)]
    names = [c["name"] for c in columns]
    raw: dict[str, Any] = {
        "table": "generated",
        "version": 1,
        "description": "generated",
        "owner": "test",
        "source": {
            "file_stem": "generated",
            "timezone": draw(st.sampled_from(["UTC", "Europe/London"])),
            "timestamp_offsets": draw(st.sampled_from(["convert", "quarantine"])),
        },
        "columns": columns,
    }
    # Mostly keys a check accepts (required, written columns), sometimes any subset: contracts
    # check decides, and a rejected contract is an accepted outcome.
    keyable = [c["name"] for c in columns if c.get("required") and c.get("protection") != "drop"]
    pool = keyable if keyable and draw(st.integers(0, 3)) else names
    raw["primary_key"] = draw(st.lists(st.sampled_from(pool), unique=True, max_size=2))
    if draw(st.integers(0, 9)) < (8 if not raw["primary_key"] else 1):
        raw["row_key"] = {"duplicates": draw(st.sampled_from(["keep", "quarantine", "drop"]))}
    timestamps = [c["name"] for c in columns if c["type"] == "timestamp"]
    if timestamps and draw(st.booleans()):
        raw["event_time"] = {"column": timestamps[0], "allowed_lateness_hours": 24}
    raw["schema_policy"] = {
        "extra_columns": draw(st.sampled_from(["fail", "ignore"])),
        "missing_columns": draw(st.sampled_from(["fail", "null"])),
        "mismatched_types": draw(st.sampled_from(["fail", "parse"])),
        "text_columns": draw(st.sampled_from(["parse", "fail"])),
    }
    return raw


@st.composite
def landing(draw: st.DrawFn, raw: dict[str, Any]) -> tuple[str, list[str], list[list[str | None]]]:
    """A format, a header (source names, maybe one too many or too few) and records drawn
    from a small pool, so exact duplicates and repeated keys occur."""
    columns = raw["columns"]
    header = [c.get("source_name", c["name"]) for c in columns]
    kinds = [c["type"] for c in columns]
    change = draw(st.sampled_from(["none", "none", "extra", "missing"]))
    if change == "extra":
        header, kinds = [*header, "Extra Column"], [*kinds, "string"]
    elif change == "missing" and len(header) > 1:
        header, kinds = header[:-1], kinds[:-1]
    pool = draw(
        st.lists(
            st.tuples(*(st.one_of(st.none(), st.sampled_from(VALUES[k])) for k in kinds)),
            min_size=1,
            max_size=3,
        )
    )
    records = draw(st.lists(st.sampled_from(pool), max_size=6))
    fmt = draw(st.sampled_from(["csv", "jsonl", "parquet"]))
    return fmt, header, [list(r) for r in records]


def write_landing(folder: Path, fmt: str, header: list[str], records: list[list[str | None]]):
    folder.mkdir(parents=True)
    path = folder / f"generated.{fmt}"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in r] for r in records])
        path.write_text(out.getvalue(), encoding="utf-8")
    elif fmt == "jsonl":
        lines = [json.dumps(dict(zip(header, r, strict=True))) for r in records]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    else:
        table = pa.table(
            {h: pa.array([r[i] for r in records], pa.string()) for i, h in enumerate(header)}
        )
        pq.write_table(table, path)


@st.composite
def case(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[str, list[str], list[list[str | None]]]]:
    raw = draw(contract())
    return raw, draw(landing(raw))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case())
def test_any_checked_contract_ingests_or_fails_by_name(generated):
    raw, (fmt, header, records) = generated
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        contracts_dir = root / "contracts"
        contracts_dir.mkdir()
        (contracts_dir / "generated.yml").write_text(yaml.safe_dump(raw), encoding="utf-8")
        try:
            contracts = load_contracts(contracts_dir)  # what `pipelines contracts check` runs
        except ContractError as exc:
            reason = str(exc).split(": ", 1)[1][:40]
            event(f"contract rejected: {reason}")
            return  # rejected with a named error before anything runs
        write_landing(root / "data" / "landing" / DAY, fmt, header, records)
        run = Settings(
            data_dir=root / "data",
            contracts_dir=contracts_dir,
            duckdb_memory_limit="500MB",
            duckdb_threads=1,
        )
        try:
            result = ingest_table("generated", INTERVAL, run, keyring=KEYRING, contracts=contracts)
        except NAMED_ERRORS as exc:
            event(f"named error: {type(exc).__name__}")
            return
        counts = result.counts
        event("ingested" + (" with row key" if contracts["generated"].row_key else ""))
        assert counts.read == len(records)
        assert counts.read == counts.loaded + counts.quarantined + counts.dropped
        loaded = duckdb.connect().sql(
            f"SELECT count(*) FROM read_parquet('{result.partition_dir / 'data.parquet'}')"
        )
        assert loaded.fetchone() == (counts.loaded,)
        contract = contracts["generated"]
        if contract.row_key is None:
            assert counts.dropped == 0
        else:
            keys = duckdb.connect().sql(
                "SELECT count(DISTINCT _row_key), count(_row_key) FROM "
                f"read_parquet('{result.partition_dir / 'data.parquet'}')"
            )
            assert keys.fetchone() == (counts.loaded, counts.loaded)
