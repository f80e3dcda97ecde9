"""Known defects injected into generated data, so tests can check they are caught.

Row-level defects go into leaf tables (items, payments, reviews, profiles), which nothing
references: quarantining a defective row there never turns other rows into orphans. They are
placed in the middle day of the period (then the days around it) and in the middle batch of
that day; rows are picked with their own random stream, so clean rows stay exactly as they
are without defects. Each injected record is reported with its file, physical line and
record number (see :class:`pipelines.generate.writers.Mark`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.contracts import ContractSet
from pipelines.generate.values import hex_ids
from pipelines.generate.writers import Mark

ROW_KINDS = (
    "null_required",
    "duplicate_key",
    "out_of_range",
    "orphan_fk",
    "malformed_line",
    "wrong_type",
)
KINDS = (*ROW_KINDS, "late_file")
LATE_DAYS = 3


@dataclass(frozen=True)
class Target:
    table: str
    column: str | None = None
    value: str | None = None  # what is written; "{value}" stands for the clean value
    variant: str | None = None  # malformed_line only


TARGETS: dict[str, list[Target]] = {
    "null_required": [
        Target("order_items", "price"),
        Target("order_payments", "payment_value"),
        Target("order_reviews", "review_score"),
        Target("customer_profiles", "email"),
    ],
    "duplicate_key": [
        Target("order_items"),
        Target("order_payments"),
        Target("order_reviews"),
        Target("customer_profiles"),
    ],
    "out_of_range": [
        Target("order_reviews", "review_score", "7"),
        Target("order_items", "price", "-{value}"),
        Target("order_payments", "payment_type", "pix"),
        Target("customer_profiles", "gender", "Z"),
    ],
    "orphan_fk": [
        Target("order_items", "order_id"),
        Target("order_payments", "order_id"),
        Target("order_reviews", "order_id"),
        Target("customer_profiles", "customer_unique_id"),
    ],
    "malformed_line": [
        Target("order_items", variant="too_many_fields"),
        Target("order_payments", variant="too_few_fields"),
        Target("order_items", variant="unterminated_quote"),
        Target("order_reviews", variant="too_many_fields"),
    ],
    "wrong_type": [
        Target("order_items", "price", "12,50x"),
        Target("order_payments", "payment_installments", "dois"),
        Target("order_reviews", "review_answer_timestamp", "not-a-date"),
        Target("customer_profiles", "birth_date", "31/02/1985"),
    ],
}


def parse_kinds(defects: Collection[str] | str) -> list[str]:
    """Defect names from a collection or a comma-separated string; ``all`` means every kind."""
    names = defects.split(",") if isinstance(defects, str) else list(defects)
    names = [n.strip() for n in names if n.strip()]
    if "all" in names:
        return list(KINDS)
    unknown = sorted(set(names) - set(KINDS))
    if unknown:
        raise ValueError(
            f"unknown defect kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}, all"
        )
    return [k for k in KINDS if k in names]


@dataclass(frozen=True)
class Planned:
    number: int  # seeds this defect's own random stream
    kind: str
    target: Target
    day: int
    batch: int


class Injector:
    """Plans row-level defects and applies them to table batches as they are generated."""

    def __init__(
        self,
        kinds: Collection[str],
        count: int,
        batches_per_day: list[int],
        seed: int,
        fmt: str,
        contracts: ContractSet,
    ) -> None:
        self.seed = seed
        self.fmt = fmt
        self.contracts = contracts
        self.warnings: list[str] = []
        self.marks: list[Mark] = []  # every mark handed out, in injection order
        self.plan: dict[tuple[int, int, str], list[Planned]] = {}
        days = len(batches_per_day)
        mid = (days - 1) // 2
        candidates = sorted(
            (d for d in range(days) if batches_per_day[d]), key=lambda d: (abs(d - mid), d)
        )
        number = 0
        for kind in ROW_KINDS:
            if kind not in kinds:
                continue
            if kind == "malformed_line" and fmt == "parquet":
                self.warnings.append(
                    "malformed_line skipped: Parquet files cannot hold a malformed line"
                )
                continue
            targets = TARGETS[kind]
            for i in range(count):
                number += 1
                target = targets[i % len(targets)]
                self._check(kind, target)
                if not candidates:
                    self.warnings.append(f"{kind}: no data to inject into")
                    break
                day = candidates[(i // len(targets)) % len(candidates)]
                last = target.variant == "unterminated_quote"
                batch = batches_per_day[day] - 1 if last else batches_per_day[day] // 2
                planned = Planned(number, kind, target, day, batch)
                self.plan.setdefault((day, batch, target.table), []).append(planned)

    def escape_columns(self, table: str) -> frozenset[str]:
        """Columns whose injected values need CSV quoting or JSON escaping."""
        return frozenset(
            p.target.column
            for ps in self.plan.values()
            for p in ps
            if p.target.table == table
            and p.target.column
            and any(ch in (p.target.value or "") for ch in ',"\r\n\\')
        )

    def _check(self, kind: str, target: Target) -> None:
        contract = self.contracts[target.table]
        if target.column is not None:
            column = contract.column(target.column)
            if kind == "null_required" and not column.required:
                raise ValueError(f"defect target {target.table}.{target.column} is not required")

    def apply(
        self, day: int, batch: int, table: str, frame: pa.Table
    ) -> tuple[pa.Table, dict[int, list[Mark]], npt.NDArray[np.intp] | None]:
        """Inject the defects planned for this batch of ``table``.

        Returns the new frame, the marks by row index in it, and the row order used to build
        it from ``frame`` (None when no row was added), for callers holding parallel arrays.
        """
        planned = self.plan.get((day, batch, table))
        if not planned:
            return frame, {}, None
        n = frame.num_rows
        if n < len(planned) + 2:
            self.warnings.append(f"{table}: batch too small for {len(planned)} defect(s); skipped")
            return frame, {}, None
        used: set[int] = set()
        chosen: list[tuple[Planned, int, np.random.Generator]] = []
        for p in sorted(planned, key=lambda p: p.target.variant != "unterminated_quote"):
            rng = np.random.default_rng([self.seed, 99, p.number])
            if p.target.variant == "unterminated_quote":
                row = n - 1  # the file's last record, so the open quote swallows nothing else
            else:
                free = np.setdiff1d(np.arange(n - 1), np.fromiter(used, dtype=np.intp))
                row = int(rng.choice(free))
            used.add(row)
            chosen.append((p, row, rng))
        frame, details = self._edit_values(frame, chosen)
        duplicates = sorted(row for p, row, _ in chosen if p.kind == "duplicate_key")
        order = np.insert(np.arange(n), np.array(duplicates, dtype=np.intp) + 1, duplicates)
        if duplicates:
            frame = frame.take(pa.array(order))
        marks: dict[int, list[Mark]] = {}
        keys = self.contracts[table].primary_key
        for p, row, _ in chosen:
            position = row + sum(1 for d in duplicates if d < row)
            if p.kind == "duplicate_key":
                position += 1  # the copy, right after the original
            mark = Mark(
                kind=p.kind,
                table=table,
                column=p.target.column,
                primary_key={k: frame.column(k)[position].as_py() for k in keys},
                detail=details.get(p.number, {}),
            )
            if p.kind == "malformed_line":
                mark.broken = p.target.variant
                variant = "truncated_json" if self.fmt.startswith("jsonl") else p.target.variant
                mark.detail = {"variant": variant}
            elif p.kind == "duplicate_key":
                mark.detail = {"duplicate_of": "the previous record (same primary key)"}
            marks.setdefault(position, []).append(mark)
            self.marks.append(mark)
        return frame, marks, (order if duplicates else None)

    def _edit_values(
        self, frame: pa.Table, chosen: list[tuple[Planned, int, np.random.Generator]]
    ) -> tuple[pa.Table, dict[int, dict[str, str | None]]]:
        details: dict[int, dict[str, str | None]] = {}
        for p, row, rng in chosen:
            if p.kind not in ("null_required", "out_of_range", "orphan_fk", "wrong_type"):
                continue
            column = p.target.column
            assert column is not None
            index = frame.schema.get_field_index(column)
            values = frame.column(index).combine_chunks()
            value: str | None
            if p.kind == "null_required":
                value = None
            elif p.kind == "orphan_fk":
                value = hex_ids(rng, 1).tobytes().decode()
            else:
                value = (p.target.value or "").replace("{value}", str(values[row].as_py()))
            mask = np.zeros(len(values), dtype=bool)
            mask[row] = True
            values = pc.replace_with_mask(values, pa.array(mask), pa.array([value], pa.string()))
            frame = frame.set_column(index, column, values)
            details[p.number] = {} if p.kind == "null_required" else {"value": value}
        return frame, details
