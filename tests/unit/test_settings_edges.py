"""Settings are resolved once, at the edges, and passed down (issue #14).

Library code takes ``settings: Settings`` and never builds one: a fallback such as
``settings or Settings()`` deep in a call reads the environment again, silently ignoring the
``--settings``/``--data-dir`` the caller resolved. Read with :mod:`ast`, every call of
``Settings(...)`` in ``pipelines/`` and ``dags/`` must sit in one of :data:`EDGES`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# module (relative to the repository) -> the edge it is
EDGES = {
    "pipelines/settings.py": "settings_for: what a command line resolves (CLI, sub-CLIs)",
    "pipelines/taskscope.py": "task_settings: what an Airflow task resolves on its worker",
    "pipelines/assets.py": "Airflow asset callbacks",
    "pipelines/policy/notify.py": "the Airflow notifier callback",
    "pipelines/portal/plugin.py": "the Airflow webserver plugin",
    "pipelines/features/api.py": "user_settings: the ML users' entry (load_features, ...)",
    "dags/commerce_daily.py": "the DAG file, parsed by Airflow",
}


def settings_constructions(path: Path) -> list[int]:
    """Lines of ``path`` that call ``Settings(...)`` (or ``<module>.Settings(...)``)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name == "Settings":
            lines.append(node.lineno)
    return sorted(lines)


def constructions() -> dict[str, list[int]]:
    found = {}
    for folder in ("pipelines", "dags"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            lines = settings_constructions(path)
            if lines:
                found[path.relative_to(ROOT).as_posix()] = lines
    return found


def test_settings_are_built_only_at_the_edges():
    outside = {
        f"{module}:{line}": "Settings(...) built in library code"
        for module, lines in constructions().items()
        if module not in EDGES
        for line in lines
    }
    assert not outside, (
        "resolve settings at the edge (settings_for, task_settings) and pass them down as a "
        f"required `settings: Settings` parameter: {sorted(outside)}"
    )


def test_every_edge_still_builds_settings():
    """The allowed list only shrinks: an edge that no longer builds settings is removed."""
    stale = sorted(set(EDGES) - set(constructions()))
    assert not stale, f"remove from EDGES (they build no Settings any more): {stale}"


def test_the_reader_sees_every_form_of_construction(tmp_path: Path):
    module = tmp_path / "sample.py"
    module.write_text(
        "from pipelines import settings as s\n"
        "from pipelines.settings import Settings\n"
        "def f(x=None):\n"
        "    a = x or Settings()\n"
        "    b = s.Settings(data_dir='d')\n"
        "    return lambda: Settings(**{})\n"
        "Settings  # a reference, not a call\n"
    )
    assert settings_constructions(module) == [4, 5, 6]
