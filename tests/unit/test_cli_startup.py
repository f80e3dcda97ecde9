"""Light commands start fast: they import none of the heavy libraries.

Airflow, Great Expectations, dbt, OpenLineage, pandas, ... cost seconds per process to import
(more without cached bytecode, and far more on a loaded machine), so a command that needs
none of them must not load them, even indirectly. Each command runs in a fresh interpreter
and the test reads its ``sys.modules`` (not a timing test: timings are in BENCHMARKS.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.protection import create_keyring

HEAVY = (
    "airflow",
    "great_expectations",
    "dbt",
    "openlineage",
    "pyarrow.dataset",
    "pandas",
    "scipy",
    "sqlalchemy",
    "altair",
    "sqlglot",
    "polars",
)

PROBE = """
import json, sys
from pipelines.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print()
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

# A command and its exit code on an empty data directory.
LIGHT_COMMANDS = [
    (["--help"], 0),
    (["contracts", "check"], 0),
    (["contracts", "list"], 0),
    (["pii", "inventory"], 0),
    (["settings"], 0),
    (["keys", "show"], 0),
    (["audit", "verify"], 0),
    (["summary"], 0),
    (["features", "releases"], 1),  # "nothing built yet"
    (["lineage", "pii"], 0),
    (["quality", "summary"], 0),
]


def run_probe(args: list[str], data_dir: Path, key_file: Path) -> tuple[int, list[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINES_", "OPENLINEAGE"))}
    env.update(PIPELINES_DATA_DIR=str(data_dir), PIPELINES_KEY_FILE=str(key_file))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=env,
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return int(report["code"] or 0), report["modules"], done.stderr


def heavy_in(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if m in HEAVY or m.startswith(tuple(f"{h}." for h in HEAVY)))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli-startup")
    key_file = root / "keyring.json"
    create_keyring(key_file)
    return root / "data", key_file


@pytest.mark.parametrize(
    ("args", "expected"), LIGHT_COMMANDS, ids=[" ".join(a) for a, _ in LIGHT_COMMANDS]
)
def test_light_command_imports_no_heavy_library(
    args: list[str], expected: int, home: tuple[Path, Path]
):
    data_dir, key_file = home
    data_dir.mkdir(exist_ok=True)
    code, modules, stderr = run_probe(args, data_dir, key_file)
    assert code == expected, stderr[-3000:]
    assert heavy_in(modules) == [], f"pipelines {' '.join(args)}"


def test_the_probe_sees_a_heavy_import(home: tuple[Path, Path]):
    """The check can fail: a command that needs GX (building its Data Docs) loads it."""
    data_dir, key_file = home
    data_dir.mkdir(exist_ok=True)
    _, modules, _ = run_probe(["quality", "validate", "--help"], data_dir, key_file)
    assert heavy_in(modules) == []  # --help of a heavy command is light too
    # (``quality validate`` on an empty lake fails before it needs GX: not a heavy command)
    code, modules, stderr = run_probe(["quality", "docs"], data_dir, key_file)
    assert "great_expectations" in heavy_in(modules), (code, stderr[-2000:])
