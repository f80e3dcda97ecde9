"""Which part of ``pipelines`` may import which: the rules, checked on the real import graph.

The graph is read from the source with :mod:`ast`: every ``import``/``from ... import`` of a
``pipelines`` module, at module level, inside functions and inside ``if TYPE_CHECKING:``
blocks (an annotation is a dependency too). Each module belongs to a *component*: its
package (``pipelines/quality/...`` -> ``quality``), except

* the edges: each package's ``command.py`` and ``__main__.py`` are its part of the
  ``pipelines`` CLI (``cli``), each package's ``tasks.py`` its part of what the DAGs call
  (``tasks``); they wire packages together, so they may import every package below them;
* the modules at the top of ``pipelines/``, grouped in :data:`ROOT_MODULES`.

:data:`MAY_IMPORT` is the rule table (DEVELOPERS.md, "Where things go", shows it): a component
may import itself and the components it lists, nothing else. :data:`EXCEPTIONS` names the
imports that break it today, each with why and what ends it; an exception no import needs any
more fails the test, so the list only shrinks. No component cycle is allowed outside them, and
no import loop between two files at all.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pipelines"

ROOT_MODULES = {
    # the foundation: settings, hashing, the contracts and what is derived from them alone
    "settings": "core",
    "hashing": "core",
    "sql": "core",
    "rowchecks": "core",
    "contracts": "core",
    "protection_types": "core",
    "contract_docs": "core",
    "pii_inventory": "core",
    "plan": "core",
    "schedule": "core",
    "deploy": "core",
    "odcs": "core",
    "failures": "core",
    "pgstate": "core",
    "statefile": "core",
    "yamlfile": "core",
    # what reaches a terminal or a log: redaction and the console
    "redact": "console",
    "console": "console",
    # the entry points
    "cli": "cli",
    "__main__": "cli",
    "demo": "cli",
    "airflow_runs": "cli",
    "summary": "cli",
    "runrange": "cli",
    "tasks": "tasks",
    "taskscope": "tasks",
    "assets": "tasks",
    "worker": "tasks",
}
"""Component of each module at the top of ``pipelines/`` (a new one must be placed here)."""

EDGE_MODULES = {"command": "cli", "__main__": "cli", "tasks": "tasks"}
"""A package's modules that belong to an entry point rather than to the package."""

_CORE = {"core"}
_BASE = {"core", "console"}
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "protection": _CORE,
    "console": _CORE | {"protection"},  # the text redactor is protection's PII detector
    "lake": _CORE | {"protection"},  # quarantine records: PII protected, the rest encrypted
    "generate": _CORE,
    "scaffold": _BASE | {"protection"},  # contract proposals: ingestion's PII detectors
    # governance policy: the policy file, purpose and transfer checks, findings (audit log)
    "policy": _CORE | {"protection"},
    # emission: what every stage may import; it imports no stage. The policy gives datasets
    # their subjects' jurisdiction and checks the lineage backend is an allowed destination
    "lineage": _BASE | {"lake", "policy"},
    "ingest": _BASE | {"protection", "lake", "lineage"},
    "warehouse": _BASE | {"lake", "lineage"},
    "quality": _BASE | {"protection", "lake", "lineage"},
    "features": _BASE | {"lake", "warehouse", "quality", "lineage", "policy"},
    "models": _BASE | {"lake", "warehouse", "quality", "features", "lineage", "policy"},
    # lineage reporting: reads the recorded events (the store), never a stage's code
    "reporting": _BASE | {"lineage"},
    "portal": _BASE
    | {"protection", "lake", "quality", "features", "models", "lineage", "reporting", "policy"},
    # data subject rights and anonymity: reads and rewrites the lake, landing, features and
    # the warehouse; ingestion honours its suppression list through lake/suppression.py;
    # releases representativeness by the quality suites' segment columns and references
    "privacy": _BASE
    | {"protection", "lake", "ingest", "warehouse", "quality", "features", "lineage", "policy"},
    "tasks": _BASE
    | {
        "protection",
        "lake",
        "ingest",
        "warehouse",
        "lineage",
        "quality",
        "features",
        "models",
        "privacy",
        "policy",
    },
    "cli": _BASE
    | {
        "protection",
        "lake",
        "generate",
        "ingest",
        "warehouse",
        "lineage",
        "quality",
        "features",
        "models",
        "reporting",
        "portal",
        "privacy",
        "scaffold",
        "policy",
        "tasks",
    },
}
"""Component -> the components it may import (besides itself)."""

EXCEPTIONS: dict[tuple[str, str], str] = {}
"""Imports against :data:`MAY_IMPORT` that exist today: (importer, imported) -> why."""

HEAVY = {
    "great_expectations",
    "dbt",
    "airflow",
    "openlineage",
    "sklearn",
    "fastapi",
    "polars",
    "pyarrow",
    "duckdb",
}
"""Libraries that take half a second or more to import (measured on the project machine under
load, 2026-12: great_expectations 15 s, dbt 7 s, airflow.sdk 7 s, scikit-learn 6 s, fastapi
1.7 s, openlineage 1.4 s, polars 1.1 s, pyarrow 0.8 s, duckdb 0.5 s; pydantic 0.3 s): what a
project import inside a function may defer."""


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    importer: str  # module name
    imported: str  # module name
    in_function: bool
    type_checking: bool

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _resolve(name: str) -> str | None:
    """The project module ``name`` refers to (its longest existing prefix), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.Import | ast.ImportFrom, importer: str) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the importer's package, ``level - 1`` steps up
            parts = _package_of(importer).split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
        # ``from pkg import sub`` uses the submodule's file when ``sub`` is a module
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    found = (_resolve(n) for n in names if n == "pipelines" or n.startswith("pipelines."))
    return sorted({m for m in found if m is not None})


class _Collector(ast.NodeVisitor):
    def __init__(self, importer: str, file: Path):
        self.importer, self.file = importer, file
        self.functions = 0
        self.type_checking = 0
        self.found: list[Import] = []
        self.external: set[str] = set()  # third-party packages imported at module level

    def _function(self, node: ast.AST) -> None:
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
        self.type_checking += guarded
        for child in node.body:
            self.visit(child)
        self.type_checking -= guarded
        for child in node.orelse:
            self.visit(child)

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if not (self.functions or self.type_checking):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            self.external |= {n.split(".")[0] for n in names if n and not getattr(node, "level", 0)}
        for target in _targets(node, self.importer):
            if target != self.importer:
                self.found.append(
                    Import(
                        self.file,
                        node.lineno,
                        self.importer,
                        target,
                        self.functions > 0,
                        self.type_checking > 0,
                    )
                )

    visit_Import = visit_ImportFrom = _import


def _collect(path: Path, importer: str) -> _Collector:
    collector = _Collector(importer, path)
    collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return collector


def imports_of(path: Path, importer: str) -> list[Import]:
    """The project modules ``path`` imports, read as module ``importer`` (a DAG file too)."""
    return _collect(path, importer).found


def _imports() -> tuple[list[Import], dict[str, set[str]]]:
    found: list[Import] = []
    external: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        collector = _collect(path, name)
        found += collector.found
        external[name] = collector.external
    return found, external


IMPORTS, EXTERNAL = _imports()


def component(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "core"  # ``pipelines`` itself
    if len(parts) >= 3 and parts[2] in EDGE_MODULES:
        return EDGE_MODULES[parts[2]]
    if (PACKAGE / parts[1]).is_dir():
        return parts[1]
    if parts[1] not in ROOT_MODULES:
        raise AssertionError(
            f"pipelines/{parts[1]}.py belongs to no component: add it to ROOT_MODULES in "
            f"{Path(__file__).relative_to(ROOT)} (or move it into the package it serves)"
        )
    return ROOT_MODULES[parts[1]]


def _crossing() -> list[tuple[Import, str, str]]:
    out = []
    for imp in IMPORTS:
        a, b = component(imp.importer), component(imp.imported)
        if a != b:
            out.append((imp, a, b))
    return out


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                members.append(top)
                if top == node:
                    break
            if len(members) > 1:
                cycles.append(sorted(members))

    for node in sorted(set(edges) | {n for targets in edges.values() for n in targets}):
        if node not in index:
            visit(node)
    return cycles


def test_every_component_has_a_rule() -> None:
    components = {component(m) for m in MODULES}
    assert components <= set(MAY_IMPORT), (
        f"components without a row in MAY_IMPORT: {sorted(components - set(MAY_IMPORT))}"
    )
    unknown = {c for allowed in MAY_IMPORT.values() for c in allowed} - set(MAY_IMPORT)
    assert not unknown, f"MAY_IMPORT names unknown components: {sorted(unknown)}"


def test_developers_md_shows_this_table() -> None:
    text = (ROOT / "DEVELOPERS.md").read_text(encoding="utf-8")
    table = text.split("| component | may import |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|$", table, re.M)
    shown = {
        name: set(re.findall(r"\b[a-z]+\b", allowed)) - {"nothing", "of", "the", "project"}
        for name, allowed in rows
    }
    assert shown == MAY_IMPORT, "DEVELOPERS.md's import table differs from MAY_IMPORT"


def test_the_rule_table_has_no_cycle() -> None:
    assert not _cycles(MAY_IMPORT), "MAY_IMPORT allows a cycle; the layers must be ordered"


def test_every_import_follows_the_rule_table() -> None:
    broken = [
        f"{imp.where}: {imp.importer} imports {imp.imported}, but {a} may not import {b} "
        f"(MAY_IMPORT[{a!r}] = {sorted(MAY_IMPORT[a])})"
        for imp, a, b in _crossing()
        if b not in MAY_IMPORT[a] and (a, b) not in EXCEPTIONS
    ]
    assert not broken, "imports against the rules in tests/unit/test_import_rules.py:\n" + (
        "\n".join(broken)
    )


def test_every_exception_is_still_needed() -> None:
    used = {(a, b) for _, a, b in _crossing()}
    stale = [f"{a} -> {b}: {why}" for (a, b), why in EXCEPTIONS.items() if (a, b) not in used]
    assert not stale, "no import needs these EXCEPTIONS any more; delete them:\n" + "\n".join(stale)
    allowed = [f"{a} -> {b}" for a, b in EXCEPTIONS if b in MAY_IMPORT[a]]
    assert not allowed, f"exceptions for imports the table allows: {allowed}"


def test_no_component_cycle_outside_the_exceptions() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    for imp, a, b in _crossing():
        if (a, b) not in EXCEPTIONS:
            edges[a].add(b)
            where.setdefault((a, b), imp.where)
    cycles = _cycles(edges)
    detail = [
        f"{a} -> {b} ({where[a, b]})"
        for cycle in cycles
        for a in cycle
        for b in sorted(edges[a] & set(cycle))
    ]
    assert not cycles, f"component cycles {cycles}:\n" + "\n".join(detail)


def test_no_import_loop_between_files() -> None:
    """Runtime imports only: an import under ``TYPE_CHECKING`` never runs."""
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        if not imp.type_checking:
            edges[imp.importer].add(imp.imported)
    # a package's __init__ importing its own submodules is how a package exports
    for importer in list(edges):
        if MODULES[importer].name == "__init__.py":
            edges[importer] = {m for m in edges[importer] if not m.startswith(importer + ".")}
    loops = _cycles(edges)
    assert not loops, f"modules importing each other (directly or through others): {loops}"


# Imports inside functions ---------------------------------------------------------------------
# A project import inside a function is allowed only to defer a heavy library (HEAVY) that the
# importing module does not load anyway. No rule enforces it; this measures it. Measured
# 2026-12-06 after the lake move (issue #14): 192 project import statements inside functions;
# 101 of them defer no library in HEAVY (cli.py 19, quality/command.py 11, features/tasks.py
# 6, ...: mostly CLI command functions and task bodies, a habit rather than a need).
# ``pytest -s tests/unit/test_import_rules.py`` lists them.


def _loads(module: str, seen: set[str] | None = None) -> set[str]:
    """The heavy libraries importing ``module`` loads (module-level imports, transitively,
    parent packages included)."""
    seen = set() if seen is None else seen
    if module in seen:
        return set()
    seen.add(module)
    heavy = EXTERNAL[module] & HEAVY
    parent = module.rpartition(".")[0]
    if parent:
        heavy |= _loads(parent, seen)
    for imp in IMPORTS:
        if imp.importer == module and not (imp.in_function or imp.type_checking):
            heavy |= _loads(imp.imported, seen)
    return heavy


def test_report_imports_inside_functions(capsys: pytest.CaptureFixture[str]) -> None:
    statements: dict[tuple[str, int], set[str]] = defaultdict(set)
    for imp in IMPORTS:
        if imp.in_function and not imp.type_checking:
            statements[str(imp.file.relative_to(ROOT)), imp.line].add(imp.imported)
    importer_loads = {imp.importer: _loads(imp.importer) for imp in IMPORTS if imp.in_function}
    idle = []
    for (file, line), targets in sorted(statements.items()):
        importer = _module_name(ROOT / file)
        deferred = set().union(*(_loads(t) for t in targets)) - importer_loads[importer]
        if not deferred:
            idle.append(f"{file}:{line}: {', '.join(sorted(targets))}")
    with capsys.disabled():
        print(
            f"\n{len(statements)} project imports inside functions; {len(idle)} defer no heavy "
            f"library ({', '.join(sorted(HEAVY))}):\n  " + "\n  ".join(idle)
        )
    assert len(idle) <= len(statements)
