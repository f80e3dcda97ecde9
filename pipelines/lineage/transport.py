"""Our transports: the default JSON-lines file (one event per line, appended with a single
``write(2)``), and PostgreSQL (one row per event, the ``lineage_url`` setting).

Usable from ``openlineage.yml`` too::

    transport:
      type: pipelines.lineage.transport.JsonLinesTransport
      log_file_path: /data/lineage/events.jsonl
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openlineage.client.serde import Serde
from openlineage.client.transport.transport import Config, Transport
from pydantic import SecretStr

from pipelines.lineage.lines import append_line
from pipelines.lineage.pgevents import insert_events


@dataclass
class JsonLinesConfig(Config):
    log_file_path: str

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> JsonLinesConfig:
        if "log_file_path" not in params:
            raise RuntimeError("the JSON-lines transport needs `log_file_path`")
        return cls(log_file_path=str(params["log_file_path"]))


class JsonLinesTransport(Transport):
    """One event per line, appended atomically (safe for concurrent processes)."""

    kind = "pipelines_jsonl"
    config_class = JsonLinesConfig

    def __init__(self, config: JsonLinesConfig) -> None:
        self.config = config
        self.path = Path(config.log_file_path)

    def emit(self, event: Any) -> None:
        append_line(self.path, Serde.to_json(event))


@dataclass
class PostgresConfig(Config):
    url: str

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> PostgresConfig:
        if "url" not in params:
            raise RuntimeError("the PostgreSQL transport needs `url` (postgresql://...)")
        return cls(url=str(params["url"]))


class PostgresTransport(Transport):
    """One row per event in PostgreSQL (:mod:`pipelines.lineage.pgevents`), committed before
    ``emit`` returns: for workers that share no disk (the ``lineage_url`` setting)."""

    kind = "pipelines_postgres"
    config_class = PostgresConfig

    def __init__(self, config: PostgresConfig | SecretStr) -> None:
        self.url = config if isinstance(config, SecretStr) else SecretStr(config.url)

    def emit(self, event: Any) -> None:
        insert_events(self.url, [Serde.to_json(event)])
