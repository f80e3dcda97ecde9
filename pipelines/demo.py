"""``make demo``: sample data, a key ring, and the daily DAG run by Airflow on SQLite.

The demo days run as ``airflow dags test`` in one Airflow process, one run per day
(:mod:`pipelines.airflow_runs`). Airflow's own output goes to a log file under
``<data_dir>/logs``; the terminal shows a line per day, one line per task and a summary at
the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

from pipelines.settings import PROJECT_DIR, Settings

DEMO_START = date(2018, 1, 1)
# Our own task log lines (pipelines.ingest) and Airflow's failure lines, echoed to the terminal.
_PROGRESS = re.compile(r"\b(\w+: read [\d,]+, loaded [\d,]+, quarantined [\d,]+)")
_FAILURE = re.compile(
    r"Task failed with exception|Marking task as FAILED|error: |\[DAG RUNS\] failed "
)
_CAUSE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Failed|Refused|Mismatch)\w*): (.+)")
"""A traceback's exception line (``pipelines.features.tasks.FeatureGateFailed: ...``): after
a task failed, the first one is the cause, shown on the terminal (messages of our exceptions
passed the redactor before reaching the log, :mod:`pipelines.redact`)."""
_RUN = re.compile(r"\[DAG RUNS\] run (\d+)/(\d+) (\w+) (\d{4}-\d\d-\d\d)")
_TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(\w+)")
_TASK_END = re.compile(r"\[DAG TEST\] end task task_id=(\w+)")
DAG_ID = "commerce_daily"
HEARTBEAT = 10.0
"""Seconds without a line on the terminal before the demo says what is still running."""


class Progress:
    """What the terminal shows of an ``airflow dags test`` run: ingestion counts, every other
    finished task with its time, and a line at least every :data:`HEARTBEAT` seconds while a
    task runs silently (the quality gate and the dbt build print nothing for a minute)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._task: str | None = None
        self._tasks_done = 0
        self._task_started = self._started = self._last_line = now()
        self._lock = threading.Lock()
        self._failing = False  # a task failed: its traceback's first exception line is shown

    def feed(self, line: str) -> list[str]:
        """The terminal lines for one line of Airflow's output."""
        with self._lock:
            out = []
            if run := _RUN.search(line):
                out.append(_run_line(*run.groups()))
            elif started := _TASK_START.search(line):
                self._task, self._task_started = started.group(1), self._now()
            elif ended := _TASK_END.search(line):
                task = ended.group(1)
                if not task.startswith("ingest_"):  # ingestion printed its counts already
                    out.append(f"{task} done ({self._now() - self._task_started:.0f}s)")
                self._task, self._tasks_done = None, self._tasks_done + 1
            elif progress := _PROGRESS.search(line):
                out.append(progress.group(1))
            elif _FAILURE.search(line):
                out.append(f"FAILED: {line.strip()[:300]}")
                self._failing = True
            elif self._failing and (cause := _CAUSE.match(line)):
                out.append(f"  cause: {cause.group(1).rsplit('.', 1)[-1]}: {cause.group(2)[:400]}")
                self._failing = False
            if out:
                self._last_line = self._now()
            return out

    def tick(self) -> str | None:
        """A line saying what is running, when the terminal has been quiet for a heartbeat."""
        with self._lock:
            now = self._now()
            if now - self._last_line < HEARTBEAT:
                return None
            self._last_line = now
            if self._task is None:
                doing = "scheduling the next task" if self._tasks_done else "starting"
                return f"airflow {doing} ({now - self._started:.0f}s)"
            return f"{self._task} running ({now - self._task_started:.0f}s)"


def _run_line(number: str, total: str, dag_id: str, logical: str) -> str:
    """``day 2/7: interval 2018-01-02 .. 2018-01-03 (airflow dags test ...)``: a daily
    data-interval timetable maps logical date D to the interval [D - 1 day, D)."""
    end = date.fromisoformat(logical)
    return (
        f"day {number}/{total}: interval {end - timedelta(days=1)} .. {end}"
        f"   (airflow dags test {dag_id} {logical})"
    )


def _say(message: str) -> None:
    print(message, flush=True)


def ensure_keyring(settings: Settings) -> dict[str, str]:
    """Use the configured keys, or create (once) and use a local development key ring."""
    if settings.keys is not None or settings.key_file is not None:
        return {}
    from pipelines.protection.keys import create_keyring

    path = settings.default_key_file
    legacy = settings.data_dir / "keys" / "dev-keyring.json"  # where it lived before 2026-12
    if legacy.exists() and not path.exists():
        import shutil

        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.move(legacy, path)
        path.chmod(0o600)
        _say(f"Moved the development key ring from {legacy} to {path} (out of the data dir).")
    if not path.exists():
        create_keyring(path)
        _say(
            f"Created a local DEVELOPMENT key ring at {path} (mode 0600).\n"
            "  Production keys come from PIPELINES_KEY_FILE or PIPELINES_KEYS; never commit keys."
        )
    else:
        _say(f"Using the development key ring at {path}")
    return {"PIPELINES_KEY_FILE": str(path)}


def ensure_sample(settings: Settings, orders: int, days: int, seed: int) -> None:
    import json

    from pipelines.generate import generate
    from pipelines.ingest.landing import local_landing

    local_landing(settings, "pipelines demo")  # it generates its sample into a local folder
    marker = settings.landing / "_generation.json"
    wanted = {"orders": orders, "days": days, "seed": seed, "start": DEMO_START.isoformat()}
    if marker.exists():
        existing = json.loads(marker.read_text())
        args = existing.get("arguments", {})
        if all(str(args.get(k)) == str(v) for k, v in wanted.items()):
            _say(f"Sample data already in {settings.landing} (seed {seed}, {orders} orders)")
            return
        raise SystemExit(
            f"{settings.landing} holds other generated data ({marker}); remove it or set "
            "PIPELINES_DATA_DIR to another folder"
        )
    _say(f"Generating {orders:,} orders over {days} days into {settings.landing} ...")
    report = generate(settings.landing, orders=orders, seed=seed, start=DEMO_START, days=days)
    _say(f"  done in {report.seconds:.1f}s")


def airflow_env(settings: Settings, extra: dict[str, str]) -> dict[str, str]:
    """Environment for the embedded default: SQLite metadata under <data_dir>/airflow."""
    from pipelines.lineage.naming import job_namespace

    home = settings.data_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "PIPELINES_DATA_DIR": str(settings.data_dir),
            "PYTHONWARNINGS": "ignore",
            # Embedded runs are interactive: retry failed tasks quickly instead of after 5 min.
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
            # The OpenLineage provider names runs in its namespace: the project's job namespace,
            # so its run ids are the ones our events carry (pipelines.lineage.runs).
            "AIRFLOW__OPENLINEAGE__NAMESPACE": job_namespace(),
            # ... and emits every task's events with our datasets and facets in them
            "AIRFLOW__OPENLINEAGE__EXTRACTORS": provider_extractor(),
            # ... from a thread of the task's process, not a fork of it per event
            # (:data:`EMIT_IN_THREAD`)
            **{k: v for k, v in EMIT_IN_THREAD.items() if k not in os.environ},
            **provider_transport(settings),
        }
    )
    if settings.settings_file is not None:  # `--settings FILE` reaches the tasks too
        env["PIPELINES_SETTINGS_FILE"] = str(settings.settings_file)
    env.update(extra)
    return env


EMIT_IN_THREAD = {"AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True"}
"""The provider's ``[openlineage] execute_in_thread`` (2.20): its listener emits a task's
START and COMPLETE from a thread of the task's process (waiting for it, up to
``[openlineage] execution_timeout``) instead of forking that process for each event. Under
``airflow dags test`` every task runs in the one process that has imported Airflow, GX,
DuckDB and the project: two forks of it per task (54 per demo day) cost their copy-on-write
faults and a scheduling round trip each. The events are the same; an environment that sets
the variable keeps its value."""


def provider_extractor() -> str:
    """``[openlineage] extractors``: ours for TaskFlow tasks (:mod:`pipelines.lineage.provider`),
    after any the environment already registers."""
    ours = "pipelines.lineage.provider.TaskExtractor"
    theirs = [e for e in os.environ.get("AIRFLOW__OPENLINEAGE__EXTRACTORS", "").split(";") if e]
    return ";".join([*[e for e in theirs if e.strip() != ours], ours])


def provider_transport(settings: Settings) -> dict[str, str]:
    """Where the OpenLineage provider sends events: where ours go. The provider reads
    ``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*`` and ``OPENLINEAGE_DISABLED`` itself; an
    ``openlineage.yml`` it finds only through ``[openlineage] config_path``; the serverless
    default is our JSON-lines file, so the store and ``pipelines lineage`` read its events."""
    from pipelines.lineage import client

    if {"AIRFLOW__OPENLINEAGE__TRANSPORT", "AIRFLOW__OPENLINEAGE__CONFIG_PATH"} & set(os.environ):
        return {}  # the provider is configured already
    found = client.transport_file()
    if found is not None:
        return {"AIRFLOW__OPENLINEAGE__CONFIG_PATH": str(found[0])}
    if client.disabled() or client.configured_transport() is not None:
        return {}
    transport = {
        "type": "pipelines.lineage.transport.JsonLinesTransport",
        "log_file_path": str(client.events_path(settings)),
    }
    return {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)}


def _airflow() -> str:
    return str(Path(sys.executable).parent / "airflow")


def runs_program(before: Sequence[Sequence[str]] = ()) -> list[str]:
    """:mod:`pipelines.airflow_runs` for :data:`DAG_ID`: ``airflow dags test`` per date, after
    the Airflow CLI commands ``before`` (e.g. :data:`PREPARE_COMMANDS`) in the same process."""
    program = [sys.executable, "-m", "pipelines.airflow_runs"]
    if before:
        program += ["--before", json.dumps(before)]
    return [*program, DAG_ID]


def run_airflow(
    args: list[str],
    env: dict[str, str],
    log_path: Path,
    show_tasks: bool,
    prefix: Callable[[], str] = lambda: "    ",
    *,
    program: list[str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> int:
    """Run an airflow command (or ``program`` with ``args``), appending its output to
    ``log_path``; echo task results, each line after ``prefix()`` (``pipelines run`` puts the
    interval, elapsed time and ETA there). ``on_line`` sees every output line first."""
    command = [*(program or [_airflow()]), *args]
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=PROJECT_DIR,
        )
        assert proc.stdout is not None
        progress = Progress()
        done = threading.Event()
        if show_tasks:
            beat = threading.Thread(target=_heartbeat, args=(progress, done, prefix), daemon=True)
            beat.start()
        try:
            for line in proc.stdout:
                log.write(line)
                if on_line is not None:
                    on_line(line)
                if show_tasks:
                    for shown in progress.feed(line):
                        _say(f"{prefix()}{shown}")
        finally:
            done.set()
        return proc.wait()


def _heartbeat(progress: Progress, done: threading.Event, prefix: Callable[[], str]) -> None:
    while not done.wait(1.0):
        if line := progress.tick():
            _say(f"{prefix()}... {line}")


WAREHOUSE_POOL = "duckdb_warehouse"
"""One slot: DuckDB allows one writing process per database file."""


PREPARE_COMMANDS = (
    ("db", "migrate"),
    ("pools", "set", WAREHOUSE_POOL, "1", "DuckDB warehouse: one writer at a time"),
)
"""Airflow CLI commands that migrate the metadata database and create the warehouse pool."""


def prepare_airflow(env: dict[str, str], log_path: Path, show_tasks: bool = False) -> int:
    """Migrate the metadata database and create the warehouse pool (idempotent), in one
    Airflow process."""
    return run_airflow_commands(PREPARE_COMMANDS, env, log_path, show_tasks)


def run_airflow_commands(
    commands: Sequence[Sequence[str]],
    env: dict[str, str],
    log_path: Path,
    show_tasks: bool = False,
) -> int:
    """Airflow CLI ``commands`` in turn in one Airflow process (:mod:`pipelines.airflow_runs`),
    stopping at the first that fails; its exit code, else 0."""
    return run_airflow(
        ["--commands", json.dumps(commands)],
        env,
        log_path,
        show_tasks=show_tasks,
        program=[sys.executable, "-m", "pipelines.airflow_runs"],
    )


def run_demo(settings: Settings, *, orders: int, days: int, seed: int) -> int:
    started = time.perf_counter()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    extra = ensure_keyring(settings)
    ensure_sample(settings, orders, days, seed)
    env = airflow_env(settings, extra)
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "demo-airflow.log"
    log_path.write_text("")
    _say(f"Preparing Airflow metadata (SQLite) in {env['AIRFLOW_HOME']}, then running {DAG_ID}")
    _say(f"for {days} days, in one Airflow process (airflow dags test per day)")
    # A daily data-interval timetable maps logical date D+1 to the interval [D, D+1).
    logical = [(DEMO_START + timedelta(days=n + 1)).isoformat() for n in range(days)]
    program = runs_program(before=PREPARE_COMMANDS)  # heartbeat while it migrates
    code = run_airflow(logical, env, log_path, show_tasks=True, program=program)
    if code != 0:
        _say(f"Airflow failed (exit {code}): migrating, or a DAG run; Airflow's log: {log_path}")
        return code
    _say("")
    from pipelines.lake.interval import Interval
    from pipelines.summary import print_summary

    interval = Interval.day(DEMO_START)
    interval = Interval(interval.start, interval.start + timedelta(days=days))
    status = print_summary(settings, interval)
    from pipelines.quality.summary import print_summary as print_quality

    _say("")
    status = max(status, print_quality(settings, interval=interval, details=False))
    from pipelines.features.summary import print_features

    _say("")
    status = max(status, print_features(settings, last=days))
    from pipelines.reporting.summary import print_lineage

    _say("")
    status = max(status, print_lineage(settings))
    _say(f"landing files: {settings.landing}")
    _say(f"Airflow log:   {log_path}")
    _say("governance portal: .venv/bin/pipelines portal   (then open http://127.0.0.1:8765/)")
    _say(
        "PII inventory: .venv/bin/pipelines pii inventory   settings: .venv/bin/pipelines settings"
    )
    _say(f"demo finished in {time.perf_counter() - started:.0f}s")
    return status
