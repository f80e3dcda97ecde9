"""``run_dbt`` plumbing that needs no dbt process: output lines, results, errors, environment."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

from pipelines.settings import Settings
from pipelines.warehouse.dbt import DbtError, DbtResult, NodeResult, _child_env, _command, _Stream


def _event(name: str, level: str = "info", msg: str = "", **data) -> str:
    return json.dumps(
        {"info": {"name": name, "level": level, "msg": msg, "invocation_id": "inv-1"}, "data": data}
    )


def _node(kind: str, name: str) -> dict:
    return {"resource_type": kind, "node_name": name, "unique_id": f"{kind}.p.{name}"}


def test_stream_prints_models_and_problems_and_counts_passing_tests():
    lines: list[str] = []
    stream = _Stream(lines.append)
    for line in [
        _event("MainReportVersion", msg="Running with dbt=1.11"),
        "not json at all",
        _event("LogStartLine", msg="START sql view model staging.stg_orders"),
        _event(
            "LogModelResult",
            status="OK",
            execution_time=0.25,
            node_info=_node("model", "stg_orders"),
        ),
        _event(
            "LogTestResult", status="pass", execution_time=0.1, node_info=_node("test", "unique_x")
        ),
        _event(
            "LogTestResult", status="pass", execution_time=0.1, node_info=_node("unit_test", "ut")
        ),
        _event(
            "LogTestResult", status="fail", execution_time=0.1, node_info=_node("test", "between_y")
        ),
        _event(
            "LogTestResult", "warn", status="warn", execution_time=0.1, node_info=_node("test", "w")
        ),
        _event("DeprecationWarning", "warn", msg="something is deprecated\nmore"),
        _event("MainEncounteredError", "error", exc="Compilation Error in model x"),
        _event("RunResultError", "error", msg="  Got 3 results"),
    ]:
        stream.feed(line)
    assert stream.invocation_id == "inv-1"
    assert stream.passed == 2
    assert lines == [
        "OK      model stg_orders (0.2s)",
        "fail    test between_y (0.1s)",
        "warn    test w (0.1s)",
        "dbt warning: something is deprecated",
    ]
    assert stream.errors == ["Compilation Error in model x"]
    assert stream.warnings == ["something is deprecated\nmore"]


def test_failure_message_names_the_node_its_file_dbt_message_and_the_log(tmp_path: Path):
    compiled = tmp_path / "compiled.sql"
    compiled.write_text("select 1")
    failing = NodeResult(
        unique_id="test.p.between_spend",
        resource_type="test",
        name="between_customer_features_spend__0",
        status="fail",
        seconds=0.1,
        rows_affected=None,
        failures=3,
        message="Got 3 results, configured to fail if != 0",
        relation=None,
        path="models/marts/customer_features.yml",
        compiled_path=compiled,
    )
    passing = NodeResult("model.p.m", "model", "m", "success", 1.0, 10, None, "OK", "x", None, None)
    result = DbtResult(
        args=("build",),
        returncode=1,
        seconds=2.0,
        target_dir=tmp_path,
        log_dir=tmp_path / "logs",
        nodes=(passing, failing),
        errors=("Database Error: lock held",),
    )
    assert not result.success and result.failed == [failing]
    message = str(DbtError(result))
    assert message.splitlines()[0] == "dbt build failed (exit code 1)"
    assert (
        "test between_customer_features_spend__0 (models/marts/customer_features.yml): "
        "Got 3 results, configured to fail if != 0" in message
    )
    assert f"compiled SQL: {compiled}" in message
    assert "Database Error: lock held" in message
    assert f"full log: {tmp_path / 'logs' / 'dbt.log'}" in message
    summary = result.summary()
    assert summary["success"] is False
    assert summary["counts"] == {"model success": 1, "test fail": 1}
    assert summary["models"] == [
        {"name": "m", "status": "success", "seconds": 1.0, "rows_affected": 10, "relation": "x"}
    ]
    json.dumps(summary)  # JSON-ready


def test_child_process_gets_settings_but_no_keys(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PIPELINES_KEYS", '{"secret": true}')
    monkeypatch.setenv("PIPELINES_KEY_FILE", "/somewhere/keys.json")
    settings = Settings(data_dir=tmp_path, duckdb_threads=3, duckdb_memory_limit="2GB")
    env = _child_env(settings)
    assert "PIPELINES_KEYS" not in env and "PIPELINES_KEY_FILE" not in env
    assert env["PIPELINES_WAREHOUSE_PATH"] == str(tmp_path / "warehouse.duckdb")
    assert (env["PIPELINES_DUCKDB_THREADS"], env["PIPELINES_DUCKDB_MEMORY_LIMIT"]) == ("3", "2GB")
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    cmd = _command(["build", "--select", "marts"], settings, {"as_of": "2018-01-08"})
    assert cmd[:6] == [sys.executable, "-m", "dbt.cli.main", "build", "--select", "marts"]
    assert cmd[cmd.index("--target-path") + 1] == str(tmp_path / "dbt" / "target")
    assert cmd[cmd.index("--log-path") + 1] == str(tmp_path / "dbt" / "logs")
    assert "--vars" not in cmd  # see the next test


def test_build_values_go_in_the_environment_so_dbt_reuses_its_parsed_project(
    tmp_path: Path, monkeypatch
):
    """A new as_of / release / run every build: as ``--vars`` they would make dbt re-parse the
    whole project each time; other vars still go to ``--vars``; a value left in the caller's
    environment from elsewhere does not reach dbt."""
    monkeypatch.setenv("PIPELINES_BUILD_RUN_ID", "stale")
    settings = Settings(data_dir=tmp_path)
    values = {"as_of": date(2018, 1, 8), "release_id": "r1", "other": 3}
    env = _child_env(settings, values)
    assert (env["PIPELINES_BUILD_AS_OF"], env["PIPELINES_BUILD_RELEASE_ID"]) == ("2018-01-08", "r1")
    assert "PIPELINES_BUILD_RUN_ID" not in env and "PIPELINES_BUILD_OTHER" not in env
    cmd = _command(["build"], settings, values)
    assert json.loads(cmd[cmd.index("--vars") + 1]) == {"other": 3}


def test_a_relative_data_dir_still_puts_dbt_outputs_under_it(tmp_path: Path, monkeypatch):
    """dbt runs in dbt_project/: relative paths would land inside the repository."""
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=Path("relative"))
    cmd = _command(["build"], settings, None)
    assert cmd[cmd.index("--target-path") + 1] == str(tmp_path / "relative" / "dbt" / "target")
    assert cmd[cmd.index("--log-path") + 1] == str(tmp_path / "relative" / "dbt" / "logs")
    assert _child_env(settings)["PIPELINES_WAREHOUSE_PATH"] == str(
        tmp_path / "relative" / "warehouse.duckdb"
    )
