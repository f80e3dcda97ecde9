"""Releases, the PII map and the audit log as portal rows (see :mod:`pipelines.portal.data`)."""

from __future__ import annotations

from typing import Any

from pipelines.protection_types import protection_type
from pipelines.settings import Settings


def releases(
    settings: Settings, used_by: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Every feature release; ``used_by``: :func:`consumers` when the caller read them."""
    from pipelines.features.snapshots import releases as read_releases

    used: dict[str, set[str]] = {}
    for row in consumers(settings) if used_by is None else used_by:
        used.setdefault(row["release_id"], set()).add(f"{row['model']} {row['model_version']}")
    rows = []
    for rel in read_releases(settings):
        rows.append(
            {
                "as_of": rel.as_of,
                "release_id": rel.release_id,
                "status": rel.status,
                "inputs": len(rel.partitions),
                "held_back": len(rel.held_back),
                "feature_tables": ", ".join(sorted(rel.features)),
                "problems": "; ".join(rel.problems),
                "consumers": ", ".join(sorted(used.get(rel.release_id, ()))) or "none yet",
                "run_id": rel.run_id,
                "created_at": rel.created_at,
            }
        )
    return sorted(rows, key=lambda r: r["as_of"], reverse=True)


def held_back(settings: Settings) -> list[dict[str, Any]]:
    from pipelines.features.snapshots import releases as read_releases

    return [
        {"as_of": rel.as_of, "table": h.table, "partition": h.partition, "reason": h.reason}
        for rel in read_releases(settings)
        for h in rel.held_back
    ]


def _key_versions(settings: Settings) -> dict[str, dict[str, str]]:
    """Table -> purpose -> key id used by its newest lake partition (ids, never key bytes)."""
    from pipelines.lake.partitions import partitions, tables
    from pipelines.lake.storage import lake_store

    store = lake_store(settings)
    out: dict[str, dict[str, str]] = {}
    for table in tables(store):
        parts = partitions(store, table)
        if parts:
            out[table] = dict(parts[-1].manifest.key_versions)
    return out


def pii_map(settings: Settings) -> list[dict[str, Any]]:
    """Every PII column of the contracts: class, protection, key id in use, and in words."""
    from pipelines.pii_inventory import inventory

    keys = _key_versions(settings)
    rows = inventory(settings)
    for row in rows:
        ptype = protection_type(row["protection"])
        purpose = ptype.key_purpose
        row["key_version"] = keys.get(row["table"], {}).get(purpose, "") if purpose else ""
        row["meaning"] = ptype.meaning.format(method=row["method"])
    return rows


def _verify(settings: Settings) -> str:
    """The chain's status in words, checked like ``pipelines audit verify`` (MACs, head file,
    heads recorded in lineage) with the key ring the portal runs with."""
    from pipelines.protection import keyring_from_settings
    from pipelines.protection.audit import lineage_anchors
    from pipelines.protection.audit_pg import open_audit_log
    from pipelines.protection.errors import AuditLogError, ProtectionError
    from pipelines.reporting.store import event_source, event_texts

    try:
        keyring = keyring_from_settings(settings)
    except ProtectionError:
        return "not verified: the portal runs without the key ring (PIPELINES_KEY_FILE)"
    log = open_audit_log(settings, keyring)
    if not log.exists():
        return "ok: no entries yet"
    try:
        report = log.verify(lineage_anchors(event_texts(event_source(settings))))
    except AuditLogError as exc:
        return f"tampered: {exc}"
    return (
        f"ok: {report.entries} entries, chain, head file and {report.anchors} lineage heads agree"
    )


def audit(settings: Settings) -> tuple[str, list[dict[str, Any]]]:
    """(chain status in words, entries newest first). Entries carry digests and ids only."""
    from pipelines.protection.audit_pg import open_audit_log

    rows = [
        {
            "seq": e.get("seq"),
            "time": e.get("time"),
            "actor": e.get("actor"),
            "action": e.get("action"),
            "reason": e.get("reason"),
            "subject": e.get("subject"),
            "details": ", ".join(f"{k}={v}" for k, v in sorted((e.get("details") or {}).items())),
        }
        for e in open_audit_log(settings).entries()
    ]
    return _verify(settings), list(reversed(rows))


def _training_events(settings: Settings) -> list[dict[str, Any]]:
    """The COMPLETE events of training runs, located through the lineage store's event index
    (file and line) and read from the event log itself."""
    from pipelines.reporting.store import LineageStoreError, located_events, open_store

    try:
        with open_store(settings, None) as con:
            located = con.execute(
                "SELECT file, line FROM events WHERE event_type = 'COMPLETE' AND kind = 'run' "
                "AND job_name LIKE '%train%' ORDER BY event_time"
            ).fetchall()
    except LineageStoreError:
        return []
    return located_events(settings, located)


def consumers(settings: Settings) -> list[dict[str, Any]]:
    """Model versions trained on each feature release (the ``pipelines_training`` facet the
    training run recorded, :mod:`pipelines.models.lineage`), newest first."""
    rows = []
    for event in _training_events(settings):
        facet = (event.get("run") or {}).get("facets", {}).get("pipelines_training")
        if not facet:
            continue
        for used in facet.get("features") or []:
            rows.append(
                {
                    "release_id": used.get("release_id"),
                    "as_of": used.get("as_of"),
                    "model": facet.get("model"),
                    "model_version": facet.get("model_version"),
                    "feature_table": used.get("table"),
                    "columns": ", ".join(used.get("columns") or []),
                    "training_rows": facet.get("training_rows"),
                    "trained_at": event.get("eventTime"),
                    "lineage_run": (event.get("run") or {}).get("runId"),
                }
            )
    return sorted(rows, key=lambda r: r["trained_at"] or "", reverse=True)


DP_DIR = ("privacy", "representativeness")
"""Where ``pipelines privacy dp-representativeness`` (and the DAG task
``release_representativeness``) record each release: ``<data_dir>/privacy/representativeness/
<table>/<partition>/<column>.<dataset version>.json`` (:mod:`pipelines.privacy.representativeness`);
with the lake on an object store, ``_state/representativeness/...`` there."""

NOT_RELEASED = "no release for this table: exact shares are for governance only"

DP_COLUMNS = [
    "table",
    "column",
    "interval_start",
    "segment",
    "share",
    "count",
    "reference_share",
    "epsilon",
    "release_id",
    "status",
]


def _dp_record(settings: Settings, table: str, folder: Any, column: str) -> dict[str, Any] | None:
    import json

    from pipelines.lake.state import state_file

    version = str(folder.manifest.dataset_version).removeprefix("sha256:")
    rel = f"{table}/{folder.name}/{column}.{version}.json"
    text = state_file(
        settings, f"{DP_DIR[-1]}/{rel}", settings.data_dir.joinpath(*DP_DIR, rel)
    ).read()
    if text is None:
        return None
    record: dict[str, Any] = json.loads(text)
    return record


def _dp_rows(record: dict[str, Any] | None, base: dict[str, Any]) -> list[dict[str, Any]]:
    if record is None:
        return [{**base, "status": "not released yet (pipelines privacy dp-representativeness)"}]
    if record.get("status") != "released":
        return [{**base, "status": "privacy budget spent: not shown outside governance"}]
    extra = {"epsilon": record["epsilon"], "release_id": record["release_id"], "status": "released"}
    return [
        {**base, **extra, **{k: s[k] for k in ("segment", "share", "count", "reference_share")}}
        for s in record["segments"]
    ]


def dp_segments(settings: Settings, wanted: set[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """Segment shares released with differential privacy for ``wanted`` (table, partition,
    column) at the partitions' current versions, as privacy recorded them: the noisy figures,
    or that the budget was spent, or that nothing is released yet. Reads records only: a view
    spends no privacy budget."""
    from pipelines.lake.partitions import partitions
    from pipelines.lake.storage import lake_store

    rows: list[dict[str, Any]] = []
    store = lake_store(settings)
    current = {(t, p.name): p for t in sorted({w[0] for w in wanted}) for p in partitions(store, t)}
    unreleased: set[tuple[str, str]] = set()
    for table, partition, column in sorted(wanted):
        part = current.get((table, partition))
        if part is None:  # not a lake partition (a feature snapshot), or purged since
            if (table, column) not in unreleased:
                unreleased.add((table, column))
                rows.append({"table": table, "column": column, "status": NOT_RELEASED})
            continue
        base = {"table": table, "column": column, "interval_start": part.manifest.interval_start}
        rows.extend(_dp_rows(_dp_record(settings, table, part, column), base))
    return rows
