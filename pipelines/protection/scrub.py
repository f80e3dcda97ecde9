"""Scrubbing free text: every entity :mod:`pipelines.protection.detect` finds (e-mail, URL,
payment card, CNPJ, CPF, phone, @handle, street address, personal name) replaced by its
placeholder (``[EMAIL]``, ``[URL]``, ``[CARD]``, ``[CNPJ]``, ``[CPF]``, ``[PHONE]``,
``[HANDLE]``, ``[ADDRESS]``, ``[NAME]``).

The detectors are Python (``phonenumbers``, ``tarja``'s check digits), so scrubbing runs on
Arrow arrays (:func:`scrub_arrow`: a vectorised prefilter sends only candidate texts through
them) or value by value (:func:`scrub_text`); in SQL through the DuckDB function
:func:`register_duckdb_udf` registers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from pipelines.protection.detect import DEFAULT_REGION, check_region, redact_text, scrub_arrow

if TYPE_CHECKING:
    import duckdb

SCRUB_UDF = "pipelines_scrub"

__all__ = ["SCRUB_UDF", "register_duckdb_udf", "scrub_arrow", "scrub_text", "sql_scrub"]


def scrub_text(text: str | None, region: str = DEFAULT_REGION) -> str | None:
    """``text`` with every detected entity replaced by its placeholder; ``None`` stays ``None``.

    ``region``: where phone numbers written without ``+`` are dialled (the source's region).
    """
    if text is None:
        return None
    return redact_text(text, region)


def sql_scrub(column_sql: str, region: str = DEFAULT_REGION) -> str:
    """The DuckDB expression scrubbing ``column_sql`` (needs :func:`register_duckdb_udf`)."""
    check_region(region)
    return f"{SCRUB_UDF}({column_sql}, '{region}')"


def _udf(values: pa.Array, regions: pa.Array) -> pa.Array:
    distinct = set(regions.unique().to_pylist())
    if len(distinct) == 1 and None not in distinct:
        return scrub_arrow(values, distinct.pop())
    return pa.array(
        [
            scrub_text(v, r or DEFAULT_REGION)
            for v, r in zip(values.to_pylist(), regions.to_pylist(), strict=True)
        ],
        pa.string(),
    )


def register_duckdb_udf(con: duckdb.DuckDBPyConnection) -> None:
    """Registers ``pipelines_scrub(text, region)`` (vectorised, NULL in, NULL out)."""
    from duckdb.func import FunctionNullHandling, PythonUDFType

    con.create_function(
        SCRUB_UDF,
        _udf,
        ["VARCHAR", "VARCHAR"],
        "VARCHAR",
        type=PythonUDFType.ARROW,
        null_handling=FunctionNullHandling.SPECIAL,
    )
