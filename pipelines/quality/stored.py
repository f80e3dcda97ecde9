"""The quality results store and the Data Docs site on the lake's object store, for workers
that share no disk (issue #19).

With the lake on an S3-compatible store (``lake_url = "s3://bucket/prefix"``), every file
:mod:`pipelines.quality.store` writes under ``<data_dir>/quality`` is also put at
``<lake_url>/_quality/<same relative path>`` (one PUT: whole or absent), its SHA-256 in the
object's metadata. Readers on any worker first bring the objects of the kind they read
(``checks``, ``stats``, ``results``, ``gates``) into their own ``<data_dir>/quality``, a
cache, then read exactly the files the store lists (a local file the store lacks is not
read):

* an object is downloaded only when the cache does not hold it: the cache's index
  (:data:`CACHE_INDEX`) binds each object's ETag to the local file it was verified into
  (inode, size, modification time), so any change on either side fetches it again;
* a downloaded object is checked against the SHA-256 its writer recorded: a mismatch (or
  none recorded) is **refused**: :class:`QualityStoreError` names the object, nothing of it
  is used, and every later read refuses it again until its writer rewrites it.

The Data Docs site (``<data_dir>/reports/quality``) goes to ``<lake_url>/_reports/quality/``
as content-addressed objects (``objects/<sha256>``) and then ``site.json`` (relative path ->
SHA-256), the commit: a reader (:func:`fetch_site`) follows ``site.json`` only and checks
each file it copies against it. Superseded site objects are left on the store.

With a local lake nothing here runs: the files already are where readers look.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from pipelines.hashing import file_sha256
from pipelines.settings import Settings

PREFIX = "_quality"
SITE_PREFIX = "_reports/quality"
SITE_MANIFEST = "site.json"
SHA_KEY = "sha256"
"""The object metadata key (``x-amz-meta-sha256``) holding a result file's SHA-256."""
CACHE_INDEX = ".store-cache.json"
"""In ``<data_dir>/quality``: ``{relative path: [etag, inode, size, mtime_ns]}``."""
CHUNK = 1 << 22


class QualityStoreError(RuntimeError):
    """An object on the store does not match the SHA-256 its writer recorded: refused."""


def on_store(settings: Settings) -> bool:
    return bool(settings.lake_url and settings.lake_url.startswith("s3://"))


def _location(settings: Settings, rel: str) -> tuple[str, str]:
    """(bucket, key) of ``rel`` under the lake's root."""
    root = str(settings.lake_url).rstrip("/")
    bucket, _, prefix = root[len("s3://") :].partition("/")
    return bucket, "/".join(p for p in (prefix.strip("/"), rel) if p)


def _client() -> Any:
    from pipelines.lake import s3client

    return s3client.shared_client()


def _stamp(path: Path) -> list[int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns]


def _load_index(cache: Path) -> dict[str, list[Any]]:
    try:
        loaded = json.loads((cache / CACHE_INDEX).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}  # none or unreadable: every object is fetched again
    return loaded if isinstance(loaded, dict) else {}


def _record(cache: Path, entries: Mapping[str, list[Any]]) -> None:
    """Add ``entries`` to the cache index (another process's concurrent update may be lost:
    its objects are then fetched again, never read unverified)."""
    index = _load_index(cache)
    index.update(entries)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{CACHE_INDEX}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        tmp.write_text(json.dumps(index, sort_keys=True), encoding="utf-8")
        os.replace(tmp, cache / CACHE_INDEX)
    finally:
        tmp.unlink(missing_ok=True)


def put_result(settings: Settings, staged: Path, cache: Path, rel: str) -> None:
    """Put the freshly written ``staged`` file (about to become ``cache/rel``) at
    ``_quality/rel`` with its SHA-256, and record it as cached (the stamp of ``staged``
    survives its rename; a later replacement of the file by anyone changes it)."""
    data = staged.read_bytes()
    bucket, key = _location(settings, f"{PREFIX}/{rel}")
    response = _client().put_object(
        Bucket=bucket, Key=key, Body=data, Metadata={SHA_KEY: hashlib.sha256(data).hexdigest()}
    )
    _record(cache, {rel: [response["ETag"], *(_stamp(staged) or [])]})


def _listing(client: Any, bucket: str, prefix: str) -> dict[str, str]:
    """``{name under prefix: ETag}`` of every object under ``prefix`` (all pages)."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[str(item["Key"])[len(prefix) :]] = str(item["ETag"])
    return found


def sync(settings: Settings, cache: Path, kind: str, suffix: str) -> list[Path]:
    """Bring the objects under ``_quality/<kind>/`` ending in ``suffix`` into ``cache/<kind>``
    (only those the cache lacks or holds in another version, each verified); returns the
    local paths of every one, sorted."""
    client = _client()
    bucket, prefix = _location(settings, f"{PREFIX}/{kind}/")
    index = _load_index(cache)
    fetched: dict[str, list[Any]] = {}
    paths = []
    try:
        for name, etag in sorted(_listing(client, bucket, prefix).items()):
            if not name.endswith(suffix):
                continue
            rel = f"{kind}/{name}"
            path = cache / rel
            entry = index.get(rel)
            if not entry or entry[0] != etag or entry[1:] != _stamp(path):
                fetched[rel] = _fetch(client, bucket, prefix + name, path)
            paths.append(path)
    finally:
        if fetched:
            _record(cache, fetched)
    return paths


def _fetch(
    client: Any, bucket: str, key: str, path: Path, expected: str | None = None
) -> list[Any]:
    """Download ``key`` to ``path`` if its SHA-256 is ``expected`` (default: the one its
    writer recorded in its metadata), else raise :class:`QualityStoreError`; returns the
    cache entry."""
    response = client.get_object(Bucket=bucket, Key=key)
    expected = expected or (response.get("Metadata") or {}).get(SHA_KEY)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.fetch")
    digest = hashlib.sha256()
    body = response["Body"]
    try:
        with staged.open("wb") as out:
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            raise QualityStoreError(
                f"s3://{bucket}/{key}: its content does not match the SHA-256 its writer "
                f"recorded{'' if expected else ' (none recorded)'}; it was not used. Re-run "
                "the task that wrote it (the table's quality validation, the gate or the "
                "quality report of that run) to write it again, or delete the object."
            )
        stamp = _stamp(staged) or []
        os.replace(staged, path)
    finally:
        body.close()
        staged.unlink(missing_ok=True)
    return [response["ETag"], *stamp]


def _site_files(site: Path) -> dict[str, str]:
    """``{relative path: SHA-256}`` of the site's files (not its dot files: build state)."""
    files = {}
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            files[rel.as_posix()] = file_sha256(path)
    return files


def publish_site(settings: Settings, site: Path) -> int:
    """Put the site's files that the store lacks (content-addressed), then ``site.json``
    (the commit); returns how many files were uploaded."""
    client = _client()
    bucket, prefix = _location(settings, f"{SITE_PREFIX}/")
    files = _site_files(site)
    present = set(_listing(client, bucket, prefix + "objects/"))
    uploaded = 0
    for rel, sha in files.items():
        if sha not in present:
            client.put_object(
                Bucket=bucket,
                Key=f"{prefix}objects/{sha}",
                Body=(site / rel).read_bytes(),
                Metadata={SHA_KEY: sha},
            )
            present.add(sha)
            uploaded += 1
    manifest = json.dumps({"files": files}, indent=1, sort_keys=True).encode()
    client.put_object(Bucket=bucket, Key=prefix + SITE_MANIFEST, Body=manifest)
    return uploaded


def fetch_site(settings: Settings, site: Path) -> bool:
    """Copy the site the store's ``site.json`` names into ``site`` (only files whose local
    copy differs, each checked against ``site.json``); False when the store has no site."""
    from botocore.exceptions import ClientError

    client = _client()
    bucket, prefix = _location(settings, f"{SITE_PREFIX}/")
    try:
        response = client.get_object(Bucket=bucket, Key=prefix + SITE_MANIFEST)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    files: dict[str, str] = json.loads(response["Body"].read())["files"]
    for rel, sha in sorted(files.items()):
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise QualityStoreError(
                f"s3://{bucket}/{prefix}{SITE_MANIFEST} names {rel!r}, outside the site; "
                "nothing more was copied. Rebuild the site: pipelines quality docs."
            )
        path = site.joinpath(*parts)
        if not (path.is_file() and file_sha256(path) == sha):
            _fetch(client, bucket, f"{prefix}objects/{sha}", path, sha)
    return True
