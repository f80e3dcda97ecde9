"""GX Data Docs for the stored validation results: a static site under ``reports/quality``.

The site is GX's own (``SiteBuilder`` with a local filesystem store), built from the stored
GX results of the runs asked for (default: the latest :data:`DEFAULT_RUNS` runs), so it can
be rebuilt at any time, by any process. Stored results are scrubbed of sample values before
they are written (:mod:`.runner`), so the pages cannot show any.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pipelines.quality import gxsetup, store
from pipelines.settings import Settings

DEFAULT_RUNS = 30


def build_docs(settings: Settings, run_ids: list[str] | None = None, *, clean: bool = True) -> Path:
    """Build the Data Docs site; returns its ``index.html``."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    import pipelines.quality.expectations  # noqa: F401  (custom renderers)

    site = store.docs_dir(settings)
    if clean and site.is_dir():
        shutil.rmtree(site)
    site.mkdir(parents=True, exist_ok=True)
    if run_ids is None:
        run_ids = store.run_ids(settings)[-DEFAULT_RUNS:]
    with gxsetup.quiet():
        context = gxsetup.new_context(site)
        results_store = context.validation_results_store
        for path in store.result_files(settings, run_ids):
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            result = ExpectationSuiteValidationResult(**_init_args(raw))
            run = result.meta.get("run_id")
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
                run_id=run,
                batch_identifier=_batch_id(raw),
            )
            results_store.set(key, result)
        context.build_data_docs(site_names=["quality"])
    index = site / "index.html"
    if not index.exists():  # no results yet: GX writes no index without results
        index.write_text(
            "<html><body><p>No quality results yet.</p></body></html>\n", encoding="utf-8"
        )
    return index


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
