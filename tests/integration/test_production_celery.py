"""The production configuration without Docker and without a shared disk: Airflow 3 on
PostgreSQL with two Celery workers, the lake (and landing) on an S3 server with its DuckLake
catalog in PostgreSQL, shared state in PostgreSQL.

Starts a real ``airflow scheduler``, ``dag-processor``, ``api-server`` and two ``celery
worker`` processes against the machine's PostgreSQL (a fresh Airflow database and a fresh
state database and a fresh DuckLake catalog database per test module, dropped at the end)
and Redis (a queue of its own, so
parallel runs do not collide), with the same ``AIRFLOW__*`` variables ``docker-compose.yml``
sets (names in ``pipelines.deploy``), and moto's S3 server (``tests/s3server.py``):

* **No shared disk.** ``PIPELINES_LAKE_URL`` and ``PIPELINES_LANDING_URL`` are on the S3
  server (the landing files generated locally, then uploaded), the lake's commits in its
  DuckLake catalog (``PIPELINES_LAKE_CATALOG_URL``, the catalog database: a partition's
  commit is a catalog transaction, no ``manifest.json``), the audit log, lineage
  events and partition locks (``PIPELINES_AUDIT_URL``, ``..._LINEAGE_URL``,
  ``..._LOCK_URL``) in the state database. Each worker, and the
  scheduler's side, has its own ``PIPELINES_DATA_DIR`` and its own copy of the key ring (as
  a secret is mounted): no pipeline path in common (Airflow's own ``AIRFLOW_HOME`` and task
  logs are shared; they are Airflow's, not the pipeline's). Each worker reports its own host
  name (``tests/stack_host.py``), so the task instances say where they ran.
* **Two overlapping intervals**: a backfill of ``commerce_daily`` for 2018-01-01 and
  2018-01-02 with two active runs at once, both workers running tasks; both runs succeed
  and every partition's manifest (counts, dataset and quarantine versions), read from the
  store through its catalog, equals the embedded default's (``airflow dags test`` on SQLite
  and local files, ingestion through the quality gate: the later tasks write no partition)
  on the same landing data and keys. Another engine (plain DuckDB
  attaching the catalog, no pipelines code) counts each table's rows as the manifests'
  ``counts.loaded`` add up.
* **Each worker killed once mid-write.** The workers talk S3 through a proxy
  (``tests/s3proxy.py``), one listener per worker. The proxy holds worker A's first
  ``PUT .../<table>/dt=<date>/quarantine-<sha256>.parquet`` that changes the partition
  (the publication's last object, after ``data-<sha256>.parquet`` and before the catalog
  commit): while it is held, the partition's data object is on the store, unreferenced,
  but no reader through the catalog sees the new version (it sees none, or the previous
  one); then worker A's process group is SIGKILLed and the held request dropped, so the
  commit never happens. The same with worker B's next such PUT (A is dead, so it is B's),
  then both workers start again on the same data dirs: the killed tasks are retried and
  the runs end with the clean content above.
* **The governance portal** behind Airflow's login (the compose file's SimpleAuthManager): a
  caller without a token is refused, a browser is sent to the login page; the admin logs in
  through ``POST /auth/token`` and reads the portal's quality page of the runs above, a viewer
  (ML consumer) reads it too but is refused the PII map.

Where PostgreSQL or Redis is not reachable the tests skip, saying which. Override the
addresses with ``PIPELINES_IT_POSTGRES`` (libpq URL of a role that may create databases) and
``PIPELINES_IT_REDIS``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import shutil
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
from urllib.parse import unquote, urlsplit

import duckdb
import psutil
import pytest
from pydantic import SecretStr

from pipelines import deploy
from pipelines.contracts import ContractSet
from pipelines.demo import PREPARE_COMMANDS, airflow_env, prepare_airflow, run_airflow_commands
from pipelines.lake.extensions import load_extensions
from pipelines.lake.manifest import MANIFEST_NAME
from pipelines.lake.partitions import partitions
from pipelines.lake.storage import LakeStorage, lake_storage
from pipelines.lake.stored import current, unreferenced
from pipelines.protection import create_keyring
from pipelines.settings import PROJECT_DIR, Settings
from tests.s3proxy import Hold, S3Proxy, Seen, s3_proxy
from tests.s3server import S3Server, start_s3_server

# A whole stack and two DAG runs: the stack tier, after everything else.
pytestmark = [pytest.mark.integration, pytest.mark.stack, pytest.mark.timeout(3600)]

POSTGRES = os.environ.get("PIPELINES_IT_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("PIPELINES_IT_REDIS", "redis://127.0.0.1:6379/0")
DAG_ID = "commerce_daily"
# The backfill's from/to dates; the runs cover [2018-01-01, 2018-01-02) and [2018-01-02, 2018-01-03).
FROM, TO = "2018-01-01", "2018-01-02"
BUCKET = "lake"
LAKE_URL = f"s3://{BUCKET}/lake"
LANDING_URL = f"s3://{BUCKET}/landing"
WORKERS = ("worker-a", "worker-b")
# A partition's objects, PUT in this order before its commit (a catalog transaction): the
# data, then the quarantine, the last write on the store before the commit.
PARTITION = rf"^/{BUCKET}/lake/(?P<table>[a-z][a-z0-9_]*)/(?P<part>dt=[^/]+)/"
DATA_PUT = PARTITION + r"data-(?P<sha>[0-9a-f]{64})\.parquet$"
QUARANTINE_PUT = PARTITION + r"quarantine-(?P<sha>[0-9a-f]{64})\.parquet$"
# Deadlines are generous (a loaded 2-core machine is many times slower than a quiet one); the
# waits poll, so a quiet machine never waits them out.
RUN_TIMEOUT = 1500  # seconds, for both runs together (each runs ingestion, quality and features)
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
        connect_timeout=30,  # a loaded machine's PostgreSQL may take seconds to accept
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


def _pg_auth_host() -> tuple[str, str]:
    pg = urlsplit(POSTGRES)
    auth = pg.username or "postgres"
    if pg.password:
        auth += f":{pg.password}"
    return auth, f"{pg.hostname or '127.0.0.1'}:{pg.port or 5432}"


@dataclass(frozen=True)
class Node:
    """One machine of the deployment: its own data dir, its own copy of the key ring (as a
    mounted secret) and its S3 endpoint (a worker's goes through the test's proxy)."""

    name: str
    home: Path
    endpoint: str

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def setup(self, root: Path) -> None:
        self.data_dir.mkdir(parents=True)
        shutil.copyfile(root / "keyring.json", self.home / "keyring.json")
        (self.home / "keyring.json").chmod(0o600)  # a key ring others can read is refused

    def env(self) -> dict[str, str]:
        return {
            "PIPELINES_DATA_DIR": str(self.data_dir),
            "PIPELINES_KEY_FILE": str(self.home / "keyring.json"),
            "PIPELINES_S3_ENDPOINT": self.endpoint,
            "IT_WORKER_HOSTNAME": self.name,  # tests/stack_host.py
        }


@dataclass
class Stack:
    """A running Airflow 3 deployment: its environment, databases, nodes and processes."""

    root: Path
    env: dict[str, str]
    database: str
    queue: str
    s3: S3Server
    proxy: S3Proxy
    nodes: dict[str, Node]
    log_ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @functools.cached_property
    def store(self) -> LakeStorage:
        """The lake with its catalog, read by the test straight from the S3 server (not
        through the proxy), as any reader of the deployment reads it."""
        url = SecretStr(self.env["PIPELINES_LAKE_CATALOG_URL"])
        return lake_storage(LAKE_URL, env=self.s3.env(), catalog=url)

    def node_env(self, node: str) -> dict[str, str]:
        return {**self.env, **self.nodes[node].env()}

    def start(self, name: str, *args: str, node: str = "control") -> subprocess.Popen[bytes]:
        log = (self.root / "logs" / f"{name}.log").open("ab")
        env = self.node_env(node)
        if node in self.log_ports:  # each worker's log server on its own port
            env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(self.log_ports[node])
        proc = subprocess.Popen(
            [AIRFLOW, *args],
            env=env,
            cwd=PROJECT_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
        )
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        self.log_ports.setdefault(name, _free_port())
        host = f"{name}-{self.queue}@%h"
        return self.start(
            name, "celery", "worker", "--queues", self.queue, "--concurrency", "4",
            "--celery-hostname", host, node=name,
        )  # fmt: skip

    def kill(self, name: str) -> None:
        """SIGKILL ``name`` and every process it started, as when its machine dies (Airflow's
        supervisor puts each task runner in a process group of its own, so killing the
        worker's group alone would leave the task running)."""
        proc = self.procs.pop(name)
        tree = _frozen_tree(proc.pid)
        for p in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(tree, timeout=60)
        proc.wait(timeout=60)

    def stop_all(self) -> None:
        trees = {name: _tree(proc.pid) for name, proc in self.procs.items()}
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for name, proc in self.procs.items():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            for p in trees[name]:  # leave nothing behind, task runners included
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self.procs.clear()

    def airflow(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            [AIRFLOW, *args],
            env=self.node_env("control"),
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def prepare(self) -> None:
        """``db migrate`` and ``pools set`` in one Airflow process (:func:`prepare_airflow`)."""
        log = self.root / "logs" / "prepare.log"
        assert prepare_airflow(self.node_env("control"), log) == 0, log.read_text()[-4000:]

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
        """Poll ``predicate`` until it returns a true value; a database that does not answer
        in time is asked again (a loaded machine), a process that exits fails at once."""
        import psycopg2

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited ({proc.returncode})\n{self.logs()}")
            try:
                value = predicate()
            except psycopg2.OperationalError as exc:
                last, value = exc, None
            if value:
                return value
            time.sleep(every)
        raise AssertionError(
            f"timed out after {timeout:.0f}s waiting for {what} (last error: {last})\n{self.logs()}"
        )

    def staged_data(self, worker: str, table: str, part: str) -> str | None:
        """The SHA-256 of the data object ``worker`` last PUT (and the store took) under
        ``table/part``: the data of the publication whose quarantine PUT follows it."""
        for seen in reversed(self.proxy.requests(worker, "PUT")):
            found = _match(DATA_PUT, seen)
            if seen.status == 200 and found and (found["table"], found["part"]) == (table, part):
                return found["sha"]
        return None

    def hold_commit(self, worker: str, *, besides: tuple[str, str] | None = None) -> Hold:
        """Arm the proxy: hold ``worker``'s next quarantine PUT, the last object before a
        partition's catalog commit, of a publication that changes the partition (a retried
        task may publish the same version again), of another partition than ``besides``
        (table, partition): a task is killed once at most."""

        def changes(seen: Seen) -> bool:
            found = _match(QUARANTINE_PUT, seen)
            if found is None or (found["table"], found["part"]) == besides:
                return False
            data = self.staged_data(worker, found["table"], found["part"])
            now = current(self.store, found["table"], found["part"])
            new = (data, found["sha"])
            return data is not None and (
                now is None or (now.dataset_version, now.quarantine_version) != new
            )

        return self.proxy.hold(worker, "PUT", QUARANTINE_PUT, when=changes)

    def kill_mid_write(self, worker: str, hold: Hold) -> tuple[str, str]:
        """Wait until ``worker``'s write matching ``hold`` (the PUT before a catalog commit)
        is held; check that no reader through the catalog sees the new version although its
        data object is on the store, unreferenced; SIGKILL the worker and drop the write.
        The (table, partition) it was writing."""
        self.wait_for(f"{worker} to publish a partition", lambda: hold.caught, START_TIMEOUT, 0.2)
        assert hold.held is not None
        found = _match(QUARANTINE_PUT, hold.held)
        assert found, hold.held
        table, part = found["table"], found["part"]
        data = self.staged_data(worker, table, part)
        assert data is not None, hold.held
        old = {p.name: p.manifest for p in partitions(self.store, table)}.get(part)
        new = (data, found["sha"])
        visible = None if old is None else (old.dataset_version, old.quarantine_version)
        assert visible != new, "the held commit is visible"  # absent, or the previous version
        rel = f"{table}/{part}/data-{data}.parquet"
        assert self.store.sha256(rel) == data  # ... its data object is there
        if old is None or old.dataset_version != data:
            assert rel in unreferenced(self.store, table)  # ... and no commit names it
        self.kill(worker)  # the worker and its tasks, at once
        hold.drop()  # the last object never reaches the store, the commit never happens
        return table, part


def _match(pattern: str, seen: Seen) -> re.Match[str] | None:
    """``pattern`` matched against the request's object path (query and encoding removed)."""
    return re.match(pattern, unquote(urlsplit(seen.path).path))


def _tree(pid: int) -> list[psutil.Process]:
    """``pid`` and its descendants (none when it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _frozen_tree(pid: int) -> list[psutil.Process]:
    """``pid`` and all its descendants, each stopped (SIGSTOP) so none forks another."""
    stopped: dict[int, psutil.Process] = {}
    while new := [p for p in _tree(pid) if p.pid not in stopped]:
        for p in new:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.suspend()
            stopped[p.pid] = p
    return list(stopped.values())


def _environment(
    root: Path, database: str, state: str, catalog: str, queue: str, s3: S3Server
) -> dict[str, str]:
    """The compose file's AIRFLOW__* and PIPELINES_* variables, pointed at this machine; the
    per-machine ones (data dir, key file, S3 endpoint) are the nodes' (:class:`Node`)."""
    auth, host = _pg_auth_host()
    secret = secrets.token_urlsafe(32)
    api_port = _free_port()
    state_url = f"postgresql://{auth}@{host}/{state}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PIPELINES_", "AWS_", "IT_"))
    }
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
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": deploy.CELERY_CONFIG,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__API_AUTH__JWT_SECRET": secret,
            "AIRFLOW__API__SECRET_KEY": secret,
            # The compose file's login: SimpleAuthManager, passwords from a file.
            "AIRFLOW__CORE__AUTH_MANAGER": deploy.AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{u}:{r}" for u, r in USERS.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(root / "passwords.json"),
            # Each worker is a machine of its own: its host name (tests/stack_host.py).
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.stack_host.hostname",
            "PYTHONPATH": str(PROJECT_DIR),
            # Only the runs this test creates: no run for "yesterday" when the DAG is unpaused.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # ... parsed once: the DAG files do not change during the test (each parse of
            # both files costs the dag-processor a process and a second or two of CPU)
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            # A killed worker's tasks are noticed in seconds and retried after 2 s; a task
            # whose message a killed worker took before it ran is queued again.
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
            # Each kill costs every task then running on that worker a try, and a task may be
            # running on both: two tries to spare besides, for a loaded machine.
            "PIPELINES_DAG_RETRIES": "4",
            # The store and the shared state: nothing the pipeline shares is on a disk.
            "PIPELINES_LAKE_URL": LAKE_URL,
            "PIPELINES_LANDING_URL": LANDING_URL,
            # ... committed in the lake's DuckLake catalog, a database of its own
            "PIPELINES_LAKE_CATALOG_URL": f"postgresql://{auth}@{host}/{catalog}",
            **{f"PIPELINES_{name.upper()}": state_url for name in deploy.STATE_SETTINGS},
            **{k: v for k, v in s3.env().items() if k != "PIPELINES_S3_ENDPOINT"},
            "PIPELINES_DUCKDB_MEMORY_LIMIT": "1GB",
            "PIPELINES_DUCKDB_THREADS": "1",
            "PYTHONWARNINGS": "ignore",
        }
    )
    for name in deploy.AIRFLOW_ENV:
        assert env[name], name  # the same variables the compose file sets
    return env


# What the reference does not run (``dags test --mark-success-pattern``): the tasks after the
# gate and the Data Docs. They write no partition of a contract's table (the features are
# releases of their own; a purge past retention would only make the reference's lake hold
# more than the deployment's, which the comparison refuses), and only those partitions'
# manifests are compared. Ingestion, the quality tasks (they move rows to the quarantine)
# and the gate run as in the deployment.
REFERENCE_SKIPS = (
    "quality_report|build_features|check_(?!interval$).+|publish_features|feature_docs"
    "|purge_retention|release_representativeness"
)


def _reference(root: Path, log: Path) -> dict[str, Any]:
    """The embedded default (``airflow dags test`` on SQLite) on the same landing data, up to
    the quality gate (:data:`REFERENCE_SKIPS`)."""
    settings = Settings(
        data_dir=root / "reference",
        landing_dir=root / "landing",
        key_file=root / "keyring.json",
        duckdb_memory_limit="1GB",
        duckdb_threads=1,
    )
    env = airflow_env(settings, {})
    env = {k: v for k, v in env.items() if not k.startswith(("PIPELINES_", "AWS_", "IT_"))}
    env.update(
        PIPELINES_DATA_DIR=str(settings.data_dir),
        PIPELINES_LANDING_DIR=str(root / "landing"),
        PIPELINES_KEY_FILE=str(root / "keyring.json"),
        PIPELINES_DUCKDB_MEMORY_LIMIT="1GB",
        PIPELINES_DUCKDB_THREADS="1",
    )
    # one Airflow process (its start costs seconds of CPU): migrate, the pool, both runs
    runs = [
        ["dags", "test", DAG_ID, logical, "--mark-success-pattern", REFERENCE_SKIPS]
        for logical in ("2018-01-02", "2018-01-03")
    ]
    code = run_airflow_commands([*PREPARE_COMMANDS, *runs], env, log)
    return {"settings": settings, "code": code}


def _manifests(
    lake: Path | LakeStorage, tables: list[str]
) -> dict[tuple[str, str], tuple[Any, ...]]:
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


def _upload_landing(root: Path, s3: S3Server) -> None:
    """The generated landing files onto the store, as ``<landing_url>/<date>/<file>``."""
    from pipelines.lake.s3client import s3_client, split_url

    client = s3_client(s3.env())
    bucket, prefix = split_url(LANDING_URL)
    for path in sorted((root / "landing").rglob("*")):
        if path.is_file():
            rel = path.relative_to(root / "landing").as_posix()
            client.upload_file(str(path), bucket, f"{prefix}/{rel}")


@contextlib.contextmanager
def _databases(*names: str) -> Iterator[None]:
    for name in names:
        _admin(f'CREATE DATABASE "{name}"')
    try:
        yield
    finally:
        for name in names:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _services_or_skip()
    from pipelines.generate import generate

    root = tmp_path_factory.mktemp("celery")
    (root / "logs").mkdir()
    token = secrets.token_hex(4)
    database, state, queue = f"airflow_it_{token}", f"pipelines_it_{token}", f"it_{token}"
    catalog = f"lake_catalog_it_{token}"
    create_keyring(root / "keyring.json")
    (root / "passwords.json").write_text(
        json.dumps({user: secrets.token_urlsafe(12) for user in USERS})
    )
    generate(root / "landing", orders=300, days=2)
    with contextlib.ExitStack() as resources:
        s3 = resources.enter_context(start_s3_server(root / "logs", bucket=BUCKET))
        proxy = resources.enter_context(s3_proxy(s3.endpoint))
        resources.enter_context(_databases(database, state, catalog))
        _upload_landing(root, s3)
        nodes = {"control": Node("control", root / "control", s3.endpoint)}
        nodes |= {w: Node(w, root / w, proxy.listen(w)) for w in WORKERS}
        for node in nodes.values():
            node.setup(root)
        env = _environment(root, database, state, catalog, queue, s3)
        st = Stack(root, env, database, queue, s3, proxy, nodes)
        resources.callback(_forget_queue, queue)
        resources.callback(st.stop_all)
        _start(st)
        yield st


def _forget_queue(queue: str) -> None:
    with contextlib.suppress(Exception):
        import redis

        redis.Redis.from_url(REDIS).delete(queue)


def _start(st: Stack) -> None:
    st.prepare()  # db migrate and the warehouse pool, as prepare_airflow does
    base = st.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].removesuffix("/execution/")
    st.start("api-server", "api-server", "--port", base.rsplit(":", 1)[1])
    st.start("scheduler", "scheduler")
    st.start("dag-processor", "dag-processor")
    for worker in WORKERS:
        st.start_worker(worker)

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


def _no_shared_paths(st: Stack) -> None:
    """No pipeline path of one node is, or is inside, another node's."""
    paths = {
        name: [Path(v) for k, v in node.env().items() if k.endswith(("_DIR", "_FILE"))]
        for name, node in st.nodes.items()
    }
    for name, mine in paths.items():
        for other, theirs in paths.items():
            if other != name:
                for a in mine:
                    for b in theirs:
                        assert not (a.is_relative_to(b) or b.is_relative_to(a)), (a, b)


def test_two_workers_without_a_shared_disk_each_killed_mid_write_match_the_embedded_default(
    stack: Stack, contracts: ContractSet
):
    _no_shared_paths(stack)
    reference: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: reference.update(_reference(stack.root, stack.root / "logs" / "ref.log")),
        daemon=True,  # an interrupted test does not wait for it
    )
    thread.start()
    first = stack.hold_commit("worker-a")
    out = stack.airflow(
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", FROM, "--to-date", TO,
        "--max-active-runs", "2", "--reprocess-behavior", "failed",  # depends_on_past
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

    # Each worker killed once while a partition's commit is in flight: A first; with A dead
    # the next commit is B's. Then both start again on the same data dirs.
    killed = stack.kill_mid_write("worker-a", first)
    stack.kill_mid_write("worker-b", stack.hold_commit("worker-b", besides=killed))
    for worker in WORKERS:
        stack.start_worker(worker)

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
    # ... on the Celery workers, not in-process, both of them running tasks and publishing
    # partitions; the killed tasks ran again.
    assert stack.sql("SELECT DISTINCT queue FROM task_instance") == [(stack.queue,)]
    hosts = stack.sql("SELECT DISTINCT hostname FROM task_instance ORDER BY 1")
    assert hosts == [(w,) for w in WORKERS], hosts
    published = {  # the last object before a commit, PUT by each worker
        s.listener
        for s in stack.proxy.requests(method="PUT")
        if s.status == 200 and _match(QUARANTINE_PUT, s)
    }
    assert published == set(WORKERS)
    [(retried,)] = stack.sql("SELECT coalesce(sum(try_number - 1), 0) FROM task_instance")
    assert retried >= 2, retried

    thread.join(timeout=RUN_TIMEOUT)
    assert not thread.is_alive(), "the embedded reference run did not finish"
    assert reference["code"] == 0, (stack.root / "logs" / "ref.log").read_text()[-4000:]
    tables = list(contracts)
    ours = _manifests(stack.store, tables)
    theirs = _manifests(reference["settings"].lake, tables)
    assert len(ours) == 2 * len(tables)
    assert ours == theirs
    # The catalog commits (no manifest object); another engine reads what the manifests say.
    for table, part in ours:
        assert MANIFEST_NAME not in stack.store.listdir(f"{table}/{part}"), (table, part)
    loaded = {t: sum(p.manifest.counts.loaded for p in partitions(stack.store, t)) for t in tables}
    assert _engine_counts(stack, tables) == loaded
    # The content is on the store only: no node's data dir holds a lake partition.
    for node in stack.nodes.values():
        assert not list((node.data_dir / "lake").glob("*/dt=*")), node.name


def _engine_counts(st: Stack, tables: list[str]) -> dict[str, int]:
    """Each table's row count as another engine reads it: plain DuckDB attaching the DuckLake
    catalog, with its own S3 secret (only the extensions' files come from the project)."""
    con = duckdb.connect()
    try:
        load_extensions(con, ["ducklake", "postgres", "httpfs"])
        s3 = st.s3
        endpoint = s3.endpoint.split("://", 1)[-1]
        con.execute(
            "CREATE SECRET (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, URL_STYLE 'path', "
            "USE_SSL false)",
            [s3.key_id, s3.secret, s3.region, endpoint],
        )
        con.execute(f"ATTACH 'ducklake:postgres:{st.env['PIPELINES_LAKE_CATALOG_URL']}' AS other")
        counts = {}
        for table in tables:
            [(counts[table],)] = con.execute(f'SELECT count(*) FROM other."{table}"').fetchall()
        return counts
    finally:
        con.close()


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
