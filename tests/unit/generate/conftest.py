"""Generated datasets shared by the generator tests (built once per session)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.contracts import ContractSet
from pipelines.generate import GenerationReport, generate

SEED = 7
ORDERS = 6000
DAYS = 5


@dataclass(frozen=True)
class Dataset:
    out: Path
    report: GenerationReport

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.out / "_generation.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    out = tmp_path_factory.mktemp("clean")
    return Dataset(out, generate(out, orders=ORDERS, seed=SEED, days=DAYS))


@pytest.fixture(scope="session")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """Same arguments as ``clean`` plus every defect kind, four of each."""
    out = tmp_path_factory.mktemp("dirty")
    report = generate(out, orders=ORDERS, seed=SEED, days=DAYS, defects="all", defect_count=4)
    return Dataset(out, report)


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


Reader = Callable[[Path, str], str]


@pytest.fixture
def scan(contracts: ContractSet) -> Reader:
    """``scan(out, table)``: SQL reading every CSV file of a table as text, with its folder."""

    def sql(out: Path, table: str) -> str:
        stem = contracts[table].source.file_stem
        columns = ", ".join(f"'{c}': 'VARCHAR'" for c in contracts[table].column_names)
        return (
            f"(SELECT *, split_part(filename, '/', -2) AS folder FROM read_csv("
            f"'{out}/*/{stem}*.csv.gz', header=true, auto_detect=false, columns={{{columns}}}, "
            "delim=',', quote='\"', escape='\"', filename=true, strict_mode=true))"
        )

    return sql


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def _csv_records(path: Path) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    records = []
    start = 1
    for record in reader:
        records.append((start, record))
        start = reader.line_num + 1
    return records


@pytest.fixture
def read_text() -> Callable[[Path], str]:
    """The text of a (possibly gzipped) file."""
    return _read_text


@pytest.fixture
def csv_records() -> Callable[[Path], list[tuple[int, list[str]]]]:
    """Every record of a CSV file with the physical line it starts on (header = line 1)."""
    return _csv_records
