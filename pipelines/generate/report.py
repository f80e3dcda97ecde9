"""The run report, and ``_generation.json``: what was written and which defects are where."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.generate.writers import FileSet

MANIFEST = "_generation.json"
GENERATED_TABLES = (
    "products",
    "sellers",
    "customers",
    "customer_profiles",
    "orders",
    "order_items",
    "order_payments",
    "order_reviews",
)


@dataclass
class GenerationReport:
    """What a run wrote. ``seconds`` is the only field not also in ``_generation.json``."""

    out: Path
    arguments: dict[str, Any]
    rows: dict[str, int]
    rows_by_day: dict[str, dict[str, int]]
    files: list[str]
    defects: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def orders(self) -> int:
        return self.rows.get("orders", 0)

    @property
    def items(self) -> int:
        return self.rows.get("order_items", 0)


def write_manifest(
    out: Path,
    arguments: dict[str, Any],
    filesets: Iterable[FileSet],
    defects: list[dict[str, Any]],
    contracts: dict[str, str],
    warnings: list[str],
) -> GenerationReport:
    """Write ``out/_generation.json`` (deterministic: no timings) and return the report.

    A defect's ``file`` may still be a :class:`FileSet` (with ``part``); it is resolved here,
    after every file has its final name.
    """
    rows = dict.fromkeys(GENERATED_TABLES, 0)
    by_day: dict[str, dict[str, int]] = {}
    files: list[dict[str, Any]] = []
    for fs in filesets:
        rows[fs.table] = rows.get(fs.table, 0) + fs.rows
        for path, part_rows in zip(fs.paths(), fs.part_rows, strict=True):
            day = by_day.setdefault(path.parent.name, {})
            day[fs.table] = day.get(fs.table, 0) + part_rows
            files.append({"path": _relative(path, out), "table": fs.table, "rows": part_rows})
    files.sort(key=lambda f: f["path"])
    resolved = []
    for record in defects:
        if isinstance(record.get("file"), FileSet):
            record = dict(record)
            record["file"] = _relative(record["file"].part_path(record.pop("part")), out)
        resolved.append(record)
    resolved.sort(key=lambda r: (r["kind"], r["file"] or "", r["row"] or 0))
    manifest = {
        "generator": "pipelines.generate",
        "synthetic": True,
        "arguments": arguments,
        "contracts": contracts,
        "rows": rows,
        "rows_by_day": {k: dict(sorted(v.items())) for k, v in sorted(by_day.items())},
        "files": files,
        "defects": resolved,
        "warnings": warnings,
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    (out / MANIFEST).write_text(text, encoding="utf-8")
    return GenerationReport(
        out=out,
        arguments=arguments,
        rows=rows,
        rows_by_day=manifest["rows_by_day"],  # type: ignore[arg-type]
        files=[f["path"] for f in files],
        defects=resolved,
        warnings=warnings,
    )


def _relative(path: Path, out: Path) -> str:
    return path.relative_to(out).as_posix()
