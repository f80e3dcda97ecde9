"""``pipelines lake gc``: objects of a lake on an object store that no manifest names, older
than a grace period; listed by default, deleted (audited) with ``--delete``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.cli import main
from pipelines.lake.gc import collect
from pipelines.lake.partitions import partitions, verified_data_file
from pipelines.lake.storage import lake_storage
from pipelines.lake.stored import unreferenced
from pipelines.protection import AuditLog, KeyRing
from tests.s3server import S3Server
from tests.unit.lake.test_storage import _publish


def test_gc_lists_then_deletes_only_unreferenced_objects_past_the_grace_period(
    tmp_path: Path, s3_env: S3Server, keyring: KeyRing, monkeypatch, capsys
) -> None:
    root = f"s3://{s3_env.bucket}/{tmp_path.name}"
    store = lake_storage(root)
    publish = _publish(store, tmp_path)
    publish(5)
    [first] = partitions(store, "orders")
    publish(7)  # supersedes the first version: its data object is left unreferenced
    [current] = partitions(store, "orders")
    assert unreferenced(store, "orders") == [first.data_rel]

    assert collect(store, ["orders"], grace=timedelta(hours=1)) == []  # too young
    later = datetime.now(UTC) + timedelta(hours=2)
    [listed] = collect(store, ["orders"], grace=timedelta(hours=1), now=later)
    assert (listed.rel, listed.deleted) == (first.data_rel, False)
    assert unreferenced(store, "orders") == [first.data_rel]  # a dry run deletes nothing

    monkeypatch.setenv("PIPELINES_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PIPELINES_LAKE_URL", root)
    monkeypatch.setenv("PIPELINES_KEYS", keyring.to_json())
    assert main(["lake", "gc", "--table", "orders", "--grace-hours", "0"]) == 0
    assert "1 unreferenced object(s) older than 0 h (dry run" in capsys.readouterr().out
    assert unreferenced(store, "orders") == [first.data_rel]
    assert main(["lake", "gc", "--table", "orders", "--grace-hours", "0", "--delete"]) == 0
    assert "1 unreferenced object(s) deleted" in capsys.readouterr().out
    assert unreferenced(store, "orders") == []
    assert verified_data_file(current) == store.uri(current.data_rel)  # the current one stays
    entry = AuditLog(tmp_path / "data" / "audit" / "audit.jsonl", keyring).entries()[-1]
    assert (entry["action"], entry["details"]["deleted"]) == ("lake_gc", 1)
    assert json.loads(entry["details"]["objects"]) == [first.data_rel]


def test_gc_on_a_local_lake_has_nothing_to_collect(tmp_path: Path) -> None:
    store = lake_storage(tmp_path / "lake")
    _publish(store, tmp_path)(5)
    assert collect(store, ["orders"], grace=timedelta(0), delete=True) == []
