"""The Data Docs build of ``quality_report``: every page rendered again vs only the new run's.

    python -m bench.quality_docs --data-dir DIR     # DIR: a demo's data dir (kept by bench.demo)

Copies DIR's stored quality results into a temporary data dir, then measures the CPU seconds
of :func:`pipelines.quality.docs.build_docs` for the last run as the daily task builds it:
``clean=True`` (before: every stored run's pages rendered) and ``clean=False`` with the pages
of the earlier runs already rendered (after: only the last run's pages).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from pipelines.quality import store
from pipelines.quality.docs import build_docs
from pipelines.settings import Settings


def _cpu(call: object) -> float:
    start = time.process_time()
    call()  # type: ignore[operator]
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-docs-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        shutil.copytree(args.data_dir / "quality", store.quality_dir(settings))
        runs = store.run_ids(settings)
        build_docs(settings, runs[:1])  # imports and GX's first context out of the way
        full = _cpu(lambda: build_docs(settings, runs))
        build_docs(settings, runs[:-1])
        incremental = _cpu(lambda: build_docs(settings, runs, clean=False))
        files = len(store.result_files(settings, runs))
    print(
        f"{len(runs)} runs, {files} results: every page {full:.1f} CPU s, only the last run's {incremental:.1f} CPU s"
    )


if __name__ == "__main__":
    main()
