"""The Celery workers' preload (``pipelines/worker.py``) holds what the DAGs' tasks import.

A module missing from it costs its import in every task process (Great Expectations: about
three CPU seconds per quality task), silently: these tests name what is missing.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.settings import PROJECT_DIR
from pipelines.worker import CELERY_CONFIG, PRELOAD

DAGS = PROJECT_DIR / "dags"
# What a task spends seconds importing; dbt is not among them: it runs in a child process.
HEAVY = ("great_expectations", "pandas", "duckdb", "pyarrow", "sqlalchemy", "boto3")
PROBE = (
    "import importlib, json, sys\n"
    "from pipelines.worker import CELERY_CONFIG\n"
    "for name in CELERY_CONFIG['imports']:\n"
    "    importlib.import_module(name)\n"
    "print(json.dumps(sorted(sys.modules)))\n"
)


def _imported_in_functions(path: Path) -> set[str]:
    """The ``pipelines`` modules imported inside the functions of ``path``."""
    found: set[str] = set()
    for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "pipelines"}


def _task_modules() -> set[str]:
    return set().union(*(_imported_in_functions(p) for p in sorted(DAGS.glob("*.py"))))


def _source(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, module
    return Path(spec.origin)


@pytest.fixture(scope="module")
def preloaded(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The modules a worker holds once its preload ran (a fresh interpreter)."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = dict(os.environ, AIRFLOW_HOME=str(home), PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_worker_configuration_imports_the_preload():
    assert set(PRELOAD) <= set(CELERY_CONFIG["imports"])


def test_every_module_a_dag_task_imports_is_preloaded():
    used = _task_modules()
    assert {"pipelines.tasks", "pipelines.quality.tasks"} <= used  # the scan finds them
    assert not used - set(PRELOAD), f"add to pipelines.worker.PRELOAD: {used - set(PRELOAD)}"


def test_what_the_task_functions_import_when_they_run_is_preloaded(preloaded: set[str]):
    inner = set().union(*(_imported_in_functions(_source(m)) for m in _task_modules()))
    assert "pipelines.quality.runner" in inner  # the scan reads the task modules' functions
    missing = inner - preloaded
    assert not missing, f"add to pipelines.worker.PRELOAD: {sorted(missing)}"


def test_the_heavy_libraries_are_preloaded_and_dbt_is_not(preloaded: set[str]):
    assert not set(HEAVY) - preloaded, f"not preloaded: {set(HEAVY) - preloaded}"
    assert "dbt" not in preloaded
