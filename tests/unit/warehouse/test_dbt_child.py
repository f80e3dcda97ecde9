"""dbt children forked by the server that imported dbt once (``warehouse/dbt_child.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.warehouse import dbt_child

pytestmark = pytest.mark.integration  # runs dbt (integration tier)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    """A fresh server of this process, started with a key ring in the environment."""
    monkeypatch.setenv("PIPELINES_KEYS", '{"secret": "not for dbt"}')
    monkeypatch.setattr(dbt_child, "_SERVER", None)
    server = dbt_child._server()
    yield server
    server.stop()


def _run(args: list[str], tmp_path: Path, **env: str) -> tuple[list[str], int]:
    with dbt_child.start(args, {"PATH": os.environ["PATH"], **env}, tmp_path) as child:
        assert isinstance(child, dbt_child._Forked)
        lines = list(child)
        return lines, child.wait()


def test_a_forked_child_runs_dbt_with_its_output_and_exit_code(server, tmp_path: Path):
    lines, code = _run(["--version"], tmp_path)
    assert code == 0 and any("Core:" in line for line in lines), lines
    lines, code = _run(["no-such-command"], tmp_path)
    assert code == 2 and any("No such command" in line for line in lines), lines
    # dbt runs in the folder given: no dbt_project.yml there, so parse fails saying so
    lines, code = _run(["parse", "--profiles-dir", str(tmp_path)], tmp_path)
    assert code != 0 and any("dbt_project.yml" in line for line in lines), lines


def test_the_server_gets_no_key_ring_and_is_replaced_when_it_ends(server, tmp_path: Path):
    assert _run(["--version"], tmp_path)[1] == 0  # the server is up and serving
    environ = Path(f"/proc/{server.proc.pid}/environ")
    if environ.is_file():
        names = {item.split(b"=", 1)[0] for item in environ.read_bytes().split(b"\0")}
        assert b"PIPELINES_KEYS" not in names and b"PATH" in names
    server.stop()
    assert not server.alive()
    lines, code = _run(["--version"], tmp_path)
    assert code == 0 and any("Core:" in line for line in lines), lines
    assert dbt_child._SERVER is not server and dbt_child._SERVER.alive()
    dbt_child._SERVER.stop()


def test_without_a_server_dbt_is_executed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    def unreachable() -> None:
        raise OSError("no server")

    monkeypatch.setattr(dbt_child, "_server", unreachable)
    with dbt_child.start(["--version"], {"PATH": os.environ["PATH"]}, tmp_path) as child:
        assert isinstance(child, dbt_child._Executed)
        assert any("Core:" in line for line in child) and child.wait() == 0
