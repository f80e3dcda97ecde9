"""An S3 client (boto3) for what DuckDB's httpfs does not do well: deleting objects, and
copying large files in streamed parts (httpfs reads a whole object into one value).

Credentials and endpoint are the ones DuckDB's secret uses
(:func:`pipelines.lake.extensions.resolved_s3_env`): the environment, or the Airflow
connection named by ``PIPELINES_S3_CONN_ID``; never code.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from typing import Any

from pipelines.lake.extensions import CONN_ID_ENV, S3_ENV, resolved_s3_env

CHUNK = 8 * 1024 * 1024
"""Bytes per streamed read (and the multipart threshold and part size of uploads)."""


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``."""
    if not url.startswith("s3://"):
        raise ValueError(f"{url!r} is not an s3:// URL")
    bucket, _, key = url[len("s3://") :].partition("/")
    return bucket, key


def s3_client(env: Mapping[str, str] | None = None) -> Any:
    """A boto3 S3 client for the resolved S3 settings (path-style for a custom endpoint, as
    MinIO and moto expect)."""
    import boto3
    from botocore.config import Config

    values = resolved_s3_env(env)
    if not values.get(S3_ENV["KEY_ID"]):
        raise RuntimeError(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
            "PIPELINES_S3_ENDPOINT for MinIO or moto), or PIPELINES_S3_CONN_ID."
        )
    endpoint = values.get(S3_ENV["ENDPOINT"]) or None
    if endpoint and "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    return boto3.client(
        "s3",
        aws_access_key_id=values[S3_ENV["KEY_ID"]],
        aws_secret_access_key=values.get(S3_ENV["SECRET"]),
        region_name=values.get(S3_ENV["REGION"]) or "us-east-1",
        endpoint_url=endpoint,
        config=Config(s3={"addressing_style": "path"} if endpoint else {}),
    )


def warm() -> None:
    """Load botocore's S3 model, endpoint rules and partitions into boto3's default session,
    which every client here is made from; no client is kept and nothing connects.

    Parsing them costs ~0.15 CPU s per process, paid by its first client. A Celery worker
    calls this once before its pool starts (:mod:`pipelines.worker`): the task processes it
    forks inherit the parsed files and make their clients in milliseconds.
    """
    unused = {S3_ENV["KEY_ID"]: "warm", S3_ENV["SECRET"]: "warm"}  # no request is made
    s3_client({**unused, S3_ENV["ENDPOINT"]: "http://127.0.0.1:9"}).close()


def shared_client(env: Mapping[str, str] | None = None) -> Any:
    """The process's boto3 client for these S3 settings (``env``, or the environment when
    None): made on first use and made again in a forked child, since a client must not cross a
    fork (Celery and Airflow fork task processes). Thread-safe once made."""
    names = (*S3_ENV.values(), CONN_ID_ENV)
    source = os.environ if env is None else env
    key = tuple(source.get(n, "") for n in names)
    return _cached_client(os.getpid(), key, None if env is None else tuple(sorted(env.items())))


@functools.lru_cache(maxsize=8)
def _cached_client(pid: int, key: tuple[str, ...], env: tuple[tuple[str, str], ...] | None) -> Any:
    """``pid`` and ``key`` are only the cache key."""
    return s3_client(None if env is None else dict(env))


def transfer_config() -> Any:
    """Multipart above :data:`CHUNK`: an upload becomes visible whole, at its completion."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=CHUNK, multipart_chunksize=CHUNK)


def exists(client: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def iter_chunks(client: Any, bucket: str, key: str) -> Iterator[bytes]:
    """The object's bytes in pieces of at most :data:`CHUNK`."""
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def list_level(client: Any, bucket: str, prefix: str) -> tuple[list[str], dict[str, int]]:
    """One level under the folder ``prefix`` (no trailing ``/``; empty: the bucket's top):
    the sub-folder names (sorted) and each object's name and size (in name order), all
    pages. An object named like the folder itself (a folder marker) is no file."""
    start = f"{prefix}/" if prefix else ""
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=start, Delimiter="/"
    )
    folders: set[str] = set()
    files: dict[str, int] = {}
    for page in pages:
        for common in page.get("CommonPrefixes", []):
            folders.add(str(common["Prefix"])[len(start) :].rstrip("/"))
        for item in page.get("Contents", []):
            name = str(item["Key"])[len(start) :]
            if name:
                files[name] = int(item["Size"])
    return sorted(folders), dict(sorted(files.items()))
