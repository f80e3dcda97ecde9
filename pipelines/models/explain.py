"""``pipelines lineage explain model:<name> <key>``: one training row back to its landing records.

A model version's ``metadata.json`` (written by :func:`pipelines.models.training_run`) names the
feature snapshot (table, release, as-of date, SHA-256) and the label's lake partitions. For one
entity key this finds the feature row the model was trained on (through
:func:`pipelines.features.provenance.explain`, so the same lake rows, partitions and quality
gate runs) and the label's lake rows (the entity's orders in the label window), each with its
landing-file locator, and the PII status of the inputs from the model card. Values shown are
feature values of the pseudonymous snapshot only; lake rows are given as ``file:record``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.features.provenance import Provenance, StaleRelease
from pipelines.features.provenance import explain as explain_feature_row
from pipelines.features.provenance import render_text as render_feature_row
from pipelines.lake.frames import scan_data
from pipelines.lake.partitions import Partition, partitions
from pipelines.lake.storage import lake_store
from pipelines.models.record import models_dir
from pipelines.settings import Settings
from pipelines.warehouse.build import duckdb_config


class ModelNotFound(LookupError):
    """No trained version of the model (or not the version asked for)."""


@dataclass(frozen=True)
class LabelRows:
    """The lake rows the entity's label was derived from."""

    description: str
    window: tuple[str, str]
    value: int
    partitions: list[dict[str, str]]
    locators: list[tuple[str, int]]


@dataclass
class TrainingRow:
    model: str
    version: str
    key: str
    features: list[Provenance]
    label: LabelRows
    pii: dict[str, Any] = field(default_factory=dict)
    quality: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "key": self.key,
            "features": [p.to_json() for p in self.features],
            "label": {
                "description": self.label.description,
                "window": list(self.label.window),
                "value": self.label.value,
                "partitions": self.label.partitions,
                "locators": [{"file": f, "row": r} for f, r in self.label.locators],
            },
            "pii": self.pii,
            "quality": self.quality,
        }


def version_folder(settings: Settings, model: str, version: str | None) -> Path:
    """The folder of ``version`` (default: the most recently trained version)."""
    root = models_dir(settings) / model
    found = sorted(root.glob("version=*/metadata.json"), key=lambda p: p.stat().st_mtime_ns)
    if version:
        found = [p for p in found if p.parent.name == f"version={version}"]
    if not found:
        known = sorted(p.name.removeprefix("version=") for p in root.glob("version=*"))
        raise ModelNotFound(
            f"model {model!r}: no trained version {version or ''} under {root}; "
            f"known versions: {', '.join(known) or 'none (train one: the train_repeat_purchase DAG)'}"
        )
    return found[-1].parent


def _label_partitions(settings: Settings, meta: dict[str, Any]) -> dict[str, list[Partition]]:
    """The label's lake partitions, at the versions the model was trained on (their files are
    verified when read)."""
    store = lake_store(settings)
    found: dict[str, list[Partition]] = {}
    current: dict[str, dict[str, Partition]] = {}
    for used in meta["labels"]["partitions"]:
        table, folder, version = used["table"], used["partition"], used["dataset_version"]
        if table not in current:
            current[table] = {p.name: p for p in partitions(store, table)}
        part = current[table].get(folder)
        if part is None or part.manifest.dataset_version != version:
            raise StaleRelease(
                f"lake.{table} {folder}: re-ingested or removed since model "
                f"{meta['model']} {meta['version']} was trained; its label rows can't be traced"
            )
        found.setdefault(table, []).append(part)
    return found


def label_rows(settings: Settings, meta: dict[str, Any], key: str) -> LabelRows:
    """The entity's orders in the label window ``[as_of, as_of + horizon_days)``."""
    start = date.fromisoformat(meta["features"][0]["as_of"])
    end = start + timedelta(days=int(meta["parameters"]["horizon_days"]))
    parts = _label_partitions(settings, meta)
    locators: list[tuple[str, int]] = []
    if parts.get("orders") and parts.get("customers"):
        config = duckdb_config(settings)
        people = (
            scan_data(parts["customers"], ("customer_unique_id", "customer_id"), config=config)
            .filter(pl.col("customer_unique_id") == key)
            .select("customer_id")
        )
        stamp = pl.col("order_purchase_timestamp").cast(pl.Datetime("us", "UTC"))
        lo, hi = (pl.lit(d).cast(pl.Datetime("us", "UTC")) for d in (start, end))
        columns = ("customer_id", "order_purchase_timestamp", "_source_file", "_source_row")
        rows = (
            scan_data(parts["orders"], columns, config=config)
            .filter((stamp >= lo) & (stamp < hi))
            .join(people.unique(), on="customer_id")
            .select("_source_file", "_source_row")
            .collect()
        )
        locators = sorted((str(f), int(r)) for f, r in rows.iter_rows())
    return LabelRows(
        description=meta["labels"]["description"],
        window=(start.isoformat(), end.isoformat()),
        value=int(bool(locators)),
        partitions=meta["labels"]["partitions"],
        locators=locators,
    )


def _feature_row(settings: Settings, used: dict[str, Any], key: str) -> Provenance:
    prov = explain_feature_row(settings, used["table"], key, used["as_of"])
    if prov.release_id != used["release_id"]:
        raise StaleRelease(
            f"{used['table']} as of {used['as_of']}: the model was trained on release "
            f"{used['release_id']}, the published one is now {prov.release_id}"
        )
    return prov


def explain_training_row(
    settings: Settings, model: str, key: str, version: str | None = None
) -> TrainingRow:
    """The feature row, label rows, checks and PII status behind ``key``'s training row."""
    folder = version_folder(settings, model, version)
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    card_file = folder / "card.json"
    card = json.loads(card_file.read_text(encoding="utf-8")) if card_file.is_file() else {}
    return TrainingRow(
        model=model,
        version=meta["version"],
        key=key,
        features=[_feature_row(settings, used, key) for used in meta["features"]],
        label=label_rows(settings, meta, key),
        pii=card.get("pii") or {},
        quality=card.get("quality") or [],
    )


def render_text(row: TrainingRow, limit: int = 5) -> str:
    """The training row's inputs, then its label's lake rows, checks and PII status."""
    lines = [f"model {row.model} version {row.version}, training row of {row.key}", ""]
    for prov in row.features:
        lines += [render_feature_row(prov, limit=limit), ""]
    label = row.label
    lines += [
        f"label = {label.value}: {label.description}",
        f"  window [{label.window[0]}, {label.window[1]}), {len(label.locators)} lake row(s):",
    ]
    lines += [
        f"    partition lake.{p['table']} {p['partition']} ({_version_text(p)})"
        for p in label.partitions
    ]
    lines += [f"    {f}:{r}" for f, r in label.locators[:limit]]
    if len(label.locators) > limit:
        lines.append(f"    ... and {len(label.locators) - limit} more")
    if row.pii:
        lines += ["", "PII status:", *_pii_lines(row.pii)]
    return "\n".join(lines)


def _version_text(used: dict[str, Any]) -> str:
    """A label partition's SHA-256 prefix, and its catalog snapshot when the record has one."""
    short = str(used["dataset_version"])[:12]
    snapshot = used.get("snapshot")
    return short if snapshot is None else f"{short}, snapshot {snapshot}"


def _pii_lines(pii: dict[str, Any]) -> list[str]:
    return [f"  {k}: {_short(v)}" for k, v in pii.items()]


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_short(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}={_short(v)}" for k, v in value.items())
    return str(value)
