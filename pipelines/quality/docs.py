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

Every result asked for still goes into the context's results store (the index lists them
all), in the form the store keeps: GX's serialization of the result (its marshmallow schema,
:data:`SERIALIZED`). Building that string was most of an incremental build (8.3 of 12.6 s
wall, day 3 of the demo at load 18) and grew with the runs kept; a result file unchanged
since the last build (same size and modification time) goes in as the string kept beside the
site then, the same string GX would make again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from pipelines.quality import gxsetup, store, stored
from pipelines.settings import Settings

DEFAULT_RUNS = 30
RENDERED = ".rendered.json"
"""In the site: ``{result file: [size, mtime_ns]}`` of the results its pages were rendered from."""
SERIALIZED = ".serialized"
"""In the site: one file per stored result, ``{"stamp": [size, mtime_ns], "text": ...}``, the
result as the GX results store holds it (see the module docstring)."""


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
        kept = _Serialized(site / SERIALIZED)
        keys = {
            str(path): _store_result(
                context.validation_results_store, path, stamps[str(path)], kept
            )
            for path in files
        }
        kept.forget_others()
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


class _Serialized:
    """The results store's strings of the results, kept beside the site (:data:`SERIALIZED`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: set[str] = set()

    def _file(self, path: Path) -> Path:
        return self.folder / f"{hashlib.sha256(str(path).encode()).hexdigest()[:32]}.json"

    def get(self, path: Path, stamp: list[int]) -> str | None:
        file = self._file(path)
        self.used.add(file.name)
        try:
            kept = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(kept, dict) or kept.get("stamp") != stamp:
            return None
        text = kept.get("text")
        return text if isinstance(text, str) else None

    def put(self, path: Path, stamp: list[int], text: Any) -> None:
        if not isinstance(text, str):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        file = self._file(path)
        self.used.add(file.name)
        tmp = file.with_name(f".{file.name}.tmp")
        tmp.write_text(json.dumps({"stamp": stamp, "text": text}), encoding="utf-8")
        os.replace(tmp, file)

    def forget_others(self) -> None:
        """Remove the kept strings of results no longer asked for."""
        if self.folder.is_dir():
            for file in self.folder.iterdir():
                if file.name not in self.used:
                    file.unlink(missing_ok=True)


def _store_result(results_store: Any, path: Path, stamp: list[int], kept: _Serialized) -> Any:
    """Put one stored result file into the GX results store (as kept when the file is
    unchanged); returns its key."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )

    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    key = _result_key(raw)
    text = kept.get(path, stamp)
    if text is not None:
        results_store.store_backend.set(results_store.key_to_tuple(key), text)
        return key
    results_store.set(key, ExpectationSuiteValidationResult(**_init_args(raw)))
    kept.put(path, stamp, results_store.store_backend.get(results_store.key_to_tuple(key)))
    return key


def _result_key(raw: dict[str, Any]) -> Any:
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    return ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=str(raw.get("suite_name"))),
        run_id=_run_identifier((raw.get("meta") or {}).get("run_id")),
        batch_identifier=_batch_id(raw),
    )


def _run_identifier(run: Any) -> Any:
    """The result's ``meta.run_id`` as GX's ``RunIdentifier`` (stored as a mapping)."""
    from great_expectations.core.run_identifier import RunIdentifier

    if isinstance(run, dict):
        return RunIdentifier(run_name=run.get("run_name"), run_time=run.get("run_time"))
    return run


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
    if "run_id" in meta:
        meta["run_id"] = _run_identifier(meta["run_id"])
    return {
        "success": raw.get("success"),
        "results": results,
        "suite_name": raw.get("suite_name"),
        "statistics": raw.get("statistics") or {},
        "meta": meta,
    }
