"""Lineage events in PostgreSQL (``lineage_url``): the transport inserts them, the lineage
store reads them back into the same tables as from the file, ``pipelines lineage trace``
answers from them, and the audit log's lineage anchors are read from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest
from openlineage.client.serde import Serde

from pipelines.cli import main
from pipelines.lineage import client
from pipelines.lineage.pgevents import TABLE
from pipelines.lineage.transport import PostgresTransport
from pipelines.protection import AuditLogTampered, KeyRing
from pipelines.protection.audit import lineage_anchors
from pipelines.protection.audit_pg import PgAuditLog
from pipelines.reporting.store import (
    PgEvents,
    event_source,
    event_texts,
    open_store,
    rebuild_store,
    store_path,
)
from pipelines.settings import Settings
from tests.unit.reporting import fixture_events as fx

TABLES = ("runs", "jobs", "datasets", "fields", "dataset_runs", "dataset_versions")
TABLES += ("column_edges", "assertions", "tags")


def _dump(store: Path) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(store), read_only=True) as con:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


@pytest.fixture
def pg_settings(settings: Settings, pg_url: str) -> Settings:
    return settings.model_copy(update={"lineage_url": Settings(lineage_url=pg_url).lineage_url})


def test_store_from_postgres_equals_store_from_file(pg_settings: Settings) -> None:
    events = fx.build_events(pg_settings.data_dir)
    assert pg_settings.lineage_url is not None
    transport = PostgresTransport(pg_settings.lineage_url)
    for event in events:
        transport.emit(event)
    source = event_source(pg_settings)
    assert isinstance(source, PgEvents)
    from_pg = rebuild_store(source, store_path(pg_settings))
    assert from_pg.events == len(events) and from_pg.warnings == []
    pg_tables = _dump(from_pg.store)

    log = pg_settings.data_dir / "file" / "events.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(Serde.to_json(e) + "\n" for e in events))
    file_store = rebuild_store(log, pg_settings.data_dir / "file" / "lineage.duckdb")
    assert file_store.runs == from_pg.runs > 0
    assert _dump(file_store.store) == pg_tables


def test_trace_and_refresh_from_postgres(
    pg_settings: Settings, pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    events = fx.build_events(pg_settings.data_dir)
    assert pg_settings.lineage_url is not None
    PostgresTransport(pg_settings.lineage_url).emit(events[0])
    with open_store(pg_settings) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (1,)
    for event in events[1:]:
        PostgresTransport(pg_settings.lineage_url).emit(event)
    monkeypatch.setenv("PIPELINES_LINEAGE_URL", pg_url)
    args = ["--data-dir", str(pg_settings.data_dir), "lineage", "trace"]
    assert main([*args, "customer_features.home_state", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)  # the store was rebuilt: new rows
    assert data["start"] == ["warehouse.main.customer_features.home_state"]
    assert {d["dataset"] for d in data["datasets"]} >= {"lake.customers", "landing.customers"}
    assert not fx_events_file(pg_settings).exists()  # nothing read from or written to a file


def fx_events_file(settings: Settings) -> Path:
    return settings.data_dir / "lineage" / "events.jsonl"


def test_client_sends_to_postgres_when_configured(pg_settings: Settings, pg_url: str) -> None:
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    client.reset_clients()
    try:
        assert client.describe(pg_settings).startswith("PostgreSQL postgresql://postgres@")
        event = RunEvent(
            eventType=RunState.COMPLETE,
            eventTime="2018-01-01T00:00:00Z",
            run=Run(runId="01890000-0000-7000-8000-000000000001"),
            job=Job(namespace="commerce", name="probe"),
            producer=fx.PRODUCER,
        )
        client.get_client(pg_settings).emit(event)
    finally:
        client.reset_clients()
    con = psycopg2.connect(pg_url)
    try:
        with con, con.cursor() as cur:
            cur.execute(f"SELECT event->'job'->>'name', event->>'eventType' FROM {TABLE}")
            assert cur.fetchall() == [("probe", "COMPLETE")]
    finally:
        con.close()
    assert not fx_events_file(pg_settings).exists()


def test_audit_anchors_are_read_from_postgres(
    pg_settings: Settings, pg_url: str, keyring: KeyRing
) -> None:
    log = PgAuditLog(pg_url, keyring)
    for i in range(2):
        log.append(actor="alice", action="reidentify", reason=f"ticket {i}")
    seq, mac = log.head()
    assert pg_settings.lineage_url is not None
    transport = PostgresTransport(pg_settings.lineage_url)
    for head in ({"seq": seq, "mac": mac}, {"seq": seq + 1, "mac": "f" * 64}):
        event = {"eventType": "COMPLETE", "job": {"namespace": "n", "name": "ingest"},
                 "run": {"runId": f"r{head['seq']}",
                         "facets": {"pipelines_ingestion": {"audit_head": head}}}}  # fmt: skip
        transport.emit(event)
    anchors = lineage_anchors(event_texts(event_source(pg_settings)))
    assert [(a.seq, a.mac) for a in anchors] == [(seq, mac), (seq + 1, "f" * 64)]
    assert log.verify(anchors[:1]).anchors == 1
    with pytest.raises(AuditLogTampered) as caught:
        log.verify(anchors)  # lineage saw an entry the log no longer has
    assert caught.value.seq == seq + 1


def test_a_dag_run_marker_is_claimed_once_across_workers(pg_url: str) -> None:
    from pipelines.lineage.pgevents import claim_marker

    assert claim_marker(pg_url, "run-1.start") is True
    assert claim_marker(pg_url, "run-1.start") is False  # another worker: already sent
    assert claim_marker(pg_url, "run-1.complete") is True
