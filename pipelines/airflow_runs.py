"""``airflow dags test`` for several logical dates in one Airflow process.

    python -m pipelines.airflow_runs commerce_daily 2018-01-02 2018-01-03 ...
    python -m pipelines.airflow_runs commerce_daily --keep-going 2018-01-02 2018-01-03
    python -m pipelines.airflow_runs --commands '[["db", "migrate"], ["pools", "set", ...]]'

Each date runs exactly as ``airflow dags test DAG DATE`` does: Airflow's own command, parsed
by Airflow's CLI parser, in turn, stopping at the first failed run (exit code 1; with
``--keep-going`` the next dates still run, and the exit code is 1 when any failed). A run
fails when Airflow says so or when one of its tasks failed (``airflow dags test`` may end a
run whose leaf tasks succeeded as a success although an upstream task failed). What one
process saves is the start of the next ones: importing Airflow and the project, loading the
providers and connecting to the metadata database (5-10 s per date on the project machines;
``make demo`` runs seven dates, ``pipelines run`` one per interval). Airflow's configuration
comes from the environment (``AIRFLOW_HOME`` and ``AIRFLOW__*``, see
:func:`pipelines.demo.airflow_env`).

``--commands`` runs other Airflow CLI commands the same way, one after the other in one
process, stopping at the first that fails (``pipelines.demo.prepare_airflow``: ``db migrate``
and ``pools set`` in one process, not two). ``--before`` runs such commands first and then the
dates, in the same process (``make demo`` and ``pipelines run``: the metadata database is
migrated and the pool set where the runs start, 3-4 CPU s less than a process of its own):

    python -m pipelines.airflow_runs --before '[["db", "migrate"]]' commerce_daily 2018-01-02

Before each date it prints ``[DAG RUNS] run <i>/<n> <dag_id> <logical date>``, after a failed
run ``[DAG RUNS] failed <dag_id> <logical date>: <reason>``, and after every run
``[DAG RUNS] done <i>/<n> <dag_id> <logical date> exit=<0|1>``:
:class:`pipelines.demo.Progress` and ``pipelines run`` read them.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys

MARKER = "[DAG RUNS]"


def failed_tasks(dag_id: str) -> list[str]:
    """Failed task ids of the dag's latest run in Airflow's metadata database."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run_id = session.scalar(
            select(DagRun.run_id).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        )
        return list(
            session.scalars(
                select(TaskInstance.task_id).where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.state == "failed",
                )
            )
        )


def _run_one(parser: argparse.ArgumentParser, dag_id: str, logical: str) -> str | None:
    """One ``airflow dags test``; why it failed, or None."""
    args = parser.parse_args(["dags", "test", dag_id, logical])
    try:
        args.func(args)
    except SystemExit as exc:  # Airflow's "DagRun failed"
        if exc.code not in (None, 0):
            return str(exc.code)
    failed = failed_tasks(dag_id)
    return f"task(s) failed: {', '.join(failed)}" if failed else None


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """Airflow's CLI parser, once its configuration file exists (as Airflow's own entry
    point does it)."""
    from airflow.cli import cli_parser
    from airflow.configuration import write_default_airflow_configuration_if_needed

    write_default_airflow_configuration_if_needed()
    return cli_parser.get_parser()


def run_dates(dag_id: str, logical_dates: list[str], keep_going: bool = False) -> int:
    """``airflow dags test dag_id D`` for each date D in this process; 1 when a run failed
    (at the first failure unless ``keep_going``)."""
    parser = _parser()
    status = 0
    total = len(logical_dates)
    for number, logical in enumerate(logical_dates, 1):
        print(f"{MARKER} run {number}/{total} {dag_id} {logical}", flush=True)
        failure = _run_one(parser, dag_id, logical)
        if failure is not None:
            print(f"{MARKER} failed {dag_id} {logical}: {failure}", flush=True)
            status = 1
        print(
            f"{MARKER} done {number}/{total} {dag_id} {logical} exit={0 if failure is None else 1}",
            flush=True,
        )
        if failure is not None and not keep_going:
            break
    return status


def run_commands(commands: list[list[str]]) -> int:
    """Airflow CLI commands (``["db", "migrate"]``, ...) in turn in this process; the exit
    code of the first that fails, else 0."""
    parser = _parser()
    for command in commands:
        args = parser.parse_args(command)
        try:
            args.func(args)
        except SystemExit as exc:
            if exc.code not in (None, 0):
                print(f"{MARKER} failed: airflow {' '.join(command)}: {exc.code}", flush=True)
                return exc.code if isinstance(exc.code, int) else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--commands"] and len(args) == 2:
        return run_commands(json.loads(args[1]))
    before: list[list[str]] = []
    if args[:1] == ["--before"] and len(args) >= 2:
        before, args = json.loads(args[1]), args[2:]
    keep_going = "--keep-going" in args
    args = [a for a in args if a != "--keep-going"]
    if len(args) < 2 or args[0].startswith("-"):
        print(__doc__)
        return 0 if args[:1] in (["-h"], ["--help"]) else 2
    return run_commands(before) or run_dates(args[0], args[1:], keep_going=keep_going)


if __name__ == "__main__":
    raise SystemExit(main())
