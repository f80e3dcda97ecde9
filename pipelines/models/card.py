"""The model card: provenance, input quality, PII status and representativeness of a model
version, as JSON and Markdown next to the artifact.

Everything in it is a name, a count, a share, a hash or a version: the feature releases and
lake partitions behind the model (with their gate runs and check counts), the PII class and
protection of every column the model uses (from the marts' dbt ``meta`` and the contracts),
and the training set's shares by segment (state, region, age band, gender) against the
reference populations (:mod:`pipelines.models.segments`). No data value of a personal-data
column is written: segments are counts of generalized or kept quasi-identifiers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from pipelines.features.release import Release
from pipelines.models.record import TrainingRecord
from pipelines.protection_types import holds as _holds
from pipelines.settings import Settings
from pipelines.warehouse.project import DBT_PROJECT_DIR

CARD_JSON = "card.json"
CARD_MD = "card.md"


@cache
def feature_column_meta(table: str) -> dict[str, dict[str, str]]:
    """``column -> {"pii", "protection"}`` of a feature table, from its dbt model's ``meta``."""
    path = DBT_PROJECT_DIR / "models" / "marts" / f"{table}.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, dict[str, str]] = {}
    for model in raw.get("models") or []:
        if model.get("name") != table:
            continue
        for col in model.get("columns") or []:
            meta = (col.get("config") or {}).get("meta") or col.get("meta") or {}
            out[str(col["name"])] = {
                "pii": str(meta.get("pii", "none")),
                "protection": str(meta.get("protection", "none")),
            }
    return out


def _pii_status(settings: Settings, record: TrainingRecord) -> dict[str, Any]:
    from pipelines.contracts import load_contracts

    inputs: list[dict[str, Any]] = []
    quasi: list[str] = []
    for used in record.features:
        meta = feature_column_meta(used.table)
        keys = [c for c, m in meta.items() if _holds(m["protection"]) == "token"]
        used_pii = {
            c: meta[c] for c in used.columns if meta.get(c, {}).get("pii", "none") != "none"
        }
        quasi += [
            f"features.{used.table}.{c}"
            for c, m in used_pii.items()
            if m["pii"] == "quasi_identifier"
        ]
        inputs.append(
            {
                "dataset": f"features.{used.table}",
                "pseudonymous": bool(keys),
                "pseudonymous_keys": keys,
                "personal_data_columns_used": used_pii,
            }
        )
    contracts = load_contracts(settings.contracts_dir)
    for table in sorted({t for t, _ in record.labels.columns}):
        contract = contracts[table]
        cols = [c for t, c in record.labels.columns if t == table]
        used_pii = {
            c: {
                "pii": contract.column(c).pii.value,
                "protection": contract.column(c).protection.value,
            }
            for c in cols
            if contract.column(c).pii.value != "none"
        }
        quasi += [
            f"lake.{table}.{c}" for c, m in used_pii.items() if m["pii"] == "quasi_identifier"
        ]
        inputs.append(
            {
                "dataset": f"lake.{table}",
                "pseudonymous": any(_holds(m["protection"]) == "token" for m in used_pii.values()),
                "pseudonymous_keys": [
                    c for c, m in used_pii.items() if _holds(m["protection"]) == "token"
                ],
                "personal_data_columns_used": used_pii,
            }
        )
    clear = [
        f"{i['dataset']}.{c}"
        for i in inputs
        for c, m in i["personal_data_columns_used"].items()
        if m["pii"] != "quasi_identifier" and _holds(m["protection"]) not in ("token", "ciphertext")
    ]
    from pipelines.models.segments import MONITORING_ONLY

    return {
        "inputs": inputs,
        "quasi_identifiers_used": sorted(quasi),
        "clear_pii_used": clear,
        # read to compare the training set with the reference by segment, not fed to the model
        "quasi_identifiers_for_representativeness_only": list(MONITORING_ONLY),
    }


def _provenance(record: TrainingRecord, releases: Mapping[str, Release]) -> dict[str, Any]:
    features = []
    for used in record.features:
        release = releases[used.release_id]
        features.append(
            {
                "dataset": f"features.{used.table}",
                "release_id": used.release_id,
                "as_of": used.as_of,
                "snapshot_sha256": used.sha256,
                "columns": list(used.columns),
                "release_status": release.status,
                "lake_partitions": [
                    {
                        "table": p.table,
                        "partition": p.partition,
                        "dataset_version": p.dataset_version,
                        "gate_run_id": p.gate_run_id,
                        "rows": p.rows,
                    }
                    for p in release.partitions
                ],
            }
        )
    labels = {
        "description": record.labels.description,
        "derived_from": [f"lake.{t}.{c}" for t, c in record.labels.columns],
        "lake_partitions": [
            {"table": t, "partition": p, "dataset_version": v}
            for t, p, v in record.labels.versions()
        ],
    }
    return {"features": features, "labels": labels}


def _quality(record: TrainingRecord, releases: Mapping[str, Release]) -> list[dict[str, Any]]:
    """The checks behind every input: feature checks of each snapshot, gate outcome of every
    lake partition (feature releases' and the labels')."""
    out: list[dict[str, Any]] = []
    released: dict[tuple[str, str, str], Any] = {}
    for release in releases.values():
        for p in release.partitions:
            released[(p.table, p.partition, p.dataset_version)] = p
    for used in record.features:
        release = releases[used.release_id]
        counts = dict(release.checks.get(used.table) or {})
        out.append(
            {
                "dataset": f"features.{used.table}",
                "version": used.sha256,
                "checks": counts,
                "status": "passed" if release.status == "published" else release.status,
            }
        )
        out += [_partition_quality(p) for p in release.partitions]
    seen = {(q["dataset"], q["version"]) for q in out}
    for t, part, v in record.labels.versions():
        found = released.get((t, part, v))
        row = (
            _partition_quality(found)
            if found is not None
            else {"dataset": f"lake.{t}", "partition": part, "version": v, "status": "unknown"}
        )
        if (row["dataset"], row["version"]) not in seen:
            out.append(row)
    return out


def _partition_quality(p: Any) -> dict[str, Any]:
    return {
        "dataset": f"lake.{p.table}",
        "partition": p.partition,
        "version": p.dataset_version,
        "checks": {"passed": p.checks_passed, "warned": p.checks_warned},
        "gate_run_id": p.gate_run_id,
        "status": "passed",
    }


def build_card(
    settings: Settings,
    record: TrainingRecord,
    releases: Mapping[str, Release],
    representativeness: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The card as a JSON-able dict."""
    return {
        "model": record.model,
        "version": record.version,
        "algorithm": record.algorithm,
        "parameters": {k: str(v) for k, v in sorted(record.parameters.items())},
        "metrics": {k: round(float(v), 6) for k, v in sorted(record.metrics.items())},
        "training_rows": record.training_rows,
        "purpose": record.purpose,
        "code_version": record.code_version,
        "artifact_sha256": record.artifact_sha256,
        "lineage": {
            "run_id": record.run_id,
            "trace": f"pipelines lineage trace model:{record.model}",
        },
        "provenance": _provenance(record, releases),
        "quality": _quality(record, releases),
        "pii": _pii_status(settings, record),
        "representativeness": [dict(r) for r in representativeness],
    }


def render_markdown(card: Mapping[str, Any]) -> str:
    lines = [
        f"# Model card: {card['model']} ({card['version']})",
        "",
        f"- algorithm: `{card['algorithm']}`",
        f"- training rows: {card['training_rows']:,}",
        f"- purpose: {card.get('purpose') or 'undeclared'} (approved in the policy file)",
        f"- code version: `{card['code_version'] or 'unknown'}`",
        f"- artifact SHA-256: `{card['artifact_sha256'] or '-'}`",
        f"- lineage: run `{card['lineage']['run_id']}`; `{card['lineage']['trace']}`",
        "",
        "## Parameters",
        "",
        *[f"- `{k}` = `{v}`" for k, v in card["parameters"].items()],
        "",
        "## Metrics",
        "",
        *[f"- {k}: {v}" for k, v in card["metrics"].items()],
        "",
        "## Data provenance",
        "",
        "| input | release / version | as of | partitions |",
        "|---|---|---|---|",
    ]
    prov = card["provenance"]
    for f in prov["features"]:
        lines.append(
            f"| {f['dataset']} | {f['release_id']} / `{f['snapshot_sha256'][:12]}` | "
            f"{f['as_of']} | {len(f['lake_partitions'])} lake partitions |"
        )
    labels = prov["labels"]
    lines.append(
        f"| labels: {labels['description']} | from {', '.join(labels['derived_from'])} | - | "
        f"{len(labels['lake_partitions'])} lake partitions |"
    )
    lines += ["", "## Quality of every input", "", "| dataset | partition | version | checks |"]
    lines.append("|---|---|---|---|")
    for q in card["quality"]:
        checks = ", ".join(f"{k} {v}" for k, v in (q.get("checks") or {}).items()) or "-"
        lines.append(
            f"| {q['dataset']} | {q.get('partition', '-')} | `{str(q['version'])[:12]}` | "
            f"{q['status']}: {checks} |"
        )
    pii = card["pii"]
    lines += ["", "## Personal data", ""]
    for i in pii["inputs"]:
        status = "pseudonymous" if i["pseudonymous"] else "no pseudonymous key"
        keys = ", ".join(i["pseudonymous_keys"]) or "-"
        lines.append(f"- {i['dataset']}: {status} (keys: {keys})")
        for c, m in i["personal_data_columns_used"].items():
            lines.append(f"  - uses `{c}`: {m['pii']}, {m['protection']}")
    lines.append(f"- quasi-identifiers used: {', '.join(pii['quasi_identifiers_used']) or 'none'}")
    lines.append(f"- clear personal data used: {', '.join(pii['clear_pii_used']) or 'none'}")
    monitoring = pii.get("quasi_identifiers_for_representativeness_only") or []
    lines.append(
        f"- read for representativeness only (no model input): {', '.join(monitoring) or 'none'}"
    )
    for rep in card["representativeness"]:
        lines += _representativeness_lines(rep)
    return "\n".join(lines) + "\n"


def _representativeness_lines(rep: Mapping[str, Any]) -> list[str]:
    lines = [
        "",
        f"## Representativeness by {rep.get('segment', '-')} "
        f"(reference: {rep.get('reference', '-')})",
        "",
        f"level: {rep.get('level', '-')}; total variation distance: {rep.get('tvd')}; "
        f"rows: {rep.get('rows')}; missing: {rep.get('missing', 0)}"
        + (f"; {rep['reason']}" if rep.get("reason") else ""),
        "",
        "| segment | count | share | reference share | ratio |",
        "|---|---|---|---|---|",
    ]
    for s in rep.get("segments", []):
        lines.append(
            f"| {s['segment']} | {s['count']} | {s['share']} | {s['reference_share']} | "
            f"{s['ratio'] if s['ratio'] is not None else '-'} |"
        )
    return lines


def write_card(folder: Path, card: Mapping[str, Any]) -> tuple[Path, Path]:
    """``card.json`` and ``card.md`` in ``folder`` (the model version's folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    as_json = folder / CARD_JSON
    as_md = folder / CARD_MD
    as_json.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    as_md.write_text(render_markdown(card), encoding="utf-8")
    return as_json, as_md
