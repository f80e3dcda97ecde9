"""Where lineage events go: openlineage-python's client, configured the standard way.

Configuration, as openlineage-python reads it (first found wins for the file):

1. ``OPENLINEAGE_DISABLED=true``: nothing is built or sent;
2. a transport in ``openlineage.yml`` (``$OPENLINEAGE_CONFIG``, else ``./openlineage.yml``,
   else ``~/.openlineage/openlineage.yml``), in ``OPENLINEAGE__TRANSPORT__*`` variables, or
   ``OPENLINEAGE_URL`` (HTTP, e.g. Marquez at ``http://marquez:5000``): the client uses it;
3. otherwise, the ``lineage_url`` setting when it holds a ``postgresql://`` URL: one row per
   event in PostgreSQL (:mod:`pipelines.lineage.pgevents`), for workers that share no disk;
4. otherwise, a JSON-lines file: ``<data_dir>/lineage/events.jsonl``, one event per line.

The default file transport (:mod:`pipelines.lineage.transport`) appends each event with one
``write(2)`` on an ``O_APPEND`` descriptor, so task processes writing at the same time never
interleave lines (the library's own file transport writes through Python's buffered I/O,
which may split a large event into several writes).

This module imports openlineage-python (about a second: it loads every transport) only when
a client is first needed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from pipelines.settings import Settings

EVENTS_FILE = "events.jsonl"
ERRORS_FILE = "errors.jsonl"


def lineage_dir(settings: Settings) -> Path:
    return settings.data_dir / "lineage"


def events_path(settings: Settings) -> Path:
    """The default event log (the file transport's target when nothing is configured)."""
    return lineage_dir(settings) / EVENTS_FILE


def errors_path(settings: Settings) -> Path:
    """Lineage failures, one JSON object per line (time, job, event type, error)."""
    return lineage_dir(settings) / ERRORS_FILE


def disabled() -> bool:
    return os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"


def _config_file() -> Path | None:
    """The ``openlineage.yml`` openlineage-python would read, if any."""
    candidates = [
        os.environ.get("OPENLINEAGE_CONFIG"),
        str(Path.cwd() / "openlineage.yml"),
        str(Path.home() / ".openlineage" / "openlineage.yml"),
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.R_OK):
            return Path(candidate)
    return None


def transport_file() -> tuple[Path, str] | None:
    """The ``openlineage.yml`` configuring a transport, and the transport's type; None if none."""
    path = _config_file()
    if path is None:
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        data = {}
    transport = data.get("transport") if isinstance(data, dict) else None
    if isinstance(transport, dict) and transport.get("type"):
        return path, str(transport["type"])
    return None


def configured_transport() -> str | None:
    """Where a transport is configured (file, env), or None: then the default file is used."""
    found = transport_file()
    if found is not None:
        return f"{found[0]} (transport {found[1]})"
    if any(k.startswith("OPENLINEAGE__TRANSPORT") for k in os.environ):
        return "OPENLINEAGE__TRANSPORT__* environment variables"
    if os.environ.get("OPENLINEAGE_URL"):
        return f"OPENLINEAGE_URL={os.environ['OPENLINEAGE_URL']}"
    return None


_CLIENTS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def _quiet_library() -> None:
    # The client logs its transport choice at INFO for every process; keep task logs short.
    logging.getLogger("openlineage").setLevel(logging.WARNING)


def get_client(settings: Settings) -> Any:
    """The process's OpenLineage client for these settings (created once, then reused)."""
    where = configured_transport()
    pg = settings.lineage_url.get_secret_value() if settings.lineage_url else ""
    key = (str(events_path(settings)), where or pg)
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            from openlineage.client import OpenLineageClient

            _quiet_library()
            if where is None:
                client = OpenLineageClient(transport=_default_transport(settings))
            else:
                client = OpenLineageClient()
            _CLIENTS[key] = client
    return client


def _default_transport(settings: Settings) -> Any:
    """PostgreSQL when ``lineage_url`` is set, else the JSON-lines file."""
    from pipelines.lineage import transport

    if settings.lineage_url is not None:
        return transport.PostgresTransport(settings.lineage_url)
    return transport.JsonLinesTransport(transport.JsonLinesConfig(str(events_path(settings))))


def reset_clients() -> None:
    """Forget cached clients (tests change the configuration between cases)."""
    for client in _CLIENTS.values():
        with contextlib.suppress(Exception):  # closing is best effort
            client.close(0)
    _CLIENTS.clear()


def describe(settings: Settings) -> str:
    """One line saying where events go."""
    if disabled():
        return "lineage disabled (OPENLINEAGE_DISABLED=true)"
    if configured := configured_transport():
        return configured
    if settings.lineage_url is not None:
        from pipelines.lineage.pgevents import where

        return f"PostgreSQL {where(settings.lineage_url)}"
    return f"file {events_path(settings)}"


def read_events(path: Path | Settings) -> list[dict[str, Any]]:
    """Every event of a JSON-lines log (default: the settings' event log), in order."""
    file = events_path(path) if isinstance(path, Settings) else Path(path)
    return list(iter_events(file))


def iter_events(file: Path) -> Iterator[dict[str, Any]]:
    if not file.is_file():
        return
    with file.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{file} line {number}: not a JSON event: {exc}") from None
