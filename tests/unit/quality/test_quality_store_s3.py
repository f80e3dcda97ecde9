"""The quality results store and the Data Docs site in store mode: two workers with their own
``data_dir`` and one lake on an S3 server (moto) see each other's results (issue #19)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.lake import s3client
from pipelines.quality import store, stored, tasks
from pipelines.settings import Settings
from tests.s3server import S3Server

RUN = "scheduled__2018-01-02T00:00:00+00:00"


def _check(run: str, day: str, name: str, outcome: str, at: str) -> dict[str, Any]:
    return {
        "run_id": run,
        "run_key": store.run_key(run),
        "table": "orders",
        "partition": f"dt={day}",
        "interval_start": f"{day}T00:00:00+00:00",
        "interval_end": f"{day}T23:59:59+00:00",
        "suite": "orders",
        "expectation": name,
        "expectation_type": "expect_table_row_count_to_be_between",
        "severity": "critical",
        "source": "contract",
        "outcome": outcome,
        "success": outcome != "failed",
        "observed_value": "3",
        "unexpected_count": 0,
        "element_count": 3,
        "quarantined": 0,
        "validated_at": at,
    }


def _segment(run: str, day: str, segment: str, count: int) -> dict[str, Any]:
    return {
        "run_id": run,
        "table": "orders",
        "partition": f"dt={day}",
        "interval_start": f"{day}T00:00:00+00:00",
        "expectation": "order_status_representative",
        "kind": "representativeness",
        "segment": segment,
        "count": count,
    }


def _validate(settings: Settings, run: str, day: str, outcome: str = "passed") -> None:
    """What a table's validation task stores (without running GX)."""
    at = datetime.now(UTC).isoformat()
    checks = [_check(run, day, "contract.row_count", outcome, at)]
    stats = [_segment(run, day, "delivered", 3), _segment(run, day, "canceled", 1)]
    store.write_table_run(settings, run, "orders", checks, stats, {"suite_name": "orders"})


@pytest.fixture
def two_workers(settings: Settings, s3_env: S3Server, tmp_path: Path) -> tuple[Settings, Settings]:
    url = f"s3://{s3_env.bucket}/{tmp_path.name}"
    worker_a = settings.model_copy(update={"lake_url": url})
    worker_b = worker_a.model_copy(update={"data_dir": tmp_path / "worker-b"})
    return worker_a, worker_b


def _object(settings: Settings, rel: str) -> tuple[Any, str, str]:
    bucket, key = stored._location(settings, rel)
    return s3client.s3_client(), bucket, key


def test_results_written_on_one_worker_are_read_on_another(two_workers) -> None:
    a, b = two_workers
    _validate(a, "run-1", "2018-01-01")
    _validate(a, RUN, "2018-01-02")

    assert store.read_checks(b) == store.read_checks(a)
    assert store.run_ids(b) == ["run-1", RUN]
    assert store.read_stats(b) == store.read_stats(a)
    assert [p.relative_to(b.data_dir) for p in store.result_files(b, [RUN])] == [
        p.relative_to(a.data_dir) for p in store.result_files(a, [RUN])
    ]
    shares, label = store.previous_good_batch(b, "orders", "2018-01-03")
    assert shares == {"order_status_representative": {"delivered": 0.75, "canceled": 0.25}}
    assert label == f"dt=2018-01-02 (run {RUN})"
    # the reader's files are a cache of the store's objects
    client, bucket, key = _object(a, f"_quality/checks/run={store.run_key(RUN)}/orders.parquet")
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert (
        store.quality_dir(b) / "checks" / f"run={store.run_key(RUN)}" / "orders.parquet"
    ).read_bytes() == body


def test_a_gate_on_one_worker_decides_on_the_validation_of_another(two_workers) -> None:
    a, b = two_workers
    _validate(a, RUN, "2018-01-02", outcome="failed")
    start, end = datetime(2018, 1, 2, tzinfo=UTC), datetime(2018, 1, 2, 23, 59, 59, tzinfo=UTC)
    with pytest.raises(tasks.QualityGateFailed, match=r"contract\.row_count"):
        tasks.gate(start, end, RUN, ["orders"], settings=b)  # worker B sees A's failed check

    _validate(a, RUN, "2018-01-02")  # validated again on A: passes
    decision = tasks.gate(start, end, RUN, ["orders"], settings=b)
    assert decision["passed"]
    assert store.read_gates(a) == [decision]  # A sees the decision B took
    assert store.read_gate(a, RUN) == decision


def test_a_changed_object_is_refused_and_a_rewritten_one_fetched_again(two_workers) -> None:
    a, b = two_workers
    _validate(a, RUN, "2018-01-02")
    assert len(store.read_checks(b)) == 1
    rel = f"checks/run={store.run_key(RUN)}/orders.parquet"
    cached = store.quality_dir(b) / rel
    client, bucket, key = _object(a, f"_quality/{rel}")
    written = client.head_object(Bucket=bucket, Key=key)["Metadata"]

    # changed on the store behind its writer's back (the recorded SHA-256 kept): refused
    client.put_object(Bucket=bucket, Key=key, Body=b"not the result", Metadata=written)
    with pytest.raises(stored.QualityStoreError, match=r"_quality/checks/.*does not match"):
        store.read_checks(b)
    client.put_object(Bucket=bucket, Key=key, Body=b"not the result")  # none recorded
    with pytest.raises(stored.QualityStoreError, match="none recorded"):
        store.read_checks(b)
    assert not list(cached.parent.glob(".*"))  # nothing of it left in the cache

    _validate(a, RUN, "2018-01-02", outcome="warned")  # its writer writes it again
    assert [r["outcome"] for r in store.read_checks(b)] == ["warned"]

    cached.write_bytes(b"damaged locally")  # the cache changed: fetched again
    assert [r["outcome"] for r in store.read_checks(b)] == ["warned"]


def test_the_writer_reads_its_own_results_without_fetching_them(two_workers, monkeypatch) -> None:
    a, _ = two_workers
    _validate(a, RUN, "2018-01-02")
    store.write_gate(a, RUN, {"run_id": RUN, "passed": True})

    def no_fetch(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the writer's own file was fetched again")

    monkeypatch.setattr(stored, "_fetch", no_fetch)
    assert len(store.read_checks(a)) == 1 and store.read_gate(a, RUN) == {
        "run_id": RUN,
        "passed": True,
    }


def test_a_local_file_the_store_lacks_is_not_read_in_store_mode(two_workers) -> None:
    a, b = two_workers
    _validate(a, RUN, "2018-01-02")
    orphan = store.quality_dir(b) / "checks" / "run=orphan" / "orders.parquet"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(
        (
            store.quality_dir(a) / "checks" / f"run={store.run_key(RUN)}" / "orders.parquet"
        ).read_bytes()
    )
    assert len(store.read_checks(b)) == 1


def test_the_data_docs_site_is_put_on_the_store_and_pulled_verified(two_workers) -> None:
    a, b = two_workers
    site = store.docs_dir(a)
    (site / "validations").mkdir(parents=True)
    (site / "index.html").write_text("<html>index</html>")
    (site / "validations" / "orders.html").write_text("<html>orders</html>")
    (site / ".rendered.json").write_text("{}")  # build state: stays local
    assert stored.publish_site(a, site) == 2
    assert stored.publish_site(a, site) == 0  # unchanged files are not uploaded again

    index = store.docs_index(b)
    assert index == store.docs_dir(b) / "index.html"
    assert index.read_text() == "<html>index</html>"
    assert (index.parent / "validations" / "orders.html").read_text() == "<html>orders</html>"
    assert not (index.parent / ".rendered.json").exists()

    (site / "index.html").write_text("<html>index 2</html>")  # rebuilt on A
    stored.publish_site(a, site)
    assert store.docs_index(b).read_text() == "<html>index 2</html>"

    client, bucket, prefix = _object(a, "_reports/quality/objects/")
    sha = stored._site_files(site)["validations/orders.html"]
    client.put_object(Bucket=bucket, Key=prefix + sha, Body=b"<html>changed</html>")
    (index.parent / "validations" / "orders.html").unlink()
    with pytest.raises(stored.QualityStoreError, match="does not match"):
        store.docs_index(b)
    assert not (index.parent / "validations" / "orders.html").exists()


def test_the_data_docs_lineage_names_the_site_on_the_store(two_workers) -> None:
    from pipelines.quality.lineage import docs_lineage

    a, _ = two_workers
    bucket, key = stored._location(a, stored.SITE_PREFIX)
    (output,) = docs_lineage(a, str(store.docs_dir(a) / "index.html")).outputs
    assert (output.namespace, output.name) == (f"s3://{bucket}", key)


def test_the_embedded_default_touches_no_store(settings: Settings, monkeypatch) -> None:
    def no_store() -> None:
        raise AssertionError("the store was used without lake_url")

    monkeypatch.setattr(stored, "_client", no_store)
    _validate(settings, RUN, "2018-01-02")
    store.write_gate(settings, RUN, {"run_id": RUN, "passed": True})
    assert len(store.read_checks(settings)) == 1 and store.read_gate(settings, RUN)
    assert store.docs_index(settings) == store.docs_dir(settings) / "index.html"
    assert sorted(p.name for p in store.quality_dir(settings).iterdir()) == [
        "checks",
        "gates",
        "results",
        "stats",
    ]
