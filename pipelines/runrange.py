"""``pipelines run --from DATE --to DATE``: the daily DAG through Airflow, interval by interval.

The intervals run as ``make demo`` runs its days: ``airflow dags test commerce_daily
<interval end>`` for each, all in one Airflow process (:mod:`pipelines.airflow_runs`), on the
embedded SQLite metadata under ``<data_dir>/airflow``. Every terminal line starts with where the range is
(``[2/5 2018-01-02 | 1m40s elapsed, ETA 2m30s]``) and names the running task; a silent task
gets a line every :data:`pipelines.demo.HEARTBEAT` seconds. The run stops at the first failed
interval (``keep_going`` goes on), naming the interval, the failed task(s) and what to look
at, and ends with a summary per interval: gate status, rows, feature release.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pipelines.console import table
from pipelines.demo import DAG_ID, PREPARE_COMMANDS, airflow_env, ensure_keyring, runs_program
from pipelines.demo import run_airflow as _run_airflow
from pipelines.lake.interval import Interval
from pipelines.settings import Settings

DAILY = "0 0 * * *"


class RangeError(ValueError):
    """A range that cannot be run (empty, or a schedule that is not daily)."""


@dataclass
class IntervalResult:
    """What one interval's DAG run did (filled from what the run stored)."""

    interval: Interval
    exit_code: int | None = None  # None: not run (an earlier interval failed)
    seconds: float = 0.0
    failed_tasks: list[str] = field(default_factory=list)
    gate: str = "-"
    loaded: int = 0
    quarantined: int = 0
    release: str = "-"


def daily_intervals(start: date, end: date, settings: Settings) -> list[Interval]:
    """The daily intervals of ``[start, end)``; named errors for an empty range or a schedule
    that is not daily. The start date is checked too (nothing runs before it)."""
    from pipelines.schedule import check_interval_start

    if settings.dag_schedule.split() != DAILY.split():
        raise RangeError(
            f"pipelines run runs daily intervals, but the setting dag_schedule is "
            f"{settings.dag_schedule!r}: set PIPELINES_DAG_SCHEDULE='{DAILY}' or trigger the "
            "DAG's runs with `airflow dags test commerce_daily <logical date>`"
        )
    if end <= start:
        raise RangeError(
            f"empty range: --to {end.isoformat()} is not after --from {start.isoformat()} "
            "(--to is exclusive: --from 2018-01-01 --to 2018-01-02 runs one day)"
        )
    days = [start + timedelta(days=n) for n in range((end - start).days)]
    intervals = [Interval.day(d) for d in days]
    check_interval_start(intervals[0].start, intervals[0].end, settings)
    return intervals


class Clock:
    """Elapsed time and ETA of a range (ETA: mean time of the finished intervals)."""

    def __init__(self, total: int, now: Callable[[], float] = time.monotonic) -> None:
        self.total, self._now = total, now
        self.started = now()
        self.finished: list[float] = []
        self.current = 0

    def prefix(self, interval: Interval) -> str:
        elapsed = self._now() - self.started
        if self.finished:
            mean = sum(self.finished) / len(self.finished)
            in_this = self._now() - self.started - sum(self.finished)
            remaining = self.total - len(self.finished)  # the running one included
            eta = f"ETA {_duration(max(0.0, mean * remaining - in_this))}"
        else:
            eta = "ETA after the first interval"
        day = interval.start.date().isoformat()
        return f"[{self.current}/{self.total} {day} | {_duration(elapsed)} elapsed, {eta}] "


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _say(message: str) -> None:
    print(message, flush=True)


def logical_date(interval: Interval) -> str:
    """A daily data-interval timetable maps logical date D+1 to the interval [D, D+1)."""
    return interval.end.date().isoformat()


def run_outcome(airflow_home: Path) -> tuple[str | None, list[str]]:
    """State and failed task ids of the latest DAG run in the embedded metadata database
    (``airflow dags test`` may exit 0 although a task failed)."""
    db = airflow_home / "airflow.db"
    with sqlite3.connect(db) as con:
        run = con.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
            [DAG_ID],
        ).fetchone()
        if run is None:
            return None, []
        rows = con.execute(
            "SELECT task_id FROM task_instance WHERE dag_id = ? AND run_id = ? "
            "AND state = 'failed' ORDER BY start_date",
            [DAG_ID, run[0]],
        ).fetchall()
    return run[1], [r[0] for r in rows]


def what_to_look_at(task: str, interval: Interval, log_path: Path) -> str:
    """Where a failed task's reasons are, as commands to run."""
    span = f"--start {interval.start.date()} --end {interval.end.date()}"
    if task.startswith("ingest_") or task == "check_interval":
        hint = f"the task's error above; `pipelines summary {span}` for the row accounting"
    elif task.startswith("quality_"):
        hint = (
            f"`pipelines quality summary {span}` (failed checks, each with the threshold or "
            "reference that governs it) and the Data Docs"
        )
    else:
        hint = "`pipelines features releases` (a release's problems) and the task's error above"
    return f"{hint}; Airflow's log: {log_path}"


class RangeRun:
    """Follows one :mod:`pipelines.airflow_runs` process through the range: which interval
    runs (for the prefix), and, as each run ends, its outcome line and failure report."""

    def __init__(
        self, settings: Settings, results: list[IntervalResult], env: dict[str, str], log: Path
    ) -> None:
        self.settings, self.results, self.log_path = settings, results, log
        self.airflow_home = Path(env["AIRFLOW_HOME"])
        self.clock = Clock(len(results))
        self.clock.current = 1
        self.began = time.monotonic()

    def prefix(self) -> str:
        return self.clock.prefix(self.results[self.clock.current - 1].interval)

    def on_line(self, line: str) -> None:
        if started := _RUN_MARK.search(line):
            self.clock.current, self.began = int(started.group(1)), time.monotonic()
        elif done := _DONE_MARK.search(line):
            self.finish(int(done.group(1)), int(done.group(2)))

    def finish(self, number: int, code: int) -> None:
        """Interval ``number`` ended with ``code``: what it stored, on a line."""
        result = self.results[number - 1]
        state, failed = run_outcome(self.airflow_home)
        if code == 0 and (failed or state != "success"):
            code = 1
        result.exit_code, result.failed_tasks = code, failed
        result.seconds = time.monotonic() - self.began
        self.clock.finished.append(result.seconds)
        fill_outcomes(self.settings, [result])
        _say(
            f"{self.clock.prefix(result.interval)}interval {result.interval.start.date()} "
            f"{_run_state(result)} in {_duration(result.seconds)}: gate {result.gate}, "
            f"loaded {result.loaded:,}, quarantined {result.quarantined:,}, "
            f"release {result.release}"
        )
        if code != 0:
            _report_failure(result, number, len(self.results), self.log_path)


_RUN_MARK = re.compile(r"\[DAG RUNS\] run (\d+)/\d+ ")
_DONE_MARK = re.compile(r"\[DAG RUNS\] done (\d+)/\d+ .* exit=(\d+)")


def _report_failure(result: IntervalResult, index: int, total: int, log_path: Path) -> None:
    tasks = result.failed_tasks or ["(no task failed: Airflow itself failed)"]
    _say(
        f"FAILED: interval {index} of {total}, {result.interval}: task(s) "
        f"{', '.join(tasks)} failed (exit {result.exit_code})"
    )
    for task in result.failed_tasks or ["airflow"]:
        _say(f"  {task}: look at {what_to_look_at(task, result.interval, log_path)}")


def run_range(settings: Settings, start: date, end: date, *, keep_going: bool = False) -> int:
    """Run the daily DAG for every interval in ``[start, end)``; 0 when every run passed."""
    intervals = daily_intervals(start, end, settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = airflow_env(settings, ensure_keyring(settings))
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "run-airflow.log"
    log_path.write_text("")
    _say(f"Preparing Airflow metadata (SQLite) in {env['AIRFLOW_HOME']} ...")
    results = [IntervalResult(i) for i in intervals]
    follow = RangeRun(settings, results, env, log_path)
    dates = [logical_date(i) for i in intervals]
    _say(
        f"Running {DAG_ID} for {len(dates)} interval(s) in one Airflow process "
        "(airflow dags test per interval)"
    )
    code = _run_airflow(
        ["--keep-going", *dates] if keep_going else dates,
        env,
        log_path,
        True,
        follow.prefix,
        program=runs_program(before=PREPARE_COMMANDS),  # migrated in the same process
        on_line=follow.on_line,
    )
    if code != 0 and all(r.exit_code in (None, 0) for r in results):
        _say(f"FAILED: Airflow itself failed (exit {code}); see {log_path}")
    _say("")
    _say(render_summary(results, log_path))
    return 0 if code == 0 and all(r.exit_code == 0 for r in results) else 1


def fill_outcomes(settings: Settings, results: list[IntervalResult]) -> None:
    """Gate status, rows and release of each run interval, from what the runs stored."""
    from pipelines.features.snapshots import releases
    from pipelines.quality import store
    from pipelines.summary import collect

    gates: dict[str, dict] = {}
    for stored in sorted(store.read_gates(settings), key=lambda d: d.get("decided_at", "")):
        gates[stored["interval_start"]] = stored  # the latest decision per interval
    by_as_of = {r.as_of: r for r in releases(settings)}
    for result in results:
        if result.exit_code is None:
            continue
        decision = gates.get(result.interval.start.isoformat())
        if decision is not None:
            result.gate = gate_text(decision)
        rows = collect(settings, result.interval)
        result.loaded = sum(r["loaded"] for r in rows)
        result.quarantined = sum(r["quarantined"] for r in rows)
        release = by_as_of.get(logical_date(result.interval))
        if release is not None:
            result.release = f"{release.status} ({release.release_id})"


def gate_text(decision: dict) -> str:
    """``passed``, or ``FAILED: <first failed check> (+n more; m consequences)``."""
    if decision["passed"]:
        return "passed"
    failed = [c.split(": ", 1)[0] for c in decision.get("failed_checks", [])]
    failed += [f"{t}: no results" for t in decision.get("missing_tables", [])]
    caused = len(decision.get("consequences", []))
    more = [f"+{len(failed) - 1} more"] if len(failed) > 1 else []
    more += [f"{caused} consequence(s)"] if caused else []
    head = failed[0] if failed else "consequences of the gate's quarantine"
    return f"FAILED: {head}" + (f" ({'; '.join(more)})" if more else "")


def render_summary(results: list[IntervalResult], log_path: Path) -> str:
    rows = [
        [
            str(r.interval.start.date()),
            _run_state(r),
            _duration(r.seconds) if r.exit_code is not None else "-",
            r.gate,
            f"{r.loaded:,}",
            f"{r.quarantined:,}",
            r.release,
        ]
        for r in results
    ]
    header = ["interval", "run", "time", "quality gate", "loaded", "quarantined", "release"]
    ok = sum(r.exit_code == 0 for r in results)
    lines = [
        table(rows, header),
        f"\n{ok} of {len(results)} interval(s) succeeded. Airflow's log: {log_path}",
        "next: pipelines summary / pipelines quality summary / pipelines features releases",
    ]
    return "\n".join(lines)


def _run_state(result: IntervalResult) -> str:
    if result.exit_code is None:
        return "not run"
    if result.exit_code == 0:
        return "success"
    return "FAILED: " + (", ".join(result.failed_tasks) or f"exit {result.exit_code}")
