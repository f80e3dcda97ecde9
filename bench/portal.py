"""Benchmark: how long the governance portal takes to serve each page on a data directory.

    python -m bench.portal --data-dir .data            # after `make demo`
    python -m bench.portal --data-dir .data --repeat 5

Each page is requested in-process (FastAPI's test client, no network) as the governance role,
once to warm up (imports, the lineage store's refresh) and then ``--repeat`` times; the median
and the slowest of those are reported per page. The bare baseline in the same run is the
portal's cheapest response (the 403 page: routing, the role check and rendering, no store
read), so the ratio shows what reading the stores costs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

PAGES = [
    "/",
    "/quality",
    "/quality?table=orders",
    "/lineage",
    "/lineage?column=customer_features.orders",
    "/pii",
    "/releases",
    "/audit",
]


def _time(client: object, path: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
        assert response.status_code in (200, 403, 404), (path, response.status_code)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from pipelines.portal.access import Role
    from pipelines.portal.app import create_app
    from pipelines.settings import Settings

    settings = Settings(data_dir=args.data_dir)
    from urllib.parse import quote

    from pipelines.quality.store import run_ids

    newest = (run_ids(settings) or [""])[-1]
    pages = [*PAGES, f"/quality?run_id={quote(newest, safe='')}&table=orders"]
    governance = TestClient(create_app(settings, lambda: Role.GOVERNANCE))
    nobody = TestClient(create_app(settings, lambda: None))
    baseline = statistics.median(_time(nobody, "/", args.repeat + 1)[1:])
    print(f"data dir {args.data_dir}; baseline (403 page) {baseline * 1000:.1f} ms")
    print(f"{'page':60} {'median ms':>10} {'max ms':>8} {'x baseline':>10}")
    for path in pages:
        _time(governance, path, 1)
        times = _time(governance, path, args.repeat)
        median = statistics.median(times)
        print(
            f"{path[:60]:60} {median * 1000:10.1f} {max(times) * 1000:8.1f} {median / baseline:10.1f}"
        )


if __name__ == "__main__":
    main()
