"""The lineage store: the OpenLineage event log loaded into its own DuckDB file.

``rebuild_store`` reads the event log (a JSON-lines file, one OpenLineage event per line, or
the ``pipelines_lineage_events`` table in PostgreSQL when ``lineage_url`` is set) and writes
``<data_dir>/lineage/lineage.duckdb`` with these tables (never the warehouse):

==================  ==========================================================================
``events``          one row per line: line number, kind, event type/time, run and job
``runs``            one row per run id: job, parent and root run, state, start/end, error
``jobs``            one row per job: latest run and state, SQL and source location if given
``datasets``        one row per dataset: namespace, name, short symlink name, kind, docs
``fields``          the schema of each dataset (latest event that carried one)
``dataset_runs``    which datasets each run read (input) and wrote (output)
``dataset_versions`` dataset version per run and role (input/output), with the partition facet
``column_edges``    output dataset+field <- input dataset+field, one row per transformation
                    (``out_field`` is NULL for dataset-level indirect lineage), with run and time
``assertions``      data quality assertions: dataset, version, assertion, column, outcome, run
``tags``            field and dataset tags (``pii``, ``protection``, ``jurisdiction`` from the
                    ``pipelines_jurisdiction`` facet, ...), latest per dataset
``meta``            where the store was built from (path, lines, bytes, sha256)
==================  ==========================================================================

The rebuild is atomic (a temporary file renamed over the store) and idempotent (the same log
gives the same tables). A torn last line (a writer interrupted mid-line) is skipped with a
warning; an unreadable line anywhere else is an error naming the file and line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from pydantic import SecretStr

from pipelines.lineage import naming, pgevents
from pipelines.redact import redact_text
from pipelines.settings import Settings
from pipelines.sql import sql_str

__all__ = [
    "LineageStoreError",
    "RebuildResult",
    "dataset_kind",
    "event_source",
    "event_texts",
    "events_path",
    "is_stale",
    "open_store",
    "read_events",
    "rebuild_store",
    "store_path",
]

log = logging.getLogger(__name__)

STORE_FILE = "lineage.duckdb"


class LineageStoreError(RuntimeError):
    """The event log cannot be read or the store cannot be built."""


def events_path(settings: Settings) -> Path:
    """The default event log: what ``pipelines.lineage.client.events_path`` returns (a test
    keeps them equal; that module is not imported here because it loads the OpenLineage
    client, half a second on every command)."""
    return settings.data_dir / "lineage" / "events.jsonl"


@dataclass(frozen=True)
class PgEvents:
    """The events recorded in PostgreSQL (``lineage_url``)."""

    url: SecretStr

    def __str__(self) -> str:
        return pgevents.where(self.url)


EventSource = Path | PgEvents
"""Where events are read from: a JSON-lines file (or folder), or PostgreSQL."""


def event_source(settings: Settings, events: Path | None = None) -> EventSource:
    """``events`` if given, else PostgreSQL when ``lineage_url`` is set, else the file."""
    if events is not None:
        return Path(events)
    if settings.lineage_url is not None:
        return PgEvents(settings.lineage_url)
    return events_path(settings)


def has_events(source: EventSource) -> bool:
    """Whether anything was recorded there."""
    if isinstance(source, PgEvents):
        return pgevents.state(source.url)[0] > 0
    return bool(_log_files(source))


def event_texts(source: EventSource) -> Iterator[str]:
    """The JSON text of every event, oldest first (for the audit log's lineage anchors)."""
    if isinstance(source, PgEvents):
        for _, text in pgevents.iter_rows(source.url):
            yield text
        return
    for file in _log_files(source):
        yield from file.read_text(encoding="utf-8").splitlines()


def located_events(settings: Settings, located: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    """The events at ``(file, line)`` pairs of the store's ``events`` table, read from the log
    itself (``line`` is the row id when the events are in PostgreSQL)."""
    wanted: dict[str, set[int]] = {}
    for file, line in located:
        wanted.setdefault(file, set()).add(int(line))
    source = event_source(settings)
    if isinstance(source, PgEvents):
        ids = sorted(n for lines in wanted.values() for n in lines)
        return [json.loads(text) for text in pgevents.events_by_id(source.url, ids)]
    events = []
    for file, lines in wanted.items():
        raw = Path(file).read_bytes().split(b"\n")
        events += [json.loads(raw[n - 1]) for n in sorted(lines) if n <= len(raw)]
    return events


def store_path(settings: Settings) -> Path:
    """The lineage store's own DuckDB file (never the warehouse)."""
    return settings.data_dir / "lineage" / STORE_FILE


# Dataset kinds -------------------------------------------------------------------------------

KINDS = tuple(
    make("x").split(".", 1)[0]
    for make in (
        naming.landing_symlink,
        naming.lake_symlink,
        naming.warehouse_symlink,
        naming.feature_symlink,
        naming.model_symlink,
    )
)
"""``landing``, ``lake``, ``warehouse``, ``features``, ``model``: the prefixes of the short
names."""


def symlink_kind(symlink: str | None) -> str:
    """``landing``, ``lake``, ``warehouse``, ``features`` or ``model`` from a short name like
    ``lake.orders``."""
    prefix = (symlink or "").split(".", 1)[0]
    return prefix if prefix in KINDS else "other"


def dataset_kind(namespace: str, name: str, symlink: str | None) -> str:
    """The kind of a dataset: from its symlink, else ``warehouse`` for a DuckDB namespace."""
    kind = symlink_kind(symlink)
    if kind != "other":
        return kind
    if namespace.startswith(naming.WAREHOUSE_SCHEME):
        return "warehouse"
    return "other"


# Reading the log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    path: Path | str
    line: int
    event: dict[str, Any]


@dataclass
class ReadReport:
    """What reading the log found: lines read, and warnings (a torn last line)."""

    lines: int = 0
    events: int = 0
    bytes: int = 0
    sha256: str = ""
    last_id: int = 0
    warnings: list[str] = field(default_factory=list)


def _log_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and ".jsonl" in p.name)
    return [path] if path.is_file() else []


def read_events(source: EventSource, report: ReadReport | None = None) -> Iterator[LogLine]:
    """Yield the events of a JSON-lines log (a file, or a folder of ``*.jsonl*`` files), or
    of the PostgreSQL table (``line`` is the row's ``id``).

    Blank lines are ignored. A last line that is not valid JSON is treated as a torn write:
    skipped, with a warning in ``report``. Any other invalid line raises
    :class:`LineageStoreError` naming the file and line.
    """
    report = report if report is not None else ReadReport()
    if isinstance(source, PgEvents):
        yield from _read_pg(source, report)
        return
    digest = hashlib.sha256()
    for file in _log_files(source):
        data = file.read_bytes()
        digest.update(data)
        report.bytes += len(data)
        lines = data.split(b"\n")
        last = max((i for i, raw in enumerate(lines) if raw.strip()), default=-1)
        for index, raw in enumerate(lines):
            if not raw.strip():
                continue
            report.lines += 1
            try:
                event = json.loads(raw)
                if not isinstance(event, dict):
                    raise ValueError("not a JSON object")
            except (ValueError, UnicodeDecodeError) as exc:
                if index == last and not data.endswith(b"\n"):
                    report.warnings.append(
                        f"{file} line {index + 1}: incomplete last line skipped "
                        f"({len(raw)} bytes, torn write?)"
                    )
                    continue
                raise LineageStoreError(
                    f"{file} line {index + 1}: not a valid OpenLineage event ({exc})"
                ) from exc
            report.events += 1
            yield LogLine(file, index + 1, event)
    report.sha256 = digest.hexdigest()


def _read_pg(source: PgEvents, report: ReadReport) -> Iterator[LogLine]:
    """The rows of the PostgreSQL table as log lines (the database checked their JSON)."""
    digest = hashlib.sha256()
    label = str(source)
    for row_id, text in pgevents.iter_rows(source.url):
        data = text.encode("utf-8")
        digest.update(data + b"\n")
        report.bytes += len(data) + 1
        report.lines += 1
        event = json.loads(text)
        if not isinstance(event, dict):
            raise LineageStoreError(f"{label} id {row_id}: not an OpenLineage event object")
        report.events += 1
        report.last_id = row_id
        yield LogLine(label, row_id, event)
    report.sha256 = digest.hexdigest()


# Flattening events into rows -------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    """An event time as naive UTC (what the store keeps)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _facets(dataset: dict[str, Any]) -> dict[str, Any]:
    """Dataset facets merged with input/output facets (assertions are input facets)."""
    merged: dict[str, Any] = {}
    for key in ("facets", "inputFacets", "outputFacets"):
        value = dataset.get(key)
        if isinstance(value, dict):
            merged.update(value)
    return merged


def _symlink(facets: dict[str, Any]) -> str | None:
    identifiers = (facets.get("symlinks") or {}).get("identifiers") or []
    names = [i.get("name") for i in identifiers if isinstance(i, dict) and i.get("name")]
    for name in names:
        if symlink_kind(name) != "other":
            return str(name)
    return str(names[0]) if names else None


def _version_and_partition(facets: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A dataset's version and partition facet; for a read of several partitions, the set's
    hash stands for the version."""
    version = (facets.get("datasetVersion") or {}).get("datasetVersion")
    partition = dict(facets.get("pipelines_partition") or {})
    partitions = facets.get("pipelines_partitions") or {}
    if not version and not partition and partitions.get("versions_sha256"):
        version = partitions["versions_sha256"]
        partition = {
            "table": partitions.get("table"),
            "partition": _partition_set(partitions),
        }
    return version, partition


def _partition_set(facet: dict[str, Any]) -> str:
    """``dt=2018-01-01..dt=2018-01-07 (7 partitions, set hash)`` for a read of many."""
    count = _int(facet.get("partitions")) or 0
    first, last = facet.get("first_partition"), facet.get("last_partition")
    span = str(first) if first == last else f"{first}..{last}"
    return f"{span} ({count} partition{'' if count == 1 else 's'}, set hash)"


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


@dataclass
class _Rows:
    """Rows for every table, deduplicated by key; the latest event wins."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    datasets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    fields: dict[tuple[str, str], tuple[datetime, list[tuple[Any, ...]]]] = field(
        default_factory=dict
    )
    io: set[tuple[str, str, str, str, str | None]] = field(default_factory=set)
    versions: dict[tuple[Any, ...], tuple[datetime, tuple[Any, ...]]] = field(default_factory=dict)
    edges: dict[tuple[Any, ...], tuple[datetime, tuple[Any, ...]]] = field(default_factory=dict)
    assertions: dict[tuple[Any, ...], tuple[datetime, tuple[Any, ...]]] = field(
        default_factory=dict
    )
    tags: dict[tuple[str, str], tuple[datetime, list[tuple[Any, ...]]]] = field(
        default_factory=dict
    )


_EPOCH = datetime(1970, 1, 1)


def _put(table: dict[Any, Any], key: Any, when: datetime, row: Any) -> None:
    """Keep the row of the latest event per key (ties: the later line wins)."""
    current = table.get(key)
    if current is None or current[0] <= when:
        table[key] = (when, row)


class _Loader:
    def __init__(self) -> None:
        self.rows = _Rows()

    def add(self, item: LogLine) -> None:
        event = item.event
        when = _time(event.get("eventTime")) or _EPOCH
        run = event.get("run") if isinstance(event.get("run"), dict) else None
        job = event.get("job") if isinstance(event.get("job"), dict) else None
        run_id = _str((run or {}).get("runId"))
        job_ns = _str((job or {}).get("namespace"))
        job_name = _str((job or {}).get("name"))
        kind = "run" if run else ("dataset" if "dataset" in event else "job")
        self.rows.events.append(
            (
                str(item.path),
                item.line,
                kind,
                _str(event.get("eventType")),
                when,
                run_id,
                job_ns,
                job_name,
                _str(event.get("producer")),
            )
        )
        if job_ns and job_name:
            self._job(job_ns, job_name, job or {}, run_id, event, when)
        if run_id and job_ns and job_name:
            self._run(run_id, job_ns, job_name, run or {}, event, when)
        if kind == "dataset" and isinstance(event.get("dataset"), dict):
            self._dataset(event["dataset"], None, None, None, when)
        for role in ("inputs", "outputs"):
            for dataset in event.get(role) or []:
                if isinstance(dataset, dict):
                    self._dataset(dataset, role[:-1], run_id, job_name, when)
        if run_id:
            self._release(event, run_id, job_name, when)

    def _job(
        self,
        ns: str,
        name: str,
        job: dict[str, Any],
        run_id: str | None,
        event: dict[str, Any],
        when: datetime,
    ) -> None:
        facets = job.get("facets") or {}
        row = self.rows.jobs.setdefault(
            (ns, name),
            {"runs": set(), "latest": _EPOCH, "state": None, "run": None, "sql": None},
        )
        if run_id:
            row["runs"].add(run_id)
        if when >= row["latest"]:
            row["latest"] = when
            row["run"] = run_id or row["run"]
            row["state"] = _str(event.get("eventType")) or row["state"]
        sql = (facets.get("sql") or {}).get("query")
        if sql:
            row["sql"] = str(sql)
        location = facets.get("sourceCodeLocation") or {}
        if location.get("url") or location.get("path"):
            row["source"] = str(location.get("url") or location.get("path"))
        job_type = facets.get("jobType") or {}
        if job_type.get("jobType"):
            row["job_type"] = str(job_type["jobType"])
        doc = (facets.get("documentation") or {}).get("description")
        if doc:
            row["description"] = str(doc)

    def _run(
        self,
        run_id: str,
        ns: str,
        name: str,
        run: dict[str, Any],
        event: dict[str, Any],
        when: datetime,
    ) -> None:
        facets = run.get("facets") or {}
        row = self.rows.runs.setdefault(
            run_id,
            {
                "job_namespace": ns,
                "job_name": name,
                "parent": None,
                "parent_job": None,
                "state": None,
                "state_time": _EPOCH,
                "started": None,
                "ended": None,
                "error": None,
                "nominal": None,
                "events": 0,
            },
        )
        row["events"] += 1
        parent = facets.get("parent") or {}
        if (parent.get("run") or {}).get("runId"):
            row["parent"] = str(parent["run"]["runId"])
            row["parent_job"] = _str((parent.get("job") or {}).get("name"))
        event_type = _str(event.get("eventType"))
        if event_type and when >= row["state_time"]:
            row["state"], row["state_time"] = event_type, when
        if event_type == "START":
            row["started"] = min(row["started"] or when, when)
        elif event_type in ("COMPLETE", "FAIL", "ABORT"):
            row["ended"] = max(row["ended"] or when, when)
        error = (facets.get("errorMessage") or {}).get("message")
        if error:  # events written before the redaction boundary, or by other producers
            row["error"] = redact_text(str(error))
        nominal = (facets.get("nominalTime") or {}).get("nominalStartTime")
        if nominal:
            row["nominal"] = _time(nominal)

    def _dataset(
        self,
        dataset: dict[str, Any],
        role: str | None,
        run_id: str | None,
        job_name: str | None,
        when: datetime,
    ) -> None:
        ns, name = _str(dataset.get("namespace")), _str(dataset.get("name"))
        if not ns or not name:
            return
        facets = _facets(dataset)
        key = (ns, name)
        if role and run_id:
            self.rows.io.add((ns, name, run_id, role, job_name))
        self._dataset_row(key, facets, when)
        schema = (facets.get("schema") or {}).get("fields")
        if isinstance(schema, list):
            cols = [
                (ns, name, _str(f.get("name")), _str(f.get("type")), _str(f.get("description")), i)
                for i, f in enumerate(schema)
                if isinstance(f, dict) and f.get("name")
            ]
            _put(self.rows.fields, key, when, cols)
        version, partition = _version_and_partition(facets)
        rows = (facets.get("dataQualityMetrics") or facets.get("outputStatistics") or {}).get(
            "rowCount"
        )
        if (version or partition) and role and run_id:
            self._version(ns, name, _str(version), role, run_id, job_name, when, partition, rows)
        lineage = facets.get("columnLineage") or {}
        self._edges(ns, name, lineage, run_id, job_name, when)
        self._assertions(ns, name, _str(version), facets, run_id, job_name, when)
        self._tags(key, facets, run_id, when)

    def _dataset_row(self, key: tuple[str, str], facets: dict[str, Any], when: datetime) -> None:
        """The dataset's first and last sighting, symlink, description and owners."""
        row = self.rows.datasets.setdefault(
            key,
            {"symlink": None, "description": None, "owners": None, "first": when, "last": when},
        )
        row["first"], row["last"] = min(row["first"], when), max(row["last"], when)
        symlink = _symlink(facets)
        if symlink:
            row["symlink"] = symlink
        doc = (facets.get("documentation") or {}).get("description")
        if doc:
            row["description"] = str(doc)
        owners = (facets.get("ownership") or {}).get("owners") or []
        if owners:
            row["owners"] = ", ".join(
                str(o.get("name")) for o in owners if isinstance(o, dict) and o.get("name")
            )

    def _assertions(
        self,
        ns: str,
        name: str,
        version: str | None,
        facets: dict[str, Any],
        run_id: str | None,
        job_name: str | None,
        when: datetime,
    ) -> None:
        """The data quality assertions recorded on the dataset (version) by this run."""
        for assertion in (facets.get("dataQualityAssertions") or {}).get("assertions") or []:
            if not isinstance(assertion, dict) or not assertion.get("assertion"):
                continue
            akey = (
                ns,
                name,
                version,
                str(assertion["assertion"]),
                _str(assertion.get("name")),
                _str(assertion.get("column")),
                run_id,
            )
            _put(
                self.rows.assertions,
                akey,
                when,
                (
                    ns,
                    name,
                    version,
                    str(assertion["assertion"]),
                    _str(assertion.get("name")),
                    _str(assertion.get("column")),
                    bool(assertion.get("success")),
                    _str(assertion.get("severity")),
                    run_id,
                    job_name,
                    when,
                ),
            )

    def _tags(
        self, key: tuple[str, str], facets: dict[str, Any], run_id: str | None, when: datetime
    ) -> None:
        """The tags facet: one row per tag (dataset or field)."""
        ns, name = key
        tags = (facets.get("tags") or {}).get("tags")
        if isinstance(tags, list):
            tag_rows = [
                (
                    ns,
                    name,
                    _str(t.get("field")),
                    str(t.get("key")),
                    _str(t.get("value")),
                    _str(t.get("source")),
                    run_id,
                    when,
                )
                for t in tags
                if isinstance(t, dict) and t.get("key")
            ]
            _put(self.rows.tags, key, when, tag_rows)
        self._jurisdiction(ns, name, facets, run_id, when)

    def _jurisdiction(
        self, ns: str, name: str, facets: dict[str, Any], run_id: str | None, when: datetime
    ) -> None:
        """The ``pipelines_jurisdiction`` facet as a dataset tag (``jurisdiction``: the
        subjects' codes, comma-separated), latest per dataset."""
        place = facets.get("pipelines_jurisdiction") or {}
        if not isinstance(place.get("subjects"), list):
            return
        subjects = ",".join(sorted(str(s) for s in place["subjects"]))
        tag = (ns, name, None, "jurisdiction", subjects, _str(place.get("source")), run_id, when)
        _put(self.rows.tags, (ns, name, "jurisdiction"), when, [tag])

    def _version(
        self,
        ns: str,
        name: str,
        version: str | None,
        role: str,
        run_id: str,
        job_name: str | None,
        when: datetime,
        partition: dict[str, Any],
        rows: Any = None,
    ) -> None:
        _put(
            self.rows.versions,
            (ns, name, version, role, run_id),
            when,
            (
                ns,
                name,
                version,
                role,
                run_id,
                job_name,
                when,
                _str(partition.get("table")),
                _str(partition.get("partition")),
                _str(partition.get("interval_start")),
                _str(partition.get("interval_end")),
                _str(partition.get("manifest")),
                _int(partition.get("rows_loaded")),
                _int(partition.get("rows_quarantined")),
                _int(rows),
            ),
        )

    def _release(
        self, event: dict[str, Any], run_id: str, job_name: str | None, when: datetime
    ) -> None:
        """``pipelines_release``: every lake partition a build used, as input versions of the
        lake tables among the event's inputs."""
        facets = (event.get("run") or {}).get("facets") or {}
        used = (facets.get("pipelines_release") or {}).get("partitions")
        if not isinstance(used, list):
            return
        lake_inputs = {
            _symlink(_facets(d)): (str(d["namespace"]), str(d["name"]))
            for d in event.get("inputs") or []
            if isinstance(d, dict) and d.get("namespace") and d.get("name")
        }
        for part in used:
            if not isinstance(part, dict) or not part.get("dataset_version"):
                continue
            key = lake_inputs.get(naming.lake_symlink(str(part.get("table"))))
            if key is not None:
                self._version(
                    *key, str(part["dataset_version"]), "input", run_id, job_name, when, part
                )

    def _edges(
        self,
        ns: str,
        name: str,
        lineage: dict[str, Any],
        run_id: str | None,
        job_name: str | None,
        when: datetime,
    ) -> None:
        entries: list[tuple[str | None, dict[str, Any]]] = []
        for out_field, spec in (lineage.get("fields") or {}).items():
            if isinstance(spec, dict):
                entries += [(str(out_field), f) for f in spec.get("inputFields") or []]
        entries += [(None, f) for f in lineage.get("dataset") or []]
        for out_field, source in entries:
            if not isinstance(source, dict) or not source.get("name"):
                continue
            transformations = source.get("transformations") or [{}]
            for t in transformations:
                if not isinstance(t, dict):
                    continue
                row = (
                    ns,
                    name,
                    out_field,
                    _str(source.get("namespace")),
                    str(source["name"]),
                    _str(source.get("field")),
                    _str(t.get("type")),
                    _str(t.get("subtype")),
                    _str(t.get("description")),
                    bool(t.get("masking")),
                    run_id,
                    job_name,
                    when,
                )
                _put(self.rows.edges, row[:12], when, row)


# Writing the store --------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE events (
    file VARCHAR, line BIGINT, kind VARCHAR, event_type VARCHAR, event_time TIMESTAMP,
    run_id VARCHAR, job_namespace VARCHAR, job_name VARCHAR, producer VARCHAR);
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY, job_namespace VARCHAR, job_name VARCHAR,
    parent_run_id VARCHAR, parent_job_name VARCHAR, root_run_id VARCHAR, state VARCHAR,
    started_at TIMESTAMP, ended_at TIMESTAMP, nominal_start TIMESTAMP, error_message VARCHAR,
    event_count BIGINT);
CREATE TABLE jobs (
    namespace VARCHAR, name VARCHAR, job_type VARCHAR, description VARCHAR, sql VARCHAR,
    source_code_location VARCHAR, run_count BIGINT, latest_run_id VARCHAR,
    latest_state VARCHAR, latest_event_time TIMESTAMP, PRIMARY KEY (namespace, name));
CREATE TABLE datasets (
    namespace VARCHAR, name VARCHAR, symlink VARCHAR, kind VARCHAR, description VARCHAR,
    owners VARCHAR, first_seen TIMESTAMP, last_seen TIMESTAMP, PRIMARY KEY (namespace, name));
CREATE TABLE fields (
    namespace VARCHAR, name VARCHAR, field VARCHAR, type VARCHAR, description VARCHAR,
    ordinal INTEGER);
CREATE TABLE dataset_runs (
    namespace VARCHAR, name VARCHAR, run_id VARCHAR, role VARCHAR, job_name VARCHAR);
CREATE TABLE dataset_versions (
    namespace VARCHAR, name VARCHAR, version VARCHAR, role VARCHAR, run_id VARCHAR,
    job_name VARCHAR, event_time TIMESTAMP, partition_table VARCHAR, partition VARCHAR,
    interval_start VARCHAR, interval_end VARCHAR, manifest VARCHAR, rows_loaded BIGINT,
    rows_quarantined BIGINT, row_count BIGINT);
CREATE TABLE column_edges (
    out_namespace VARCHAR, out_name VARCHAR, out_field VARCHAR, in_namespace VARCHAR,
    in_name VARCHAR, in_field VARCHAR, type VARCHAR, subtype VARCHAR, description VARCHAR,
    masking BOOLEAN, run_id VARCHAR, job_name VARCHAR, event_time TIMESTAMP);
CREATE TABLE assertions (
    namespace VARCHAR, name VARCHAR, version VARCHAR, assertion VARCHAR,
    assertion_name VARCHAR, "column" VARCHAR, success BOOLEAN, severity VARCHAR,
    run_id VARCHAR, job_name VARCHAR, event_time TIMESTAMP);
CREATE TABLE tags (
    namespace VARCHAR, name VARCHAR, field VARCHAR, key VARCHAR, value VARCHAR,
    source VARCHAR, run_id VARCHAR, event_time TIMESTAMP);
"""


def _roots(runs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The top ancestor of every run (the DAG run for tasks and dbt models)."""
    roots: dict[str, str] = {}
    for run_id in runs:
        seen = {run_id}
        current = run_id
        while (parent := runs.get(current, {}).get("parent")) and parent not in seen:
            seen.add(parent)
            current = parent
        roots[run_id] = current
    return roots


def _sorted(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=lambda r: tuple((x is None, "" if x is None else str(x)) for x in r))


def _insert(
    con: duckdb.DuckDBPyConnection, folder: Path, table: str, rows: list[tuple[Any, ...]]
) -> None:
    """Bulk insert through a temporary JSON-lines file read by DuckDB.

    Binding Python values (``executemany``, Arrow, pandas) makes DuckDB import pandas, about
    a second per command, and huge ``VALUES`` lists are slow to plan; a scan of a file is
    neither.
    """
    if not rows:
        return
    described = con.execute(f"DESCRIBE {table}").fetchall()
    names = [str(r[0]) for r in described]
    columns = ", ".join(f"'{n}': '{t}'" for n, t, *_ in described)
    path = folder / f"{table}.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            record = {
                n: (v.isoformat(sep=" ") if isinstance(v, datetime) else v)
                for n, v in zip(names, row, strict=True)
            }
            fh.write(json.dumps(record) + "\n")
    try:
        con.execute(
            f"INSERT INTO {table} SELECT * FROM read_json({sql_str(str(path))}, "
            f"format = 'newline_delimited', columns = {{{columns}}})"
        )
    finally:
        path.unlink(missing_ok=True)


def _write(con: duckdb.DuckDBPyConnection, rows: _Rows, meta: dict[str, str], folder: Path) -> None:
    con.execute(_SCHEMA)
    _insert(con, folder, "meta", sorted(meta.items()))
    _insert(con, folder, "events", rows.events)
    roots = _roots(rows.runs)
    _insert(
        con,
        folder,
        "runs",
        [
            (
                rid,
                r["job_namespace"],
                r["job_name"],
                r["parent"],
                r["parent_job"],
                roots[rid],
                r["state"],
                r["started"],
                r["ended"],
                r["nominal"],
                r["error"],
                r["events"],
            )
            for rid, r in sorted(rows.runs.items())
        ],
    )
    _insert(
        con,
        folder,
        "jobs",
        [
            (
                ns,
                name,
                j.get("job_type"),
                j.get("description"),
                j.get("sql"),
                j.get("source"),
                len(j["runs"]),
                j["run"],
                j["state"],
                j["latest"],
            )
            for (ns, name), j in sorted(rows.jobs.items())
        ],
    )
    _insert(
        con,
        folder,
        "datasets",
        [
            (
                ns,
                name,
                d["symlink"],
                dataset_kind(ns, name, d["symlink"]),
                d["description"],
                d["owners"],
                d["first"],
                d["last"],
            )
            for (ns, name), d in sorted(rows.datasets.items())
        ],
    )
    fields = [f for _, cols in rows.fields.values() for f in cols]
    _insert(con, folder, "fields", _sorted(fields))
    _insert(con, folder, "dataset_runs", _sorted(rows.io))
    versions = [row for _, row in rows.versions.values()]
    _insert(con, folder, "dataset_versions", _sorted(versions))
    edges = [row for _, row in rows.edges.values()]
    _insert(con, folder, "column_edges", _sorted(edges))
    assertions = [row for _, row in rows.assertions.values()]
    _insert(con, folder, "assertions", _sorted(assertions))
    tags = [t for _, tag_rows in rows.tags.values() for t in tag_rows]
    _insert(con, folder, "tags", _sorted(tags))


@dataclass(frozen=True)
class RebuildResult:
    store: Path
    events_file: EventSource
    events: int
    runs: int
    datasets: int
    column_edges: int
    assertions: int
    warnings: list[str]


def rebuild_store(events: EventSource, store: Path) -> RebuildResult:
    """Build ``store`` from the event log ``events``, atomically; returns what was loaded.

    A missing log gives an empty store (and a warning), so queries answer "nothing yet".
    """
    report = ReadReport()
    loader = _Loader()
    if not has_events(events):
        report.warnings.append(f"no lineage events at {events} (nothing published yet?)")
    for item in read_events(events, report):
        loader.add(item)
    for warning in report.warnings:
        log.warning("lineage: %s", warning)
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.with_name(f".{store.name}.{os.getpid()}.tmp")
    rows_dir = store.with_name(f".{store.name}.{os.getpid()}.rows")
    tmp.unlink(missing_ok=True)
    rows_dir.mkdir(exist_ok=True)
    meta = {
        "events_path": str(events),
        "events_lines": str(report.lines),
        "events_bytes": str(report.bytes),
        "events_sha256": report.sha256,
        "events_last_id": str(report.last_id),
        "format": "1",
    }
    try:
        with duckdb.connect(str(tmp)) as con:
            _write(con, loader.rows, meta, rows_dir)
            counts = {t: _count(con, t) for t in ("runs", "datasets", "column_edges", "assertions")}
        os.replace(tmp, store)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        shutil.rmtree(rows_dir, ignore_errors=True)
    return RebuildResult(
        store=store,
        events_file=events,
        events=report.events,
        runs=counts["runs"],
        datasets=counts["datasets"],
        column_edges=counts["column_edges"],
        assertions=counts["assertions"],
        warnings=report.warnings,
    )


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _stored_meta(store: Path) -> dict[str, str] | None:
    try:
        with duckdb.connect(str(store), read_only=True) as con:
            return dict(con.execute("SELECT key, value FROM meta").fetchall())
    except duckdb.Error:
        return None  # not a store this version wrote


def _pg_stale(events: PgEvents, store: Path) -> bool:
    """Whether the table holds other events than the store was built from (count, last id)."""
    meta = _stored_meta(store)
    if meta is None or meta.get("events_path") != str(events):
        return True
    count, last = pgevents.state(events.url)
    return (meta.get("events_lines"), meta.get("events_last_id")) != (str(count), str(last))


def is_stale(events: EventSource, store: Path) -> bool:
    """Whether the store is missing, older than the event log, or built from another log."""
    if not store.is_file():
        return True
    if isinstance(events, PgEvents):
        return _pg_stale(events, store)
    files = _log_files(events)
    newest = max((f.stat().st_mtime_ns for f in files), default=0)
    if newest > store.stat().st_mtime_ns:
        return True
    meta = _stored_meta(store)
    return meta is None or meta.get("events_path") != str(events)


def open_store(
    settings: Settings, events: Path | None = None, *, refresh: bool = True
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the store, rebuilt first when the log is newer (the log:
    ``events`` if given, else :func:`event_source`)."""
    source = event_source(settings, events)
    store = store_path(settings)
    if refresh and is_stale(source, store):
        rebuild_store(source, store)
    if not store.is_file():
        raise LineageStoreError(
            f"no lineage store at {store}; run `pipelines lineage rebuild` first"
        )
    return duckdb.connect(str(store), read_only=True)
