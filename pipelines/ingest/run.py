"""Protected ingestion of one source table for one data interval.

``ingest_table`` reads every landing file of the table delivered inside the interval, types
and checks each record against the contract, protects PII, and publishes one lake partition
(``<lake>/<table>/dt=<start>/``) holding ``data.parquet`` (loaded rows), ``quarantine.parquet``
(every other record, with file, row, column and reason, its values protected or encrypted:
:mod:`pipelines.lake.quarantine`) and ``manifest.json``. Every record
read is either loaded or quarantined; the run fails rather than publish counts that do not
add up.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines import redact
from pipelines.contracts import Contract, ContractSet, load_contracts
from pipelines.hashing import file_sha256
from pipelines.ingest.direct import can_load_direct, load_direct
from pipelines.ingest.integrity import CorruptFileError, read_to_end
from pipelines.ingest.landing import (
    LandingFile,
    fetch_landing_files,
    find_landing_files,
    find_stored_files,
    landing_store,
    local_listings,
    stored_listings,
)
from pipelines.ingest.landing_check import check_listings
from pipelines.ingest.protect import ENCRYPT_UDF, KeyedProtection
from pipelines.ingest.read_errors import reduced
from pipelines.ingest.readers import (
    FileRead,
    FileScan,
    SchemaDriftError,
    create_malformed_table,
    finish_file,
    open_file,
)
from pipelines.ingest.rowkey import apply_row_key
from pipelines.ingest.scratch import scratch_folder
from pipelines.ingest.stream import StagedLoader
from pipelines.ingest.transform import is_precomputed, lake_struct, protected_column, staged_query
from pipelines.ingest.undeclared import StagedFile, check_columns, check_file_names
from pipelines.lake import quarantine
from pipelines.lake.interval import Interval
from pipelines.lake.manifest import (
    DATA_NAME,
    QUARANTINE_NAME,
    Counts,
    LakeColumn,
    Manifest,
    SourceFileEntry,
    UndeclaredPiiFinding,
)
from pipelines.lake.partitions import partitions, partitions_until, verified_data_files
from pipelines.lake.publish import (
    DEFAULT_LOCK_TIMEOUT,
    clean_leftovers,
    lock_root,
    partition_lock,
    publish_partition,
)
from pipelines.lake.state import key_registry
from pipelines.lake.storage import LakeStorage, lake_store
from pipelines.lake.suppression import suppress_staged, suppression_state
from pipelines.protection import KeyRing, keyring_from_settings
from pipelines.protection.encrypt import MALFORMED_RECORD, encryption_context
from pipelines.protection.pseudonymize import TOKEN_SCHEME
from pipelines.protection.registry import check_recorded
from pipelines.settings import Settings
from pipelines.sql import q, sql_str

log = logging.getLogger(__name__)


class IngestionError(RuntimeError):
    """Ingestion cannot proceed safely; the message says why and what to do."""


@dataclass(frozen=True)
class IngestResult:
    table: str
    partition_dir: Path
    manifest: Manifest
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage: ``read`` (parse, protect, type, check, stage), ``key_checks``,
    ``write`` (data and quarantine Parquet), ``seal`` (hashes and manifest)."""
    warnings: tuple[str, ...] = ()
    """What was published but deserves a look (a landing file with no records), also logged."""
    location: str = ""
    """Where the partition was published: ``partition_dir`` in a local lake, else its URL
    (``s3://…/<table>/<partition>``; ``partition_dir`` then names the local lake's folder,
    which holds nothing)."""

    @property
    def counts(self) -> Counts:
        return self.manifest.counts


def _connect(settings: Settings, scratch: Path | None) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB instance; it spills to ``scratch``, or never if None."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = {sql_str(settings.duckdb_memory_limit)}")
    con.execute(f"SET temp_directory = {sql_str(str(scratch) if scratch else '')}")
    if settings.duckdb_threads:
        con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    con.execute("SET preserve_insertion_order = true")
    return con


def _create_staged(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    interval: Interval,
    protection: KeyedProtection,
    files: list[LandingFile],
) -> None:
    """The empty table ``staged``: lake columns, provenance, ``_reasons`` and ``_record``.

    ``_source_file`` is an ENUM of the load's files: one byte or two per row instead of the
    path (``staged`` holds every row of the load in memory).
    """
    raw = [f"NULL::VARCHAR AS {q(c)}" for c in contract.column_names]
    raw += [
        f"NULL::VARCHAR AS {q(protected_column(c))}"
        for c in contract.written_columns
        if is_precomputed(c)
    ]
    source_file = "VARCHAR"
    if files:
        names = ", ".join(sql_str(f.relative) for f in files)
        con.execute(f"CREATE TYPE _source_files AS ENUM ({names})")
        source_file = "_source_files"
    empty_raw = (
        f"SELECT {', '.join(raw)}, NULL::{source_file} AS _source_file, "
        "NULL::BIGINT AS _source_row WHERE false"
    )
    schema = staged_query(contract, interval, empty_raw, protection, precomputed=True)
    con.execute(f"CREATE TEMP TABLE staged AS {schema.sql}", schema.params or None)


def _check_existing(lake: LakeStorage, contract: Contract, interval: Interval) -> Manifest | None:
    """The manifest of the partition published for ``interval`` (None: none yet); raises if
    another partition overlaps it."""
    same = None
    for part in partitions(lake, contract.table):
        other = part.interval
        if other == interval:
            same = part.manifest
        elif other.overlaps(interval):
            raise IngestionError(
                f"{contract.table}: interval {interval} overlaps the existing partition "
                f"{part.name} for {other}; intervals of one table must not overlap "
                f"(delete {lake.uri(part.rel(''))} to re-cut the intervals)"
            )
    return same


def _redelivered(previous: Manifest | None, reads: list[tuple[FileRead, str]]) -> list[str]:
    """A warning when the landing files differ from those the published partition of the
    interval was loaded from: a re-delivery replaces it, and says so with both counts."""
    if previous is None:
        return []
    before = {f.path: f.sha256 for f in previous.source_files}
    now = {read.file.relative: sha for read, sha in reads}
    if before == now:
        return []
    what = [
        f"{len([p for p in before.keys() & now.keys() if before[p] != now[p]])} changed",
        f"{len(before.keys() - now.keys())} gone",
        f"{len(now.keys() - before.keys())} new",
    ]
    read = sum(r.records for r, _ in reads)
    return [
        f"the landing files differ from those the published partition was loaded from "
        f"({', '.join(what)}): it is replaced, {previous.counts.read:,} records read before, "
        f"{read:,} now; if a file went missing, restore it and run again"
    ]


def _check_key_versions(
    lake: LakeStorage,
    contracts: ContractSet,
    contract: Contract,
    interval: Interval,
    keyring: KeyRing,
) -> None:
    """Tokens only join when made with the same pseudonymization key version and scheme, and
    with the same key bytes under that id (the manifests record keyed fingerprints)."""
    active = keyring.pseudonymization.active_id
    tables = [contract.table, *contracts.upstream(contract.table)]
    for table in tables:
        for part in partitions_until(lake, table, interval.end):
            if part.interval == interval:
                continue  # about to be replaced
            keys = part.manifest.key_versions
            check_recorded(
                keyring,
                keys,
                part.manifest.key_fingerprints,
                f"{table}/{part.name}/manifest.json",
            )
            used = keys.get("pseudonymization")
            if used and used != active:
                raise IngestionError(
                    f"{table}/{part.name} was pseudonymized with key {used} but the "
                    f"active key is {active}; tokens would not join. Re-ingest the lake with the "
                    "new key (pseudonymization keys cannot re-key existing tokens), or make "
                    f"{used} active again."
                )
            scheme = keys.get("pseudonymization_scheme", "hmac-sha256-rawkey (before 2026-12)")
            if used and scheme != TOKEN_SCHEME:
                raise IngestionError(
                    f"{table}/{part.name} was pseudonymized with token scheme {scheme}, "
                    f"this version makes {TOKEN_SCHEME}; tokens would not join. Re-ingest "
                    f"that partition (or delete {lake.root} and re-run every interval)."
                )


def _check_retyped(
    con: duckdb.DuckDBPyConnection, contract: Contract, file: FileRead, first: int
) -> None:
    """Raise when most values of a column in one file fail to parse: the column was retyped.

    The file's rows are the staged rows from rowid ``first`` on.
    """
    policy = contract.schema_policy
    rows = f"rowid >= {first} AND rowid < {first + file.parsed}"
    failures = dict(
        con.execute(
            "SELECT r.column, count(*) FROM (SELECT unnest(_reasons) AS r FROM staged "
            f"WHERE {rows} AND _reasons IS NOT NULL) WHERE r.check = 'type_error' GROUP BY 1"
        ).fetchall()
    )
    if not failures:
        return
    counts = ", ".join(f"count({q(contract.column(c).lake_name)})" for c in failures)
    parsed = con.execute(f"SELECT {counts} FROM staged WHERE {rows}").fetchone()
    assert parsed is not None
    retyped = []
    for (column, failed), ok in zip(failures.items(), parsed, strict=True):
        total = int(failed) + int(ok)
        if total >= policy.retyped_min_values and failed / total >= policy.retyped_share:
            retyped.append(
                f"{column} ({failed:,} of {total:,} values are not {contract.column(column).type})"
            )
    if retyped:
        raise SchemaDriftError(
            f"{file.file.relative}: column(s) look retyped: {'; '.join(retyped)} "
            f"(contract {contract.version_tag}; schema_policy.retyped_share="
            f"{policy.retyped_share}). Fix the export or change the contract; nothing was published."
        )


def _key_checks(
    con: duckdb.DuckDBPyConnection,
    lake: LakeStorage,
    contracts: ContractSet,
    contract: Contract,
    interval: Interval,
) -> int:
    """Add duplicate-key and orphan-foreign-key reasons to staged rows that passed so far.

    Works on ``rowid``: staged rows are in file order, so the lowest rowid of a key is its
    first occurrence. Returns the number of rows that failed.
    """
    pk = ", ".join(q(contract.column(c).lake_name) for c in contract.primary_key)
    failures: list[str] = []
    # Whether any key repeats is cheaper to learn than which rows repeat; most loads have none.
    # A table without a natural key has a row key instead (pipelines.ingest.rowkey).
    duplicated = None
    if pk:
        duplicated = con.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM staged WHERE _reasons IS NULL GROUP BY {pk} "
            "HAVING count(*) > 1)"
        ).fetchone()
    if duplicated and duplicated[0]:
        same = " AND ".join(
            f"d.{q(contract.column(c).lake_name)} = k.{q(contract.column(c).lake_name)}"
            for c in contract.primary_key
        )
        failures.append(
            "SELECT d.rowid AS _failed_row, {'check': 'duplicate_key', "
            f"'column': {sql_str(', '.join(contract.primary_key))}, "
            "'reason': 'duplicate primary key; the first occurrence (' || f._source_file || "
            "' row ' || f._source_row || ') was loaded'} AS _failed_reason "
            "FROM staged AS d "
            f"JOIN (SELECT {pk}, min(rowid) AS _first_row FROM staged WHERE _reasons IS NULL "
            f"GROUP BY {pk} HAVING count(*) > 1) AS k ON {same} "
            "JOIN staged AS f ON f.rowid = k._first_row "
            "WHERE d._reasons IS NULL AND d.rowid <> k._first_row"
        )
    for fk in contract.foreign_keys:
        ref = contracts[fk.ref_table]
        ref_col = ref.column(fk.ref_column).lake_name
        own_col = contract.column(fk.column).lake_name
        files = verified_data_files(partitions_until(lake, ref.table, interval.end))
        if not files:
            raise IngestionError(
                f"{contract.table}.{fk.column} references {fk.references}, but {ref.table} has "
                f"no lake partition up to {interval.end.isoformat()}: ingest {ref.table} first "
                f"(load order: {', '.join(contracts.load_order())})"
            )
        file_list = "[" + ", ".join(sql_str(str(f)) for f in files) + "]"
        failures.append(
            f"SELECT s.rowid AS _failed_row, {{'check': 'orphan_fk', 'column': {sql_str(fk.column)}, "
            f"'reason': 'no matching {fk.references} in the lake up to the interval end'}} "
            "AS _failed_reason "
            f"FROM staged AS s WHERE s._reasons IS NULL AND s.{q(own_col)} IS NOT NULL "
            f"AND s.{q(own_col)} NOT IN (SELECT {q(ref_col)} FROM read_parquet({file_list}) "
            f"WHERE {q(ref_col)} IS NOT NULL)"
        )
    if not failures:
        return 0
    # One check at a time: each builds a hash table, and staged already holds most of the
    # memory the instance may use.
    con.execute(f"CREATE OR REPLACE TEMP TABLE _key_failed AS {failures[0]}")
    for failure in failures[1:]:
        con.execute(f"INSERT INTO _key_failed {failure}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _key_failures AS SELECT _failed_row, "
        "list(_failed_reason) AS _failed_reasons FROM _key_failed GROUP BY _failed_row"
    )
    failed = con.execute("SELECT count(*) FROM _key_failures").fetchone()
    count = int(failed[0]) if failed else 0
    if count:
        record = lake_struct(contract, "staged", text=True)
        con.execute(
            f"UPDATE staged SET _reasons = f._failed_reasons, _record = to_json({{{record}}}) "
            "FROM _key_failures AS f WHERE staged.rowid = f._failed_row"
        )
    return count


def _write_outputs(
    con: duckdb.DuckDBPyConnection, contract: Contract, folder: Path
) -> tuple[int, int]:
    """Write data.parquet (rows in file order) and quarantine.parquet; return both counts.

    Quarantine records hold no clear value (:mod:`pipelines.lake.quarantine`): ``con`` must
    have the encryption UDF registered.
    """
    record = quarantine.record_sql(contract, "_record", ENCRYPT_UDF)
    lake_cols = ", ".join(q(c.lake_name) for c in contract.written_columns)
    lake_cols += "".join(f", {q(name)}" for name, _ in contract.surrogate_columns)
    loaded = con.execute(
        f"COPY (SELECT {lake_cols}, CAST(_source_file AS VARCHAR) AS _source_file, _source_row "
        "FROM staged "
        "WHERE _reasons IS NULL) "
        f"TO {sql_str(str(folder / DATA_NAME))} (FORMAT parquet, COMPRESSION zstd)"
    ).fetchone()
    quarantined = con.execute(
        "COPY (SELECT _source_file, _source_row, reasons[1]['check'] AS failed_check, "
        "reasons[1]['column'] AS column_name, reasons[1]['reason'] AS reason, reasons, record "
        "FROM ("
        "SELECT CAST(_source_file AS VARCHAR) AS _source_file, _source_row, _reasons AS reasons, "
        f"{record} AS record "
        "FROM staged "
        "WHERE _reasons IS NOT NULL "
        "UNION ALL "
        "SELECT _source_file, _source_row, [{'check': 'malformed_record', 'column': NULL, "
        f"'reason': {redact.SQL_FUNCTION}(error)}}], to_json({{'encrypted_record': raw_text}}) "
        "FROM malformed"
        ") ORDER BY _source_file, _source_row) "
        f"TO {sql_str(str(folder / QUARANTINE_NAME))} (FORMAT parquet, COMPRESSION zstd)"
    ).fetchone()
    return int(loaded[0]) if loaded else 0, int(quarantined[0]) if quarantined else 0


def _lake_columns(contract: Contract) -> list[LakeColumn]:
    return [
        LakeColumn(
            name=c.lake_name,
            type=c.lake_type,
            source_column=c.name,
            pii=c.pii.value,
            protection=c.protection.value,
            masked=c.masked,
        )
        for c in contract.written_columns
    ]


def ingest_table(
    table: str,
    interval: Interval,
    settings: Settings,
    *,
    run_id: str | None = None,
    keyring: KeyRing | None = None,
    contracts: ContractSet | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> IngestResult:
    """Ingest ``table`` for ``interval`` into the lake; idempotent per interval.

    Holds the partition's writer lock throughout: a run of the same interval that is under
    way makes this one wait up to ``lock_timeout`` seconds, then fail with
    :class:`~pipelines.lake.publish.PartitionBusy`.

    No DuckDB error leaves it as is: its message can quote a landing record, so it is reduced
    to its kind and locators (:mod:`~pipelines.ingest.read_errors`).
    """
    failure = None
    try:
        lock_dir = lock_root(lake_store(settings)) / table
        with partition_lock(
            lock_dir, interval.partition, timeout=lock_timeout, lock_url=settings.lock_url
        ):
            return _ingest_table(
                table, interval, settings, run_id=run_id, keyring=keyring, contracts=contracts
            )
    except duckdb.Error as exc:
        failure = reduced(exc, f"{table} for {interval}")
    raise failure


def _raise_corrupt(digests: list[Future[str]]) -> None:
    """Raise the first corrupt file's error, once every file was read to its end."""
    for digest in digests:
        if isinstance(digest.exception(), CorruptFileError):
            digest.result()


def _ingest_table(
    table: str,
    interval: Interval,
    settings: Settings,
    *,
    run_id: str | None,
    keyring: KeyRing | None,
    contracts: ContractSet | None,
) -> IngestResult:
    started = time.perf_counter()
    contracts = contracts or load_contracts(settings.contracts_dir)
    contract = contracts[table]
    keyring = keyring or keyring_from_settings(settings)
    lake = settings.lake  # local: locks, staging (and partitions of a local lake)
    store = lake_store(settings)  # where partitions are published and read
    key_registry(settings).bind(keyring)  # other bytes under a known key id: stop here
    table_dir = lake / table
    clean_leftovers(table_dir, held=interval.partition, lock_url=settings.lock_url)
    previous = _check_existing(store, contract, interval)
    protection = KeyedProtection(keyring)
    _check_key_versions(store, contracts, contract, interval, keyring)

    with ExitStack() as cleanup:  # closed last to first: loader, source, con, scratch
        scratch = cleanup.enter_context(scratch_folder(settings.data_dir / "tmp", table))
        files, landing_warnings = _landing_files(settings, contracts, contract, interval, scratch)
        con = _connect(settings, scratch)  # staged rows: protected values only, may spill
        cleanup.callback(con.close)
        source = _connect(settings, None)  # reads files: clear text, never spills
        cleanup.callback(source.close)
        loader = _staging(source, con, contract, interval, protection, files, settings)
        cleanup.callback(loader.close)

        stages: dict[str, float] = {}
        mark = time.perf_counter()
        reads = _read_files(source, con, contract, interval, protection, loader, files)
        warnings = [
            *landing_warnings,
            *(w for read, _ in reads for w in read.warnings),
            *_redelivered(previous, reads),
        ]
        for warning in warnings:
            log.warning("%s: %s", table, warning)
        undeclared = check_columns(con, contract, _staged_files(reads))
        stages["read"], mark = _lap(mark)
        suppressed = suppress_staged(con, suppression_state(settings), contracts, contract)
        store.prepare(con)  # the foreign-key lookups read the published lake
        _key_checks(con, store, contracts, contract, interval)
        dropped = apply_row_key(con, contract)
        stages["key_checks"], mark = _lap(mark)

        with publish_partition(store, table, interval.partition, scratch) as folder:
            loaded, quarantined = _write_outputs(con, contract, folder)
            by_check = _quarantine_by_check(con, folder)
            stages["write"], mark = _lap(mark)
            counts = _balanced_counts(
                table,
                interval,
                Counts(
                    read=sum(r.records for r, _ in reads),
                    loaded=loaded,
                    quarantined=quarantined,
                    dropped=dropped,
                    suppressed=suppressed,
                ),
            )
            manifest = _manifest(
                contract, interval, run_id, reads, counts, by_check, folder, protection, undeclared
            )
            manifest.write(folder)
        stages["seal"], mark = _lap(mark)
        partition_dir = table_dir / interval.partition
        location = (
            str(partition_dir)
            if not store.versioned
            else store.uri(f"{table}/{interval.partition}")
        )
    result = IngestResult(
        table,
        partition_dir,
        manifest,
        time.perf_counter() - started,
        stages,
        tuple(warnings),
        location,
    )
    _log_ingested(result)
    return result


def _landing_files(
    settings: Settings,
    contracts: ContractSet,
    contract: Contract,
    interval: Interval,
    scratch: Path,
) -> tuple[list[LandingFile], list[str]]:
    """The interval's landing files as local files: the local landing's own, or copies of
    the objects on the landing store (``landing_url``) in ``scratch``, each checked against
    its listed size. Their names are checked before any is logged, written or copied; entries
    that look like the table's but would not be read are an error, files no contract claims
    a warning (:mod:`pipelines.ingest.landing_check`)."""
    store = landing_store(settings)
    if store is None:
        files = find_landing_files(settings.landing, contract, interval)
        check_file_names(contract, files)
        warnings = check_listings(local_listings(settings.landing, interval), contracts, contract)
    else:
        listed = find_stored_files(store, contract, interval)
        check_file_names(contract, listed)
        warnings = check_listings(stored_listings(store, interval), contracts, contract)
        started = time.perf_counter()
        files = fetch_landing_files(store, listed, scratch / "landing")
        log.info(
            "%s: copied %d landing file(s), %s bytes, from %s in %.1fs",
            contract.table,
            len(files),
            f"{sum(f.size for f in listed):,}",
            store.root,
            time.perf_counter() - started,
        )
    log.info("%s: %d landing file(s) for %s", contract.table, len(files), interval)
    return files, warnings


def _balanced_counts(table: str, interval: Interval, counts: Counts) -> Counts:
    """``counts``, if every record read is accounted for; else nothing may be published."""
    if not counts.balanced:
        raise IngestionError(
            f"{table}: row accounting does not balance for {interval}: read "
            f"{counts.read:,} != loaded {counts.loaded:,} + quarantined {counts.quarantined:,} + "
            f"dropped {counts.dropped:,} + suppressed {counts.suppressed:,}; nothing was published"
        )
    return counts


def _log_ingested(result: IngestResult) -> None:
    counts = result.manifest.counts
    log.info(
        "%s: read %s, loaded %s, quarantined %s -> %s (%.1fs: %s)",
        result.table,
        f"{counts.read:,}",
        f"{counts.loaded:,}",
        f"{counts.quarantined:,}",
        result.location,
        result.seconds,
        ", ".join(
            f"{name.replace('_', ' ')} {value:.1f}s" for name, value in result.stages.items()
        ),
    )


def _manifest(
    contract: Contract,
    interval: Interval,
    run_id: str | None,
    reads: list[tuple[FileRead, str]],
    counts: Counts,
    by_check: dict[str, int],
    folder: Path,
    protection: KeyedProtection,
    undeclared: list[UndeclaredPiiFinding],
) -> Manifest:
    """The manifest of the partition written in ``folder``."""
    return Manifest(
        table=contract.table,
        partition=interval.partition,
        interval_start=interval.start.isoformat(),
        interval_end=interval.end.isoformat(),
        contract_version=contract.version,
        contract_fingerprint=contract.fingerprint,
        run_id=run_id,
        source_files=_source_file_entries(reads),
        counts=counts,
        quarantine_by_check=by_check,
        dataset_version=file_sha256(folder / DATA_NAME),
        quarantine_version=file_sha256(folder / QUARANTINE_NAME),
        columns=_lake_columns(contract),
        key_versions=protection.key_versions(),
        key_fingerprints=protection.key_fingerprints(),
        undeclared_pii=undeclared,
    )


def _staging(
    source: duckdb.DuckDBPyConnection,
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    interval: Interval,
    protection: KeyedProtection,
    files: list[LandingFile],
    settings: Settings,
) -> StagedLoader:
    """The staged tables, the functions both connections need, and the loader between them."""
    protection.register(source)
    protection.register(con)  # quarantine records: values of every column encrypted
    redact.register_duckdb(con)  # the parser's reasons for malformed records
    _create_staged(con, contract, interval, protection, files)
    create_malformed_table(con)

    def protect_text(sql: str) -> str:
        return protection.encrypt(sql, encryption_context(contract.table, MALFORMED_RECORD))

    threads = settings.duckdb_threads or os.cpu_count() or 1
    return StagedLoader(source, con, contract, interval, protection, protect_text, threads)


def _read_files(
    source: duckdb.DuckDBPyConnection,
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    interval: Interval,
    protection: KeyedProtection,
    loader: StagedLoader,
    files: list[LandingFile],
) -> list[tuple[FileRead, str]]:
    """Parse every landing file into the staged rows; each file's read and its sha256.

    Meanwhile a thread hashes the files and checks that each gzip file is whole (DuckDB reads
    a truncated one without error); a corrupt file explains a parse failure best.
    """
    table = contract.table
    with ThreadPoolExecutor(1, thread_name_prefix="ingest-hash") as hashing:
        digests = [hashing.submit(read_to_end, file) for file in files]
        loaded_at = time.perf_counter()
        try:
            scans, parsed_records, how = _load(
                source, con, contract, interval, protection, loader, files
            )
            _raise_corrupt(digests)
            digested = [d.result() for d in digests]
        except BaseException:
            _raise_corrupt(digests)  # a corrupt file explains a parse failure best
            raise
        log.info(
            "%s: parsed %s records of %d file(s) in %.1fs (%s)",
            table,
            f"{sum(parsed_records):,}",
            len(files),
            time.perf_counter() - loaded_at,
            how,
        )
        reads: list[tuple[FileRead, str]] = []
        first = 0
        for number, (scan, parsed, digest) in enumerate(
            zip(scans, parsed_records, digested, strict=True), 1
        ):
            read = finish_file(con, scan, first, parsed)
            _check_retyped(con, contract, read, first)
            first += parsed
            reads.append((read, digest))
            log.info(
                "%s: [%d/%d] %s: %s records (%s malformed)",
                table,
                number,
                len(files),
                read.file.relative,
                f"{read.records:,}",
                f"{read.malformed:,}",
            )
    return reads


def _staged_files(reads: list[tuple[FileRead, str]]) -> list[StagedFile]:
    """Each file's range of staged rows, in the order they were staged."""
    staged_files = []
    start = 0
    for read, _ in reads:
        staged_files.append(StagedFile(read.file.relative, start, read.parsed))
        start += read.parsed
    return staged_files


def _quarantine_by_check(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """Quarantined records per failed check, from the partition's quarantine file."""
    by_check = dict(
        con.execute(
            f"SELECT failed_check, count(*) FROM read_parquet({sql_str(str(folder / QUARANTINE_NAME))}) "
            "GROUP BY failed_check ORDER BY failed_check"
        ).fetchall()
    )
    return {str(k): int(v) for k, v in by_check.items()}


def _source_file_entries(reads: list[tuple[FileRead, str]]) -> list[SourceFileEntry]:
    """The manifest's record of each landing file read."""
    return [
        SourceFileEntry(
            path=r.file.relative,
            format=r.file.format,
            delivery_date=r.file.delivery_date.isoformat(),
            bytes=r.file.size,
            sha256=digest,
            records=r.records,
            parsed=r.parsed,
            malformed=r.malformed,
            missing_columns=r.missing_columns,
            ignored_columns=r.ignored_columns,
        )
        for r, digest in reads
    ]


def _load(
    source: duckdb.DuckDBPyConnection,
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    interval: Interval,
    protection: KeyedProtection,
    loader: StagedLoader,
    files: list[LandingFile],
) -> tuple[list[FileScan], list[int], str]:
    """Open the files and load them into ``staged``: the scans, each file's parsed records
    and which way the load went."""
    scans = [open_file(source, contract, file, i) for i, file in enumerate(files)]
    if can_load_direct(contract, scans):  # no PII: one statement, unless malformed
        parsed_records = load_direct(con, contract, interval, protection, scans)
        if parsed_records is not None:
            return scans, parsed_records, "one statement"
        return scans, loader.load(scans), "streamed (malformed)"
    return scans, loader.load(scans), "streamed"


def _lap(mark: float) -> tuple[float, float]:
    """Seconds since ``mark``, rounded, and the new mark."""
    now = time.perf_counter()
    return round(now - mark, 3), now
