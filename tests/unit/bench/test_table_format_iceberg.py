"""The Iceberg side of ``bench/table_format.py`` on a tiny input, so the bench cannot rot:
pyiceberg's SQL catalog in the machine's PostgreSQL (a schema of this test), the warehouse
in a local folder; two writes, the snapshot properties, the scan, a key lookup and the
as-of read at the first snapshot."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from bench.table_format import iceberg_side, make_inputs
from bench.table_format_iceberg import iceberg_table
from tests.pgdb import ADMIN_URL

ITEMS = 1000


@pytest.fixture
def catalog_url(request: pytest.FixtureRequest) -> str:
    try:
        psycopg2.connect(ADMIN_URL, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {ADMIN_URL}: {exc}".splitlines()[0])
    url: str = request.getfixturevalue("pg_url")
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


@pytest.fixture
def spec(tmp_path: Path, catalog_url: str) -> dict[str, Any]:
    inputs = make_inputs(tmp_path, ITEMS, 2)
    return {
        "uri": catalog_url,
        "data": str(tmp_path / "warehouse"),
        "inputs": [str(p) for p in inputs],
        "reports": str(tmp_path),
    }


def test_two_appends_then_the_first_snapshot_reads_as_of(spec: dict[str, Any]) -> None:
    side = iceberg_side(spec)
    side.write(1)
    side.write(2)
    side.open()

    assert side.scan()[0][0] == 2 * ITEMS
    first = side.first_version()
    assert side.as_of(first) == ITEMS
    assert len(side.lookup("d7a27b7fa9a6efc1d1d3bc3c1e9bbf5c")) == 0  # no such order
    assert side.size() > 0
    with iceberg_table(spec) as table:
        summaries = [s.summary for s in table.snapshots()]
    assert [(s["partition"], s["rows"]) for s in summaries if s is not None] == [
        ("dt=2026-01-01", str(ITEMS)),
        ("dt=2026-01-02", str(ITEMS)),
    ]


def test_a_key_lookup_returns_the_orders_items(spec: dict[str, Any]) -> None:
    side = iceberg_side(spec)
    side.write(1)
    import duckdb

    key = duckdb.sql("SELECT md5('order' || 10)").fetchone()[0]  # type: ignore[index]
    rows = side.lookup(key)
    assert len(rows) == 2  # order 10 has items 1 and 2 in the first interval
    assert {row[0] for row in rows} == {key}


def test_the_product_does_not_import_pyiceberg() -> None:
    """pyiceberg is a dev dependency for this benchmark: nothing the product ships imports it."""
    root = Path(__file__).resolve().parents[3]
    found = []
    for folder in ("pipelines", "dags"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                else:
                    continue
                if any(n.split(".")[0] == "pyiceberg" for n in names):
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not found, f"pyiceberg is in the dev group only; imported at {found}"
