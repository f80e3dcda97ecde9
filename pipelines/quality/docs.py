"""GX Data Docs for the stored validation results: a static site under ``reports/quality``.

The site is GX's own (``SiteBuilder`` with a local filesystem store), built from the stored
GX results of the runs asked for (default: the latest :data:`DEFAULT_RUNS` runs), so it can
be rebuilt at any time, by any process. Stored results are scrubbed of sample values before
they are written (:mod:`.runner`), so the pages cannot show any.

``clean=False`` builds incrementally: the site keeps the pages it has, a page is rendered
only for a result file that is new or changed since the last build (recorded in the site's
:data:`RENDERED` file: each result file's size and modification time), and the index is
rebuilt from every result asked for (GX removes the pages of results no longer asked for).
The daily DAG's ``quality_report`` builds so: rendering every stored run each day made its
cost grow with the number of runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pipelines.quality import gxsetup, store, stored
from pipelines.settings import Settings

DEFAULT_RUNS = 30
RENDERED = ".rendered.json"
"""In the site: ``{result file: [size, mtime_ns]}`` of the results its pages were rendered from."""


def build_docs(settings: Settings, run_ids: list[str] | None = None, *, clean: bool = True) -> Path:
    """Build the Data Docs site (``clean=False``: only new or changed results' pages, see the
    module docstring); returns its ``index.html``."""
    # GX renders a check only if its expectation class is registered: a process that never
    # validated (the quality_report task, `pipelines quality docs`) must import ours first
    import pipelines.quality.expectations  # noqa: F401

    site = store.docs_dir(settings)
    if clean and site.is_dir():
        shutil.rmtree(site)
    site.mkdir(parents=True, exist_ok=True)
    if run_ids is None:
        run_ids = store.run_ids(settings)[-DEFAULT_RUNS:]
    files = store.result_files(settings, run_ids)
    stamps = {str(path): _stamp(path) for path in files}
    rendered = _rendered(site)
    with gxsetup.quiet():
        context = gxsetup.new_context(site)
        keys = {str(path): _store_result(context.validation_results_store, path) for path in files}
        fresh = [key for name, key in keys.items() if rendered.get(name) != stamps[name]]
        # GX renders every stored result when it is given no keys: a key of no result
        # renders none (the index is still rebuilt).
        context.build_data_docs(site_names=["quality"], resource_identifiers=fresh or [_NO_RESULT])
    (site / RENDERED).write_text(json.dumps(stamps, sort_keys=True), encoding="utf-8")
    index = site / "index.html"
    if not index.exists():  # no results yet: GX writes no index without results
        index.write_text(
            "<html><body><p>No quality results yet.</p></body></html>\n", encoding="utf-8"
        )
    if stored.on_store(settings):  # for readers on other machines (pipelines quality summary)
        stored.publish_site(settings, site)
    return index


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _rendered(site: Path) -> dict[str, Any]:
    path = site / RENDERED
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}  # unreadable: render every page again
    return loaded if isinstance(loaded, dict) else {}


def _store_result(results_store: Any, path: Path) -> Any:
    """Put one stored result file into the GX results store; returns its key."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    result = ExpectationSuiteValidationResult(**_init_args(raw))
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
        run_id=result.meta.get("run_id"),
        batch_identifier=_batch_id(raw),
    )
    results_store.set(key, result)
    return key


class _NoResult:
    """Equal to no store key: ``resource_identifiers=[_NO_RESULT]`` renders no page."""

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0


_NO_RESULT = _NoResult()


def _batch_id(raw: dict[str, Any]) -> str:
    pipelines_meta = (raw.get("meta") or {}).get("pipelines") or {}
    return f"{pipelines_meta.get('table', raw.get('suite_name'))}-{pipelines_meta.get('partition', '')}"


def _init_args(raw: dict[str, Any]) -> dict[str, Any]:
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    results = []
    for r in raw.get("results", []):
        config = r.get("expectation_config") or {}
        config = {k: v for k, v in config.items() if k not in ("rendered_content",)}
        results.append(
            ExpectationValidationResult(
                success=r.get("success"),
                expectation_config=ExpectationConfiguration(**config),
                result=r.get("result") or {},
                meta=r.get("meta") or {},
                exception_info=r.get("exception_info") or {},
            )
        )
    meta = dict(raw.get("meta") or {})
    run = meta.get("run_id")
    if isinstance(run, dict):
        meta["run_id"] = RunIdentifier(run_name=run.get("run_name"), run_time=run.get("run_time"))
    return {
        "success": raw.get("success"),
        "results": results,
        "suite_name": raw.get("suite_name"),
        "statistics": raw.get("statistics") or {},
        "meta": meta,
    }
