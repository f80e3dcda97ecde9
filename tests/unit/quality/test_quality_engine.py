"""The engine question: GX 1.24's SQL path on DuckDB computes real metrics, with our adapter.

These tests pin the behaviour :mod:`pipelines.quality.engine` works around. If a GX or
duckdb-engine upgrade changes it, ``test_plain_gx_sql_path_on_duckdb_still_returns_empty_metrics``
fails: re-check whether the adapter is still needed (GX issues #10738, #11579).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import duckdb_engine
import pytest
import sqlalchemy

import pipelines.quality  # noqa: F401  (GX analytics off before GX is imported)

# GX (and :mod:`pipelines.quality.engine`, which imports it) are imported when a test runs, not
# when the module is collected: every xdist worker of every tier collects it (~3 CPU s).


@pytest.fixture(scope="module")
def gxe() -> Any:
    return pytest.importorskip("great_expectations.expectations")


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engine") / "t.parquet"
    con = duckdb.connect()
    # 100 rows; price of row 7 is -5 (bad); b before a in rows 3 and 4; code x1..x100
    con.execute(
        "COPY (SELECT i AS id, CASE WHEN i = 7 THEN -5.0 ELSE i * 1.0 END AS price, "
        "'x' || i AS code, TIMESTAMP '2018-01-01' + INTERVAL (i) MINUTE AS a, "
        "TIMESTAMP '2018-01-01' + INTERVAL (i + CASE WHEN i IN (3, 4) THEN -10 ELSE 10 END) MINUTE AS b "
        f"FROM range(1, 101) t(i)) TO '{path}' (FORMAT parquet)"
    )
    return path


def _run(datasource_factory, parquet: Path, expectations: list) -> list:
    gx = pytest.importorskip("great_expectations")
    from pipelines.quality import engine, gxsetup

    con = engine.connect()
    engine.create_view(con, "items", [parquet], {})
    with gxsetup.quiet():
        context = gxsetup.new_context()
        datasource = datasource_factory(context, con)
        asset = datasource.add_table_asset(name="items", table_name="items")
        batch = asset.add_batch_definition_whole_table("all")
        suite = context.suites.add(gx.ExpectationSuite(name="s", expectations=expectations))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name="v", data=batch, suite=suite)
        )
        result = definition.run(
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0}
        )
    return list(result.results)


def _lake(context, con):
    from pipelines.quality import engine

    return engine.add_lake_datasource(context, "lake", con)


def _plain(context, con):
    """GX's own SQL datasource on duckdb-engine, one shared connection (StaticPool)."""
    return context.data_sources.add_sql(
        name="plain",
        connection_string="duckdb:///:memory:",
        kwargs={
            "creator": lambda: duckdb_engine.ConnectionWrapper(con),
            "poolclass": sqlalchemy.pool.StaticPool,
        },
    )


def test_versions_are_the_pinned_ones():
    from importlib.metadata import version

    from pipelines.quality import engine

    gx = pytest.importorskip("great_expectations")
    assert gx.__version__ == engine.GX_VERSION
    assert version("duckdb-engine") == engine.DUCKDB_ENGINE_VERSION


def test_plain_gx_sql_path_on_duckdb_still_returns_empty_metrics(parquet, gxe):
    [between, mean] = _run(
        _plain,
        parquet,
        [
            gxe.ExpectColumnValuesToBeBetween(column="price", min_value=0),
            gxe.ExpectColumnMeanToBeBetween(column="price", min_value=0, max_value=100),
        ],
    )
    for result in (between, mean):
        assert result.success is False
        assert result.result == {}  # no metric could be fetched
        messages = str(result.exception_info)
        assert "list index out of range" in messages, messages


def test_failing_check_fails_with_the_exact_unexpected_count(parquet, gxe):
    [result] = _run(
        _lake, parquet, [gxe.ExpectColumnValuesToBeBetween(column="price", min_value=0)]
    )
    assert result.success is False
    assert result.result["unexpected_count"] == 1
    assert result.result["element_count"] == 100
    assert result.result["partial_unexpected_list"] == []  # never a sample value


def test_aggregate_metric_reports_the_observed_value(parquet, gxe):
    [ok, too_low] = _run(
        _lake,
        parquet,
        [
            gxe.ExpectColumnMeanToBeBetween(column="price", min_value=0, max_value=100),
            gxe.ExpectColumnMeanToBeBetween(column="price", min_value=60),
        ],
    )
    # (1 + ... + 100 - 7 - 5) / 100 = 50.38
    assert ok.success and ok.result["observed_value"] == pytest.approx(50.38)
    assert not too_low.success and too_low.result["observed_value"] == pytest.approx(50.38)


def test_dialect_specific_expectations_work(parquet, gxe):
    [regex, like, pair, rows, unique] = _run(
        _lake,
        parquet,
        [
            gxe.ExpectColumnValuesToMatchRegex(column="code", regex="^x[0-9]$"),
            gxe.ExpectColumnValuesToMatchLikePattern(column="code", like_pattern="x_"),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="b", column_B="a", or_equal=True),
            gxe.ExpectTableRowCountToEqual(value=100),
            gxe.ExpectColumnValuesToBeUnique(column="id"),
        ],
    )
    assert regex.result["unexpected_count"] == 91  # x10 .. x100
    assert like.result["unexpected_count"] == 91
    assert pair.result["unexpected_count"] == 2  # rows 3 and 4
    assert rows.success and rows.result["observed_value"] == 100
    assert unique.success and unique.result["unexpected_count"] == 0


def test_anchored_patterns_agree_with_ingestion(tmp_path, gxe):
    """DuckDB's ``~`` is a full match, PostgreSQL's (and GX's) a search. For anchored patterns
    they agree, and agree with ingestion's ``regexp_matches`` (RE2: ``$`` is the end of text)."""
    values = ["01310", "0131", "a01310", "013100", "01310\n", "99999"]
    path = tmp_path / "z.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT unnest(?) AS zip) TO '{path}' (FORMAT parquet)", [values])
    [result] = _run(
        _lake, path, [gxe.ExpectColumnValuesToMatchRegex(column="zip", regex="^[0-9]{5}$")]
    )
    [(ingestion,)] = con.execute(
        "SELECT count(*) FILTER (WHERE NOT regexp_matches(v, '^[0-9]{5}$')) FROM unnest(?) t(v)",
        [values],
    ).fetchall()
    assert result.result["unexpected_count"] == ingestion == 4


def test_limits_are_rendered_as_literals():
    """GX asks for unexpected values with LIMIT n even for n = 0; DuckDB only skips the scan
    for a literal LIMIT 0 (a bound LIMIT $1 = 0 still reads the whole table)."""
    from pipelines.quality import engine

    engine_ = sqlalchemy.create_engine(
        engine.CONNECTION_STRING, **engine.engine_kwargs(engine.connect())
    )
    assert engine_.dialect.name == "duckdb"  # GX's dialect detection is unchanged
    query = sqlalchemy.select(sqlalchemy.column("x")).select_from(sqlalchemy.table("t")).limit(0)
    assert str(query.compile(engine_)).split()[-2:] == ["LIMIT", "0"]
