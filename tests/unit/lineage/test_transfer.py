"""The lineage backend is a destination: events about subjects go to an HTTP backend (a
stand-in for Marquez) only where the policy's transfer rules allow; a refused event is kept
in the local event log and opens a finding, and ``lineage send`` refuses the replay."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from pipelines.cli import main
from pipelines.lineage import client, transfer
from pipelines.lineage.emit import LineageParts, task_run
from pipelines.lineage.events import output_dataset
from pipelines.lineage.jurisdiction import facets_for
from pipelines.policy import load_policy
from pipelines.policy.findings import findings
from pipelines.protection.audit import AuditLog
from pipelines.settings import PROJECT_DIR, Settings
from tests.unit.lineage.emit_helpers import clean_lineage_env


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(json.loads(body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> Settings:
    """The demo policy, with the loopback backend declared in jurisdiction ``where``."""
    clean_lineage_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    transfer.reset()
    raw = yaml.safe_load((PROJECT_DIR / "policy.yml").read_text())
    raw["destinations"].append(
        {"name": "lineage", "prefix": "http://127.0.0.1:", "jurisdiction": where}
    )
    path = tmp_path / "policy.yml"
    path.write_text(yaml.safe_dump(raw))
    return Settings(data_dir=tmp_path / "data", policy_file=path)


def _run(settings: Settings) -> None:
    with task_run("ingest_orders", run_id="manual__t", settings=settings) as lineage:
        out = output_dataset("file", "/lake/orders", facets_for(settings, "orders"))
        lineage.complete_with(lambda: LineageParts(outputs=[out]))


def _opened(settings: Settings) -> list[dict[str, Any]]:
    return [e for e in AuditLog(settings.audit).entries() if e["action"] == "finding.open"]


def test_events_about_subjects_stay_in_house_when_the_backend_is_not_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend
):
    url, receiver = backend
    settings = _settings(tmp_path, monkeypatch, "US")  # BR subjects may go to BR, EU only
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    _run(settings)
    _run(settings)
    # the backend got the STARTs (no dataset), never the COMPLETEs (the orders' BR subjects)
    assert [e["eventType"] for e in receiver.received] == ["START", "START"]
    kept = client.read_events(settings)
    assert [e["eventType"] for e in kept] == ["COMPLETE", "COMPLETE"]
    facet = kept[0]["outputs"][0]["facets"]["pipelines_jurisdiction"]
    assert facet["subjects"] == ["BR"]
    [finding] = findings(settings, load_policy(settings.policy_file))
    assert (finding.kind, finding.dataset, finding.owner) == (
        "refused_transfer", url, "commerce-data@example.com"
    )  # fmt: skip
    assert "lineage events: subjects are in BR" in finding.what and "not US" in finding.what
    transfer.reset()  # a new process: the open finding is not opened again
    _run(settings)
    assert len(_opened(settings)) == 1


def test_an_allowed_backend_receives_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend
):
    url, receiver = backend
    settings = _settings(tmp_path, monkeypatch, "EU")
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    _run(settings)
    assert [e["eventType"] for e in receiver.received] == ["START", "COMPLETE"]
    assert receiver.received[1]["outputs"][0]["facets"]["pipelines_jurisdiction"]["subjects"] == [
        "BR"
    ]
    assert _opened(settings) == []


def test_the_configured_backends_are_read_like_openlineage_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    clean_lineage_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert transfer.backends() == []  # the local event log: in-house
    # the stack's composite transport (docker-compose.yml): Marquez and the local store
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "composite")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TRANSPORTS__MARQUEZ__TYPE", "http")
    monkeypatch.setenv(
        "OPENLINEAGE__TRANSPORT__TRANSPORTS__MARQUEZ__URL", "http://user:pw@marquez:5000?k=s"
    )
    monkeypatch.setenv(
        "OPENLINEAGE__TRANSPORT__TRANSPORTS__STORE__TYPE",
        "pipelines.lineage.transport.JsonLinesTransport",
    )
    assert transfer.backends() == ["http://marquez:5000"]
    # the stack's store since workers share no disk: the state database is in-house too
    monkeypatch.setenv(
        "OPENLINEAGE__TRANSPORT__TRANSPORTS__STORE__TYPE",
        "pipelines.lineage.transport.PostgresTransport",
    )
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TRANSPORTS__STORE__URL", "postgresql://a@db/p")
    assert transfer.backends() == ["http://marquez:5000"]
    config = tmp_path / "openlineage.yml"
    config.write_text("transport:\n  type: file\n  log_file_path: /tmp/x.jsonl\n")
    assert transfer.backends() == []  # the file wins, and a file stays in-house
    config.write_text("transport:\n  type: kafka\n  topic: lineage\n")
    assert transfer.backends() == ["transport:kafka"]  # undeclared unless a prefix names it
    policy = load_policy(PROJECT_DIR / "policy.yml")
    assert policy.destination_for("http://marquez:5000/api/v1/lineage").name == "marquez"


def test_send_refuses_to_replay_events_to_a_backend_not_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend, capsys
):
    url, receiver = backend
    settings = _settings(tmp_path, monkeypatch, "US")
    _run(settings)  # no transport: the local event log
    monkeypatch.setenv("PIPELINES_POLICY_FILE", str(settings.policy_file))
    args = ["--data-dir", str(settings.data_dir), "lineage", "send", "--url", url]
    assert main(args) == 1
    assert "lineage events: subjects are in BR" in capsys.readouterr().err
    assert receiver.received == []
    assert [e["details"]["kind"] for e in _opened(settings)] == ["refused_transfer"]
