"""Reference populations: declared segment counts, kept as files next to the suites.

``expectations/reference/<name>.yml`` holds one population: what is counted (``unit``),
where the numbers come from (``source``), and ``counts`` per segment (``__missing__`` for
NULL). Shares are the counts over their total. ``expectations/reference/groups/<name>.yml``
maps values to coarser segments (Brazilian states to regions).

The files are committed and reviewed like code; nothing reads ``../shared/data`` at run
time. Where the Olist full tables exist (payments, products, sellers), :func:`build_from_olist_full`
recomputes the files (``pipelines quality reference build --olist-full DIR``) and a test
checks that the committed files match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.quality.stats import MISSING
from pipelines.settings import PROJECT_DIR
from pipelines.yamlfile import safe_load

EXPECTATIONS_DIR = PROJECT_DIR / "expectations"
REFERENCE_DIR = EXPECTATIONS_DIR / "reference"


class ReferenceError(ValueError):
    """A reference population file is missing or malformed."""


@dataclass(frozen=True)
class Reference:
    name: str
    description: str
    source: str
    unit: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def shares(self) -> dict[str, float]:
        total = self.total
        return {k: v / total for k, v in self.counts.items()}

    def to_yaml(self) -> str:
        body = {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "unit": self.unit,
            "total": self.total,
            "counts": dict(sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        }
        header = f"# Reference population {self.name}: {self.description}\n"
        return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ReferenceError(f"reference file not found: {path}")
    raw = safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ReferenceError(f"{path}: expected a mapping")
    return raw


def load_reference(name: str, directory: Path = REFERENCE_DIR) -> Reference:
    path = directory / f"{name}.yml"
    raw = _read_yaml(path)
    counts = raw.get("counts")
    if not isinstance(counts, dict) or not counts:
        raise ReferenceError(f"{path}: 'counts' must be a non-empty mapping")
    if any(not isinstance(v, int) or v < 0 for v in counts.values()):
        raise ReferenceError(f"{path}: counts must be non-negative integers")
    if raw.get("name") != name:
        raise ReferenceError(f"{path}: declares name {raw.get('name')!r}; must be {name!r}")
    if "total" in raw and raw["total"] != sum(counts.values()):
        raise ReferenceError(f"{path}: total {raw['total']} != sum of counts")
    return Reference(
        name=name,
        description=str(raw.get("description", "")),
        source=str(raw.get("source", "")),
        unit=str(raw.get("unit", "rows")),
        counts={str(k): int(v) for k, v in counts.items()},
    )


def load_groups(name: str, directory: Path = REFERENCE_DIR / "groups") -> dict[str, str]:
    path = directory / f"{name}.yml"
    raw = _read_yaml(path)
    groups = raw.get("groups")
    if not isinstance(groups, dict) or not groups:
        raise ReferenceError(f"{path}: 'groups' must be a mapping of group -> [values]")
    out: dict[str, str] = {}
    for group, values in groups.items():
        for value in values:
            if str(value) in out:
                raise ReferenceError(f"{path}: {value!r} is in two groups")
            out[str(value)] = str(group)
    return out


def grouped(shares: Mapping[str, float], groups: Mapping[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in shares.items():
        key = groups.get(k, k)
        out[key] = out.get(key, 0.0) + v
    return out


_OLIST_FULL = {
    "olist_payment_type": (
        "olist_order_payments_dataset.csv.gz",
        "payment_type",
        "payment rows",
        "Share of payment rows by payment type.",
    ),
    "olist_product_category": (
        "olist_products_dataset.csv.gz",
        "product_category_name",
        "products",
        "Share of catalogue products by category (__missing__: no category).",
    ),
    "olist_seller_state": (
        "olist_sellers_dataset.csv.gz",
        "seller_state",
        "sellers",
        "Share of sellers by Brazilian state.",
    ),
}


def build_from_olist_full(directory: Path) -> list[Reference]:
    """Recompute the references that come from the Olist full tables in ``directory``."""
    import duckdb

    con = duckdb.connect()
    out = []
    for name, (file, column, unit, description) in _OLIST_FULL.items():
        path = directory / file
        if not path.is_file():
            raise ReferenceError(f"{path} not found")
        rows = con.execute(
            f'SELECT "{column}", count(*) FROM read_csv(?, header = true, all_varchar = true) '
            "GROUP BY 1",
            [str(path)],
        ).fetchall()
        counts = {(MISSING if value is None else str(value)): int(n) for value, n in rows}
        out.append(
            Reference(
                name=name,
                description=description,
                source=(
                    f"Brazilian E-Commerce Public Dataset by Olist (CC BY-NC-SA 4.0), full table "
                    f"{file} ({sum(counts.values()):,} rows), counted with DuckDB by "
                    "`pipelines quality reference build --olist-full DIR`"
                ),
                unit=unit,
                counts=counts,
            )
        )
    return out


def write_references(references: list[Reference], directory: Path = REFERENCE_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for ref in references:
        path = directory / f"{ref.name}.yml"
        path.write_text(ref.to_yaml(), encoding="utf-8")
        paths.append(path)
    return paths
