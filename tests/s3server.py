"""An S3-compatible server for tests: moto's standalone server in its own process.

The server listens on a free localhost port; :func:`start_s3_server` returns once it answers
and a bucket exists. Credentials are moto's test values, handed to code under test through
the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``,
``PIPELINES_S3_ENDPOINT``), never written in it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    key_id: str = "testing"
    secret: str = "testing"
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The environment a client reads its S3 settings from."""
        return {
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_REGION": self.region,
            "PIPELINES_S3_ENDPOINT": self.endpoint,
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer on {url} in {timeout} s: {log}")


def _create_bucket(url: str, bucket: str) -> None:
    request = urllib.request.Request(f"{url}/{bucket}", method="PUT")
    urllib.request.urlopen(request, timeout=10).close()


@contextmanager
def start_s3_server(
    workdir: Path, bucket: str = "lake", timeout: float = 60.0
) -> Iterator[S3Server]:
    """Run ``moto_server`` on a free port until the context exits; yields the server."""
    port = free_port()
    log = workdir / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/moto-api/", proc, log, timeout)
        _create_bucket(url, bucket)
        yield S3Server(endpoint=url, bucket=bucket)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def upload_landing_tree(server: S3Server, folder: Path, prefix: str) -> str:
    """Upload a local landing tree (``<YYYY-MM-DD>/<file>``, as ``pipelines generate`` or the
    ``write_landing`` fixture write it) to ``s3://<bucket>/<prefix>`` on ``server``; returns
    that URL, the ``landing_url`` to ingest it from."""
    from pipelines.ingest.landing import upload_landing
    from pipelines.lake.storage import lake_storage

    url = f"s3://{server.bucket}/{prefix.strip('/')}"
    upload_landing(folder, lake_storage(url, server.env()))
    return url


def mirror_lake(local_lake: Path, url: str, env: dict[str, str]) -> None:
    """Publish every partition of the local lake folder ``local_lake`` to the store at ``url``
    as ingestion there would (objects under their hashes, then the manifest): the same data,
    the same manifests, for comparing a reader of a local lake with one of the store."""
    from pipelines.lake.partitions import partitions, tables
    from pipelines.lake.storage import lake_storage
    from pipelines.lake.stored import publish_staged

    store = lake_storage(url, env)
    for table in tables(local_lake):
        for part in partitions(local_lake, table):
            publish_staged(store, table, part.name, part.folder)
