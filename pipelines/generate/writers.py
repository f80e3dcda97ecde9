"""Writing generated tables: CSV (optionally gzipped), JSON lines and Parquet.

A :class:`FileSet` holds one table's rows for one delivery folder. It writes numbered part
files (``<stem>-part-00001.<ext>``, a new one every ``chunk_rows`` rows) and, once finished,
renames a lone part to ``<stem>.<ext>``. Rendering happens on the calling thread with Arrow
compute kernels; compression and disk writes run on one background thread, in order, so the
output is byte-for-byte reproducible (gzip headers carry no file name and mtime 0).
"""

from __future__ import annotations

import os
import queue
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FORMATS = ("csv.gz", "csv", "jsonl", "jsonl.gz", "parquet")
GZIP_LEVEL = 1  # fast: the benchmark regenerates millions of rows; level 6 saves only ~8%
_NEEDS_QUOTES = r'[",\r\n]'


class Background:
    """One worker thread running submitted jobs in order; a bounded queue limits memory."""

    def __init__(self, depth: int = 6) -> None:
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="generate-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._error is None:
                try:
                    job()
                except BaseException as exc:  # re-raised on the submitting thread
                    self._error = exc

    def submit(self, job: Callable[[], None]) -> None:
        self._raise()
        self._jobs.put(job)

    def join(self) -> None:
        self._jobs.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


@dataclass
class Mark:
    """A defect placed on one record; the writer fills in where the record landed."""

    kind: str
    table: str
    column: str | None
    primary_key: dict[str, str | None]
    detail: dict[str, Any] = field(default_factory=dict)
    broken: str | None = None  # malformed_line variant, rendered by the writer
    fileset: FileSet | None = None
    part: int = 0
    row: int | None = None
    line: int | None = None

    def as_record(self, out: Path) -> dict[str, Any]:
        path = self.fileset.part_path(self.part) if self.fileset else None
        return {
            "kind": self.kind,
            "table": self.table,
            "file": path.relative_to(out).as_posix() if path else None,
            "line": self.line,
            "row": self.row,
            "column": self.column,
            "primary_key": self.primary_key,
            **self.detail,
        }


class _Part:
    """One output file. Created on the calling thread; its I/O runs on the background one."""

    def __init__(self, path: Path, fmt: str, header: bytes, schema: pa.Schema) -> None:
        self.path, self._fmt, self._header, self._schema = path, fmt, header, schema
        self._gzip: Any = None
        self._parquet: pq.ParquetWriter | None = None
        self._fh: BinaryIO | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._fmt == "parquet":
            self._parquet = pq.ParquetWriter(self.path, self._schema, compression="snappy")
            return
        if self._fmt.endswith(".gz"):
            self._gzip = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # no name, mtime 0
        self._fh = self.path.open("wb")
        self.write(self._header)

    def write(self, data: Any) -> None:
        assert self._fh is not None
        self._fh.write(self._gzip.compress(data) if self._gzip else data)

    def write_table(self, table: pa.Table) -> None:
        assert self._parquet is not None
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._fh is not None:
            if self._gzip is not None:
                self._fh.write(self._gzip.flush())
            self._fh.close()


class FileSet:
    """One table's files in one delivery folder."""

    def __init__(
        self,
        out: Path,
        folder: date,
        table: str,
        stem: str,
        columns: list[str],
        fmt: str,
        chunk_rows: int,
        escape: frozenset[str],
        background: Background,
    ) -> None:
        self.out, self.folder, self.table, self.stem = out, folder, table, stem
        self.columns, self.fmt, self.chunk_rows = columns, fmt, chunk_rows
        self.escape = escape
        self.rows = 0
        self.part_rows: list[int] = []
        self._lines = 0  # physical lines in the current part, header included
        self._bg = background
        self._open: _Part | None = None
        self._final: tuple[date, str] | None = None  # (folder, stem) once relocated
        self._schema = pa.schema([(c, pa.string()) for c in columns])
        self._header = (",".join(columns) + "\n").encode() if fmt.startswith("csv") else b""

    # -- naming ------------------------------------------------------------------------

    def _name(self, folder: date, stem: str, part: int, single: bool) -> Path:
        name = f"{stem}.{self.fmt}" if single else f"{stem}-part-{part:05d}.{self.fmt}"
        return self.out / folder.isoformat() / name

    def part_path(self, part: int) -> Path:
        """Where part ``part`` (1-based) is, or will be once :meth:`finalize` has run."""
        folder, stem = self._final or (self.folder, self.stem)
        return self._name(folder, stem, part, len(self.part_rows) == 1)

    def paths(self) -> list[Path]:
        return [self.part_path(p) for p in range(1, len(self.part_rows) + 1)]

    # -- writing -----------------------------------------------------------------------

    def write(
        self,
        table: pa.Table,
        marks: dict[int, list[Mark]] | None = None,
        rendered: pa.Array | None = None,
    ) -> None:
        """Append ``table`` (string columns in contract order); ``marks`` by row index.

        ``rendered`` may hold the table's lines from :func:`render` (to render once for
        several file sets); it is ignored for Parquet.
        """
        marks = marks or {}
        if self.fmt == "parquet":
            rendered = None
        elif rendered is None:
            rendered = render(table, self.fmt, self.escape, marks)
        start = 0
        while start < table.num_rows:
            if self._open is None or self.part_rows[-1] >= self.chunk_rows:
                self._next_part()
            take = min(table.num_rows - start, self.chunk_rows - self.part_rows[-1])
            self._write_segment(table, rendered, start, take, marks)
            start += take

    def _next_part(self) -> None:
        if self._open is not None:
            self._bg.submit(self._open.close)
        self.part_rows.append(0)
        path = self._name(self.folder, self.stem, len(self.part_rows), single=False)
        self._lines = 1 if self.fmt.startswith("csv") else 0
        self._open = _Part(path, self.fmt, self._header, self._schema)
        self._bg.submit(self._open.open)

    def _write_segment(
        self,
        table: pa.Table,
        rendered: pa.Array | None,
        start: int,
        take: int,
        marks: dict[int, list[Mark]],
    ) -> None:
        part = self._open
        assert part is not None
        part_no = len(self.part_rows)
        first_row = self.part_rows[-1]
        here = [(i, m) for i, ms in sorted(marks.items()) if start <= i < start + take for m in ms]
        if rendered is None:
            segment = table.slice(start, take)
            self._bg.submit(lambda: part.write_table(segment))
            for index, mark in here:
                mark.fileset, mark.part, mark.row = self, part_no, first_row + index - start + 1
        else:
            data, offsets = _bytes(rendered, start, take)
            for index, mark in here:
                rel = int(offsets[index - start] - offsets[0])
                mark.fileset, mark.part = self, part_no
                mark.row = first_row + index - start + 1
                mark.line = self._lines + _count_newlines(data, rel) + 1
            self._lines += _count_newlines(data, len(data)) if self.escape or marks else take
            self._bg.submit(lambda: part.write(data))
        self.part_rows[-1] += take
        self.rows += take

    def finish(self) -> None:
        """Close the open part (background)."""
        if self._open is not None:
            self._bg.submit(self._open.close)
            self._open = None

    def relocate(self, folder: date, stem: str) -> None:
        """Deliver this file set to another folder under another stem (see :meth:`finalize`)."""
        self._final = (folder, stem)

    def finalize(self) -> None:
        """Rename parts to their final names; call after the background writer has joined."""
        for number in range(1, len(self.part_rows) + 1):
            written = self._name(self.folder, self.stem, number, single=False)
            final = self.part_path(number)
            if written != final:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(written, final)


def render(
    table: pa.Table, fmt: str, escape: frozenset[str], marks: dict[int, list[Mark]]
) -> pa.Array:
    """One text line per record of ``table`` (CSV or JSON), newline included."""
    json = fmt.startswith("jsonl")
    parts: list[Any] = []
    for i, name in enumerate(table.column_names):
        col = table.column(i).combine_chunks()
        if json:
            value = _json_string(col, name in escape)
            parts.extend([("{" if i == 0 else ",") + f'"{name}":', value])
        else:
            parts.append(pc.fill_null(_csv_field(col) if name in escape else col, ""))
    if json:
        lines = pc.binary_join_element_wise(*parts, "}\n", "")
    else:
        lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*parts, ","), "", "\n")
    broken = {i: m.broken for i, ms in marks.items() for m in ms if m.broken}
    if broken:
        text = lines.to_pylist()
        for index, variant in broken.items():
            text[index] = _broken_line(text[index], variant, json)
        lines = pa.array(text, type=pa.string())
    return lines


def _bytes(lines: pa.Array, start: int, take: int) -> tuple[pa.Buffer, np.ndarray]:
    """The text of ``lines[start:start + take]`` (zero-copy) and the line offsets in it."""
    offsets = np.frombuffer(
        lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=4 * lines.offset
    )
    offsets = offsets[start : start + take + 1]
    data = lines.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    return data, offsets


def _count_newlines(data: pa.Buffer, end: int) -> int:
    return memoryview(data)[:end].tobytes().count(b"\n")


def _csv_field(col: pa.Array) -> pa.Array:
    """Quote values holding a delimiter, quote or line break (RFC 4180)."""
    needs = pc.match_substring_regex(col, _NEEDS_QUOTES)
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(col, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, col)


_JSON_ESCAPES = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")]


def _json_string(col: pa.Array, escape: bool) -> pa.Array:
    if escape:
        for raw, escaped in _JSON_ESCAPES:
            col = pc.replace_substring(col, raw, escaped)
    return pc.fill_null(pc.binary_join_element_wise('"', col, '"', ""), "null")


def _broken_line(line: str, variant: str, json: bool) -> str:
    """A record made unparseable in the way ``variant`` names."""
    body = line[:-1]
    if json:
        return body[: max(1, len(body) // 2)] + "\n"  # truncated object
    if variant == "too_many_fields":
        return body + ",unexpected\n"
    if variant == "too_few_fields":
        return body[: body.rindex(",")] + "\n"
    if variant == "unterminated_quote":
        head, _, tail = body.partition(",")
        return f'{head},"{tail}\n'
    raise ValueError(f"unknown malformed-line variant {variant!r}")
