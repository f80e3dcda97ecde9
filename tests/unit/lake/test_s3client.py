"""The S3 client side of the lake's storage: streamed writes, reads, hashes and deletes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pipelines.lake import s3client
from pipelines.lake.storage import lake_storage
from tests.s3server import S3Server


def test_a_file_larger_than_a_part_goes_up_and_down_whole(s3_env: S3Server, tmp_path: Path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(s3client.CHUNK * 2 + 123))  # a multipart upload
    store = lake_storage(f"s3://{s3_env.bucket}/{tmp_path.name}")
    store.put(big, "w/big.bin")

    assert store.sha256("w/big.bin") == hashlib.sha256(big.read_bytes()).hexdigest()
    store.get("w/big.bin", tmp_path / "back" / "big.bin")
    assert (tmp_path / "back" / "big.bin").read_bytes() == big.read_bytes()
    assert store.listdir("w") == ["big.bin"]


def test_delete_removes_the_object_and_a_missing_one_is_no_error(s3_env: S3Server, tmp_path: Path):
    small = tmp_path / "m.json"
    small.write_text('{"a": 1}')
    store = lake_storage(f"s3://{s3_env.bucket}/{tmp_path.name}")
    store.put(small, "t/m.json")
    assert store.read_text("t/m.json") == '{"a": 1}'

    store.delete("t/m.json")
    store.delete("t/m.json")
    assert store.sha256("t/m.json") is None
    assert store.listdir("t") == []


def test_without_credentials_the_client_says_what_to_set(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "PIPELINES_S3_CONN_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="AWS_ACCESS_KEY_ID"):
        s3client.s3_client()


def test_split_url_names_bucket_and_key():
    assert s3client.split_url("s3://b/x/y.parquet") == ("b", "x/y.parquet")
    with pytest.raises(ValueError, match="not an s3:// URL"):
        s3client.split_url("/tmp/x")


def test_one_client_per_process_and_a_forked_child_makes_its_own(s3_env: S3Server, tmp_path: Path):
    """A boto3 client must not cross a fork: Celery and Airflow fork task processes."""
    parent = s3client.shared_client()
    assert s3client.shared_client() is parent
    store = lake_storage(f"s3://{s3_env.bucket}/{tmp_path.name}")
    assert store._s3() is parent  # the storage, the state and the quality store share it
    small = tmp_path / "m.json"
    small.write_text("{}")
    pid = os.fork()
    if pid == 0:  # the child: a new client that works, not the parent's object
        try:
            child = s3client.shared_client()
            store.put(small, "fork/m.json")
            os._exit(0 if child is not parent and store._s3() is child else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.sha256("fork/m.json") == hashlib.sha256(b"{}").hexdigest()
    assert s3client.shared_client() is parent


def test_after_warm_a_client_reads_no_botocore_file(monkeypatch: pytest.MonkeyPatch):
    """A Celery worker warms boto3 before its pool forks (pipelines.worker): the task
    processes' clients then come from the parsed files, not from disk again."""
    import boto3
    import botocore.loaders

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # as in a new process
    s3client.warm()

    def refuse(self: object, file_path: str) -> None:
        raise AssertionError(f"read {file_path} again")

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", refuse)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("PIPELINES_S3_ENDPOINT", "http://127.0.0.1:9")
    client = s3client.s3_client()
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    client.close()
