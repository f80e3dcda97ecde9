"""``pipelines lineage send``: the serverless event log replayed to an OpenLineage HTTP
endpoint (Marquez's ``/api/v1/lineage``), here a local HTTP server that records what it gets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from pipelines.cli import main


class _Lineage(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict]]] = []
    refuse_after: ClassVar[int] = 10**9

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if len(self.received) >= self.refuse_after:
            self.send_response(422)
        else:
            self.received.append((self.path, body))
            self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def marquez() -> Iterator[HTTPServer]:
    _Lineage.received = []
    _Lineage.refuse_after = 10**9
    server = HTTPServer(("127.0.0.1", 0), _Lineage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _log(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "events.jsonl"
    events = [
        {"eventType": "START", "job": {"namespace": "commerce", "name": f"job{i}"}, "n": i}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_send_posts_every_event_in_order(marquez, tmp_path, capsys):
    log = _log(tmp_path, 3)
    url = f"http://127.0.0.1:{marquez.server_port}"
    assert main(["lineage", "send", "--url", url, "--events", str(log)]) == 0
    assert [(p, e["n"]) for p, e in _Lineage.received] == [("/api/v1/lineage", i) for i in range(3)]
    assert "sent 3 events" in capsys.readouterr().out


def test_send_stops_at_a_refused_event_and_names_it(marquez, tmp_path, capsys):
    _Lineage.refuse_after = 1
    log = _log(tmp_path, 3)
    url = f"http://127.0.0.1:{marquez.server_port}/api/v1/lineage"
    assert main(["lineage", "send", "--url", url, "--events", str(log)]) == 1
    err = capsys.readouterr().err
    assert "event 2 (START of job job1)" in err and "422" in err
    assert len(_Lineage.received) == 1
