"""The production deployment's contract with the code: what ``docker-compose.yml`` must hold.

The compose file (Airflow 3 on PostgreSQL with Celery workers and Redis) and the process-based
integration test both configure Airflow through the same variables listed here, and
``tests/unit/deploy/test_compose.py`` checks the compose file against them, so neither can
drift from the code unnoticed. Nothing here imports Airflow.
"""

from __future__ import annotations

from pipelines.settings import ENV_PREFIX, PROJECT_DIR, Settings

COMPOSE_FILE = PROJECT_DIR / "docker-compose.yml"
DOCKERFILE = PROJECT_DIR / "Dockerfile"

# Services -------------------------------------------------------------------------------

INFRA_SERVICES = ("postgres", "redis")
"""The metadata database and the Celery broker."""

LINEAGE_SERVICES = ("marquez-init", "marquez", "marquez-web")
"""The default lineage backend: Marquez (API :5000, UI :3000) and its database's creation."""

MARQUEZ_URL = "http://marquez:5000"

STATE_SERVICES = ("state-db-init",)
"""Creates the databases of the pipeline's shared state (audit log, lineage events, locks)
and of the lake's DuckLake catalog."""

STATE_DB_URL = "postgresql://airflow:${POSTGRES_PASSWORD:-airflow}@postgres:5432/pipelines"
"""The state database in compose (the password interpolated by compose from the host)."""

STATE_SETTINGS = ("audit_url", "lineage_url", "lock_url")
"""Settings that put shared state in PostgreSQL; compose sets each to :data:`STATE_DB_URL`."""

CATALOG_DB = "lake_catalog"
CATALOG_DB_URL = f"postgresql://airflow:${{POSTGRES_PASSWORD:-airflow}}@postgres:5432/{CATALOG_DB}"
"""The lake's DuckLake catalog in compose (``PIPELINES_LAKE_CATALOG_URL``): a database of
its own in the same PostgreSQL; every partition's commit is a transaction there."""

CATALOG_SETTINGS = {"lake_catalog_url": CATALOG_DB_URL}
"""Settings that make the stack's lake a DuckLake; compose sets each."""

OBJECT_STORE_SERVICES = ("minio", "minio-init")
"""The S3-compatible object store (MinIO) and its bucket's creation."""

S3_ENDPOINT = "http://minio:9000"
LAKE_BUCKET = "lake"
LAKE_URL = f"s3://{LAKE_BUCKET}/lake"
"""The stack's lake: on its MinIO (``PIPELINES_LAKE_URL``)."""
LANDING_URL = f"s3://{LAKE_BUCKET}/landing"
"""Where the stack's landing files arrive, ``<date>/<file>`` under it (``PIPELINES_LANDING_URL``)."""

STORE_SETTINGS = {"lake_url": LAKE_URL, "landing_url": LANDING_URL}
"""Settings that put the pipeline's data on the object store; compose sets each."""

OBJECT_STORE_ENV = {
    "AWS_ACCESS_KEY_ID": "${MINIO_ROOT_USER:-pipelines}",
    "AWS_SECRET_ACCESS_KEY": "${MINIO_ROOT_PASSWORD:-pipelines-minio}",
    "PIPELINES_S3_ENDPOINT": S3_ENDPOINT,
}
"""The object store's credentials and endpoint as compose sets them: read from the environment
by DuckDB's S3 secret (``pipelines.lake.extensions``), not settings fields."""

AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
"""Airflow 3's components; ``airflow-init`` migrates the database once and exits."""

WORKER_SERVICE = "airflow-worker"
"""The service to scale: ``docker compose up --scale airflow-worker=3``."""

LONG_RUNNING_SERVICES = (
    *INFRA_SERVICES,
    "minio",
    *(s for s in AIRFLOW_SERVICES if s != "airflow-init"),
)
"""Services that must declare a health check."""

OPTIONAL_SERVICES: dict[str, str] = {}
"""Optional services and the compose profile that enables them (none: Marquez is default)."""

# Configuration --------------------------------------------------------------------------

EXECUTOR = "CeleryExecutor"
DB_DRIVER = "postgresql+psycopg2://"
"""SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which is not installed."""
BROKER_SCHEME = "redis://"
RESULT_BACKEND_SCHEME = "db+postgresql+psycopg2://"
CELERY_CONFIG = "pipelines.worker.CELERY_CONFIG"
"""``[celery] celery_config_options``: Airflow's default with the tasks' modules preloaded."""

AIRFLOW_ENV = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__LOAD_EXAMPLES",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS",
)
"""Airflow settings every Airflow service needs (both modes set them)."""

AIRFLOW_SECRET_ENV = (
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__FERNET_KEY",
)
"""Shared secrets: compose reads them from files (``<NAME>_CMD``), never from the image."""

AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
"""Airflow's login for the UI and the governance portal; users and roles from
``AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS``, passwords from a secret file."""

AUTH_ENV = {
    "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER,
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "/run/secrets/airflow_passwords",
}
"""What compose sets for the login (the users variable defaults to one ``admin``)."""

PASSWORDS_SECRET = "airflow_passwords"

SECRET_FIELDS = ("keys", "key_file")
"""Settings that locate the key ring; in compose the key ring is a secret file."""

KEY_SECRET = "pipelines_keys"
KEY_FILE_IN_CONTAINER = f"/run/secrets/{KEY_SECRET}"

DATA_DIR_IN_CONTAINER = "/data"
"""Each container's own data dir: an anonymous volume (one per container, so one per replica
of a scaled worker), never shared; in store mode a cache of the store and scratch space."""

SHARED_VOLUMES = {"airflow-logs": "/opt/airflow/logs"}
"""The named volumes Airflow services share, and where they are mounted: Airflow's task logs
only. No pipeline data is on a shared volume (the store and PostgreSQL hold it)."""

WAREHOUSE_POOL = "duckdb_warehouse"
"""Airflow pool with one slot for tasks that write the DuckDB warehouse (one writer per file)."""


def settings_env() -> dict[str, str]:
    """``PIPELINES_*`` variable name per settings field (derived, never restated)."""
    return {name: f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}


def pipelines_env_in_compose() -> dict[str, str]:
    """The ``PIPELINES_*`` values compose sets on Airflow services."""
    return {
        "PIPELINES_DATA_DIR": DATA_DIR_IN_CONTAINER,
        "PIPELINES_KEY_FILE": KEY_FILE_IN_CONTAINER,
        **{f"{ENV_PREFIX}{name.upper()}": url for name, url in STORE_SETTINGS.items()},
        **{f"{ENV_PREFIX}{name.upper()}": STATE_DB_URL for name in STATE_SETTINGS},
        **{f"{ENV_PREFIX}{name.upper()}": url for name, url in CATALOG_SETTINGS.items()},
    }
