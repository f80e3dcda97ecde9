"""DuckDB's extensions load from their packages, and httpfs reads and writes a real S3 server."""

from __future__ import annotations

import json

import duckdb
import pytest

from pipelines.lake.extensions import (
    EXTENSIONS,
    ExtensionNotAvailable,
    extension_file,
    load_extensions,
    s3_secret_from_env,
)
from tests.s3server import S3Server


def _offline() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )


def test_every_extension_loads_from_its_package_without_download() -> None:
    con = _offline()
    load_extensions(con)
    loaded = {
        r[0]
        for r in con.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
        ).fetchall()
    }
    assert {"httpfs", "ducklake", "postgres_scanner"} <= loaded
    load_extensions(con)  # loading again is a no-op


def test_the_extension_file_is_the_running_duckdbs_build() -> None:
    for name in EXTENSIONS:
        assert f"v{duckdb.__version__}" in extension_file(name).parts


def test_an_unknown_extension_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown DuckDB extension 'spatial'"):
        extension_file("spatial")


def test_a_missing_build_names_the_package_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duckdb, "__version__", "0.0.1")
    with pytest.raises(ExtensionNotAvailable, match=r"duckdb-extension-httpfs.*uv add"):
        extension_file("httpfs")


def test_no_secret_without_credentials_in_the_environment() -> None:
    assert s3_secret_from_env(_offline(), env={}) is False


def test_parquet_round_trip_on_the_s3_server(s3_env: S3Server) -> None:
    con = _offline()
    assert s3_secret_from_env(con) is True
    url = f"s3://{s3_env.bucket}/roundtrip/items.parquet"
    con.execute(f"COPY (SELECT range AS id, 'item-' || range AS name FROM range(1000)) TO '{url}'")
    assert con.execute(f"SELECT count(*), sum(id) FROM '{url}'").fetchone() == (1000, 499500)
    listed = con.execute(f"SELECT file FROM glob('s3://{s3_env.bucket}/roundtrip/*')").fetchall()
    assert listed == [(url,)]


def test_the_server_is_reached_only_through_the_environments_settings(s3_env: S3Server) -> None:
    writer = _offline()
    s3_secret_from_env(writer)
    url = f"s3://{s3_env.bucket}/env-only/one.parquet"
    writer.execute(f"COPY (SELECT 1 AS id) TO '{url}'")
    blind = _offline()
    load_extensions(blind, ["httpfs"])
    blind.execute("SET s3_endpoint='127.0.0.1:9'")  # no secret: nothing points at the server
    with pytest.raises(duckdb.Error):
        blind.execute(f"SELECT * FROM '{url}'").fetchall()


def test_credentials_from_an_airflow_connection(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No AWS_* variables: the key pair, region and endpoint come from the Airflow connection
    named by PIPELINES_S3_CONN_ID (here from Airflow's environment secrets backend)."""
    for name in s3_server.env():
        monkeypatch.delenv(name, raising=False)
    extra = {"endpoint_url": s3_server.endpoint, "region_name": s3_server.region}
    conn = {"conn_type": "aws", "login": s3_server.key_id, "password": s3_server.secret}
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINES_LAKE", json.dumps({**conn, "extra": extra}))
    con = _offline()
    assert s3_secret_from_env(con) is False  # no connection named: nothing
    monkeypatch.setenv("PIPELINES_S3_CONN_ID", "pipelines_lake")
    assert s3_secret_from_env(con) is True
    url = f"s3://{s3_server.bucket}/from-connection/one.parquet"
    con.execute(f"COPY (SELECT 42 AS id) TO '{url}'")
    assert con.execute(f"SELECT id FROM '{url}'").fetchall() == [(42,)]
    monkeypatch.setenv("PIPELINES_S3_CONN_ID", "no_such_connection")
    assert s3_secret_from_env(_offline()) is False
