"""Value-level provenance: which lake rows one served feature row was computed from.

``explain(settings, "customer_features", token)`` finds the published release (the same
choice as :func:`~pipelines.features.api.load_features`), reads the entity's row from its
snapshot, exposes exactly the release's lake partitions to an in-memory DuckDB (the same
``lake.*`` views the dbt build read) and collects the contributing rows with the joins and
point-in-time rules of ``dbt_project/models``:

- orders purchased before ``as_of`` (all of them, canceled ones included: they feed
  ``canceled_orders``, reviews and cancel rates), their items and, for customers, payments;
- reviews of those orders answered before ``as_of``;
- rows without an event time (products, sellers, customer profiles): the one row per key
  that wins at ``as_of`` (latest partition start, then latest landing record).

Any other declared feature table names, per lake table it reads, the column holding its
entity key (``config.meta.feature_table.explain`` in its dbt YAML, e.g. ``{invoice_lines:
customer_id}``): its rows are those with that key and, when the contract declares an event
time, an event before ``as_of``.

Each partition comes with the quality gate run that vouched for its version (from the
release) and its check counts. Only locators (``_source_file``, ``_source_row``), counts,
partitions and the feature values
(non-PII by construction; the customer key is a pseudonym) leave this module, never a lake
column value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from pipelines.contracts import ContractSet, load_contracts
from pipelines.features.api import FeatureNotFound, read_snapshot
from pipelines.features.paths import feature_table
from pipelines.features.release import Release
from pipelines.lake.storage import lake_store
from pipelines.settings import Settings
from pipelines.warehouse.build import duckdb_config
from pipelines.warehouse.lake_views import register_lake


class StaleRelease(RuntimeError):
    """A lake partition of the release was re-ingested or removed since: rows can't be traced."""


@dataclass(frozen=True)
class PartitionUsed:
    """A lake partition the rows came from, and the quality gate run that vouched for it."""

    partition: str
    dataset_version: str
    ingest_run_id: str | None = None
    gate_run_id: str | None = None
    checks_passed: int | None = None
    checks_warned: int | None = None
    snapshot: int | None = None
    """The DuckLake catalog snapshot of that version, as the release recorded it."""

    @property
    def version_text(self) -> str:
        """``<sha256 prefix>``, and ``, snapshot N`` with a catalog."""
        short = self.dataset_version[:12]
        return short if self.snapshot is None else f"{short}, snapshot {self.snapshot}"

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "dataset_version": self.dataset_version,
            "snapshot": self.snapshot,
            "ingest_run_id": self.ingest_run_id,
            "gate_run_id": self.gate_run_id,
            "checks_passed": self.checks_passed,
            "checks_warned": self.checks_warned,
        }


@dataclass(frozen=True)
class LakeSources:
    """The rows of one lake table behind a feature row."""

    table: str
    partitions: list[PartitionUsed]  # the partitions the rows came from
    locators: list[tuple[str, int]]  # (_source_file, _source_row), sorted

    @property
    def rows(self) -> int:
        return len(self.locators)


@dataclass(frozen=True)
class Provenance:
    table: str
    key_column: str
    key: str
    as_of: date
    release_id: str
    features: dict[str, Any]
    sources: list[LakeSources]

    def source(self, table: str) -> LakeSources:
        for s in self.sources:
            if s.table == table:
                return s
        raise KeyError(f"{self.table} draws on no lake table {table!r}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates ISO, decimals as exact strings)."""
        return {
            "table": self.table,
            "key": self.key,
            "as_of": self.as_of.isoformat(),
            "release_id": self.release_id,
            "features": {k: _plain(v) for k, v in self.features.items()},
            "sources": {
                s.table: {
                    "rows": s.rows,
                    "partitions": [p.to_json() for p in s.partitions],
                    "locators": [{"file": f, "row": r} for f, r in s.locators],
                }
                for s in self.sources
            },
        }


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- the contributing rows, per feature table (mirrors dbt_project/models) -----------------

_CANCELED = (
    "coalesce(order_status IN ('canceled', 'unavailable') "
    "AND order_estimated_delivery_date < $as_of, false)"
)


def _as_of_row(table: str, key_column: str, where: str) -> str:
    """The winning row per key at as_of (int_products_as_of & co.), restricted by ``where``."""
    return (
        f"SELECT t.* FROM lake.{table} AS t JOIN lake.partitions AS p "
        f"ON p.table_name = '{table}' AND p.partition = t._partition "
        f"WHERE p.interval_start < $as_of AND {where} "
        f"QUALIFY row_number() OVER (PARTITION BY t.{key_column} "
        "ORDER BY p.interval_start DESC, t._source_row DESC) = 1"
    )


_BEFORE = "order_purchase_timestamp < $as_of"
_REVIEWS = (
    "SELECT * FROM lake.order_reviews WHERE order_id IN (SELECT order_id FROM orders) "
    "AND review_answer_timestamp < $as_of"
)

_CTES: dict[str, list[tuple[str, str]]] = {
    "customer_features": [
        ("people", "SELECT * FROM lake.customers WHERE customer_unique_id = $key"),
        (
            "orders",
            f"SELECT *, {_CANCELED} AS is_canceled FROM lake.orders WHERE {_BEFORE} "
            "AND customer_id IN (SELECT customer_id FROM people)",
        ),
        ("customers", "SELECT * FROM people WHERE customer_id IN (SELECT customer_id FROM orders)"),
        (
            "customer_profiles",
            _as_of_row("customer_profiles", "customer_unique_id", "t.customer_unique_id = $key"),
        ),
        (
            "order_items",
            "SELECT * FROM lake.order_items WHERE order_id IN (SELECT order_id FROM orders)",
        ),
        (
            "order_payments",
            "SELECT * FROM lake.order_payments WHERE order_id IN (SELECT order_id FROM orders)",
        ),
        ("order_reviews", _REVIEWS),
        (  # the favourite category: items of orders not known to be canceled
            "products",
            _as_of_row(
                "products",
                "product_id",
                "t.product_id IN (SELECT product_id FROM order_items WHERE order_id IN "
                "(SELECT order_id FROM orders WHERE NOT is_canceled))",
            ),
        ),
    ],
    "product_features": [
        ("products", _as_of_row("products", "product_id", "t.product_id = $key")),
        (
            "order_items",
            "SELECT * FROM lake.order_items WHERE product_id = $key "
            f"AND order_id IN (SELECT order_id FROM lake.orders WHERE {_BEFORE})",
        ),
        (
            "orders",
            f"SELECT * FROM lake.orders WHERE {_BEFORE} "
            "AND order_id IN (SELECT order_id FROM order_items)",
        ),
        ("order_reviews", _REVIEWS),
    ],
    "seller_features": [
        ("sellers", _as_of_row("sellers", "seller_id", "t.seller_id = $key")),
        (
            "order_items",
            "SELECT * FROM lake.order_items WHERE seller_id = $key "
            f"AND order_id IN (SELECT order_id FROM lake.orders WHERE {_BEFORE})",
        ),
        (
            "orders",
            f"SELECT * FROM lake.orders WHERE {_BEFORE} "
            "AND order_id IN (SELECT order_id FROM order_items)",
        ),
        ("order_reviews", _REVIEWS),
    ],
}


def _declared_ctes(settings: Settings, table: str, contracts: ContractSet) -> list[tuple[str, str]]:
    """The contributing rows of a declared feature table, from its ``explain`` mapping."""
    spec = feature_table(settings, table)
    if spec is None or not spec.explain:
        raise FeatureNotFound(
            f"{table}: cannot explain its rows: declare, per lake table it reads, the column "
            "holding its entity key (config.meta.feature_table.explain: {<lake table>: <column>})"
        )
    out = []
    for lake_table, column in spec.explain.items():
        where = f'"{column}" = $key'
        event = contracts[lake_table].event_time
        if event is not None:
            lake_column = contracts[lake_table].column(event.column).lake_name
            where += f' AND "{lake_column}" < $as_of'
        out.append((lake_table, f"SELECT * FROM lake.{lake_table} WHERE {where}"))
    return out


def _ctes(settings: Settings, table: str, contracts: ContractSet) -> list[tuple[str, str]]:
    if table in _CTES:
        return _CTES[table]
    return _declared_ctes(settings, table, contracts)


def _sources_sql(ctes: list[tuple[str, str]]) -> str:
    with_ = ",\n".join(f"{name} AS ({sql})" for name, sql in ctes)
    union = "\nUNION ALL\n".join(
        f"SELECT '{name}' AS lake_table, _source_file, _source_row, _partition, "
        f"_dataset_version FROM {name}"
        for name, _ in ctes
        if name != "people"
    )
    return f"WITH {with_}\n{union}"


_DISPLAY = (
    "customers",
    "customer_profiles",
    "sellers",
    "products",
    "orders",
    "order_items",
    "order_payments",
    "order_reviews",
)


def _lake_tables(ctes: list[tuple[str, str]]) -> list[str]:
    """The lake tables drawn on, entities first, then orders and their children."""
    names = [name for name, _ in ctes if name != "people"]
    return sorted(names, key=lambda n: _DISPLAY.index(n) if n in _DISPLAY else len(_DISPLAY))


def _collect(
    settings: Settings, release: Release, ctes: list[tuple[str, str]], key: str, as_of: date
) -> list[Any]:
    selection = release.selection(lake_store(settings))
    found = sum(len(parts) for parts in selection.values())
    if found != len(release.partitions):
        raise StaleRelease(
            f"release {release.release_id}: {len(release.partitions) - found} of its lake "
            "partitions were re-ingested or removed since; its rows can no longer be traced"
        )
    with duckdb.connect(config=duckdb_config(settings)) as con:
        register_lake(con, selection, contracts=load_contracts(settings.contracts_dir))
        params = {"key": key, "as_of": datetime.combine(as_of, time(0))}
        return con.execute(_sources_sql(ctes), params).fetchall()


def key_column(settings: Settings, table: str) -> str:
    """The entity key column of ``table`` (its declaration's first key column)."""
    spec = feature_table(settings, table)
    if spec is None:
        raise FeatureNotFound(f"{table}: no dbt model declares it (config.meta.feature_table)")
    return spec.key


def explain(
    settings: Settings, table: str, key: str, as_of: date | str | None = None
) -> Provenance:
    """The lake rows behind ``table``'s row for ``key`` in the published snapshot as of
    ``as_of`` (the latest on or before that date; default: the latest).

    Raises :class:`~pipelines.features.api.FeatureNotFound` (a ``LookupError``) for an
    unknown table, no published release, or a key without a row in the snapshot.
    """
    fs = read_snapshot(table, as_of, settings=settings)
    column = key_column(settings, table)
    row = fs.frame.filter(pl.col(column).cast(pl.String) == key)
    if row.is_empty():
        raise FeatureNotFound(
            f"{table}: no row for {column} {key!r} in the snapshot as of {fs.as_of} "
            f"(release {fs.release.release_id})"
        )
    ctes = _ctes(settings, table, load_contracts(settings.contracts_dir))
    found = _collect(settings, fs.release, ctes, key, fs.as_of)
    released = {(p.table, p.partition): p for p in fs.release.partitions}
    sources = []
    for lake_table in _lake_tables(ctes):
        mine = [r for r in found if r[0] == lake_table]
        used = []
        for partition, version in sorted({(str(r[3]), str(r[4])) for r in mine}):
            gate = released.get((lake_table, partition))
            used.append(
                PartitionUsed(
                    partition,
                    version,
                    gate.ingest_run_id if gate else None,
                    gate.gate_run_id if gate else None,
                    gate.checks_passed if gate else None,
                    gate.checks_warned if gate else None,
                    gate.snapshot if gate else None,
                )
            )
        sources.append(
            LakeSources(
                table=lake_table,
                partitions=used,
                locators=sorted((str(r[1]), int(r[2])) for r in mine),
            )
        )
    return Provenance(
        table=table,
        key_column=column,
        key=key,
        as_of=fs.as_of,
        release_id=fs.release.release_id,
        features=row.row(0, named=True),
        sources=sources,
    )


def render_text(prov: Provenance, limit: int = 5) -> str:
    """Feature values, then per lake table its row count, partitions and up to ``limit``
    locators (``<landing file>:<record number>``)."""
    lines = [
        f"{prov.table} {prov.key_column}={prov.key}",
        f"as of {prov.as_of}, release {prov.release_id}",
        "",
        "feature values:",
    ]
    width = max((len(k) for k in prov.features), default=0)
    lines += [f"  {k:<{width}}  {_plain(v)}" for k, v in prov.features.items()]
    lines += ["", "lake rows it was computed from:"]
    for s in prov.sources:
        lines.append(f"  {s.table}: {s.rows} row{'' if s.rows == 1 else 's'}")
        for p in s.partitions:
            checks = (
                f"quality gate run {p.gate_run_id}: {p.checks_passed} checks passed, "
                f"{p.checks_warned} warned"
                if p.gate_run_id
                else "no gate record"
            )
            lines.append(f"    partition {p.partition} ({p.version_text}), {checks}")
        lines += [f"    {f}:{r}" for f, r in s.locators[:limit]]
        if s.rows > limit:
            lines.append(f"    ... and {s.rows - limit} more")
    return "\n".join(lines)
