"""What Airflow's SQLite metadata database says of the DAG runs a test made."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def task_states(
    env: dict[str, str], dag_id: str = "commerce_daily", interval_start: str | None = None
) -> dict[str, str]:
    """Task id -> state of ``dag_id``'s task instances in ``env``'s ``AIRFLOW_HOME``; with
    ``interval_start`` (``YYYY-MM-DD``) only the run whose data interval starts that day."""
    query = (
        "SELECT ti.task_id, ti.state FROM task_instance ti JOIN dag_run dr "
        "ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id WHERE dr.dag_id = ?"
    )
    args = [dag_id]
    if interval_start is not None:
        query += " AND dr.data_interval_start LIKE ?"
        args.append(f"{interval_start}%")
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as con:
        rows = con.execute(query, args).fetchall()
    assert rows or interval_start is None, f"no task instance of the run of [{interval_start}, ...)"
    return dict(rows)
