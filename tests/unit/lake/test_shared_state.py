"""The privacy state two workers must share, with the lake on an object store (issue #19):
the key registry, the suppression list of erased subjects and the DP ledger live under
``_state/`` on the store, updated under the ``lock_url`` advisory lock. Two ``Settings`` with
different ``data_dir`` and the same ``lake_url`` and ``lock_url`` stand for two workers that
share no disk."""

from __future__ import annotations

import base64
import multiprocessing
from pathlib import Path

import duckdb
import pytest
from pydantic import SecretStr

from pipelines.contracts import ContractSet
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions, verified_data_file
from pipelines.lake.state import StateLockRequired, key_registry
from pipelines.lake.storage import lake_store
from pipelines.lake.subjects import subject_graph
from pipelines.lake.suppression import add_subject, read_list, suppression_state
from pipelines.portal.records import dp_segments
from pipelines.privacy.dp import BudgetExhausted, ledger_state, read_ledger, release_counts, spent
from pipelines.privacy.lineage import representativeness_lineage
from pipelines.privacy.representativeness import release_pending
from pipelines.protection import AuditLog, KeyRing
from pipelines.protection.errors import KeyMismatchError
from pipelines.settings import Settings
from tests.factories import DAY, clean_day, write_day
from tests.s3server import S3Server
from tests.unit.lake.state_binder import bind_many

INTERVAL = Interval.parse(DAY, "2018-01-02")
COUNTS = {"SP": 40, "RJ": 25, "MG": 10}


@pytest.fixture
def workers(
    settings: Settings, s3_env: S3Server, pg_url: str, tmp_path: Path
) -> tuple[Settings, Settings]:
    """Workers A and B: own data dirs, one lake on the store, one lock database; B reads the
    landing files A reads (landing on the store is not this test's concern)."""
    a = settings.model_copy(
        update={
            "lake_url": f"s3://{s3_env.bucket}/{tmp_path.name}",
            "lock_url": SecretStr(pg_url),
            "landing_dir": settings.landing,
        }
    )
    b = a.model_copy(update={"data_dir": tmp_path / "worker-b"})
    return a, b


def test_a_key_registered_by_one_worker_is_enforced_on_the_other(
    workers: tuple[Settings, Settings], keyring: KeyRing
) -> None:
    a, b = workers
    key_registry(a).bind(keyring)
    assert not (a.lake / "_keys.json").exists() and not (b.lake / "_keys.json").exists()
    assert key_registry(b).where.endswith("/_state/keys.json")

    other = KeyRing.generate()  # same ids (p1, e1, a1), other bytes
    for refused in (key_registry(b).bind, key_registry(b).check):
        with pytest.raises(KeyMismatchError) as error:
            refused(other)
        message = str(error.value)
        assert "'p1'" in message and "_state/keys.json" in message
        secret = other.pseudonymization.get("p1").secret
        for form in (secret.hex(), base64.b64encode(secret).decode()):
            assert form not in message  # the key id, never its bytes
    key_registry(b).bind(keyring)  # the ring the lake was written with: accepted
    assert key_registry(b).known() == key_registry(a).known()


def test_a_subject_erased_on_one_worker_is_suppressed_by_ingestion_on_the_other(
    workers: tuple[Settings, Settings],
    keyring: KeyRing,
    contracts: ContractSet,
    write_landing,
) -> None:
    a, b = workers
    write_day(write_landing, contracts, clean_day())
    first = ingest_table("customers", INTERVAL, a, keyring=keyring, contracts=contracts)
    assert first.manifest.counts.suppressed == 0

    graph = subject_graph(contracts)
    subject = contracts["customers"].column(graph.subject_column.split(".")[1]).lake_name
    [part] = partitions(lake_store(a), "customers")
    con = duckdb.connect()
    part.store.prepare(con)
    row = con.execute(
        f"SELECT sha256(CAST({subject} AS VARCHAR)) FROM read_parquet(?) LIMIT 1",
        [verified_data_file(part)],
    ).fetchone()
    assert row is not None
    # what erasure on worker A puts on the list (privacy.erase: digests, never values)
    add_subject(
        suppression_state(a), "sha256:x", {graph.subject_column: {row[0]}}, graph.subject_column
    )
    assert not (a.lake / "_privacy").exists()
    assert "sha256:x" in read_list(suppression_state(b))["subjects"]

    again = ingest_table("customers", INTERVAL, b, keyring=keyring, contracts=contracts)
    assert again.manifest.counts.suppressed >= 1
    assert (
        again.manifest.counts.loaded
        == first.manifest.counts.loaded - again.manifest.counts.suppressed
    )


def test_a_dp_release_on_one_worker_is_not_spent_again_on_the_other(
    workers: tuple[Settings, Settings],
    keyring: KeyRing,
    contracts: ContractSet,
    write_landing,
) -> None:
    a, b = workers
    write_day(write_landing, contracts, clean_day())
    ingest_table("customers", INTERVAL, a, keyring=keyring, contracts=contracts)

    def release(worker: Settings):  # type: ignore[no-untyped-def]
        log = AuditLog(worker.audit, keyring)
        return release_pending(worker, contracts, log, actor="gov@example.com", reason="t")

    first = release(a)
    assert [(r["table"], r["column"]) for r in first.released] == [("customers", "customer_state")]
    ledger = read_ledger(ledger_state(b))
    assert spent(ledger["lake.customers/dt=2018-01-01"]) == pytest.approx(0.1)
    assert not (a.data_dir / "privacy").exists(), "nothing in the worker's own folder"
    [read] = representativeness_lineage(a, contracts, first, None).inputs  # the task's lineage
    assert read.namespace == "s3://lake"

    assert release(b).records == []  # the store's record: never released (spent) again
    assert read_ledger(ledger_state(b)) == ledger
    wanted = {("customers", "dt=2018-01-01", "customer_state")}
    shown = dp_segments(b, wanted)  # the portal on worker B reads the store's release
    assert shown and {r["status"] for r in shown} == {"released"}
    assert {r["release_id"] for r in shown} == {first.released[0]["release_id"]}


def test_the_dp_budget_is_one_budget_for_every_worker(
    workers: tuple[Settings, Settings],
) -> None:
    a, b = workers
    release_counts(ledger_state(a), "features.x", "state", COUNTS, 0.6)
    with pytest.raises(BudgetExhausted, match=r"spent 0\.6"):
        release_counts(ledger_state(b), "features.x", "state", COUNTS, 0.6)
    release_counts(ledger_state(b), "features.x", "state", COUNTS, 0.4)
    assert spent(read_ledger(ledger_state(a))["features.x"]) == pytest.approx(1.0)


def test_on_a_store_without_lock_url_updates_are_refused_by_name(
    workers: tuple[Settings, Settings], keyring: KeyRing
) -> None:
    unlocked = workers[0].model_copy(update={"lock_url": None})
    updates = [
        lambda: key_registry(unlocked).bind(keyring),
        lambda: add_subject(suppression_state(unlocked), "sha256:x", {"k": {"h"}}, "k"),
        lambda: release_counts(ledger_state(unlocked), "features.x", "state", COUNTS, 0.1),
    ]
    for update in updates:
        with pytest.raises(StateLockRequired, match="set lock_url"):
            update()
    assert key_registry(unlocked).known() == {}  # nothing was written
    assert read_list(suppression_state(unlocked))["subjects"] == {}
    assert read_ledger(ledger_state(unlocked)) == {}

    key_registry(workers[0]).bind(keyring)
    key_registry(unlocked).bind(keyring)  # all ids known: nothing to update, no lock needed


def test_concurrent_binds_from_two_processes_lose_no_entry(
    workers: tuple[Settings, Settings], keyring: KeyRing
) -> None:
    a, b = workers
    key_registry(a).bind(keyring)
    count = 6
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Barrier(2)
    procs = [
        ctx.Process(
            target=bind_many,
            args=(
                str(w.data_dir),
                str(w.lake_url),
                w.lock_url.get_secret_value(),  # type: ignore[union-attr]
                keyring.to_json(),
                tag,
                count,
                go,
            ),
        )
        for w, tag in ((a, "pa"), (b, "pb"))
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    ids = set(key_registry(a).known()["pseudonymization"])
    assert ids == {"p1"} | {f"{t}{n}" for t in ("pa", "pb") for n in range(count)}
