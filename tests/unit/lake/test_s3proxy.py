"""The stack test's S3 proxy (``tests/s3proxy.py``): requests pass through whole; a held one
waits, unseen by the store, until the test drops it (never written) or forwards it."""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import unquote

from pipelines.lake.storage import S3Storage
from tests.s3proxy import Seen, s3_proxy
from tests.s3server import S3Server


def test_requests_pass_and_a_held_commit_is_dropped_or_forwarded(
    s3_server: S3Server, tmp_path: Path
):
    direct = S3Storage("s3://lake/proxy-test", s3_server.env())
    data, manifest = tmp_path / "data.bin", tmp_path / "manifest.json"
    data.write_bytes(b"x" * 100_000)
    manifest.write_text("{}")
    with s3_proxy(s3_server.endpoint) as proxy:
        worker = S3Storage(
            "s3://lake/proxy-test", {**s3_server.env(), "PIPELINES_S3_ENDPOINT": proxy.listen("w")}
        )
        worker.put(data, "t/dt=1/data.bin")  # through the proxy, whole
        assert direct.sha256("t/dt=1/data.bin") == worker.sha256("t/dt=1/data.bin")

        def after_data(seen: Seen) -> bool:  # the proxy's log, read from ``when``
            puts = proxy.requests("w", "PUT")
            return any(
                unquote(s.path).endswith("/t/dt=1/data.bin") and s.status == 200 for s in puts
            )

        dropped = proxy.hold("w", "PUT", r"/t/dt=1/manifest\.json$", when=after_data)
        # the writer itself retries a dropped connection; only its first try is held
        writer = threading.Thread(target=worker.put, args=(manifest, "t/dt=1/manifest.json"))
        writer.start()
        held = dropped.wait(timeout=60)
        assert held.listener == "w" and held.body == b"{}"
        assert direct.listdir("t/dt=1") == ["data.bin"]  # not on the store while held
        dropped.drop()
        writer.join(timeout=60)
        statuses = [s.status for s in proxy.requests("w", "PUT") if "manifest" in s.path]
        assert statuses == [None, 200]  # the held try never reached the store; the retry did

        forwarded = proxy.hold("w", "PUT", r"/t/dt=2/manifest\.json$")
        writer = threading.Thread(target=worker.put, args=(manifest, "t/dt=2/manifest.json"))
        writer.start()
        forwarded.wait(timeout=60)
        assert direct.listdir("t") == ["dt=1"]
        forwarded.forward()
        writer.join(timeout=60)
        assert direct.read_text("t/dt=2/manifest.json") == "{}"
