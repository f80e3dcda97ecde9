"""Shared fixtures: an isolated data directory, settings and a fresh key ring per test."""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from pipelines.contracts import ContractSet, load_contracts
from pipelines.protection import KeyRing
from pipelines.settings import PROJECT_DIR, Settings
from tests import tiers
from tests.s3server import S3Server

SHARED_DATA = PROJECT_DIR.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    # The suite runs in three tiers (Makefile: test-unit, test-integration, test-stack):
    # unit = not integration; integration = integration and not stack; stack = stack.
    config.addinivalue_line(
        "markers",
        "stack: starts the production stack (Airflow on PostgreSQL, Celery workers, Redis); "
        "runs last, in the stack tier",
    )
    config.addinivalue_line(
        "markers",
        "first(seconds): a long module (Airflow DAG runs, dbt builds of a minute): starts "
        "before the others of its tier, the longest (its rough wall seconds on a quiet "
        "machine) first, so the xdist workers end on short modules, at about the same time",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A ``stack`` test is an integration test too, so the three tiers never overlap. Tests
    marked ``first`` come first, longest first by the marker's seconds (otherwise in
    collection order): with ``--dist loadfile --no-loadscope-reorder`` (Makefile) the workers
    start on the longest modules and end on short ones (a worker takes its next modules while
    it still has a few tests to run, so each starts on two). The first two are the training
    DAG, which builds its lake for half a minute before it needs Airflow, and a DAG module
    that needs Airflow at once: one worker migrates the session's Airflow database while the
    other builds, instead of both waiting for it."""
    for item in items:
        if item.get_closest_marker("stack") and not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)
    _check_tiers(items)
    items.sort(key=_start_order)


def _start_order(item: pytest.Item) -> tuple[bool, float]:
    first = item.get_closest_marker("first")
    return first is None, -float(first.args[0]) if first and first.args else 0.0


def _check_tiers(items: list[pytest.Item]) -> None:
    """Every test is in a file its tier collects (tests/tiers.py), before ``-m`` deselects."""
    problems: dict[tuple[Path, frozenset[str]], str] = {}
    for item in items:
        key = (item.path, frozenset(m.name for m in item.iter_markers()) & tiers.TIER_MARKS)
        if key not in problems and (key[1] or item.path.is_relative_to(tiers.INTEGRATION_DIR)):
            problems[key] = tiers.misplaced(*key) or ""
    wrong = sorted({f"{path}: {why}" for (path, _), why in problems.items() if why})
    if wrong:
        raise pytest.UsageError("tests outside their tier:\n" + "\n".join(wrong))


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[None]:
    """Keep the test modules' bytecode while collecting, even under PYTHONDONTWRITEBYTECODE.

    With that variable set (as on the CI machines), pytest rewrites the asserts of every test
    module and conftest from source on each collection: about 4.4 CPU s of a 14.6 CPU s
    collection of the suite, paid again by every xdist worker of every tier. Written once
    (``__pycache__/*-pytest-*.pyc``, checked against the source's size and mtime, written
    atomically, so workers collecting at once are safe), later collections read it. Only
    during collection: what the tests themselves import keeps the machine's setting."""
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = False
    try:
        return (yield)
    finally:
        sys.dont_write_bytecode = saved


@pytest.fixture(autouse=True)
def _no_openlineage_env_leaks() -> Iterator[None]:
    """openlineage-python turns ``OPENLINEAGE_URL`` into ``OPENLINEAGE__TRANSPORT__...``
    variables in ``os.environ`` behind monkeypatch's back; drop whatever a test left, so later
    tests (and the Airflow processes they start) see the machine's configuration."""
    before = {k: v for k, v in os.environ.items() if k.startswith("OPENLINEAGE")}
    yield
    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        if key not in before:
            del os.environ[key]
    os.environ.update(before)


@pytest.fixture(autouse=True, scope="session")
def _user_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The development key ring's default home (``$XDG_CONFIG_HOME``) is a temporary folder:
    no test, nor any process a test starts, reads or writes the user's own config dir."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
        yield


@pytest.fixture(scope="session")
def contracts() -> ContractSet:
    return load_contracts(PROJECT_DIR / "contracts")


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing.generate(note="test key ring")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for var in ("PIPELINES_KEYS", "PIPELINES_KEY_FILE", "PIPELINES_SETTINGS_FILE"):
        monkeypatch.delenv(var, raising=False)
    return Settings(data_dir=tmp_path / "data", duckdb_memory_limit="1GB", duckdb_threads=2)


@pytest.fixture
def keyed_settings(settings: Settings, keyring: KeyRing) -> Settings:
    """``settings`` whose key ring is ``keyring`` (as ``PIPELINES_KEYS`` gives it): for steps
    that resolve the key ring from their settings, like those that write the audit log."""
    return settings.model_copy(update={"keys": SecretStr(keyring.to_json())})


WriteLanding = Callable[..., Path]


@pytest.fixture
def write_landing(settings: Settings) -> WriteLanding:
    """Write one landing file: ``write_landing(day, "olist_orders_dataset.csv", text)``."""

    def write(day: date | str, name: str, text: str | bytes) -> Path:
        folder = settings.landing / str(day)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        data = text.encode() if isinstance(text, str) else text
        if name.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        path.write_bytes(data)
        return path

    return write


def session_dir(factory: pytest.TempPathFactory) -> Path:
    """A folder shared by every pytest-xdist worker of this session (for built-once things)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """The folder ``<session dir>/<name>``, filled by ``build(folder)`` once per test session:
    the first pytest-xdist worker to ask builds it under a file lock, the others wait and get
    the same folder (to read, or to copy before they change it). A build that failed (say a
    timeout) is started again in an emptied folder."""
    import shutil

    from filelock import FileLock

    base = session_dir(factory)
    root, done = base / name, base / f"{name}.built"
    with FileLock(str(base / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            build(root)
            done.touch()
    return root


InstallAirflowDb = Callable[[dict[str, str]], None]


@pytest.fixture(scope="session")
def airflow_db(tmp_path_factory: pytest.TempPathFactory) -> InstallAirflowDb:
    """``airflow_db(env)``: put a migrated Airflow metadata database (SQLite, with the warehouse
    pool) into ``env["AIRFLOW_HOME"]``. ``airflow db migrate`` runs once per test session
    (``prepare_airflow``, as ``make demo`` does; 20-50 s), not once per test; the xdist
    workers share the result."""
    import shutil

    from pipelines.demo import airflow_env, prepare_airflow

    def migrate(root: Path) -> None:
        log = root / "airflow.log"
        env = airflow_env(Settings(data_dir=root / "data"), {})
        assert prepare_airflow(env, log) == 0, log.read_text()[-3000:]

    root = built_once(tmp_path_factory, "airflow-db-template", migrate)
    template = Settings(data_dir=root / "data").data_dir / "airflow" / "airflow.db"

    def install(env: dict[str, str]) -> None:
        home = Path(env["AIRFLOW_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, home / "airflow.db")

    return install


def olist_sample() -> Path:
    path = SHARED_DATA / "olist_sample"
    if not path.is_dir():
        pytest.skip(f"real Olist sample not available at {path}")
    return path


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's standalone S3 server on a free localhost port, with the bucket ``lake``."""
    from tests.s3server import start_s3_server

    with start_s3_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session on the machine's server (dropped after)."""
    from tests.pgdb import temporary_database

    with temporary_database() as url:
        yield url


@pytest.fixture
def catalog_url() -> Iterator[SecretStr]:
    """A new, empty PostgreSQL database for a DuckLake catalog (``lake_catalog_url``), dropped
    after the test: DuckLake keeps its tables in the database's default schema."""
    from tests.pgdb import temporary_database

    with temporary_database("pipelines_dl") as url:
        yield SecretStr(url)


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A ``postgresql://`` URL whose search path is a new, empty schema of this test."""
    from tests.pgdb import new_schema

    return new_schema(pg_database)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The S3 server's credentials and endpoint in this test's environment."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server
