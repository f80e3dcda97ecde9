"""The Celery workers' preload (``pipelines/worker.py``) holds what the DAGs' tasks import.

A module missing from it costs its import in every task process (Great Expectations: about
three CPU seconds per quality task), silently: these tests name what is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipelines.settings import PROJECT_DIR
from pipelines.worker import CELERY_CONFIG, PRELOAD
from tests.unit.test_import_rules import IMPORTS, imports_of

DAGS = PROJECT_DIR / "dags"
# What a task spends seconds importing; dbt is not among them: it runs in a child process.
HEAVY = (
    "great_expectations",
    "pandas",
    "duckdb",
    "pyarrow",
    "sqlalchemy",
    "boto3",
    "airflow.providers.openlineage.api",
    "opendp.prelude",
)
PROBE = (
    "import importlib, json, sys\n"
    "from pipelines.worker import CELERY_CONFIG\n"
    "for name in CELERY_CONFIG['imports']:\n"
    "    importlib.import_module(name)\n"
    "print(json.dumps(sorted(sys.modules)))\n"
)


def _task_modules() -> set[str]:
    """The project modules the DAG files' task functions import."""
    found = (imports_of(p, f"dags.{p.stem}") for p in sorted(DAGS.glob("*.py")))
    return {i.imported for imports in found for i in imports if i.in_function}


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
    tasks = _task_modules()
    inner = {i.imported for i in IMPORTS if i.importer in tasks and i.in_function}
    assert "pipelines.quality.runner" in inner  # the scan reads the task modules' functions
    missing = inner - preloaded
    assert not missing, f"add to pipelines.worker.PRELOAD: {sorted(missing)}"


def test_the_heavy_libraries_are_preloaded_and_dbt_is_not(preloaded: set[str]):
    assert not set(HEAVY) - preloaded, f"not preloaded: {set(HEAVY) - preloaded}"
    assert "dbt" not in preloaded


def test_a_worker_warms_boto3_once_before_its_pool_starts(monkeypatch: pytest.MonkeyPatch):
    from celery.signals import worker_init

    from pipelines.lake import s3client

    calls: list[str] = []
    monkeypatch.setattr(s3client, "warm", lambda: calls.append("warm"))
    worker_init.send(sender=None)
    assert calls == ["warm"]
