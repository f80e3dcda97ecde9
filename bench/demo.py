"""Where ``make demo``'s time goes: the demo run once, every line of Airflow's output timed.

    python -m bench.demo                      # a fresh data dir under /tmp, 3,500 orders, 7 days
    python -m bench.demo --data-dir DIR --keep

Runs :func:`pipelines.demo.run_demo` as ``make demo`` does (a fresh data dir: sample data,
key ring, Airflow metadata) and stamps each line Airflow prints with the time it arrived.
From those lines and dbt's log it splits the wall time into stages:

- ``generate``: the sample data; ``airflow prepare``: ``db migrate`` and the pool;
- ``airflow process start``: from launching an ``airflow dags test`` process to its first
  task (imports, DAG parsing, the bundle sync, the run's creation), and ``airflow between
  tasks``: the gaps between one task's end and the next one's start, plus the process's
  exit;
- one stage per kind of task (``ingest_*``, ``quality_*`` ...), and inside ``build_features``
  and ``feature_docs`` the dbt child: ``dbt start`` (launch to dbt's first log line: the
  imports), ``dbt parse`` (to the manifest) and ``dbt run`` (nodes and artifacts);
- ``summary``: the report printed at the end.

The load average is noted before and after, and the CPU seconds of the whole run (this
process and all its children, Airflow's and dbt's): the machine is shared, so wall times
swing with the load; compare stage times measured in the same conditions, and CPU seconds. Results: printed, and ``bench/results/demo.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_START = re.compile(r"\[DAG TEST\] starting task_id=(\w+)")
_END = re.compile(r"\[DAG TEST\] end task task_id=(\w+)")
_DBT_TIME = re.compile(r"^(?:\x1b\[\d+m)?(\d\d:\d\d:\d\d\.\d+)")


class Timeline:
    """Lines of Airflow's output with their arrival time, per airflow invocation."""

    def __init__(self) -> None:
        self.processes: list[dict[str, Any]] = []
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0


def _instrument(timeline: Timeline) -> None:
    import pipelines.demo as demo

    run_airflow, feed = demo.run_airflow, demo.Progress.feed

    def timed_run(
        args: list[str], env: dict[str, str], log_path: Path, show_tasks: bool, **kw: Any
    ) -> int:
        proc: dict[str, Any] = {"args": args, "start": timeline.now(), "lines": []}
        timeline.processes.append(proc)
        code = run_airflow(args, env, log_path, show_tasks, **kw)
        proc["end"] = timeline.now()
        return code

    def timed_feed(self: Any, line: str) -> list[str]:
        timeline.processes[-1]["lines"].append((timeline.now(), line))
        return feed(self, line)

    demo.run_airflow = timed_run  # type: ignore[assignment]
    demo.Progress.feed = timed_feed  # type: ignore[method-assign]


def _kind(task: str) -> str:
    for prefix in ("ingest_", "quality_", "check_"):
        if task.startswith(prefix) and task not in ("quality_report", "quality_gate"):
            return prefix + "*"
    return task


def _tasks(proc: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(task, start, end) per task the process ran."""
    out, open_ = [], {}
    for t, line in proc["lines"]:
        if m := _START.search(line):
            open_[m.group(1)] = t
        elif (m := _END.search(line)) and m.group(1) in open_:
            out.append((m.group(1), open_.pop(m.group(1)), t))
    return out


def _add(stages: dict[str, float], name: str, seconds: float) -> None:
    stages[name] = stages.get(name, 0.0) + seconds


def _process_stages(proc: dict[str, Any], stages: dict[str, float]) -> None:
    if proc["args"][0] in ("db", "pools", "--commands"):  # prepare_airflow
        _add(stages, "airflow prepare (db migrate, pool)", proc["end"] - proc["start"])
        return
    tasks = _tasks(proc)
    if not tasks:
        _add(stages, "airflow process start", proc["end"] - proc["start"])
        return
    _add(stages, "airflow process start", tasks[0][1] - proc["start"])
    previous_end = tasks[0][1]
    for task, start, end in tasks:
        _add(stages, "airflow between tasks", start - previous_end)
        _add(stages, f"task {_kind(task)}", end - start)
        previous_end = end
    _add(stages, "airflow between tasks", proc["end"] - previous_end)


def _dbt_invocations(log_file: Path) -> list[dict[str, float]]:
    """dbt start/parse/run seconds per invocation, from dbt's debug log (text format)."""
    if not log_file.is_file():
        return []
    runs: list[dict[str, float]] = []
    current: dict[str, Any] | None = None
    for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _DBT_TIME.match(line)
        if not m:
            continue
        t = datetime.strptime(m.group(1), "%H:%M:%S.%f")
        if "Running with dbt=" in line:
            current = {"first": t, "parsed": None, "last": t}
            runs.append(current)
        elif current is not None:
            if current["parsed"] is None and (
                ("Found " in line and " models" in line)
                or "Wrote artifact WritableManifest" in line
            ):
                current["parsed"] = t
            current["last"] = t
    out = []
    for r in runs:
        parsed = r["parsed"] or r["last"]
        out.append(
            {
                "parse": (parsed - r["first"]).total_seconds(),
                "run": (r["last"] - parsed).total_seconds(),
            }
        )
    return out


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument("--orders", type=int, default=3500)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--label", default="", help="a name for this run in the results")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-demo-"))
    os.environ["PIPELINES_DATA_DIR"] = str(data_dir)
    os.environ["PIPELINES_KEY_FILE"] = str(data_dir / "dev-keyring.json")
    from pipelines.demo import run_demo
    from pipelines.settings import Settings

    timeline = Timeline()
    _instrument(timeline)
    load_before = _loadavg()
    started = time.monotonic()
    from pipelines.protection.keys import create_keyring

    if not Path(os.environ["PIPELINES_KEY_FILE"]).exists():
        create_keyring(Path(os.environ["PIPELINES_KEY_FILE"]))
    status = run_demo(Settings(), orders=args.orders, days=args.days, seed=42)
    wall = time.monotonic() - started
    cpu = sum(
        getattr(resource.getrusage(who), f)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for f in ("ru_utime", "ru_stime")
    )
    stages: dict[str, float] = {}
    first = timeline.processes[0]["start"] if timeline.processes else wall
    _add(stages, "generate, key ring (before Airflow)", first - (started - timeline.t0))
    for proc in timeline.processes:
        _process_stages(proc, stages)
    last = timeline.processes[-1]["end"] if timeline.processes else wall
    _add(stages, "summary (after Airflow)", wall - last)
    dbt = _dbt_invocations(data_dir / "dbt" / "logs" / "dbt.log")
    report = {
        "label": args.label,
        "status": status,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),  # this process and every process it waited for
        "load_before": load_before,
        "load_after": _loadavg(),
        "airflow_processes": len(timeline.processes),
        "stages": {k: round(v, 1) for k, v in stages.items()},
        "dbt": {
            "invocations": len(dbt),
            "parse_seconds": round(sum(d["parse"] for d in dbt), 1),
            "run_seconds": round(sum(d["run"] for d in dbt), 1),
            "each": dbt,
        },
    }
    print(json.dumps({k: v for k, v in report.items() if k != "dbt"}, indent=2))
    print(json.dumps({k: v for k, v in report["dbt"].items() if k != "each"}, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"demo{'-' + args.label if args.label else ''}.json").write_text(
        json.dumps(report, indent=2)
    )
    if not args.keep and args.data_dir is None:
        shutil.rmtree(data_dir, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
