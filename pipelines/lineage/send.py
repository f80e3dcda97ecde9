"""``pipelines lineage send --url http://localhost:5000``: replay the event log to an
OpenLineage HTTP endpoint (Marquez's ``/api/v1/lineage``), so the events of a serverless run
(the demo, tests, a laptop) can be browsed in Marquez's UI. Events are sent as written, in
order; re-sending is harmless (run ids are deterministic, Marquez merges a run's events).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

LINEAGE_PATH = "/api/v1/lineage"


class SendFailed(RuntimeError):
    """The endpoint refused an event or could not be reached."""


@dataclass(frozen=True)
class Sent:
    url: str
    events: int


def endpoint(url: str) -> str:
    """``http://host:5000`` -> ``http://host:5000/api/v1/lineage`` (a full path is kept)."""
    url = url.rstrip("/")
    return url if url.endswith(LINEAGE_PATH) else url + LINEAGE_PATH


def send_events(events: Iterable[dict[str, Any]], url: str, timeout: float = 10.0) -> Sent:
    """POST each event; stops at the first refusal, naming the event's job and type."""
    target = endpoint(url)
    count = 0
    for event in events:
        body = json.dumps(event).encode()
        request = urllib.request.Request(
            target, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            job = (event.get("job") or {}).get("name")
            raise SendFailed(
                f"{target}: event {count + 1} ({event.get('eventType')} of job {job}) not "
                f"accepted: {type(exc).__name__} {getattr(exc, 'code', '')}".rstrip()
                + "; is Marquez up (docker compose up -d marquez)?"
            ) from None
        count += 1
    return Sent(target, count)
