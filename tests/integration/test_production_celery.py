"""The production configuration without Docker: Airflow 3 on PostgreSQL with a Celery worker.

Starts a real ``airflow scheduler``, ``dag-processor``, ``api-server`` and ``celery worker``
as processes against the machine's PostgreSQL (a fresh database per test module, dropped at
the end) and Redis (a queue of its own, so parallel runs do not collide), with the same
``AIRFLOW__*`` variables ``docker-compose.yml`` sets (names in ``pipelines.deploy``).

* Two overlapping intervals: a backfill of ``commerce_daily`` for 2018-01-01 and 2018-01-02
  with two active runs at once; both succeed and every partition's manifest (counts,
  dataset and quarantine versions) equals the embedded default's (``airflow dags test`` on
  SQLite) on the same landing data and keys.
* The governance portal behind Airflow's login (the compose file's SimpleAuthManager): a
  caller without a token is refused, a browser is sent to the login page; the admin logs in
  through ``POST /auth/token`` and reads the portal's quality page of the runs above, a viewer
  (ML consumer) reads it too but is refused the PII map.
* A worker crash: one ingest task of the first run is cleared (only it: no downstream task,
  no reprocessing backfill) and the Celery worker is killed (SIGKILL, whole process group)
  while it runs again; a new worker picks up the retry, only that task ran again, and the
  partition's content hash equals the clean run's.

Where PostgreSQL or Redis is not reachable the tests skip, saying which. Override the
addresses with ``PIPELINES_IT_POSTGRES`` (libpq URL of a role that may create databases) and
``PIPELINES_IT_REDIS``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pipelines import deploy
from pipelines.contracts import ContractSet
from pipelines.demo import airflow_env, prepare_airflow, run_airflow
from pipelines.lake.partitions import partitions
from pipelines.protection import create_keyring
from pipelines.settings import PROJECT_DIR, Settings

# A whole stack and two DAG runs: the stack tier, after everything else.
pytestmark = [pytest.mark.integration, pytest.mark.stack, pytest.mark.timeout(3600)]

POSTGRES = os.environ.get("PIPELINES_IT_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("PIPELINES_IT_REDIS", "redis://127.0.0.1:6379/0")
DAG_ID = "commerce_daily"
# The backfill's from/to dates; the runs cover [2018-01-01, 2018-01-02) and [2018-01-02, 2018-01-03).
FROM, TO = "2018-01-01", "2018-01-02"
PARTITION = f"dt={FROM}"
# Deadlines are generous (a loaded 2-core machine is many times slower than a quiet one); the
# waits poll, so a quiet machine never waits them out.
RUN_TIMEOUT = 1200  # seconds, for both runs together (each runs ingestion, quality and features)
START_TIMEOUT = (
    600  # seconds, for the stack to come up, a backfill's runs to appear, a task to start
)
AIRFLOW = str(Path(sys.executable).parent / "airflow")
USERS = {"admin": "admin", "analyst": "viewer"}  # Airflow user -> Airflow role


def _pg_connect(dbname: str | None = None) -> Any:
    import psycopg2

    parts = urlsplit(POSTGRES)
    return psycopg2.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname=dbname or parts.path.lstrip("/") or "postgres",
        connect_timeout=3,
    )


def _services_or_skip() -> None:
    try:
        _pg_connect().close()
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES} ({exc}); set PIPELINES_IT_POSTGRES")
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()
    except Exception as exc:
        pytest.skip(f"Redis not reachable at {REDIS} ({exc}); set PIPELINES_IT_REDIS")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sql(dbname: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    con = _pg_connect(dbname)
    try:
        with con, con.cursor() as cur:
            cur.execute(query, args)
            return list(cur.fetchall()) if cur.description else []
    finally:
        con.close()


def _admin(statement: str) -> None:
    con = _pg_connect()
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(statement)
    finally:
        con.close()


@dataclass
class Stack:
    """A running Airflow 3 deployment: its environment, database and processes."""

    root: Path
    env: dict[str, str]
    database: str
    queue: str
    settings: Settings
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [AIRFLOW, *args],
            env=self.env,
            cwd=PROJECT_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
        )
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        host = f"{name}-{self.queue}@%h"
        return self.start(
            name, "celery", "worker", "--queues", self.queue, "--concurrency", "8",
            "--celery-hostname", host,
        )  # fmt: skip

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=60)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):  # leave nothing behind
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self.procs.clear()

    def airflow(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            [AIRFLOW, *args], env=self.env, cwd=PROJECT_DIR, capture_output=True, text=True
        )
        if check and done.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def prepare(self) -> None:
        """``db migrate`` and ``pools set`` in one Airflow process (:func:`prepare_airflow`)."""
        log = self.root / "logs" / "prepare.log"
        assert prepare_airflow(self.env, log) == 0, log.read_text()[-4000:]

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        return _sql(self.database, query, *args)

    def logs(self, tail: int = 4000) -> str:
        out = []
        for path in sorted((self.root / "logs").glob("*.log")):
            out.append(f"==== {path.name}\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)

    def runs(self) -> dict[str, str]:
        return dict(self.sql("SELECT run_id, state FROM dag_run WHERE dag_id = %s", DAG_ID))

    def wait_for(self, what: str, predicate: Any, timeout: float, every: float = 2.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited ({proc.returncode})\n{self.logs()}")
            value = predicate()
            if value:
                return value
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.logs()}")


def _environment(root: Path, database: str, queue: str, api_port: int) -> dict[str, str]:
    """The compose file's AIRFLOW__* and PIPELINES_* variables, pointed at this machine."""
    pg = urlsplit(POSTGRES)
    auth = pg.username or "postgres"
    if pg.password:
        auth += f":{pg.password}"
    host = f"{pg.hostname or '127.0.0.1'}:{pg.port or 5432}"
    secret = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PIPELINES_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(root / "airflow"),
            "AIRFLOW__CORE__EXECUTOR": deploy.EXECUTOR,
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{deploy.DB_DRIVER}{auth}@{host}/{database}",
            "AIRFLOW__CELERY__BROKER_URL": REDIS,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"{deploy.RESULT_BACKEND_SCHEME}{auth}@{host}/{database}",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__API_AUTH__JWT_SECRET": secret,
            "AIRFLOW__API__SECRET_KEY": secret,
            # The compose file's login: SimpleAuthManager, passwords from a file.
            "AIRFLOW__CORE__AUTH_MANAGER": deploy.AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{u}:{r}" for u, r in USERS.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(root / "passwords.json"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            # Only the runs this test creates: no run for "yesterday" when the DAG is unpaused.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # A crashed worker's task is noticed in seconds and retried after 2 s.
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "PIPELINES_DATA_DIR": str(root / "data"),
            "PIPELINES_LANDING_DIR": str(root / "landing"),
            "PIPELINES_KEY_FILE": str(root / "keyring.json"),
            "PIPELINES_DUCKDB_MEMORY_LIMIT": "1GB",
            "PIPELINES_DUCKDB_THREADS": "1",
            "PYTHONWARNINGS": "ignore",
        }
    )
    for name in deploy.AIRFLOW_ENV:
        assert env[name], name  # the same variables the compose file sets
    return env


def _reference(root: Path, log: Path) -> dict[str, Any]:
    """The embedded default (``airflow dags test`` on SQLite) on the same landing data."""
    settings = Settings(
        data_dir=root / "reference",
        landing_dir=root / "landing",
        key_file=root / "keyring.json",
        duckdb_memory_limit="1GB",
        duckdb_threads=1,
    )
    env = airflow_env(settings, {})
    env = {k: v for k, v in env.items() if not k.startswith("PIPELINES_")}
    env.update(
        PIPELINES_DATA_DIR=str(settings.data_dir),
        PIPELINES_LANDING_DIR=str(root / "landing"),
        PIPELINES_KEY_FILE=str(root / "keyring.json"),
        PIPELINES_DUCKDB_MEMORY_LIMIT="1GB",
        PIPELINES_DUCKDB_THREADS="1",
    )
    codes = [prepare_airflow(env, log)]
    for logical in ("2018-01-02", "2018-01-03"):
        codes.append(run_airflow(["dags", "test", DAG_ID, logical], env, log, show_tasks=False))
    return {"settings": settings, "codes": codes}


def _manifests(lake: Path, tables: list[str]) -> dict[tuple[str, str], tuple[Any, ...]]:
    out = {}
    for table in tables:
        for part in partitions(lake, table):
            m = part.manifest
            if not m.interval_start.startswith("2018-01-0"):
                continue
            out[(table, m.partition)] = (
                m.counts.model_dump(),
                m.quarantine_by_check,
                m.dataset_version,
                m.quarantine_version,
            )
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _services_or_skip()
    from pipelines.generate import generate

    root = tmp_path_factory.mktemp("celery")
    (root / "logs").mkdir()
    token = secrets.token_hex(4)
    database, queue = f"airflow_it_{token}", f"it_{token}"
    create_keyring(root / "keyring.json")
    (root / "passwords.json").write_text(
        json.dumps({user: secrets.token_urlsafe(12) for user in USERS})
    )
    generate(root / "landing", orders=300, days=2)
    env = _environment(root, database, queue, _free_port())
    settings = Settings(data_dir=root / "data", landing_dir=root / "landing")
    _admin(f'CREATE DATABASE "{database}"')
    st = Stack(root, env, database, queue, settings)
    try:
        st.prepare()  # db migrate and the warehouse pool, as prepare_airflow does
        st.start("api-server", "api-server", "--port", env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].split(":")[2].split("/")[0])  # fmt: skip
        st.start("scheduler", "scheduler")
        st.start("dag-processor", "dag-processor")
        st.start_worker()
        base = env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].removesuffix("/execution/")

        def api_up() -> bool:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/version", timeout=2):
                    return True
            except OSError:
                return False

        st.wait_for("the api-server", api_up, START_TIMEOUT)
        st.wait_for(
            f"{DAG_ID} to be parsed",
            lambda: st.sql("SELECT 1 FROM dag WHERE dag_id = %s AND is_stale = false", DAG_ID),
            START_TIMEOUT,
        )
        st.airflow("dags", "unpause", DAG_ID)
        yield st
    finally:
        st.stop_all()
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            import redis

            redis.Redis.from_url(REDIS).delete(queue)


def test_two_overlapping_intervals_on_celery_match_the_embedded_default(
    stack: Stack, contracts: ContractSet
):
    reference: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: reference.update(_reference(stack.root, stack.root / "logs" / "ref.log"))
    )
    thread.start()
    out = stack.airflow(
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", FROM, "--to-date", TO,
        "--max-active-runs", "2",
    )  # fmt: skip
    runs = stack.wait_for(
        "two backfill runs", lambda: len(stack.runs()) == 2 and stack.runs(), START_TIMEOUT
    )
    assert len(runs) == 2, out
    intervals = stack.sql(
        "SELECT data_interval_start::date::text, data_interval_end::date::text FROM dag_run "
        "WHERE dag_id = %s ORDER BY 1",
        DAG_ID,
    )
    assert intervals == [("2018-01-01", "2018-01-02"), ("2018-01-02", "2018-01-03")]

    done = stack.wait_for(
        "both runs to finish",
        lambda: all(s in ("success", "failed") for s in stack.runs().values()) and stack.runs(),
        RUN_TIMEOUT,
        every=3,
    )
    failed = stack.sql("SELECT run_id, task_id, state FROM task_instance WHERE state <> 'success'")
    assert set(done.values()) == {"success"}, (failed, stack.logs())

    # The two runs really overlapped: tasks of both were running at the same time.
    spans = stack.sql(
        "SELECT run_id, min(start_date), max(end_date) FROM task_instance GROUP BY run_id"
    )
    (_, s1, e1), (_, s2, e2) = spans
    assert max(s1, s2) < min(e1, e2), spans
    # ... and ran on the Celery worker, not in-process.
    queues = stack.sql("SELECT DISTINCT queue FROM task_instance")
    assert queues == [(stack.queue,)]

    thread.join(timeout=RUN_TIMEOUT)
    assert not thread.is_alive(), "the embedded reference run did not finish"
    assert reference["codes"] == [0, 0, 0], (stack.root / "logs" / "ref.log").read_text()[-4000:]
    tables = list(contracts)
    ours = _manifests(stack.settings.lake, tables)
    theirs = _manifests(reference["settings"].lake, tables)
    assert len(ours) == 2 * len(tables)
    assert ours == theirs


def test_worker_killed_mid_ingest_retries_and_the_partition_is_whole(stack: Stack):
    table, task = "order_items", "ingest_order_items"
    [clean] = [
        p.manifest for p in partitions(stack.settings.lake, table) if p.folder.name == PARTITION
    ]
    [(run_id, tries_before)] = stack.sql(
        "SELECT ti.run_id, ti.try_number FROM task_instance ti JOIN dag_run r USING (dag_id, run_id) "
        "WHERE ti.task_id = %s AND r.data_interval_start = %s::timestamptz",
        task,
        FROM,
    )

    def state() -> tuple[int, str | None]:
        [(tries, st)] = stack.sql(
            "SELECT try_number, state FROM task_instance WHERE run_id = %s AND task_id = %s",
            run_id,
            task,
        )
        return tries, st

    # Re-run the one task as an operator would: clear it, and only it (no downstream task, no
    # reprocessing backfill): the scheduler queues it again for the Celery worker.
    [(logical,)] = stack.sql("SELECT logical_date FROM dag_run WHERE run_id = %s", run_id)
    tries_of_run = "SELECT task_id, try_number FROM task_instance WHERE run_id = %s"
    others_before = {t: n for t, n in stack.sql(tries_of_run, run_id) if t != task}
    # (Airflow 3.3 matches --task-regex as a substring: no anchors; no other task id
    # contains "ingest_order_items".)
    stack.airflow(
        "tasks", "clear", DAG_ID, "--task-regex", task, "--start-date", logical.isoformat(),
        "--end-date", logical.isoformat(), "--yes",
    )  # fmt: skip
    assert state()[1] != "success", "airflow tasks clear cleared nothing"
    try:
        stack.wait_for(f"{task} to run", lambda: state()[1] == "running", START_TIMEOUT, every=0.2)
    except AssertionError as exc:
        tis = stack.sql(
            "SELECT task_id, state, try_number FROM task_instance WHERE run_id = %s", run_id
        )
        raise AssertionError(f"tis: {tis}\n{str(exc)[:3000]}") from None
    stack.kill("worker")  # SIGKILL to the worker's process group: worker and task die at once
    killed_try = state()[0]
    stack.start_worker("worker2")

    def finished() -> str | None:
        st = stack.runs()[run_id]
        return st if st in ("success", "failed") else None

    done = stack.wait_for("the re-run to finish", finished, RUN_TIMEOUT, every=3)
    tasks = dict(stack.sql("SELECT task_id, state FROM task_instance WHERE run_id = %s", run_id))
    assert done == "success", (tasks, stack.logs())
    assert set(tasks.values()) == {"success"}, tasks
    # Only the killed task ran again: every other task of the run kept its tries.
    others_after = {t: n for t, n in stack.sql(tries_of_run, run_id) if t != task}
    assert others_after == others_before
    tries, final = state()
    assert final == "success"
    assert tries > killed_try > tries_before, (tries_before, killed_try, tries)
    [after] = [
        p.manifest for p in partitions(stack.settings.lake, table) if p.folder.name == PARTITION
    ]
    assert after.run_id == run_id
    assert after.dataset_version == clean.dataset_version
    assert after.quarantine_version == clean.quarantine_version
    assert after.counts == clean.counts
    # The killed attempt left no second partition behind.
    assert [p.folder.name for p in partitions(stack.settings.lake, table)] == [
        PARTITION,
        "dt=2018-01-02",
    ]


def _portal_get(base: str, path: str, token: str | None = None, accept: str = "text/html") -> Any:
    """(status, body, headers) of a portal request, redirects not followed."""
    headers = {"Accept": accept, **({"Authorization": f"Bearer {token}"} if token else {})}

    class _Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(_Stay).open(
            urllib.request.Request(base + path, headers=headers), timeout=60
        ) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def _login(base: str, user: str, password: str) -> str:
    body = json.dumps({"username": user, "password": password}).encode()
    request = urllib.request.Request(
        base + "/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        return str(json.loads(r.read())["access_token"])


def test_the_portal_is_behind_the_airflow_login(stack: Stack):
    base = stack.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].removesuffix("/execution/")
    assert _portal_get(base, "/governance/quality", accept="application/json")[0] == 401
    status, _, headers = _portal_get(base, "/governance/quality")
    assert status in (302, 303, 307) and "/auth/login" in headers["location"]
    passwords = json.loads((stack.root / "passwords.json").read_text())
    admin = _login(base, "admin", passwords["admin"])
    status, text, _ = _portal_get(base, "/governance/quality", admin)
    assert status == 200 and "<h1>Quality</h1>" in text, text[:500]
    for run in stack.runs():  # the DAG runs of the tests above, each validation linked
        assert f"run_id={urllib.parse.quote(run, safe='')}" in text, run
    analyst = _login(base, "analyst", passwords["analyst"])
    assert _portal_get(base, "/governance/quality", analyst)[0] == 200
    assert _portal_get(base, "/governance/pii", analyst)[0] == 403
