"""k-anonymity and l-diversity of what is published, in SQL on DuckDB.

**Quasi-identifiers** of a feature table are derived, never listed by hand: a column of the
table's dbt model (``dbt_project/models/marts/<table>.yml``) whose ``meta.lake_column``
names a lake column that its source contract classes ``pii: quasi_identifier`` (the state,
the 3-digit zip prefix, the age band, the gender). A column claiming ``pii:
quasi_identifier`` without such a link is a quasi-identifier too.

**Settings per table**, in the model's ``config.meta.anonymity``: ``k`` (default 5),
``sensitive`` (columns for l-diversity) with ``l`` (default 2), and ``enforce`` (default
true: publication is refused below k or l; false: the result is recorded, not blocking).

The **report** names the smallest equivalence classes (their quasi-identifier values are
generalized values already, and counts) and proposes generalizations: each one-step coarser
hierarchy level (zip prefix to its first digit, state to its region, age band to 20 years)
or dropping a quasi-identifier, with the k it would reach and the rows it would leave in
classes below k.

**Suppression.** A mart may publish the quasi-identifiers of people in classes below k as
``*`` (:data:`SUPPRESSED`; ``customer_features`` does, ``macros/anonymity.sql``): those rows
form one class of their own, and the result counts them (``suppressed``, on the release).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import yaml

from pipelines.contracts import ContractSet, PiiClass
from pipelines.protection_types import SUPPRESSED
from pipelines.sql import q

DEFAULT_K = 5
DEFAULT_L = 2
REGIONS = {
    "N": ["AC", "AM", "AP", "PA", "RO", "RR", "TO"],
    "NE": ["AL", "BA", "CE", "MA", "PB", "PE", "PI", "RN", "SE"],
    "CO": ["DF", "GO", "MS", "MT"],
    "SE": ["ES", "MG", "RJ", "SP"],
    "S": ["PR", "RS", "SC"],
}
"""Brazil's five regions: the next level above a state (UF)."""


@dataclass(frozen=True)
class Policy:
    table: str
    quasi_identifiers: tuple[str, ...]
    k: int = DEFAULT_K
    sensitive: tuple[str, ...] = ()
    l: int = DEFAULT_L  # noqa: E741 - the letter of l-diversity
    enforce: bool = True


@dataclass
class Result:
    policy: Policy
    rows: int
    k: int | None  # None: no row
    classes: int
    below_k: int  # rows in classes smaller than policy.k
    suppressed: int = 0  # rows whose quasi-identifiers are all SUPPRESSED
    l_values: dict[str, int] = field(default_factory=dict)
    smallest: list[dict[str, Any]] = field(default_factory=list)
    proposals: list[dict[str, Any]] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        out = []
        table, qi = self.policy.table, ", ".join(self.policy.quasi_identifiers)
        if self.k is not None and self.k < self.policy.k:
            out.append(
                f"{table}: k-anonymity {self.k} < {self.policy.k} over ({qi}); {self.below_k} "
                f"rows in classes smaller than {self.policy.k} (pipelines privacy anonymity "
                f"--table {table} proposes generalizations)"
            )
        for column, value in self.l_values.items():
            if value < self.policy.l:
                out.append(f"{table}: {column} is {value}-diverse < l={self.policy.l} over ({qi})")
        return out

    @property
    def passed(self) -> bool:
        return not self.problems


def _model_yaml(dbt_dir: Path, table: str) -> dict[str, Any]:
    path = dbt_dir / "models" / "marts" / f"{table}.yml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return next((m for m in data.get("models", []) if m.get("name") == table), {})


def _is_quasi(meta: dict[str, Any], contracts: ContractSet) -> bool:
    link = str(meta.get("lake_column") or "")
    table, _, lake_name = link.partition(".")
    if table in contracts:
        for col in contracts[table].written_columns:
            if col.lake_name == lake_name and col.pii is PiiClass.QUASI_IDENTIFIER:
                return True
    return meta.get("pii") == PiiClass.QUASI_IDENTIFIER.value


def policy_for(table: str, contracts: ContractSet, dbt_dir: Path) -> Policy:
    """The table's quasi-identifiers (see the module docstring) and its settings."""
    model = _model_yaml(dbt_dir, table)
    qis = tuple(
        str(c["name"])
        for c in model.get("columns", [])
        if _is_quasi(((c.get("config") or {}).get("meta") or c.get("meta") or {}), contracts)
    )
    settings = ((model.get("config") or {}).get("meta") or {}).get("anonymity") or {}
    return Policy(
        table=table,
        quasi_identifiers=qis,
        k=int(settings.get("k", DEFAULT_K)),
        sensitive=tuple(settings.get("sensitive", ())),
        l=int(settings.get("l", DEFAULT_L)),
        enforce=bool(settings.get("enforce", True)),
    )


def _generalizations(column: str) -> list[tuple[str, str]]:
    """(what, SQL) one step coarser for a quasi-identifier, by its name."""
    if column.endswith("zip3"):
        return [(f"{column} -> first digit", f"left({q(column)}, 1) || 'xxxx'")]
    if column.endswith("state"):
        cases = " ".join(
            f"WHEN {q(column)} IN ({', '.join(repr(s) for s in states)}) THEN '{region}'"
            for region, states in REGIONS.items()
        )
        return [(f"{column} -> region", f"CASE {cases} ELSE {q(column)} END")]
    if column == "age_band":
        low = f"CAST(floor(try_cast(left({q(column)}, 2) AS INT) / 20) * 20 AS INT)"
        band = f"CAST({low} AS VARCHAR) || '-' || CAST({low} + 19 AS VARCHAR)"
        return [(f"{column} -> 20-year band", f"coalesce({band}, {q(column)})")]
    return []


def _k_of(
    con: duckdb.DuckDBPyConnection, relation: str, exprs: list[str], k: int
) -> tuple[int | None, int, int]:
    """(k, number of classes, rows in classes below ``k``) with ``exprs`` as the QIs."""
    if not exprs:
        row = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
        n = int(row[0]) if row else 0
        return (n or None), (1 if n else 0), (n if 0 < n < k else 0)
    keys = ", ".join(f"{e} AS qi{i}" for i, e in enumerate(exprs))
    row = con.execute(
        f"SELECT min(n), count(*), coalesce(sum(n) FILTER (WHERE n < {int(k)}), 0) FROM "
        f"(SELECT {keys}, count(*) AS n FROM {relation} GROUP BY ALL)"
    ).fetchone()
    if row is None or row[0] is None:
        return None, 0, 0
    return int(row[0]), int(row[1]), int(row[2])


def _l_of(con: duckdb.DuckDBPyConnection, relation: str, qis: list[str], sensitive: str) -> int:
    group = ", ".join(q(c) for c in qis) or "true"
    row = con.execute(
        f"SELECT min(l) FROM (SELECT count(DISTINCT {q(sensitive)}) AS l FROM {relation} "
        f"GROUP BY {group})"
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _suppressed(con: duckdb.DuckDBPyConnection, relation: str, qis: list[str]) -> int:
    if not qis:
        return 0
    every = " AND ".join(f"CAST({q(c)} AS VARCHAR) = '{SUPPRESSED}'" for c in qis)
    row = con.execute(f"SELECT count(*) FROM {relation} WHERE {every}").fetchone()
    return int(row[0]) if row else 0


def _smallest(
    con: duckdb.DuckDBPyConnection, relation: str, qis: list[str], limit: int
) -> list[dict[str, Any]]:
    if not qis:
        return []
    cols = ", ".join(q(c) for c in qis)
    rows = con.execute(
        f"SELECT {cols}, count(*) AS n FROM {relation} GROUP BY ALL ORDER BY n, {cols} LIMIT {int(limit)}"
    ).fetchall()
    return [{**dict(zip(qis, r[:-1], strict=True)), "rows": int(r[-1])} for r in rows]


def _proposals(
    con: duckdb.DuckDBPyConnection, relation: str, policy: Policy
) -> list[dict[str, Any]]:
    qis = list(policy.quasi_identifiers)
    out = []
    for i, column in enumerate(qis):
        others = [q(c) for j, c in enumerate(qis) if j != i]
        options = [*_generalizations(column), (f"drop {column}", None)]
        for what, expr in options:
            exprs = others if expr is None else [*others[:i], expr, *others[i:]]
            k, classes, below = _k_of(con, relation, exprs, policy.k)
            out.append({"change": what, "k": k, "classes": classes, "rows_below_k": below})
    return sorted(out, key=lambda p: (-(p["k"] or 0), p["rows_below_k"]))


def _options(qis: list[str], exprs: list[str | None]) -> list[tuple[str, list[str | None]]]:
    """Every one-step change of the current expressions (None: the column is dropped)."""
    out = []
    for i, column in enumerate(qis):
        if exprs[i] is None:
            continue
        if exprs[i] == q(column):
            for what, expr in _generalizations(column):
                out.append((what, [*exprs[:i], expr, *exprs[i + 1 :]]))
        out.append((f"drop {column}", [*exprs[:i], None, *exprs[i + 1 :]]))
    return out


def greedy_plan(
    con: duckdb.DuckDBPyConnection, relation: str, policy: Policy
) -> list[dict[str, Any]]:
    """Changes applied one after another, each the one leaving the fewest rows below k,
    until k is reached: a combined generalization to propose."""
    qis = list(policy.quasi_identifiers)
    exprs: list[str | None] = [q(c) for c in qis]
    plan: list[dict[str, Any]] = []
    for _ in range(2 * len(qis)):
        scored = []
        for what, option in _options(qis, exprs):
            k, _classes, below = _k_of(con, relation, [e for e in option if e], policy.k)
            scored.append((below, -(k or 0), what, option, k))
        if not scored:
            break
        below, _, what, exprs, k = min(scored, key=lambda s: (s[0], s[1]))
        plan.append({"change": what, "k": k, "rows_below_k": below})
        if k is None or k >= policy.k:
            break
    return plan


def evaluate(
    con: duckdb.DuckDBPyConnection, relation: str, policy: Policy, smallest: int = 5
) -> Result:
    """k, l and the report for ``relation`` (a table, view or ``read_parquet(...)``)."""
    qis = list(policy.quasi_identifiers)
    k, classes, below = _k_of(con, relation, [q(c) for c in qis], policy.k)
    rows_row = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
    result = Result(policy, int(rows_row[0]) if rows_row else 0, k, classes, below)
    result.l_values = {s: _l_of(con, relation, qis, s) for s in policy.sensitive}
    result.suppressed = _suppressed(con, relation, qis)
    if not result.passed:
        result.smallest = _smallest(con, relation, qis, smallest)
        result.proposals = _proposals(con, relation, policy)
        result.plan = greedy_plan(con, relation, policy)
    return result


def snapshot_results(
    snapshots: dict[str, Path], contracts: ContractSet, dbt_project: Path
) -> list[Result]:
    """The anonymity result of every snapshot (table -> file) whose table has quasi-identifiers."""
    from pipelines.sql import sql_str

    out = []
    with duckdb.connect(":memory:") as con:
        for table, path in sorted(snapshots.items()):
            policy = policy_for(table, contracts, dbt_project)
            if not (policy.quasi_identifiers and path.is_file()):
                continue
            relation = f"read_parquet({sql_str(str(path))})"
            present = {
                str(r[0]) for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
            }
            policy = replace(  # a quasi-identifier the file does not hold is not published
                policy,
                quasi_identifiers=tuple(c for c in policy.quasi_identifiers if c in present),
                sensitive=tuple(c for c in policy.sensitive if c in present),
            )
            if policy.quasi_identifiers:
                out.append(evaluate(con, relation, policy))
    return out


def gate_problems(results: list[Result]) -> list[str]:
    """Problems that refuse publication: those of tables whose policy enforces."""
    return [p for r in results if r.policy.enforce for p in r.problems]
