# The project's image for every Airflow service in docker-compose.yml: Airflow 3, the
# pipelines package, its DAGs, contracts and expectations, installed with uv from uv.lock.
# No keys, data or settings are baked in: keys arrive as compose secrets, data on volumes.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/opt/venv/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow \
    PIPELINES_DATA_DIR=/data

RUN pip install --no-cache-dir "uv>=0.5,<1" \
 && useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home airflow

WORKDIR /opt/pipelines
# Dependencies first (cached while only the code changes), exactly as locked.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY pipelines ./pipelines
COPY dags ./dags
COPY contracts ./contracts
COPY expectations ./expectations
COPY dbt_project ./dbt_project
# Editable install (uv's default): the package finds contracts/, dags/ and expectations/ here.
RUN uv sync --frozen --no-dev \
 && mkdir -p /data/landing /data/lake /data/warehouse /data/reports /data/lineage /opt/airflow/logs \
 && chown -R 50000:0 /data /opt/airflow \
 && chmod -R g+rwX /data /opt/airflow

USER 50000
WORKDIR /opt/airflow
CMD ["airflow", "version"]
