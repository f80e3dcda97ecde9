"""No function in ``pipelines/`` or ``dags/`` is longer than 100 lines (issue #14).

A long function hides its steps; split it into named helpers. Read with :mod:`ast`; a
function's length runs from its ``def`` (decorators excluded) to its last line, nested
functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 100


def long_functions(path: Path, limit: int = MAX_LINES) -> list[tuple[str, int, int]]:
    """(name, first line, length) of each function in ``path`` longer than ``limit`` lines."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                found.append((node.name, node.lineno, length))
    return sorted(found, key=lambda f: f[1])


def test_no_function_is_longer_than_100_lines():
    too_long = [
        f"{path.relative_to(ROOT)}:{line} {name} ({length} lines)"
        for folder in ("pipelines", "dags")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name, line, length in long_functions(path)
    ]
    assert not too_long, f"split into named helpers (at most {MAX_LINES} lines): {too_long}"


def test_the_reader_measures_nested_and_async_functions(tmp_path: Path):
    body = "\n".join(f"        x{i} = {i}" for i in range(4))
    module = tmp_path / "sample.py"
    module.write_text(
        f"def outer():\n    def inner():\n{body}\n    return inner\n\n"
        f"async def coro():\n{body.replace('        ', '    ')}\n"
    )
    assert long_functions(module, limit=4) == [("outer", 1, 7), ("inner", 2, 5), ("coro", 9, 5)]
    assert long_functions(module, limit=5) == [("outer", 1, 7)]
    assert long_functions(module, limit=7) == []
