"""Run dbt on the feature project from Python, quietly, and return what it did.

``run_dbt(["build"], settings, vars={"as_of": "2018-01-08"})`` runs dbt in a **child
process** (:mod:`pipelines.warehouse.dbt_child`: a fork of a server that imported dbt once,
or ``python -m dbt.cli.main``), not in-process through ``dbtRunner``:

- the caller never holds the warehouse file: DuckDB allows one writing process per file and
  dbt-duckdb keeps its database handle in a class-level singleton that it drops only at
  interpreter exit (``atexit``), so after an in-process run the Airflow worker or the CLI
  would keep the file open (and locked) for as long as it lives;
- dbt configures logging, global flags and an invocation context per process; in-process it
  would reconfigure the caller's logging and is not safe to run twice at once;
- a crash, an out-of-memory kill or a timeout ends the child, not the Airflow task process;
- the child's environment is explicit: the effective settings go in as ``PIPELINES_*``
  variables (``dbt_project/profiles.yml`` reads them with ``env_var()``), and the key ring
  variables are removed (dbt never needs keys);
- the project adapts to the settings (:func:`project_dir`, :func:`project_vars`): the lake
  sources come from the ``contracts_dir`` contracts, your own models from ``dbt_models_dir``
  (both through a project shell in ``<data_dir>/dbt/project`` when not the repo's), and the
  var ``feature_packages_on`` turns on the feature packages whose lake tables have contracts.

The price of a child per call is small once the fork server has imported dbt (the first call
of a process pays the import, 1.5-2.5 CPU s on the project machines). Outputs:
``--target-path <data_dir>/dbt/target`` and ``--log-path <data_dir>/dbt/logs``, so the
repository stays clean. The terminal gets one line per model (and per failing or warning
test) and a summary line; passing tests are only counted. Everything else goes to
``<data_dir>/dbt/logs/dbt.log``. On failure :class:`DbtError` names every failing model or
test, with dbt's message and the compiled SQL file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pipelines.lake.storage import LAKE_URL_ENV
from pipelines.settings import Settings
from pipelines.warehouse.dbt_child import SECRET_ENV as _SECRET_ENV
from pipelines.warehouse.dbt_child import start as start_child
from pipelines.warehouse.project import DBT_PROJECT_DIR, dbt_dir, log_dir, target_dir

log = logging.getLogger(__name__)

_RESULT_EVENTS = frozenset(
    {
        "LogModelResult",
        "LogTestResult",
        "LogNodeResult",
        "LogSeedResult",
        "LogSnapshotResult",
        "LogFunctionResult",
    }
)
_BAD = frozenset({"error", "fail", "runtime error"})
BUILD_VALUES = frozenset({"as_of", "release_id", "run_id"})
"""Vars that change every build: passed as ``PIPELINES_BUILD_<NAME>`` environment variables
(read by ``macros/point_in_time.sql`` only while dbt executes), not ``--vars``: any change of
``--vars`` makes dbt re-parse the whole project (3-8 s), so a new ``as_of`` per build would
never reuse the saved manifest."""
_BUILD_ENV = "PIPELINES_BUILD_"


@dataclass(frozen=True)
class NodeResult:
    """One node of a dbt invocation (from ``run_results.json``)."""

    unique_id: str
    resource_type: str  # model, test, unit_test, seed, snapshot, ...
    name: str
    status: str  # success, error, skipped (models); pass, fail, warn, error (tests)
    seconds: float
    rows_affected: int | None
    failures: int | None
    message: str | None
    relation: str | None
    path: str | None  # the file that defines the node, relative to dbt_project/
    compiled_path: Path | None

    @property
    def ok(self) -> bool:
        return self.status not in _BAD


@dataclass(frozen=True)
class DbtResult:
    """What one dbt invocation did, and where its artifacts are."""

    args: tuple[str, ...]
    returncode: int
    seconds: float
    target_dir: Path
    log_dir: Path
    nodes: tuple[NodeResult, ...] = ()
    errors: tuple[str, ...] = ()  # error messages not tied to a node (parse errors, ...)
    warnings: tuple[str, ...] = ()  # warnings dbt logged (deprecations, ...)
    invocation_id: str | None = None
    run_results: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def success(self) -> bool:
        return self.returncode == 0 and not self.failed

    @property
    def failed(self) -> list[NodeResult]:
        return [n for n in self.nodes if not n.ok]

    def node(self, name: str, resource_type: str | None = None) -> NodeResult:
        for n in self.nodes:
            if n.name == name and (resource_type is None or n.resource_type == resource_type):
                return n
        raise KeyError(f"no node named {name!r} in this dbt result")

    def counts(self) -> dict[str, int]:
        """Nodes per ``<resource type> <status>`` (``"model success": 12``, ...)."""
        out: dict[str, int] = {}
        for n in self.nodes:
            key = f"{n.resource_type} {n.status}"
            out[key] = out.get(key, 0) + 1
        return out

    def _artifact(self, name: str) -> Path | None:
        path = self.target_dir / name
        return path if path.is_file() else None

    @property
    def manifest_path(self) -> Path | None:
        return self._artifact("manifest.json")

    @property
    def run_results_path(self) -> Path | None:
        return self._artifact("run_results.json")

    @property
    def catalog_path(self) -> Path | None:
        """``catalog.json``, written by ``dbt docs generate``."""
        return self._artifact("catalog.json")

    @property
    def docs_index(self) -> Path | None:
        return self._artifact("index.html")

    @property
    def log_file(self) -> Path:
        return self.log_dir / "dbt.log"

    def summary(self) -> dict[str, Any]:
        """A JSON-ready account of the run (for release metadata and XComs): status, timing,
        node counts, every model with its outcome, every failing test, artifact paths."""
        return {
            "command": " ".join(self.args),
            "success": self.success,
            "invocation_id": self.invocation_id,
            "seconds": round(self.seconds, 2),
            "counts": self.counts(),
            "models": [
                {
                    "name": n.name,
                    "status": n.status,
                    "seconds": round(n.seconds, 3),
                    "rows_affected": n.rows_affected,
                    "relation": n.relation,
                }
                for n in self.nodes
                if n.resource_type == "model"
            ],
            "failed": [
                {
                    "name": n.name,
                    "resource_type": n.resource_type,
                    "status": n.status,
                    "message": n.message,
                }
                for n in self.failed
            ],
            "artifacts": {
                "manifest": str(self.manifest_path) if self.manifest_path else None,
                "run_results": str(self.run_results_path) if self.run_results_path else None,
                "catalog": str(self.catalog_path) if self.catalog_path else None,
            },
        }

    def describe_failure(self) -> str:
        command = " ".join(self.args[:1]) or "dbt"
        lines = [f"dbt {command} failed (exit code {self.returncode})"]
        for n in self.failed:
            where = f" ({n.path})" if n.path else ""
            message = (n.message or n.status).strip().replace("\n", "\n      ")
            lines.append(f"  {n.resource_type} {n.name}{where}: {message}")
            if n.compiled_path is not None:
                lines.append(f"      compiled SQL: {n.compiled_path}")
        lines += [f"  {e.strip()}" for e in self.errors]
        lines.append(f"  full log: {self.log_file}")
        return "\n".join(lines)


class DbtError(RuntimeError):
    """dbt failed; the message names each failing model or test and dbt's message."""

    def __init__(self, result: DbtResult):
        super().__init__(result.describe_failure())
        self.result = result


def _link(path: Path, target: Path) -> None:
    """Make ``path`` a symbolic link to ``target`` (replacing whatever is there)."""
    if path.is_symlink() and Path(os.readlink(path)) == target:
        return
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    path.symlink_to(target, target_is_directory=True)


def _generated_sources(settings: Settings) -> str | None:
    """The sources file for ``contracts_dir``, or None when the committed one matches it."""
    from pipelines.contracts import load_contracts
    from pipelines.warehouse.sources import SOURCES_FILE, render_sources

    text = render_sources(load_contracts(settings.contracts_dir))
    if SOURCES_FILE.is_file() and SOURCES_FILE.read_text(encoding="utf-8") == text:
        return None
    return text


def _sources(shell: Path, text: str | None) -> None:
    """``shell/sources``: a link to the committed sources, or ``text`` generated."""
    from pipelines.warehouse.sources import SOURCES_FILE

    folder = shell / "sources"
    if text is None:
        _link(folder, SOURCES_FILE.parent)
        return
    if folder.is_symlink():
        folder.unlink()
    folder.mkdir(exist_ok=True)
    path = folder / SOURCES_FILE.name
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def project_dir(settings: Settings) -> Path:
    """The dbt project to run for ``settings``.

    The repository's ``dbt_project/`` when its committed sources match the contracts and no
    ``dbt_models_dir`` is set. Otherwise a shell in ``<data_dir>/dbt/project``: a copy of
    ``dbt_project.yml``, links to the repository's ``models/``, ``macros/`` and ``tests/``,
    ``sources/`` generated from ``contracts_dir`` and ``local_models`` linking
    ``dbt_models_dir``. dbt writes compiled SQL at ``<target>/compiled/<project>/<model path>``:
    a model path outside the project folder (absolute) would make it overwrite your files.
    """
    generated = _generated_sources(settings)
    if generated is None and settings.dbt_models_dir is None:
        return DBT_PROJECT_DIR
    shell = (dbt_dir(settings) / "project").resolve()
    shell.mkdir(parents=True, exist_ok=True)
    config = (DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8")
    copy = shell / "dbt_project.yml"
    if not copy.is_file() or copy.read_text(encoding="utf-8") != config:
        copy.write_text(config, encoding="utf-8")
    for name in ("models", "macros", "tests"):
        _link(shell / name, DBT_PROJECT_DIR / name)
    _sources(shell, generated)
    local = shell / "local_models"
    if settings.dbt_models_dir is not None:
        _link(local, settings.dbt_models_dir.resolve())
    elif local.is_symlink():
        local.unlink()
    return shell


def project_vars(settings: Settings) -> dict[str, object]:
    """The dbt vars every run gets: the feature packages that are on (their contracts exist)."""
    from pipelines.warehouse.declared import packages_on

    return {"feature_packages_on": packages_on(settings)}


def _child_env(settings: Settings, vars: Mapping[str, object] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SECRET_ENV
        and not k.startswith(_BUILD_ENV)
        and k not in ("PIPELINES_DBT_SOURCES_DIR", "PIPELINES_DBT_MODELS_DIR", LAKE_URL_ENV)
    }
    if settings.lake_url:  # dbt reads the lake's views through httpfs (warehouse/dbt_lake.py)
        env[LAKE_URL_ENV] = settings.lake_url
    env.update(
        {
            _BUILD_ENV + name.upper(): _text(value)
            for name, value in (vars or {}).items()
            if name in BUILD_VALUES
        }
    )
    env.update(
        PIPELINES_WAREHOUSE_PATH=str(settings.warehouse.resolve()),
        PIPELINES_DATA_DIR=str(settings.data_dir.resolve()),
        PIPELINES_DUCKDB_MEMORY_LIMIT=settings.duckdb_memory_limit,
        PIPELINES_DUCKDB_THREADS=str(settings.duckdb_threads or os.cpu_count() or 1),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        PYTHONWARNINGS="ignore",
    )
    return env


def _command(
    args: Sequence[str],
    settings: Settings,
    vars: Mapping[str, object] | None,
    project: Path = DBT_PROJECT_DIR,
) -> list[str]:
    cmd = [sys.executable, "-m", "dbt.cli.main", *args]
    cmd += ["--project-dir", str(project), "--profiles-dir", str(DBT_PROJECT_DIR)]
    # absolute: dbt runs in dbt_project/, and a relative data_dir means the caller's cwd
    target, logs = target_dir(settings).resolve(), log_dir(settings).resolve()
    cmd += ["--target-path", str(target), "--log-path", str(logs)]
    cmd += ["--log-format", "json", "--log-format-file", "debug", "--no-use-colors"]
    other = {k: v for k, v in (vars or {}).items() if k not in BUILD_VALUES}
    if other:
        cmd += ["--vars", json.dumps(other, default=str, sort_keys=True)]
    return cmd


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


@dataclass
class _Stream:
    """Reads dbt's JSON log lines as they come and reports outcomes."""

    echo: Callable[[str], None]
    verbose: bool = False
    invocation_id: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    passed: int = 0
    raw_tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    def feed(self, line: str) -> None:
        try:
            event = json.loads(line)
            info, data = event["info"], event.get("data", {})
        except (ValueError, KeyError, TypeError):
            if line.strip():
                self.raw_tail.append(line.rstrip())
                log.debug("dbt: %s", line.rstrip())
            return
        self.invocation_id = self.invocation_id or info.get("invocation_id")
        name, level = info.get("name", ""), info.get("level", "")
        if name in _RESULT_EVENTS:
            self._outcome(data)
        elif level == "error" and name not in ("RunResultError", "RunResultFailure"):
            text = str(data.get("exc") or info.get("msg") or "").strip()
            if text and name not in ("MainStackTrace", "EndOfRunSummary"):
                self.errors.append(text)
        elif level == "warn":
            self.warnings.append(str(info.get("msg", "")).strip())
            self.echo(f"dbt warning: {self.warnings[-1].splitlines()[0][:200]}")
        elif self.verbose:
            self.echo(f"dbt: {info.get('msg', '')}")

    def _outcome(self, data: dict[str, Any]) -> None:
        node = data.get("node_info") or {}
        status = str(data.get("status") or node.get("node_status") or "")
        kind = str(node.get("resource_type") or "node")
        label = str(node.get("node_name") or data.get("name") or "?")
        seconds = float(data.get("execution_time") or 0.0)
        if kind in ("test", "unit_test") and status == "pass" and not self.verbose:
            self.passed += 1
            return
        self.echo(f"{status:<7} {kind} {label} ({seconds:.1f}s)")


def _nodes(run_results: dict[str, Any], manifest: dict[str, Any], target: Path) -> list[NodeResult]:
    known = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    project = manifest.get("metadata", {}).get("project_name")
    out = []
    for r in run_results.get("results", []):
        uid = str(r["unique_id"])
        node = known.get(uid, {})
        path = node.get("original_file_path")
        compiled = None
        if path and project:
            candidate = target / "compiled" / project / path
            if candidate.suffix == ".yml" and node.get("path"):
                candidate = candidate / node["path"]  # a generic test defined in YAML
            compiled = candidate if candidate.is_file() else None
        response = r.get("adapter_response") or {}
        rows = response.get("rows_affected")
        out.append(
            NodeResult(
                unique_id=uid,
                resource_type=str(node.get("resource_type") or uid.split(".", 1)[0]),
                name=str(node.get("name") or uid.rsplit(".", 1)[-1]),
                status=str(r.get("status")),
                seconds=float(r.get("execution_time") or 0.0),
                rows_affected=int(rows) if isinstance(rows, int) and rows >= 0 else None,
                failures=r.get("failures"),
                message=r.get("message"),
                relation=r.get("relation_name") or node.get("relation_name"),
                path=path,
                compiled_path=compiled,
            )
        )
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_dbt(
    args: list[str],
    settings: Settings,
    vars: Mapping[str, object] | None = None,
    *,
    check: bool = True,
    echo: Callable[[str], None] | None = None,
    verbose: bool = False,
    timeout: float | None = None,
) -> DbtResult:
    """Run ``dbt <args>`` on ``dbt_project/`` against ``settings.warehouse``.

    ``vars`` become ``--vars`` (JSON; dates as ISO text), except the :data:`BUILD_VALUES`
    (environment variables, so dbt's partial parsing reuses the manifest). Progress lines go to ``echo``
    (default: this module's logger at INFO). With ``check`` (default) a failed run raises
    :class:`DbtError`; otherwise inspect ``result.success``.
    """
    if not args:
        raise ValueError("run_dbt needs a dbt command, e.g. ['build']")
    say = echo or log.info
    target, logs = target_dir(settings).resolve(), log_dir(settings).resolve()
    target.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    stream = _Stream(say, verbose)
    started = time.perf_counter()
    project = project_dir(settings)
    command = _command(args, settings, {**project_vars(settings), **(vars or {})}, project)
    # command = [python, -m, dbt.cli.main, <dbt's arguments>]: the child runs dbt's entry point
    with start_child(command[3:], _child_env(settings, vars), project) as proc:
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            proc.kill()

        watchdog = None if timeout is None else threading.Timer(timeout, stop)
        if watchdog is not None:
            watchdog.start()
        try:
            for line in proc:
                stream.feed(line)
            returncode = proc.wait()
        finally:
            if watchdog is not None:
                watchdog.cancel()
        if fired.is_set():
            stream.errors.append(f"dbt did not finish within {timeout:.0f}s and was stopped")
    seconds = time.perf_counter() - started
    run_results = _read_json(target / "run_results.json")
    if run_results.get("metadata", {}).get("invocation_id") != stream.invocation_id:
        run_results = {}  # left over from an earlier invocation
    nodes = _nodes(run_results, _read_json(target / "manifest.json"), target)
    if returncode != 0 and not stream.errors and not any(not n.ok for n in nodes):
        stream.errors.extend(stream.raw_tail)  # dbt failed before it could log (no JSON)
    result = DbtResult(
        args=tuple(args),
        returncode=returncode,
        seconds=seconds,
        target_dir=target,
        log_dir=logs,
        nodes=tuple(nodes),
        errors=tuple(stream.errors),
        warnings=tuple(stream.warnings),
        invocation_id=stream.invocation_id,
        run_results=run_results or None,
    )
    say(_summary(result, stream.passed))
    if check and not result.success:
        raise DbtError(result)
    return result


def _summary(result: DbtResult, passed_tests: int) -> str:
    models = [n for n in result.nodes if n.resource_type not in ("test", "unit_test")]
    tests = [n for n in result.nodes if n.resource_type in ("test", "unit_test")]
    parts = []
    if models:
        ok = sum(1 for n in models if n.ok and n.status != "skipped")
        parts.append(f"{ok}/{len(models)} nodes ok")
    if tests:
        by: dict[str, int] = {}
        for n in tests:
            by[n.status] = by.get(n.status, 0) + 1
        parts.append("tests " + ", ".join(f"{v} {k}" for k, v in sorted(by.items())))
    elif passed_tests:
        parts.append(f"{passed_tests} tests passed")
    skipped = sum(1 for n in result.nodes if n.status == "skipped")
    if skipped:
        parts.append(f"{skipped} skipped")
    state = "ok" if result.success else "FAILED"
    detail = "; ".join(parts) or "no nodes run"
    command = " ".join(a for a in result.args[:2] if not a.startswith("-"))
    return f"dbt {command}: {state} ({detail}) in {result.seconds:.1f}s"


def docs_dir(settings: Settings) -> Path:
    """``<data_dir>/reports/dbt``: the dbt docs site for governance staff."""
    return settings.data_dir / "reports" / "dbt"


def generate_docs(
    settings: Settings,
    as_of: date | None = None,
    *,
    echo: Callable[[str], None] | None = None,
    reuse: bool = False,
) -> Path:
    """``dbt docs generate --static`` on the current warehouse; returns the site's index.

    The site goes to ``<data_dir>/reports/dbt/``: ``index.html`` is dbt's single-file static
    page (manifest and catalog embedded, opens offline), next to ``manifest.json`` and
    ``catalog.json``. dbt's own copies stay in ``<data_dir>/dbt/target``. ``as_of`` only
    sets the date shown in compiled SQL (default: today). With ``reuse`` an existing site is
    kept when nothing it shows changed since it was generated
    (:mod:`pipelines.warehouse.docs_inputs`: the project, the vars, the date, the warehouse's
    relations and columns); dbt does not run.
    """
    from pipelines.warehouse.docs_inputs import docs_digest, record_digest, site_digest

    site = docs_dir(settings)
    variables = {"as_of": as_of.isoformat()} if as_of else None
    inputs = docs_digest(settings, project_dir(settings), project_vars(settings), as_of)
    if reuse and inputs is not None and site_digest(site) == inputs:
        (echo or log.info)(
            "dbt docs: the project and the warehouse's schema are unchanged; site kept"
        )
        return site / "index.html"
    result = run_dbt(["docs", "generate", "--static"], settings, variables, echo=echo)
    site.mkdir(parents=True, exist_ok=True)
    static = result.target_dir / "static_index.html"
    if not static.is_file():
        raise DbtError(dataclasses.replace(result, errors=("dbt wrote no static_index.html",)))
    record_digest(site, None)
    for source, name in (
        (static, "index.html"),
        (result.manifest_path, "manifest.json"),
        (result.catalog_path, "catalog.json"),
    ):
        if source is not None:
            shutil.copyfile(source, site / name)
    record_digest(site, inputs)
    return site / "index.html"
