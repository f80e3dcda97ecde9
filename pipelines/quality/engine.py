"""Great Expectations on DuckDB: the one place that adapts GX 1.24's SQL path to DuckDB.

GX 1.24 has no DuckDB dialect. Pointed at DuckDB through the ``duckdb-engine`` SQLAlchemy
dialect, its SQL path computes *empty* metrics (every expectation fails with "list index
out of range" or "'NoneType' object is not subscriptable"; GX issues #10738 and #11579):

* ``SqlAlchemyExecutionEngine.execute_query`` runs a statement inside
  ``with self.get_connection() as connection:`` and returns the result *after* the block,
  so the connection is closed (SQLAlchemy rolls back its auto-begun transaction) before GX
  calls ``fetchall()``. ``duckdb-engine`` runs every statement of a connection on the one
  ``DuckDBPyConnection``, whose pending result the ``ROLLBACK`` discards: ``fetchall()``
  returns ``[]``. GX keeps one persisted connection only for the dialects in its private
  ``_PERSISTED_CONNECTION_DIALECTS`` (sqlite, mssql, bigquery, databricks).
* GX leaves ``dialect_module`` at ``None`` for dialects it does not know, which disables
  the dialect-specific SQL of regex and LIKE expectations ("Regex is not supported for
  dialect duckdb").

What this module does, without patching GX code:

1. :class:`_StatementCursors` wraps the DuckDB connection at the DB-API level so that every
   SQLAlchemy cursor gets its own DuckDB cursor (``DuckDBPyConnection.cursor()``: a separate
   connection to the same database). A result then lives in its own cursor and survives
   whatever SQLAlchemy or GX do on the connection afterwards (rollback, reset on return).
   All cursors share one in-memory database, so the lake views created once are visible to
   every query; a ``StaticPool`` hands that one connection to every engine GX creates.
2. :class:`LakeExecutionEngine` (a ``SqlAlchemyExecutionEngine``) sets ``dialect_module`` to
   SQLAlchemy's PostgreSQL dialect, whose SQL DuckDB speaks. Note DuckDB's ``~`` is a *full*
   match where PostgreSQL's is a search: suites only use anchored patterns (``^...$``),
   for which both agree (tested).
3. :class:`LakeDatasource` is a GX fluent SQL datasource (type ``duckdb_lake``) that uses
   that execution engine.
4. :class:`LakeDialect` (``duckdb+lake://``, a ``duckdb-engine`` dialect) renders ``LIMIT``
   as a literal. GX asks for every column map expectation's unexpected values with
   ``LIMIT $n`` even when we want none (``partial_unexpected_count = 0``); DuckDB
   short-circuits ``LIMIT 0`` but not ``LIMIT $1`` bound to 0, which scans the whole table
   once more per expectation (measured: 2 s per check on 8.8M rows).

Pinned and tested: ``great-expectations==1.24.1`` and ``duckdb-engine==0.17.0``.
``tests/unit/quality/test_quality_engine.py`` proves the bug is still there without this
module (so a GX upgrade that fixes it is noticed and this module can go), and that with it
GX reports real metrics: failing checks fail with the exact ``unexpected_count`` and
observed value. SQLAlchemy 2.1 table reflection through ``duckdb-engine`` 0.17 fails
(``pg_catalog.pg_collation`` is missing in DuckDB), so column types are checked by our own
expectation (:mod:`pipelines.quality.expectations`), not ``ExpectColumnValuesToBeOfType``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import duckdb
import duckdb_engine
import sqlalchemy
import sqlalchemy.dialects.postgresql
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from sqlalchemy.dialects.postgresql.base import PGCompiler

from pipelines.sql import q, sql_str

GX_VERSION = "1.24.1"
DUCKDB_ENGINE_VERSION = "0.17.0"
DATASOURCE_TYPE = "duckdb_lake"


class _LiteralLimitCompiler(PGCompiler):
    def limit_clause(self, select: Any, **kw: Any) -> str:
        literal = {**kw, "literal_binds": True}
        text = ""
        if select._limit_clause is not None:
            text += " \n LIMIT " + self.process(select._limit_clause, **literal)
        if select._offset_clause is not None:
            if select._limit_clause is None:
                text += "\n LIMIT ALL"
            text += " OFFSET " + self.process(select._offset_clause, **literal)
        return text


assert issubclass(_LiteralLimitCompiler, duckdb_engine.Dialect.statement_compiler)


class LakeDialect(duckdb_engine.Dialect):
    """``duckdb-engine`` with literal ``LIMIT``/``OFFSET`` (see the module doc)."""

    statement_compiler = _LiteralLimitCompiler


sqlalchemy.dialects.registry.register("duckdb.lake", __name__, "LakeDialect")
CONNECTION_STRING = "duckdb+lake:///:memory:"


class _StatementCursors(duckdb_engine.ConnectionWrapper):
    """A DB-API connection whose cursors are separate DuckDB cursors on one database."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        super().__init__(connection)
        self._root = connection

    def cursor(self) -> duckdb_engine.CursorWrapper:
        return duckdb_engine.CursorWrapper(self._root.cursor(), self)


class LakeExecutionEngine(SqlAlchemyExecutionEngine):
    """GX's SQLAlchemy execution engine with PostgreSQL-flavoured SQL for DuckDB."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dialect_module = sqlalchemy.dialects.postgresql


class LakeDatasource(SQLDatasource):
    """A GX fluent SQL datasource over one in-process DuckDB database (see module doc)."""

    type: Literal["duckdb_lake"] = "duckdb_lake"  # type: ignore[assignment]
    asset_types: ClassVar = SQLDatasource.asset_types

    @property
    def execution_engine_type(self) -> builtins.type[SqlAlchemyExecutionEngine]:
        return LakeExecutionEngine


def engine_kwargs(connection: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """``create_engine`` keyword arguments binding SQLAlchemy to ``connection``."""
    return {
        "creator": lambda: _StatementCursors(connection),
        "poolclass": sqlalchemy.pool.StaticPool,
    }


def add_lake_datasource(context: Any, name: str, connection: duckdb.DuckDBPyConnection) -> Any:
    """Add a :class:`LakeDatasource` reading ``connection`` to an (ephemeral) GX context."""
    return context.data_sources.add_duckdb_lake(
        name=name, connection_string=CONNECTION_STRING, kwargs=engine_kwargs(connection)
    )


def connect(
    memory_limit: str | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB database for one validation run."""
    con = duckdb.connect(":memory:")
    if memory_limit:
        con.execute(f"SET memory_limit = {sql_str(memory_limit)}")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def create_view(
    con: duckdb.DuckDBPyConnection,
    name: str,
    files: Iterable[str | Path],
    empty_columns: Mapping[str, str],
) -> None:
    """``name`` as a view over Parquet ``files`` (paths or URLs); an empty typed view when
    there are none."""
    paths = [str(p) for p in files]
    if paths:
        listing = "[" + ", ".join(sql_str(p) for p in paths) + "]"
        body = f"SELECT * FROM read_parquet({listing}, hive_partitioning = false)"
    else:
        body = (
            "SELECT "
            + ", ".join(f"NULL::{t} AS {q(c)}" for c, t in empty_columns.items())
            + " WHERE false"
        )
    con.execute(f"CREATE OR REPLACE VIEW {q(name)} AS {body}")
