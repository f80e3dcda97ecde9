"""The generation run: catalogue first, then day by day, batch by batch, streaming to files."""

from __future__ import annotations

import itertools
import math
import re
import shutil
from collections.abc import Callable, Collection
from datetime import date, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import pyarrow as pa

from pipelines.contracts import Contract, ContractSet, load_contracts
from pipelines.generate import distributions as dist
from pipelines.generate.catalogue import Catalogue, build_catalogue
from pipelines.generate.defects import LATE_DAYS, Injector, parse_kinds
from pipelines.generate.orders import FREE_TEXT, make_batch
from pipelines.generate.people import PersonPool
from pipelines.generate.report import GENERATED_TABLES, MANIFEST, GenerationReport, write_manifest
from pipelines.generate.writers import FORMATS, Background, FileSet, render

BATCH_ORDERS = 100_000  # orders drawn per batch; fixed, so output never depends on chunk_rows
CATALOGUE_BATCH = 250_000
EPOCH = date(1970, 1, 1)
DAY_TABLES = ("customers", "customer_profiles", "orders", "order_items", "order_payments")
_DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def mean_items_per_order() -> float:
    return sum(k * share for k, share in dist.ITEMS_PER_ORDER.items())


def orders_for_items(items: int) -> int:
    """Orders that yield about ``items`` order items (within ~0.1% at a million items)."""
    return max(1, round(items / mean_items_per_order()))


def split_orders(total: int, start: date, days: int) -> list[int]:
    """Orders per day, with Olist's weekday pattern; sums to ``total`` exactly."""
    weights = np.array(
        [dist.PURCHASE_WEEKDAY[(start + timedelta(d)).weekday()] for d in range(days)]
    )
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    remainder = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:remainder]] += 1
    return [int(c) for c in counts]


def prepare_out(out: Path, force: bool) -> None:
    """Refuse a non-empty ``out`` unless ``force``; then remove earlier generated output only."""
    out.mkdir(parents=True, exist_ok=True)
    entries = list(out.iterdir())
    if not entries:
        return
    if not force:
        raise FileExistsError(
            f"{out} is not empty; use --force (force=True) to replace previously generated data"
        )
    for entry in entries:
        if entry.is_dir() and _DAY_FOLDER.match(entry.name):
            shutil.rmtree(entry)
        elif entry.name == MANIFEST:
            entry.unlink()


class _Run:
    """What one run shares: contracts, the writer thread, defect injection, its file sets."""

    def __init__(
        self,
        out: Path,
        contracts: ContractSet,
        fmt: str,
        chunk_rows: int,
        injector: Injector,
        background: Background,
    ) -> None:
        self.out, self.contracts, self.fmt, self.chunk_rows = out, contracts, fmt, chunk_rows
        self.injector, self.background = injector, background
        self.filesets: list[FileSet] = []
        self.warnings: list[str] = []

    def fileset(self, table: str, folder: date) -> FileSet:
        contract = self.contracts[table]
        fs = FileSet(
            self.out,
            folder,
            table,
            contract.source.file_stem,
            contract.column_names,
            self.fmt,
            self.chunk_rows,
            self.escape(table),
            self.background,
        )
        self.filesets.append(fs)
        return fs

    def escape(self, table: str) -> frozenset[str]:
        """Columns of ``table`` whose values may need CSV quoting or JSON escaping."""
        return FREE_TEXT.get(table, frozenset()) | self.injector.escape_columns(table)

    def frame(self, table: str, columns: dict[str, pa.Array]) -> pa.Table:
        """``columns`` in the contract's order; contract columns we do not generate are null."""
        contract: Contract = self.contracts[table]
        n = len(next(iter(columns.values())))
        arrays = []
        for name in contract.column_names:
            if name not in columns:
                message = f"{table}.{name}: not generated (written empty)"
                if message not in self.warnings:
                    self.warnings.append(message)
                arrays.append(pa.nulls(n, pa.string()))
            else:
                arrays.append(columns[name])
        return pa.Table.from_arrays(arrays, names=contract.column_names)


def generate(
    out: Path,
    *,
    orders: int | None = None,
    items: int | None = None,
    seed: int = 42,
    start: date = date(2018, 1, 1),
    days: int = 7,
    fmt: str = "csv.gz",
    defects: Collection[str] | str = (),
    defect_count: int = 3,
    chunk_rows: int = 1_000_000,
    contracts_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    force: bool = False,
) -> GenerationReport:
    """Write ``days`` delivery folders of Olist-like data (plus catalogue) into ``out``.

    Give ``orders``, or ``items`` (a target number of order items). The same arguments always
    produce byte-identical files. ``defects`` names kinds from
    :data:`pipelines.generate.defects.KINDS` (or ``"all"``), each injected ``defect_count``
    times and listed in ``out/_generation.json``.
    """
    started = perf_counter()
    if (orders is None) == (items is None):
        raise ValueError("give exactly one of orders= or items=")
    total = orders if orders is not None else orders_for_items(int(items or 0))
    if total < 1 or days < 1 or chunk_rows < 1 or defect_count < 0 or seed < 0:
        raise ValueError("orders, days and chunk_rows must be positive; seed and defect_count >= 0")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    kinds = parse_kinds(defects)
    out = Path(out)
    if contracts_dir is None:
        from pipelines.settings import PROJECT_DIR

        contracts_dir = PROJECT_DIR / "contracts"
    contracts = load_contracts(Path(contracts_dir))
    missing = [t for t in GENERATED_TABLES if t not in contracts]
    if missing:
        raise ValueError(f"no contract for generated table(s): {', '.join(missing)}")
    say = progress or (lambda _message: None)
    prepare_out(out, force)

    per_day = split_orders(total, start, days)
    batches = [math.ceil(n / BATCH_ORDERS) for n in per_day]
    injector = Injector(kinds, defect_count, batches, seed, fmt, contracts)
    background = Background()
    run = _Run(out, contracts, fmt, chunk_rows, injector, background)
    try:
        catalogue = _write_catalogue(run, seed, total, start, say)
        review_sets = _write_days(run, catalogue, seed, start, per_day, batches, say)
        late = _make_late(run, review_sets, kinds, defect_count)
    finally:
        background.join()
    for fs in run.filesets:
        fs.finalize()
    arguments = {
        "orders": total,
        "items": items,
        "seed": seed,
        "start": start.isoformat(),
        "days": days,
        "format": fmt,
        "defects": kinds,
        "defect_count": defect_count,
        "chunk_rows": chunk_rows,
    }
    report = write_manifest(
        out,
        arguments,
        run.filesets,
        [m.as_record(out) for m in injector.marks] + late,
        {t: contracts[t].version_tag for t in GENERATED_TABLES},
        injector.warnings + run.warnings,
    )
    report.seconds = perf_counter() - started
    say(
        f"done: {report.orders:,} orders, {report.items:,} items, {sum(report.rows.values()):,} "
        f"rows, {len(report.files)} files in {report.seconds:.1f}s"
    )
    return report


def _write_catalogue(
    run: _Run, seed: int, total: int, start: date, say: Callable[[str], None]
) -> Catalogue:
    """Products and sellers, delivered in full in the first folder."""
    t0 = perf_counter()
    catalogue = build_catalogue(seed, total)
    for table, batches in (
        ("products", catalogue.product_batches(CATALOGUE_BATCH)),
        ("sellers", catalogue.seller_batches(CATALOGUE_BATCH)),
    ):
        fs = run.fileset(table, start)
        for columns in batches:
            fs.write(run.frame(table, columns))
        fs.finish()
    say(
        f"{start}: catalogue {catalogue.products:,} products, {catalogue.sellers:,} sellers "
        f"in {perf_counter() - t0:.1f}s"
    )
    return catalogue


def _write_days(
    run: _Run,
    catalogue: Catalogue,
    seed: int,
    start: date,
    per_day: list[int],
    batches: list[int],
    say: Callable[[str], None],
) -> dict[int, FileSet]:
    """Stream every purchase day; returns the review file sets by epoch day."""
    pool = PersonPool()
    review_sets: dict[int, FileSet] = {}
    open_reviews: dict[int, FileSet] = {}
    for d, n_orders in enumerate(per_day):
        t0 = perf_counter()
        folder = start + timedelta(d)
        epoch_day = (folder - EPOCH).days
        day_sets: dict[str, FileSet] = {}
        rows = 0
        items = 0
        for b in range(batches[d]):
            n = min(BATCH_ORDERS, n_orders - b * BATCH_ORDERS)
            rng = np.random.default_rng([seed, 10, d, b])
            batch = make_batch(rng, catalogue, pool, epoch_day, n)
            for table in DAY_TABLES:
                frame, marks, _ = run.injector.apply(
                    d, b, table, run.frame(table, batch.tables[table])
                )
                if frame.num_rows:
                    if table not in day_sets:
                        day_sets[table] = run.fileset(table, folder)
                    day_sets[table].write(frame, marks)
                rows += frame.num_rows
                items += frame.num_rows if table == "order_items" else 0
            rows += _write_reviews(
                run,
                d,
                b,
                batch.tables["order_reviews"],
                batch.review_day,
                review_sets,
                open_reviews,
            )
        for fs in day_sets.values():
            fs.finish()
        for key in [k for k in open_reviews if k <= epoch_day]:
            open_reviews.pop(key).finish()
        seconds = perf_counter() - t0
        say(
            f"{folder}: {n_orders:,} orders, {items:,} items, {rows:,} rows in {seconds:.1f}s "
            f"({rows / max(seconds, 1e-9):,.0f} rows/s)"
        )
    for fs in open_reviews.values():
        fs.finish()
    return review_sets


def _write_reviews(
    run: _Run,
    d: int,
    b: int,
    columns: dict[str, pa.Array],
    review_day: np.ndarray,
    review_sets: dict[int, FileSet],
    open_reviews: dict[int, FileSet],
) -> int:
    """Write a batch's reviews, each into the folder of its creation date."""
    order = np.argsort(review_day, kind="stable")
    frame = run.frame("order_reviews", columns).take(pa.array(order))
    days = review_day[order]
    frame, marks, taken = run.injector.apply(d, b, "order_reviews", frame)
    if taken is not None:
        days = days[taken]
    escape = run.escape("order_reviews")
    rendered = None if run.fmt == "parquet" else render(frame, run.fmt, escape, marks)
    bounds = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
    for a, e in itertools.pairwise(bounds):
        if a == e:
            continue
        key = int(days[a])
        if key not in review_sets:
            review_sets[key] = open_reviews[key] = run.fileset(
                "order_reviews", EPOCH + timedelta(key)
            )
        sub = {i - a: m for i, m in marks.items() if a <= i < e}
        lines = None if rendered is None else rendered.slice(a, e - a)
        review_sets[key].write(frame.slice(a, e - a), sub, lines)
    return frame.num_rows


def _make_late(
    run: _Run, review_sets: dict[int, FileSet], kinds: list[str], count: int
) -> list[dict[str, Any]]:
    """Move ``count`` review files (days near the middle, without row defects) 3 days late."""
    if "late_file" not in kinds or count == 0:
        return []
    marked = {id(m.fileset) for m in run.injector.marks}
    eligible = [
        (k, fs) for k, fs in sorted(review_sets.items()) if fs.rows and id(fs) not in marked
    ]
    if not eligible:
        run.warnings.append("late_file: no review file to deliver late")
        return []
    weights = np.cumsum([fs.rows for _, fs in eligible])
    median = int(np.searchsorted(weights, weights[-1] / 2))
    chosen = sorted(range(len(eligible)), key=lambda i: (abs(i - median), i))[:count]
    event_time = run.contracts["order_reviews"].event_time
    records = []
    for i in sorted(chosen):
        key, fs = eligible[i]
        created = EPOCH + timedelta(key)
        delivered = created + timedelta(LATE_DAYS)
        fs.relocate(delivered, f"{fs.stem}-{created.isoformat()}")
        for number, rows in enumerate(fs.part_rows, start=1):
            records.append(
                {
                    "kind": "late_file",
                    "table": fs.table,
                    "file": fs,
                    "part": number,
                    "line": None,
                    "row": None,
                    "column": event_time.column if event_time else None,
                    "primary_key": None,
                    "rows": rows,
                    "created_on": created.isoformat(),
                    "delivered_on": delivered.isoformat(),
                    "late_days": LATE_DAYS,
                }
            )
    return records
