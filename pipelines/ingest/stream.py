"""Streaming the raw records of a table's landing files through PII protection into ``staged``.

Every load with PII goes this way, and any load :mod:`pipelines.ingest.direct` cannot take
(JSON lines, Parquet, mixed headers, a malformed CSV record).

All files of one load go into ``staged`` through a single ``INSERT`` of the typing and checking
query (:func:`~pipelines.ingest.transform.staged_query` with ``precomputed=True``), fed by one
Arrow stream, in three overlapping stages:

1. reader threads (two, given two cores) run the files' raw relations on the ``source`` DuckDB
   instance, each file on one connection, the next file in parallel with the current one, and
   hand each record batch to a thread pool; right after a file's scan its reader collects the
   file's malformed records (:func:`~pipelines.ingest.readers.collect_malformed`);
2. the pool adds the pseudonymized, encrypted and scrubbed columns, computed on whole arrays
   (:meth:`~pipelines.protection.Pseudonymizer.tokens_arrow`,
   :meth:`~pipelines.protection.Encryptor.encrypt_arrow`,
   :func:`~pipelines.protection.scrub.scrub_arrow`), a few batches at a time;
3. DuckDB types and checks the protected batches, file after file and in order, on all its
   threads.

The readers also number CSV records 1, 2, ... per file, in the order DuckDB's parser produced
them (:func:`~pipelines.ingest.readers.finish_file` shifts them past malformed records).

Why: DuckDB parses a gzip file with one thread. When everything ran in one query per file,
the typing, the checks and the per-value cryptography ran on that thread too, and nothing
overlapped across files. The instances are separate because an INSERT runs many times slower
while a streaming query of the same instance is open.

Clear text stays in memory: in ``source`` (which never spills to disk) and in the few batches
in flight (at most ``_QUEUED_BATCHES`` per file being read). Only lake columns, protected, are
inserted. Clear values cross into ``con`` only where staging needs them (:func:`needs_value`):
a pseudonymized, encrypted or scrubbed column checked only for presence is represented by its
token, ciphertext or scrubbed text, a dropped one by a presence marker, so e.g. customer ids,
phone numbers, names, street addresses and unscrubbed review texts never enter ``con`` at all. The batches enter the stream in file order and
DuckDB keeps it (``preserve_insertion_order``, as long as the query has no join), so
``staged`` holds the files' rows in file order; the record counts per file tell where each
file's rows start, and :func:`~pipelines.ingest.readers.finish_file` checks it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.contracts import Column, Contract
from pipelines.ingest.protect import KeyedProtection
from pipelines.ingest.read_errors import reduced
from pipelines.ingest.readers import FileScan, ProtectText, collect_malformed
from pipelines.ingest.transform import is_precomputed, protected_column, staged_query
from pipelines.lake.interval import Interval
from pipelines.protection_types import protection_type
from pipelines.sql import q

BATCH_ROWS = 65_536
"""Records per Arrow batch: small enough to keep every stage busy, large enough to amortise
the per-batch work."""

_QUEUED_BATCHES = 4
"""Batches a reader may parse ahead of the insert, per file (clear text in memory)."""

_READERS = 2
"""Files read at the same time (each gzip file is parsed by one thread)."""

_STREAM = "_raw_batches"

_SOURCE_REASONS = pa.list_(
    pa.struct([("check", pa.string()), ("column", pa.string()), ("reason", pa.string())])
)
"""Arrow type of a raw relation's ``_source_reasons`` (see ``readers.NO_SOURCE_REASONS``)."""


@dataclass(frozen=True)
class _KeyedColumn:
    source: str  # raw column (clear text)
    target: str  # the precomputed column staged_query reads (token, ciphertext, scrubbed)
    protect: Callable[[pa.Array], pa.Array]


class _Done:
    """The end of one file's batches."""


_Item = Future[pa.RecordBatch] | _Done


class _Reading:
    """What the reader threads report: record counts per file, or the error that stopped the
    load (a reader's own, or a batch's protection)."""

    def __init__(self, files: int):
        self.counts = [0] * files
        self.error: BaseException | None = None


class StagedLoader:
    """Loads landing files, read by ``source``, into the temp table ``staged`` (which must
    exist) of ``con``, a separate DuckDB instance."""

    def __init__(
        self,
        source: duckdb.DuckDBPyConnection,
        con: duckdb.DuckDBPyConnection,
        contract: Contract,
        interval: Interval,
        protection: KeyedProtection,
        protect_text: ProtectText,
        threads: int,
    ):
        self._source = source
        self._con = con
        self._keyed = [
            _KeyedColumn(col.name, protected_column(col), protection.arrow_function(contract, col))
            for col in contract.written_columns
            if is_precomputed(col)
        ]
        # Clear values cross into ``con`` only where a check or the lake form needs them; the
        # others are carried by their token or ciphertext, or by a presence marker.
        self._columns: list[str] = []
        self._presence: list[str] = []
        as_tokens: list[str] = []
        for c in contract.columns:
            if needs_value(contract, c):
                self._columns.append(c.name)
            elif is_precomputed(c):
                as_tokens.append(f"{q(protected_column(c))} AS {q(c.name)}")
            else:
                self._presence.append(c.name)
        relation = f"SELECT {', '.join(['*', *as_tokens])} FROM {_STREAM}"
        query = staged_query(
            contract, interval, relation, protection, precomputed=True, source_reasons=True
        )
        self._sql = f"INSERT INTO staged {query.sql}"
        self._params = query.params or None  # a typed column's token: key-derived parameters
        self._protect_text = protect_text
        self._schema = self._stream_schema()
        self._readers = max(1, min(_READERS, threads))
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="ingest-protect")

    def _stream_schema(self) -> pa.Schema:
        """The stream's columns: raw values, presence markers, provenance, protected values."""
        fields = [pa.field(name, pa.string()) for name in (*self._columns, *self._presence)]
        fields += [pa.field("_source_file", pa.string()), pa.field("_source_row", pa.int64())]
        fields += [pa.field("_source_reasons", _SOURCE_REASONS)]
        fields += [pa.field(k.target, pa.large_string()) for k in self._keyed]
        return pa.schema(fields)

    def load(self, scans: list[FileScan]) -> list[int]:
        """Stream the files' raw relations into ``staged``; return each file's record count.

        Each scan's malformed records are collected into it
        (:func:`~pipelines.ingest.readers.collect_malformed`).
        """
        reading = _Reading(len(scans))
        if not scans:
            return reading.counts
        files: list[queue.Queue[_Item]] = [queue.Queue(_QUEUED_BATCHES) for _ in scans]
        stop = threading.Event()
        readers = [
            threading.Thread(
                target=self._read,
                args=(scans[first :: self._readers], files[first :: self._readers], reading, stop),
                name=f"ingest-read-{first}",
            )
            for first in range(min(self._readers, len(scans)))
        ]
        stream = pa.RecordBatchReader.from_batches(self._schema, _protected(files, reading))
        self._con.register(_STREAM, stream)
        for reader in readers:
            reader.start()
        failure: BaseException | None = None
        try:
            self._con.execute(self._sql, self._params)
        except duckdb.Error as exc:
            # DuckDB's report can quote a record (or a reader's error): never raised as is.
            failure = reduced(exc, "staging the parsed records")
        finally:
            stop.set()
            for reader in readers:
                reader.join()
            self._con.unregister(_STREAM)
        if reading.error is not None:  # the cause, rather than DuckDB's report of it
            raise reading.error
        if failure is not None:
            raise failure
        return reading.counts

    def _read(
        self,
        scans: list[FileScan],
        files: list[queue.Queue[_Item]],
        reading: _Reading,
        stop: threading.Event,
    ) -> None:
        """A reader thread: its files' raw batches, in order, sent to be protected."""
        source = self._source.cursor()
        scan: FileScan | None = None
        try:
            for scan, batches in zip(scans, files, strict=True):
                if not self._read_file(source, scan, batches, reading, stop):
                    return
        except duckdb.Error as exc:  # its message can quote the record: keep the locator only
            reading.error = reduced(exc, scan.read.file.relative if scan else "reading files")
            stop.set()
        except BaseException as exc:
            reading.error = exc
            stop.set()
        finally:
            source.close()

    def _read_file(
        self,
        source: duckdb.DuckDBPyConnection,
        scan: FileScan,
        batches: queue.Queue[_Item],
        reading: _Reading,
        stop: threading.Event,
    ) -> bool:
        """Queue one file's batches, then ``_Done``; False if the load was stopped meanwhile."""
        count = 0
        for batch in source.execute(scan.raw_sql).to_arrow_reader(BATCH_ROWS):
            if not scan.numbered:  # CSV: records in the order the parser made them
                positions = pa.array(range(count + 1, count + batch.num_rows + 1), pa.int64())
                batch = batch.set_column(
                    batch.schema.get_field_index("_source_row"), "_source_row", positions
                )
            count += batch.num_rows
            if not _put(batches, self._pool.submit(self._protect, batch), stop):
                return False
        reading.counts[scan.index] = count
        collect_malformed(source, scan, self._protect_text)
        return _put(batches, _Done(), stop)

    def _protect(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The raw batch plus one protected column per pseudonymized, encrypted or scrubbed
        column."""
        raw = [batch.column(name) for name in self._columns]
        presence = [_presence(batch.column(name)) for name in self._presence]
        provenance = [
            batch.column(name) for name in ("_source_file", "_source_row", "_source_reasons")
        ]
        protected = [keyed.protect(batch.column(keyed.source)) for keyed in self._keyed]
        arrays = [*raw, *presence, *provenance, *protected]
        columns = [c.cast(f.type) for c, f in zip(arrays, self._schema, strict=True)]
        return pa.RecordBatch.from_arrays(columns, schema=self._schema)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def needs_value(contract: Contract, col: Column) -> bool:
    """Whether staging needs ``col``'s clear value: for its lake form (kept, generalized) or
    for a check on the value (type, range, allowed values, pattern, lateness).

    Otherwise a check can only ask whether the value is there (``required``), which the
    token, ciphertext or scrubbed text of a pseudonymized, encrypted or scrubbed column tells
    as well (each is NULL exactly where the value is), and a presence marker
    (:func:`_presence`) tells for a dropped one.
    """
    event = contract.event_time
    return (
        (not is_precomputed(col) and protection_type(col.protection).written)
        or col.type != "string"
        or bool(col.pattern or col.allowed_values)
        or col.min is not None
        or col.max is not None
        or (event is not None and event.column == col.name)
    )


def _presence(values: pa.Array) -> pa.Array:
    """``''`` where ``values`` has a value, NULL where it has none (the values stay behind).

    Raw values are never ``''``: the readers turn empty fields into NULL.
    """
    return pc.if_else(pc.is_valid(values), pa.scalar("", pa.string()), pa.scalar(None, pa.string()))


def _protected(files: list[queue.Queue[_Item]], reading: _Reading) -> Iterator[pa.RecordBatch]:
    """The stream DuckDB inserts: the protected batches of every file, in order."""
    for batches in files:
        while not isinstance(item := _get(batches, reading), _Done):
            try:
                yield item.result()
            except BaseException as exc:
                reading.error = exc
                raise


def _get(batches: queue.Queue[_Item], reading: _Reading) -> _Item:
    """The next item of a file, or ``_Done`` if a reader failed (its error is in ``reading``)."""
    while True:
        try:
            return batches.get(timeout=0.1)
        except queue.Empty:
            if reading.error is not None:
                return _Done()


def _put(batches: queue.Queue[_Item], item: _Item, stop: threading.Event) -> bool:
    """Queue ``item`` unless the load was stopped; False if it was."""
    while not stop.is_set():
        try:
            batches.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
