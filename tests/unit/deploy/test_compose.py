"""``docker-compose.yml`` and ``Dockerfile`` checked against what the code expects.

The names live in :mod:`pipelines.deploy`; the ``PIPELINES_*`` names are derived from
``Settings.model_fields``. No Docker engine is needed: the files are parsed, not run.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from pipelines import deploy
from pipelines.lake.storage import catalog_of, lake_store
from pipelines.settings import PROJECT_DIR, Settings


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(deploy.COMPOSE_FILE.read_text())


def _airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: compose["services"][name] for name in deploy.AIRFLOW_SERVICES}


def test_every_required_service_is_there(compose):
    services = set(compose["services"])
    assert set(deploy.INFRA_SERVICES) <= services
    assert set(deploy.AIRFLOW_SERVICES) <= services
    for name, profile in deploy.OPTIONAL_SERVICES.items():
        assert profile in compose["services"][name].get("profiles", []), name
    # Only optional services have profiles: a plain `docker compose up` starts the whole stack.
    required = set(deploy.INFRA_SERVICES) | set(deploy.AIRFLOW_SERVICES)
    assert all("profiles" not in compose["services"][s] for s in required)


def test_airflow_services_share_one_configuration(compose):
    envs = [svc["environment"] for svc in _airflow_services(compose).values()]
    assert all(env == envs[0] for env in envs)
    env = envs[0]
    for name in deploy.AIRFLOW_ENV:
        assert env.get(name), name
    assert env["AIRFLOW__CORE__EXECUTOR"] == deploy.EXECUTOR
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(deploy.DB_DRIVER)
    assert "@postgres:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith(deploy.BROKER_SCHEME + "redis:")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith(deploy.RESULT_BACKEND_SCHEME)
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-api-server:")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/pipelines/dags"
    assert env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == deploy.CELERY_CONFIG


def test_secrets_come_from_files_not_from_the_environment(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    for name in deploy.AIRFLOW_SECRET_ENV:
        assert name not in env, f"{name} must not be a plain value"
        assert env[f"{name}_CMD"].startswith("cat /run/secrets/"), name
    assert "PIPELINES_KEYS" not in env
    assert env["PIPELINES_KEY_FILE"] == deploy.KEY_FILE_IN_CONTAINER
    declared = set(compose["secrets"])
    for svc in _airflow_services(compose).values():
        assert deploy.KEY_SECRET in svc["secrets"]
        assert set(svc["secrets"]) <= declared
    for secret in compose["secrets"].values():
        assert "file" in secret


def test_pipelines_variables_are_settings_fields(compose):
    known = set(deploy.settings_env().values())
    assert known == {f"PIPELINES_{f.upper()}" for f in Settings.model_fields}
    env = compose["services"]["airflow-worker"]["environment"]
    used = {k for k in env if k.startswith("PIPELINES_")} - set(deploy.OBJECT_STORE_ENV)
    assert used <= known, used - known
    for name, value in deploy.pipelines_env_in_compose().items():
        assert env[name] == value, name


def test_settings_read_the_compose_environment(monkeypatch):
    for name in deploy.settings_env().values():
        monkeypatch.delenv(name, raising=False)
    for name, value in deploy.pipelines_env_in_compose().items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert str(settings.data_dir) == deploy.DATA_DIR_IN_CONTAINER
    for name, url in deploy.STORE_SETTINGS.items():
        assert getattr(settings, name) == url, name
    assert str(settings.key_file) == deploy.KEY_FILE_IN_CONTAINER
    for name in deploy.STATE_SETTINGS:
        url = getattr(settings, name)
        assert url is not None and url.get_secret_value() == deploy.STATE_DB_URL, name
    for name, value in deploy.CATALOG_SETTINGS.items():
        url = getattr(settings, name)
        assert url is not None and url.get_secret_value() == value, name
    # the stack's lake is a DuckLake: its store commits through the catalog (attached lazily)
    catalog = catalog_of(lake_store(settings))
    assert catalog is not None and catalog.display.endswith(f"/{deploy.CATALOG_DB}")


def test_no_pipeline_data_is_on_a_shared_volume(compose):
    """Workers share no disk: the only named volume of the Airflow services is Airflow's
    logs; each container's data dir is an anonymous volume of its own (a replica of a scaled
    worker gets a new one)."""
    assert set(deploy.SHARED_VOLUMES) <= set(compose["volumes"])
    shared = {f"{name}:{path}" for name, path in deploy.SHARED_VOLUMES.items()}
    for name, svc in _airflow_services(compose).items():
        mounts = set(svc["volumes"])
        assert mounts == shared | {deploy.DATA_DIR_IN_CONTAINER}, name
    env = compose["services"][deploy.WORKER_SERVICE]["environment"]
    assert env["PIPELINES_DATA_DIR"] == deploy.DATA_DIR_IN_CONTAINER


def test_long_running_services_have_health_checks(compose):
    for name in deploy.LONG_RUNNING_SERVICES:
        check = compose["services"][name].get("healthcheck")
        assert check and check.get("test"), name
    assert compose["services"]["airflow-scheduler"]["environment"][
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"
    ] in ("True", "true")


def test_start_order_waits_for_the_database_broker_and_migration(compose):
    for name in deploy.AIRFLOW_SERVICES:
        deps = compose["services"][name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert deps["airflow-init"]["condition"] == "service_completed_successfully"
    init = " ".join(compose["services"]["airflow-init"]["command"])
    assert "airflow db migrate" in init
    assert f"airflow pools set {deploy.WAREHOUSE_POOL} 1" in init


def test_worker_is_scalable(compose):
    worker = compose["services"][deploy.WORKER_SERVICE]
    assert worker["command"][:3] == ["airflow", "celery", "worker"]
    # Scaling needs replicas without fixed names or host ports.
    assert "container_name" not in worker
    assert "ports" not in worker


def test_marquez_is_the_default_lineage_backend_beside_the_store(compose):
    """A plain ``docker compose up`` starts Marquez; events go to it and to the store the
    ``pipelines lineage`` CLI reads, and the provider names runs in our namespace."""
    for name in deploy.LINEAGE_SERVICES:
        assert "profiles" not in compose["services"][name], name
    env = compose["services"]["airflow-worker"]["environment"]
    assert env["OPENLINEAGE__TRANSPORT__TYPE"] == "composite"
    prefix = "OPENLINEAGE__TRANSPORT__TRANSPORTS__"
    assert env[prefix + "MARQUEZ__TYPE"] == "http"
    assert deploy.MARQUEZ_URL in env[prefix + "MARQUEZ__URL"]
    assert env[prefix + "STORE__TYPE"].startswith("pipelines.lineage.transport.")
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == env["OPENLINEAGE_NAMESPACE"]
    # the provider's task events carry our datasets and facets (pipelines/lineage/provider.py)
    assert env["AIRFLOW__OPENLINEAGE__EXTRACTORS"] == "pipelines.lineage.provider.TaskExtractor"
    marquez = compose["services"]["marquez"]
    assert marquez["environment"]["MARQUEZ_PORT"] == "5000"
    assert marquez["depends_on"]["marquez-init"]["condition"] == "service_completed_successfully"


def test_the_composite_transport_reaches_marquez_and_the_file_store(tmp_path, monkeypatch):
    """openlineage-python builds the compose stack's transport from its variables."""
    from openlineage.client import OpenLineageClient

    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "composite")
    prefix = "OPENLINEAGE__TRANSPORT__TRANSPORTS__"
    monkeypatch.setenv(prefix + "MARQUEZ__TYPE", "http")
    monkeypatch.setenv(prefix + "MARQUEZ__URL", deploy.MARQUEZ_URL)
    monkeypatch.setenv(prefix + "STORE__TYPE", "pipelines.lineage.transport.JsonLinesTransport")
    monkeypatch.setenv(prefix + "STORE__LOG_FILE_PATH", str(tmp_path / "events.jsonl"))
    transport = OpenLineageClient().transport
    kinds = sorted(t.kind for t in transport.transports)
    assert kinds == ["http", "pipelines_jsonl"]


def test_dockerfile_installs_from_the_lock_and_bakes_in_no_keys():
    text = deploy.DOCKERFILE.read_text()
    assert re.search(r"uv sync --frozen", text)
    assert "uv.lock" in text
    assert not re.search(r"COPY\s+(\.|\.data|keys|secrets)\b", text)
    ignored = (PROJECT_DIR / ".dockerignore").read_text().split()
    assert {".data", "secrets", "keys", ".venv"} <= set(ignored)


def test_dags_folder_in_the_image_is_the_projects():
    assert (PROJECT_DIR / "dags" / "commerce_daily.py").is_file()
    assert "COPY dags ./dags" in deploy.DOCKERFILE.read_text()


def test_the_stack_has_a_login_with_a_first_admin(compose):
    env = compose["services"]["airflow-api-server"]["environment"]
    for name, value in deploy.AUTH_ENV.items():
        assert env[name] == value, name
    users = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    assert ":admin" in users
    assert deploy.PASSWORDS_SECRET in compose["secrets"]
    assert deploy.PASSWORDS_SECRET in compose["services"]["airflow-api-server"]["secrets"]


def test_shared_state_is_in_postgres_and_the_object_store_is_minio(compose):
    """Workers share no disk for the audit log, lineage events and partition locks (the state
    database), and the object store's credentials come from the environment."""
    env = compose["services"][deploy.WORKER_SERVICE]["environment"]
    for name in deploy.STATE_SETTINGS:
        assert env[f"PIPELINES_{name.upper()}"] == deploy.STATE_DB_URL, name
    prefix = "OPENLINEAGE__TRANSPORT__TRANSPORTS__STORE__"
    assert env[prefix + "TYPE"] == "pipelines.lineage.transport.PostgresTransport"
    assert env[prefix + "URL"] == deploy.STATE_DB_URL
    for name, value in deploy.OBJECT_STORE_ENV.items():
        assert env[name] == value, name
    # the lake and the landing files are on MinIO by default
    for name, url in deploy.STORE_SETTINGS.items():
        assert env[f"PIPELINES_{name.upper()}"] == url, name
        assert url.startswith(f"s3://{deploy.LAKE_BUCKET}/"), name
    services = compose["services"]
    assert set(deploy.STATE_SERVICES) | set(deploy.OBJECT_STORE_SERVICES) <= set(services)
    init = " ".join(services["state-db-init"]["command"])
    assert "CREATE DATABASE pipelines" in init
    # the lake's DuckLake catalog, by default, in a database of its own
    assert f"CREATE DATABASE {deploy.CATALOG_DB}" in init
    assert env["PIPELINES_LAKE_CATALOG_URL"] == deploy.CATALOG_DB_URL
    assert deploy.LAKE_BUCKET in " ".join(services["minio-init"]["entrypoint"])
    minio = services["minio"]["environment"]
    assert minio["MINIO_ROOT_USER"] == env["AWS_ACCESS_KEY_ID"]
    assert minio["MINIO_ROOT_PASSWORD"] == env["AWS_SECRET_ACCESS_KEY"]
    for name in deploy.AIRFLOW_SERVICES:
        if name != "airflow-init":
            deps = services[name]["depends_on"]
            for init in ("state-db-init", "minio-init"):
                assert deps[init]["condition"] == "service_completed_successfully", name


def test_the_composite_transport_reaches_marquez_and_postgres(monkeypatch):
    """openlineage-python builds the stack's transport, ours included, from its variables."""
    from openlineage.client import OpenLineageClient

    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "composite")
    prefix = "OPENLINEAGE__TRANSPORT__TRANSPORTS__"
    monkeypatch.setenv(prefix + "MARQUEZ__TYPE", "http")
    monkeypatch.setenv(prefix + "MARQUEZ__URL", deploy.MARQUEZ_URL)
    monkeypatch.setenv(prefix + "STORE__TYPE", "pipelines.lineage.transport.PostgresTransport")
    monkeypatch.setenv(prefix + "STORE__URL", deploy.STATE_DB_URL)
    transport = OpenLineageClient().transport
    kinds = sorted(t.kind for t in transport.transports)
    assert kinds == ["http", "pipelines_postgres"]
