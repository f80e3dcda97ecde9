"""Benchmark: the shared small state on local files vs in PostgreSQL (issue #19).

    python -m bench.shared_state [--entries 200] [--writers 4] [--pg postgresql://...]

Creates a throw-away database on the server (default the machine's, trust auth) and times,
interleaved file / PostgreSQL:

* ``audit append``: one process appending ``--entries`` keyed entries (per entry);
* ``audit concurrent``: ``--writers`` processes appending ``--entries`` each (wall time),
  then ``verify`` of the whole chain;
* ``lineage emit``: the JSON-lines transport vs the PostgreSQL transport, per event;
* ``partition lock``: take and release an uncontended partition lock.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from pipelines.lake.publish import partition_lock
from pipelines.lineage.transport import JsonLinesConfig, JsonLinesTransport, PostgresTransport
from pipelines.protection import AuditLog, KeyRing
from pipelines.protection.audit_pg import PgAuditLog
from tests.pgdb import new_schema, temporary_database

EVENT = {"eventType": "COMPLETE", "eventTime": "2018-01-01T00:00:00Z",
         "job": {"namespace": "commerce", "name": "bench"},
         "run": {"runId": "01890000-0000-7000-8000-000000000001",
                 "facets": {"x": {"y": "z" * 2000}}}}  # fmt: skip


def _append(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append(actor="bench", action="bench", reason=f"entry {i}", details={"n": i})


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _concurrent(make: Callable[[], AuditLog], writers: int, n: int) -> float:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append, args=(make(), n)) for _ in range(writers)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    n, keyring = args.entries, KeyRing.generate()
    with temporary_database() as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        file_log, pg_log = AuditLog(folder / "a.jsonl", keyring), PgAuditLog(url, keyring)
        rows = []
        rows.append(("audit append, ms/entry", _timed(lambda: _append(file_log, n)) / n * 1e3,
                     _timed(lambda: _append(pg_log, n)) / n * 1e3))  # fmt: skip
        conc_file = _concurrent(lambda: AuditLog(folder / "c.jsonl", keyring), args.writers, n)
        url2 = new_schema(url)
        conc_pg = _concurrent(lambda: PgAuditLog(url2, keyring), args.writers, n)
        rows.append((f"audit {args.writers}x{n} concurrent, s", conc_file, conc_pg))
        c_file, c_pg = AuditLog(folder / "c.jsonl", keyring), PgAuditLog(url2, keyring)
        rows.append(("verify, ms/entry", _timed(c_file.verify) / (args.writers * n) * 1e3,
                     _timed(c_pg.verify) / (args.writers * n) * 1e3))  # fmt: skip
        jl = JsonLinesTransport(JsonLinesConfig(str(folder / "events.jsonl")))
        pg = PostgresTransport(SecretStr(url))
        rows.append(("lineage emit (2 kB), ms/event",
                     _timed(lambda: [jl.emit(EVENT) for _ in range(n)]) / n * 1e3,
                     _timed(lambda: [pg.emit(EVENT) for _ in range(n)]) / n * 1e3))  # fmt: skip

        def lock(lock_url: SecretStr | None) -> None:
            for _ in range(n):
                with partition_lock(folder / "lake" / "orders", "dt=x", lock_url=lock_url):
                    pass

        rows.append(("partition lock, ms/take+release", _timed(lambda: lock(None)) / n * 1e3,
                     _timed(lambda: lock(SecretStr(url))) / n * 1e3))  # fmt: skip
        assert c_pg.verify().entries == c_file.verify().entries == args.writers * n
    print(f"{'':36} {'file':>10} {'postgres':>10}")
    for name, a, b in rows:
        print(f"{name:36} {a:10.2f} {b:10.2f}")


if __name__ == "__main__":
    main()
