"""``airflow dags test`` for several logical dates in one Airflow process.

    python -m pipelines.airflow_runs commerce_daily 2018-01-02 2018-01-03 ...

Each date runs exactly as ``airflow dags test DAG DATE`` does: Airflow's own command, parsed
by Airflow's CLI parser, in turn, stopping at the first failed run (exit code 1). What one
process saves is the start of the next ones: importing Airflow and the project, loading the
providers and connecting to the metadata database (5-10 s per date on the project machines;
``make demo`` runs seven dates). Airflow's configuration comes from the environment
(``AIRFLOW_HOME`` and ``AIRFLOW__*``, see :func:`pipelines.demo.airflow_env`).

Before each date it prints ``[DAG RUNS] run <i>/<n> <dag_id> <logical date>``, and after a
failed run ``[DAG RUNS] failed <dag_id> <logical date>``: :class:`pipelines.demo.Progress`
reads them.
"""

from __future__ import annotations

import sys

MARKER = "[DAG RUNS]"


def run_dates(dag_id: str, logical_dates: list[str]) -> int:
    """``airflow dags test dag_id D`` for each date D in this process; 1 at the first failure."""
    from airflow.cli import cli_parser
    from airflow.configuration import write_default_airflow_configuration_if_needed

    write_default_airflow_configuration_if_needed()  # as Airflow's own entry point does
    parser = cli_parser.get_parser()
    for number, logical in enumerate(logical_dates, 1):
        print(f"{MARKER} run {number}/{len(logical_dates)} {dag_id} {logical}", flush=True)
        args = parser.parse_args(["dags", "test", dag_id, logical])
        try:
            args.func(args)
        except SystemExit as exc:  # Airflow's "DagRun failed"
            if exc.code not in (None, 0):
                print(f"{MARKER} failed {dag_id} {logical}: {exc.code}", flush=True)
                return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args[:1] in (["-h"], ["--help"]) else 2
    return run_dates(args[0], args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
