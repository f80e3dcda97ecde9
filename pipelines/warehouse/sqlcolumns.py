"""Column lineage of one SELECT, computed with sqlglot: which source columns each output uses, how.

``column_lineage(sql, schemas)`` qualifies the query (``select *`` expanded from ``schemas``
and from CTEs, ``USING`` turned into ``ON``, positional ``GROUP BY`` expanded), walks its
scopes (CTEs, derived tables, set operations, subqueries) down to the base tables, and
returns, per output column, its source columns with an OpenLineage transformation:

* DIRECT ``IDENTITY``: the output is the source column itself (through any number of CTEs);
* DIRECT ``TRANSFORMATION``: an expression of it (``masking`` when a hash function is applied);
* DIRECT ``AGGREGATION``: an aggregate function is involved (``masking`` for counts);
* INDIRECT ``CONDITIONAL``: the column is in a ``CASE WHEN`` / ``IF`` condition;

and, for the whole output, INDIRECT ``JOIN`` (join keys), ``FILTER`` (``WHERE``, ``HAVING``,
``QUALIFY``, filtering subqueries), ``GROUP_BY``, ``WINDOW`` (window partitions and orders)
and ``SORT`` (``ORDER BY``). Along a chain of CTEs the strongest kind wins
(identity < transformation < aggregation; an indirect use stays indirect).

Source tables are named as the query names them after qualification (``catalog.schema.table``
when the SQL is fully qualified, as dbt compiles it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

DIRECT, INDIRECT = "DIRECT", "INDIRECT"
IDENTITY, TRANSFORMATION, AGGREGATION = "IDENTITY", "TRANSFORMATION", "AGGREGATION"
JOIN, FILTER, GROUP_BY, SORT, WINDOW, CONDITIONAL = (
    "JOIN",
    "FILTER",
    "GROUP_BY",
    "SORT",
    "WINDOW",
    "CONDITIONAL",
)
_RANK = {IDENTITY: 0, TRANSFORMATION: 1, AGGREGATION: 2}
_HASHES = (exp.MD5, exp.SHA, exp.SHA2)
_HASH_NAMES = {"md5", "sha1", "sha256", "sha512", "hash", "md5_number"}
_COUNTS = (exp.Count, exp.ApproxDistinct)
_DESCRIPTION_LIMIT = 200


class SqlLineageError(ValueError):
    """The SQL cannot be parsed or analysed; the message names the query."""


@dataclass(frozen=True)
class ColumnEdge:
    """One source column of an output column (or of the whole output), and how it is used."""

    table: str
    column: str
    type: str = DIRECT
    subtype: str = IDENTITY
    description: str | None = None
    masking: bool = False


@dataclass
class ColumnLineage:
    columns: list[str]
    """Output columns, in order."""
    fields: dict[str, list[ColumnEdge]]
    """Output column -> its source columns (DIRECT, or INDIRECT CONDITIONAL)."""
    dataset: list[ColumnEdge]
    """Source columns that affect the whole output (INDIRECT JOIN/FILTER/GROUP_BY/...)."""
    tables: list[str] = field(default_factory=list)
    """Base tables the query reads."""


@dataclass(frozen=True)
class _Use:
    """A source column reached from an expression, with the composed kind of use."""

    table: str
    column: str
    type: str
    subtype: str
    masking: bool
    description: str | None = None


def _table_name(table: exp.Table) -> str:
    return ".".join(part.name for part in table.parts)


def _nested_schema(schemas: Mapping[str, Mapping[str, str]]) -> dict:
    """``{"a.b.c": cols}`` -> ``{"a": {"b": {"c": cols}}}`` (sqlglot's mapping schema)."""
    nested: dict = {}
    depths = {len(name.split(".")) for name in schemas}
    if len(depths) > 1:
        raise SqlLineageError("table names in the schema mapping must have the same depth")
    for name, columns in schemas.items():
        node = nested
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = dict(columns)
    return nested


def _plain(node: exp.Expr) -> str:
    """Readable SQL of an expression: columns without table qualifiers, no quotes."""

    def strip(n: exp.Expr) -> exp.Expr:
        if isinstance(n, exp.Column):
            return exp.column(n.name, table=n.table or None)
        if isinstance(n, exp.Identifier):
            return exp.to_identifier(n.name, quoted=False)
        return n

    text = node.copy().transform(strip).sql(dialect="duckdb")
    if len(text) > _DESCRIPTION_LIMIT:
        text = text[: _DESCRIPTION_LIMIT - 1] + "…"
    return text


def _selects(node: exp.Expr) -> list[exp.Expr]:
    return list(node.selects) if isinstance(node, exp.Query) else []


def _is_query(node: exp.Expr) -> bool:
    return isinstance(node, exp.Query | exp.Subquery)


def _own_columns(root: exp.Expr) -> list[exp.Column]:
    """Columns inside ``root`` that do not belong to a nested query."""
    found: list[exp.Column] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Column):
            found.append(node)
            continue
        for child in node.iter_expressions():
            if not _is_query(child):
                stack.append(child)
    return found


def _local_kind(column: exp.Column, top: exp.Expr) -> tuple[str, str, bool] | None:
    """How ``column`` is used inside the select expression ``top``: (type, subtype, masking).

    None when it only feeds a window's partition/order (dataset-level WINDOW instead).
    """
    subtype = IDENTITY
    masking = False
    node: exp.Expr = column
    while node is not top and node.parent is not None:
        parent = node.parent
        if isinstance(parent, exp.Window) and node is not parent.this:
            return None
        if isinstance(parent, exp.If) and node is parent.this:
            return INDIRECT, CONDITIONAL, False
        if isinstance(parent, exp.Filter) and node is parent.args.get("expression"):
            return INDIRECT, CONDITIONAL, False
        if isinstance(parent, exp.AggFunc):
            subtype = AGGREGATION
            masking = masking or isinstance(parent, _COUNTS)
        elif subtype == IDENTITY and not isinstance(parent, exp.Alias | exp.Paren):
            subtype = TRANSFORMATION
        if isinstance(parent, _HASHES) or (
            isinstance(parent, exp.Anonymous) and str(parent.name).lower() in _HASH_NAMES
        ):
            masking = True
        node = parent
    return DIRECT, subtype, masking


def _compose(outer: tuple[str, str, bool], inner: _Use, description: str | None) -> _Use:
    """``inner`` seen through one more expression (``outer``, described by ``description``)."""
    otype, osub, omask = outer
    text = description if osub != IDENTITY else inner.description
    if otype == INDIRECT:
        return _Use(inner.table, inner.column, INDIRECT, osub, False, text)
    if inner.type == INDIRECT:
        return inner
    subtype = osub if _RANK[osub] >= _RANK[inner.subtype] else inner.subtype
    return _Use(inner.table, inner.column, DIRECT, subtype, omask or inner.masking, text)


class _Analyzer:
    def __init__(self, root: Scope):
        self.root = root
        self._memo: dict[tuple[int, str], list[_Use]] = {}

    # resolving columns ----------------------------------------------------------------------

    def _select_of(self, scope: Scope, name: str) -> list[tuple[exp.Expr, Scope]]:
        """The select expression(s) producing output ``name`` of ``scope`` (all set-op branches)."""
        if isinstance(scope.expression, exp.SetOperation):
            branches = self._branches(scope)
            if not branches:
                return []
            first = branches[0]
            names = [s.alias_or_name for s in _selects(first.expression)]
            if name not in names:
                return []
            index = names.index(name)
            return [
                (_selects(b.expression)[index], b)
                for b in branches
                if index < len(_selects(b.expression))
            ]
        for select in _selects(scope.expression):
            if select.alias_or_name == name:
                return [(select, scope)]
        return []

    def _branches(self, scope: Scope) -> list[Scope]:
        out: list[Scope] = []
        for child in scope.set_operation_scopes or []:
            if isinstance(child.expression, exp.SetOperation):
                out.extend(self._branches(child))
            else:
                out.append(child)
        return out

    def column_uses(self, column: exp.Column, scope: Scope) -> list[_Use]:
        """The base-table columns behind ``column`` as seen from ``scope``."""
        table = column.table
        source: exp.Expr | Scope | None = None
        if table:
            source = scope.sources.get(table)
        elif len(scope.selected_sources) == 1:
            source = next(iter(scope.selected_sources.values()))[1]
        if source is None:
            if not table:  # an output alias (ORDER BY n, GROUP BY alias)
                return [
                    u
                    for s, sc in self._select_of(scope, column.name)
                    for u in self.expr_uses(s, sc)
                ]
            return []
        if isinstance(source, exp.Table):
            return [_Use(_table_name(source), column.name, DIRECT, IDENTITY, False)]
        if isinstance(source, Scope):
            key = (id(source), column.name)
            if key not in self._memo:
                self._memo[key] = []  # cycle guard (recursive CTEs)
                self._memo[key] = [
                    u
                    for s, sc in self._select_of(source, column.name)
                    for u in self.expr_uses(s, sc)
                ]
            return self._memo[key]
        return []

    def expr_uses(self, expression: exp.Expr, scope: Scope) -> list[_Use]:
        """Source columns of one select expression, with how each is used."""
        uses: list[_Use] = []
        inner = expression.this if isinstance(expression, exp.Alias) else expression
        description = None if isinstance(inner, exp.Column) else _plain(inner)
        for column in _own_columns(expression):
            kind = _local_kind(column, expression)
            if kind is None:
                continue
            uses.extend(_compose(kind, u, description) for u in self.column_uses(column, scope))
        for subquery in expression.find_all(exp.Subquery):
            child = self._scope_of(subquery, scope)
            if child is None or not _selects(child.expression):
                continue
            outer = _local_kind_of_node(subquery, expression)
            for u in self.expr_uses(_selects(child.expression)[0], child):
                uses.append(_compose(outer, u, description))
        return uses

    def _scope_of(self, subquery: exp.Subquery, scope: Scope) -> Scope | None:
        for child in scope.subquery_scopes:
            if child.expression is subquery.this:
                return child
        return None

    # dataset-level indirect lineage ----------------------------------------------------------

    def indirect(self) -> list[tuple[str, _Use, str]]:
        """(subtype, source column, description) for every JOIN/FILTER/GROUP/WINDOW/SORT use."""
        found: list[tuple[str, _Use, str]] = []
        for scope in self.root.traverse():
            expression = scope.expression
            if not isinstance(expression, exp.Select):
                continue
            for column in _own_columns(expression):
                clause = _clause(column, expression)
                if clause is None:
                    continue
                subtype, node = clause
                for use in self.column_uses(column, scope):
                    found.append((subtype, use, _plain(node)))
            if scope.is_subquery and _filters_parent(expression):
                for select in _selects(expression):
                    for use in self.expr_uses(select, scope):
                        found.append((FILTER, use, "filtering subquery"))
        return found


def _local_kind_of_node(node: exp.Expr, top: exp.Expr) -> tuple[str, str, bool]:
    if node is top:
        return DIRECT, TRANSFORMATION, False
    parent = node.parent
    while parent is not None and parent is not top and not isinstance(parent, exp.AggFunc):
        parent = parent.parent
    return DIRECT, AGGREGATION if isinstance(parent, exp.AggFunc) else TRANSFORMATION, False


def _clause(column: exp.Column, select: exp.Select) -> tuple[str, exp.Expr] | None:
    """The dataset-level role of a column of ``select``: JOIN, FILTER, GROUP_BY, SORT, WINDOW."""
    node: exp.Expr = column
    window: exp.Window | None = None
    while node.parent is not None and node is not select:
        parent = node.parent
        if isinstance(parent, exp.Window) and node is not parent.this and window is None:
            window = parent
        if parent is select:
            key = node.arg_key
            if key == "joins":
                return JOIN, node.args.get("on") or node
            if key in ("where", "having", "qualify"):
                return FILTER, node
            if key == "group":
                return GROUP_BY, node
            if key == "order":
                return SORT, node
            if key == "expressions" and window is not None:
                return WINDOW, window
            return None
        node = parent
    return None


def _filters_parent(select: exp.Select) -> bool:
    """Whether a subquery sits in its parent's WHERE/HAVING/QUALIFY/JOIN ON (a filter)."""
    node: exp.Expr | None = select.parent
    while node is not None:
        if isinstance(node, exp.Where | exp.Having | exp.Qualify):
            return True
        if isinstance(node, exp.Join):
            return True
        if isinstance(node, exp.Select):
            return False
        node = node.parent
    return False


def _dedupe(edges: Iterable[ColumnEdge]) -> list[ColumnEdge]:
    seen: dict[ColumnEdge, None] = {}
    for e in edges:
        seen.setdefault(e, None)
    return list(seen)


def column_lineage(
    sql: str,
    schemas: Mapping[str, Mapping[str, str]] | None = None,
    *,
    dialect: str = "duckdb",
    catalog: str | None = None,
    db: str | None = None,
) -> ColumnLineage:
    """Column lineage of ``sql`` (one SELECT, optionally with CTEs).

    ``schemas`` maps table names (``catalog.schema.table``, or all with the same depth) to
    ``{column: type}``; it resolves ``select *``. ``catalog``/``db`` qualify bare names.
    """
    try:
        parsed = sqlglot.parse_one(sql, dialect=dialect)
    except sqlglot.errors.ParseError as exc:
        raise SqlLineageError(f"cannot parse SQL: {exc}") from None
    if not isinstance(parsed, exp.Query):
        raise SqlLineageError(f"not a query: {type(parsed).__name__}")
    try:
        qualified = qualify(
            parsed,
            schema=_nested_schema(schemas) if schemas else None,
            dialect=dialect,
            catalog=catalog,
            db=db,
            validate_qualify_columns=False,
            identify=False,
        )
    except sqlglot.errors.SqlglotError as exc:
        raise SqlLineageError(f"cannot qualify SQL: {exc}") from None
    root = build_scope(qualified)
    if root is None:
        raise SqlLineageError("the SQL has no query scope")
    analyzer = _Analyzer(root)

    top = analyzer._branches(root)[0] if isinstance(root.expression, exp.SetOperation) else root
    columns = [s.alias_or_name for s in _selects(top.expression)]
    fields: dict[str, list[ColumnEdge]] = {}
    for name in columns:
        edges = []
        for select, scope in analyzer._select_of(root, name):
            for use in analyzer.expr_uses(select, scope):
                edges.append(
                    ColumnEdge(
                        use.table,
                        use.column,
                        use.type,
                        use.subtype,
                        None if use.subtype == IDENTITY else use.description,
                        use.masking,
                    )
                )
        fields[name] = _dedupe(edges)
    dataset = _dedupe(
        ColumnEdge(use.table, use.column, INDIRECT, subtype, description, False)
        for subtype, use, description in analyzer.indirect()
    )
    tables = sorted(
        {
            _table_name(source)
            for scope in root.traverse()
            for source in scope.sources.values()
            if isinstance(source, exp.Table)
        }
    )
    return ColumnLineage(columns, fields, dataset, tables)
