"""Building RunEvents: the run (see :mod:`pipelines.lineage.runs`), its parent, its facets and
datasets, and when."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated import (
    error_message_run,
    job_type_job,
    nominal_time_run,
    parent_run,
    source_code_location_job,
    sql_job,
)

from pipelines.lineage import facets as f
from pipelines.lineage import naming
from pipelines.lineage.jurisdiction import propagate
from pipelines.lineage.runs import (
    AirflowRun,
    RunRef,
    current_airflow_run,
    dag_run,
    now,
    step_run_ref,
    task_run_ref,
)
from pipelines.settings import PROJECT_DIR

log = logging.getLogger(__name__)


# Facets of runs and jobs ---------------------------------------------------------------------


def parent_facet(run: RunRef) -> parent_run.ParentRunFacet | None:
    if run.parent is None:
        return None
    parent, root = run.parent, run.root
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent.run_id),
        job=parent_run.Job(namespace=parent.namespace, name=parent.job),
        root=parent_run.Root(
            run=parent_run.RootRun(runId=root.run_id),
            job=parent_run.RootJob(namespace=root.namespace, name=root.job),
        ),
        producer=naming.PRODUCER,
    )


def nominal_time(start: datetime, end: datetime) -> nominal_time_run.NominalTimeRunFacet:
    return nominal_time_run.NominalTimeRunFacet(
        nominalStartTime=start.astimezone(UTC).isoformat(),
        nominalEndTime=end.astimezone(UTC).isoformat(),
        producer=naming.PRODUCER,
    )


def airflow_facet(airflow: AirflowRun | None, *, task: bool = True) -> Any:
    if airflow is None:
        return None
    return f.custom(
        f.PipelinesAirflowRunFacet,
        dag_id=airflow.dag_id,
        run_id=airflow.run_id,
        task_id=airflow.task_id if task else None,
        try_number=airflow.try_number if task else None,
    )


_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


def redact_quoted(message: str) -> str:
    """Replace quoted literals (which engines use to quote data values) by ``'…'``."""
    return _QUOTED.sub(lambda m: m.group(0)[0] + "…" + m.group(0)[0], message)


def error_facet(error: BaseException | str, *, redact: bool = False, limit: int = 2000) -> Any:
    """``errorMessage``: the exception's type and its message as the redaction boundary lets it
    out (:func:`pipelines.redact.describe`; text passes :func:`pipelines.redact.redact_text`);
    no stack trace, no locals. ``redact`` also blanks quoted literals."""
    from pipelines.redact import describe, redact_text

    message = describe(error) if isinstance(error, BaseException) else redact_text(error)
    if redact:
        message = redact_quoted(message)
    if len(message) > limit:
        message = message[: limit - 1] + "…"
    return error_message_run.ErrorMessageRunFacet(
        message=message, programmingLanguage="python", producer=naming.PRODUCER
    )


def job_type(job_type_name: str, integration: str = "PIPELINES") -> Any:
    return job_type_job.JobTypeJobFacet(
        processingType="BATCH",
        integration=integration,
        jobType=job_type_name,
        producer=naming.PRODUCER,
    )


def sql_facet(query: str, dialect: str = "duckdb") -> Any:
    return sql_job.SQLJobFacet(query=query, dialect=dialect, producer=naming.PRODUCER)


def _git_dirs(root: Path) -> tuple[Path, Path]:
    """``(git dir, common dir)`` of a checkout: ``.git`` itself, or for a worktree (``.git``
    is a file ``gitdir: <dir>``) that dir and the main repository's (its ``commondir``)."""
    git = root / ".git"
    if not git.is_file():
        return git, git
    text = git.read_text().strip()
    own = Path(text.removeprefix("gitdir:").strip())
    own = own if own.is_absolute() else (root / own)
    common = own / "commondir"
    if common.is_file():
        shared = Path(common.read_text().strip())
        return own, shared if shared.is_absolute() else (own / shared)
    return own, own


@lru_cache(maxsize=1)
def _git_version() -> str | None:
    return read_git_version(PROJECT_DIR)


def read_git_version(root: Path) -> str | None:
    """The commit checked out at ``root``, read from ``.git`` (no subprocess); None when
    unknown."""
    try:
        git, common = _git_dirs(root)
        content = (git / "HEAD").read_text().strip()
        if not content.startswith("ref: "):
            return content or None
        ref = content[5:]
        for folder in (git, common):
            if (folder / ref).is_file():
                return (folder / ref).read_text().strip() or None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                sha, _, name = line.partition(" ")
                if name == ref:
                    return sha
    except OSError:
        pass
    return None


def git_version() -> str | None:
    """The checked-out commit (the code version of a run), or None when unknown."""
    return _git_version()


def source_location(path: str) -> Any:
    """``sourceCodeLocation``: a file of this repository (``path`` relative to its root)."""
    return source_code_location_job.SourceCodeLocationJobFacet(
        type="git",
        url=PROJECT_DIR.resolve().as_uri(),
        path=path,
        version=_git_version(),
        producer=naming.PRODUCER,
    )


# Events --------------------------------------------------------------------------------------


def _clean(facets: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (facets or {}).items() if v is not None}


def run_event(
    state: RunState,
    run: RunRef,
    *,
    inputs: Sequence[InputDataset] = (),
    outputs: Sequence[OutputDataset] = (),
    run_facets: Mapping[str, Any] | None = None,
    job_facets: Mapping[str, Any] | None = None,
    event_time: str | None = None,
) -> RunEvent:
    """A RunEvent for ``run``; the ``parent`` facet is added from ``run.parent``, and outputs
    without a jurisdiction take their inputs' (:func:`pipelines.lineage.jurisdiction.propagate`)."""
    propagate(inputs, outputs)
    facets = _clean(run_facets)
    parent = parent_facet(run)
    if parent is not None:
        facets["parent"] = parent
    return RunEvent(
        eventType=state,
        eventTime=event_time or now(),
        run=Run(runId=run.run_id, facets=facets),
        job=Job(namespace=run.namespace, name=run.job, facets=_clean(job_facets)),
        inputs=list(inputs),
        outputs=list(outputs),
        producer=naming.PRODUCER,
    )


def input_dataset(
    namespace: str,
    name: str,
    facets: Mapping[str, Any] | None = None,
    input_facets: Mapping[str, Any] | None = None,
) -> InputDataset:
    return InputDataset(
        namespace=namespace, name=name, facets=_clean(facets), inputFacets=_clean(input_facets)
    )


def output_dataset(
    namespace: str,
    name: str,
    facets: Mapping[str, Any] | None = None,
    output_facets: Mapping[str, Any] | None = None,
) -> OutputDataset:
    return OutputDataset(
        namespace=namespace, name=name, facets=_clean(facets), outputFacets=_clean(output_facets)
    )


__all__ = [
    "AirflowRun",
    "RunRef",
    "current_airflow_run",
    "dag_run",
    "input_dataset",
    "now",
    "output_dataset",
    "run_event",
    "step_run_ref",
    "task_run_ref",
]
