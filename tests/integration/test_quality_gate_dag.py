"""The quality gate in a real ``airflow dags test commerce_daily`` run (SQLite metadata).

Assumes the wiring described in ``pipelines/quality/tasks.py``: ``ingest_<t>`` ->
``quality_<t>`` (after the quality tasks of the tables it reads) -> ``quality_report``
(trigger rule all_done) and ``quality_gate``; publication downstream of ``quality_gate``.
A day whose payments do not add up to the order totals fails a critical check:
``quality_gate`` fails (without retrying), the Data Docs are still built, nothing downstream
of the gate runs, and the owner notifier e-mails the failed table's owner (a real SMTP server
on localhost, aiosmtpd). That a clean day passes the gate (every quality task and the gate
succeed, the gate's decision says passed, the Data Docs are built) is checked on the clean
day that ``test_commerce_daily_dag.test_daily_dag_ingests_every_table_without_leaking_pii``
runs through the whole DAG: a second full run here (dbt build and docs included) cost about
25 CPU s.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from pipelines.demo import airflow_env, run_airflow
from pipelines.protection import create_keyring
from pipelines.quality import store
from pipelines.settings import PROJECT_DIR, Settings
from tests.factories import clean_day, copy_rows, write_day

pytestmark = [pytest.mark.integration, pytest.mark.first(28)]  # DAG runs: started first

# Set QUALITY_DAGS_FOLDER to try a DAG folder other than the project's (e.g. a wiring draft).
DAGS = Path(os.environ.get("QUALITY_DAGS_FOLDER", PROJECT_DIR / "dags"))


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, contracts, airflow_db, inbox):
    root = tmp_path_factory.mktemp("airflow")
    settings = Settings(data_dir=root / "data", duckdb_memory_limit="1GB", duckdb_threads=2)
    key_file = root / "keys.json"
    create_keyring(key_file)
    env = airflow_env(settings, {"PIPELINES_KEY_FILE": str(key_file)})
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
    env["PIPELINES_SMTP_HOST"], env["PIPELINES_SMTP_PORT"] = "127.0.0.1", str(inbox[1])
    for var in ("PIPELINES_KEYS", "PIPELINES_SETTINGS_FILE"):
        env.pop(var, None)
    log = root / "airflow.log"
    airflow_db(env)  # migrated once per session (prepare_airflow)

    def write(day: str, rows) -> None:
        def write_landing(folder, name, text):
            path = settings.landing / str(folder) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return path

        write_day(write_landing, contracts, rows, day=day)

    def run(logical_date: str) -> dict[str, str]:
        subprocess_code = run_airflow(
            ["dags", "test", "commerce_daily", logical_date], env, log, show_tasks=False
        )
        del subprocess_code  # a failed task may or may not fail the command; states tell
        db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
        with sqlite3.connect(db) as con:
            [(run_id,)] = con.execute(
                "SELECT run_id FROM dag_run WHERE dag_id = 'commerce_daily' ORDER BY id DESC LIMIT 1"
            ).fetchall()
            states = dict(
                con.execute(
                    "SELECT task_id, state FROM task_instance WHERE dag_id = 'commerce_daily' AND run_id = ?",
                    [run_id],
                ).fetchall()
            )
        return {"run_id": run_id, **states}

    return settings, write, run, log


def _downstream_of_gate() -> list[str]:
    env = dict(os.environ, AIRFLOW__CORE__LOAD_EXAMPLES="False", PYTHONWARNINGS="ignore")
    probe = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "dag = DagBag(dag_folder=sys.argv[1]).dags['commerce_daily']\n"
        "print(json.dumps(sorted(t.task_id for t in dag.get_task('quality_gate').get_flat_relatives(upstream=False))))\n"
    )
    done = subprocess.run(
        [str(Path(os.sys.executable)), "-c", probe, str(DAGS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_critical_failure_stops_everything_downstream_of_the_gate(airflow, inbox):
    settings, write, run, log = airflow
    box, _ = inbox
    box.received.clear()
    rows = copy_rows(clean_day())
    for payment in rows["order_payments"]:
        payment["payment_value"] = f"{float(payment['payment_value']) * 10:.2f}"
    write("2018-01-02", rows)
    states = run("2018-01-03")  # the interval [2018-01-02, 2018-01-03), the lake's first
    assert states["quality_order_payments"] == "success"  # validated, results stored
    assert states["quality_report"] == "success"  # Data Docs built all the same
    assert states["quality_gate"] == "failed"  # the run shows why ...
    text = log.read_text()
    assert "order_payments.payments_match_order_totals" in text
    for task in _downstream_of_gate():  # ... and nothing downstream ran
        assert states.get(task) in ("upstream_failed", None), task
    decision = json.loads(
        (
            store.quality_dir(settings) / "gates" / f"run={store.run_key(states['run_id'])}.json"
        ).read_text()
    )
    assert decision["passed"] is False
    assert any("payments_match_order_totals" in c for c in decision["failed_checks"])
    # the failed gate reached the failed table's owner (contracts/order_payments.yml)
    mails = {str(m["Subject"]): (to, m) for to, m in box.received}
    subject = "[pipelines] commerce_daily.quality_gate (order_payments) failed"
    assert subject in {" ".join(s.split()) for s in mails}, list(mails)
    [(to, message)] = [v for k, v in mails.items() if " ".join(k.split()) == subject]
    assert to == ["payments-data@example.com"]
    body = message.get_content()  # type: ignore[attr-defined]
    assert "with AirflowFailException" in body and "/?finding=f-" in body
    assert "payment_value" not in body  # what failed, never the data
