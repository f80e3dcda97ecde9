"""Where events go (default file, openlineage.yml, env, HTTP), and that lineage never fails a task."""

from __future__ import annotations

import json
import logging
import multiprocessing
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pipelines.lineage import client, emit
from pipelines.lineage.emit import LineageParts, task_run
from pipelines.lineage.events import output_dataset
from pipelines.lineage.transport import JsonLinesConfig, JsonLinesTransport
from pipelines.settings import Settings
from tests.unit.lineage.emit_helpers import clean_lineage_env
from tests.unit.lineage.ol_schema import validate_events


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    clean_lineage_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    yield Settings(data_dir=tmp_path / "data")
    client.reset_clients()


def run_task(settings: Settings, **kwargs: Any) -> str:
    with task_run("ingest_orders", run_id="manual__t", settings=settings, **kwargs) as lineage:
        lineage.complete_with(
            lambda: LineageParts(outputs=[output_dataset("file", "/lake/orders")])
        )
        result = "done"
    return result


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append((self.path, json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def marquez() -> Iterator[tuple[str, type[_Receiver]]]:
    """A tiny local stand-in for Marquez's lineage endpoint (loopback only)."""
    handler = type("Receiver", (_Receiver,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_default_is_one_json_event_per_line_in_the_data_dir(settings: Settings):
    assert run_task(settings) == "done"
    assert run_task(settings) == "done"
    path = settings.data_dir / "lineage" / "events.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 4  # appended, not replaced
    events = [json.loads(line) for line in lines]
    validate_events(events)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE", "START", "COMPLETE"]
    assert events[1]["outputs"][0]["name"] == "/lake/orders"
    assert client.describe(settings) == f"file {path}"
    assert client.read_events(settings) == events


def _append_many(path: str, worker: int) -> None:
    transport = JsonLinesTransport(JsonLinesConfig(path))
    pad = "x" * 70_000  # larger than any I/O buffer: must still be one write
    for i in range(40):
        transport.emit({"worker": worker, "i": i, "pad": pad})  # Serde accepts dicts


def test_concurrent_processes_never_interleave_lines(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_append_many, args=(str(path), w)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
    assert all(p.exitcode == 0 for p in workers)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 160
    assert sorted((r["worker"], r["i"]) for r in rows) == [
        (w, i) for w in range(4) for i in range(40)
    ]


def test_openlineage_yml_from_openlineage_config(settings: Settings, tmp_path: Path, monkeypatch):
    target = tmp_path / "elsewhere" / "lineage.jsonl"
    config = tmp_path / "ol.yml"
    config.write_text(
        "transport:\n  type: pipelines.lineage.transport.JsonLinesTransport\n"
        f"  log_file_path: {target}\n"
    )
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    run_task(settings)
    assert len(target.read_text().splitlines()) == 2
    assert not (settings.data_dir / "lineage" / "events.jsonl").exists()
    assert str(config) in client.describe(settings)


def test_openlineage_yml_in_the_working_directory(settings: Settings, tmp_path: Path):
    target = tmp_path / "cwd-events"
    (tmp_path / "openlineage.yml").write_text(
        f"transport:\n  type: file\n  log_file_path: {target}\n  append: true\n"
    )
    run_task(settings)
    validate_events([json.loads(line) for line in target.read_text().splitlines()])


def test_http_transport_from_env_posts_to_a_marquez_endpoint(
    settings: Settings, marquez, monkeypatch
):
    url, receiver = marquez
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", url)
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__ENDPOINT", "api/v1/lineage")
    run_task(settings)
    assert [p for p, _ in receiver.received] == ["/api/v1/lineage", "/api/v1/lineage"]
    validate_events([e for _, e in receiver.received])
    assert [e["eventType"] for _, e in receiver.received] == ["START", "COMPLETE"]
    assert (
        not (settings.data_dir / "lineage").exists()
        or not (settings.data_dir / "lineage" / "events.jsonl").exists()
    )


def test_openlineage_url_is_http_too(settings: Settings, marquez, monkeypatch):
    url, receiver = marquez
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    run_task(settings)
    assert len(receiver.received) == 2


def test_disabled_emits_nothing(settings: Settings, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert run_task(settings) == "done"
    assert not (settings.data_dir / "lineage").exists()
    assert "disabled" in client.describe(settings)


def test_an_unreachable_endpoint_never_fails_the_task(
    settings: Settings, marquez, monkeypatch, caplog
):
    url, receiver = marquez
    receiver.status = 500
    config = settings.data_dir.parent / "ol.yml"
    config.write_text(
        f"transport:\n  type: http\n  url: {url}\n  timeout: 2\n  retry:\n    total: 0\n"
    )
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    with caplog.at_level(logging.WARNING, logger="pipelines.lineage"):
        assert run_task(settings) == "done"
    warnings = [r.getMessage() for r in caplog.records if r.name == "pipelines.lineage"]
    assert len(warnings) == 2  # START and COMPLETE: one line each
    assert all("\n" not in w and "commerce_daily.ingest_orders" in w for w in warnings)
    errors = [json.loads(line) for line in client.errors_path(settings).read_text().splitlines()]
    assert [e["eventType"] for e in errors] == ["START", "COMPLETE"]
    assert all("500" in e["error"] for e in errors)
    assert emit.error_count(settings) == 2


def test_a_broken_builder_still_completes_and_is_counted(settings: Settings):
    def broken() -> LineageParts:
        raise KeyError("no such partition")

    with task_run("quality_orders", run_id="r", settings=settings) as lineage:
        lineage.complete_with(broken)
    events = client.read_events(settings)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert events[1]["outputs"] == []
    assert emit.error_count(settings) == 1
    recorded = client.errors_path(settings).read_text()
    assert "KeyError" in recorded and "no such partition" not in recorded  # foreign text withheld


def test_an_unwritable_lineage_dir_never_fails_the_task(settings: Settings, caplog):
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "lineage").write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="pipelines.lineage"):
        assert run_task(settings) == "done"
    assert any("could not record" in r.getMessage() for r in caplog.records)


def test_a_failing_task_emits_fail_and_its_exception_propagates(settings: Settings):
    with (
        pytest.raises(ValueError, match="bad batch"),
        task_run("ingest_orders", run_id="r", settings=settings) as lineage,
    ):
        lineage.complete_with(lambda: LineageParts())
        raise ValueError("bad batch in orders.csv")
    events = client.read_events(settings)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    error = events[1]["run"]["facets"]["errorMessage"]
    # a builtin's text may quote data: the class leaves, the text does not (pipelines.redact)
    assert error["message"] == "ValueError: (message withheld: it may quote data)"
    assert error["programmingLanguage"] == "python"
    validate_events(events)


def test_credentials_in_urls_are_not_recorded(settings: Settings):
    emit.record_failure(settings, "emitting", ConnectionError("http://user:secret@host:5000/api"))
    assert "secret" not in client.errors_path(settings).read_text()
