"""Where a dataset's data subjects live, in lineage: the ``pipelines_jurisdiction`` facet.

From the policy file (``policy.yml``, docs/policy.md): a lake table and the landing files it
is read from carry its source's jurisdiction (``sources.<table>.jurisdiction``); a feature
table the jurisdictions of the sources the policy derives it from (``features.<table>.
sources``). An output that has none takes the union of its run's inputs'
(:func:`propagate`, applied to every event by :func:`pipelines.lineage.events.run_event`);
across runs, reporting propagates them through the lineage graph. Without a readable policy
file no facet is added: lineage never fails on the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.lineage import facets as f
from pipelines.policy.model import Policy, PolicyError, load_policy
from pipelines.settings import Settings

if TYPE_CHECKING:
    from openlineage.client.event_v2 import InputDataset, OutputDataset

KEY = "pipelines_jurisdiction"
_POLICIES: dict[tuple[str, int, int], Policy | None] = {}


def policy_of(settings: Settings) -> Policy | None:
    """The settings' policy, parsed once per process (again when the file changes)."""
    path = Path(settings.policy_file)
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _POLICIES:
        try:
            found: Policy | None = load_policy(path)
        except PolicyError:
            found = None
        _POLICIES.clear()
        _POLICIES[key] = found
    return _POLICIES[key]


def facets_for(settings: Settings, table: str) -> dict[str, Any]:
    """``{"pipelines_jurisdiction": ...}`` for a source or feature table the policy knows."""
    policy = policy_of(settings)
    if policy is None:
        return {}
    subjects = policy.jurisdictions_of(table)
    if not subjects:
        return {}
    name = policy.path.name if policy.path else "policy"
    entry = f"sources.{table}" if table in policy.sources else f"features.{table}.sources"
    return {KEY: f.jurisdiction(subjects, f"{name}: {entry}")}


def subjects_of(facets: Any) -> list[str]:
    facet = (facets or {}).get(KEY)
    return list(getattr(facet, "subjects", None) or [])


def propagate(inputs: Sequence[InputDataset], outputs: Sequence[OutputDataset]) -> None:
    """Give every output without a jurisdiction the union of the inputs' (in place)."""
    subjects = sorted({s for d in inputs for s in subjects_of(d.facets)})
    if not subjects:
        return
    for output in outputs:
        if not subjects_of(output.facets):
            facets = dict(output.facets or {})
            facets[KEY] = f.jurisdiction(subjects, "derived: the run's inputs")
            output.facets = facets
