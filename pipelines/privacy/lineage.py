"""Privacy actions in lineage: one OpenLineage run per erasure (and per DP release, and per
call releasing representativeness).

An erasure's COMPLETE event outputs every rewritten lake partition (``lake.<table>`` with its
new ``datasetVersion``, the same dataset the ingestion wrote), and carries a
``pipelines_privacy`` run facet: the action, the audit entry holding its certificate and the
rows removed. Counts, versions and the audit ``seq`` only: the subject is not named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.contracts import ContractSet
from pipelines.lineage.facets import PipelinesPrivacyRunFacet
from pipelines.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from pipelines.lineage.emit import LineageParts
    from pipelines.privacy.dp import NoisyCounts
    from pipelines.privacy.erase import Certificate
    from pipelines.privacy.representativeness import Outcome

JOB_PREFIX = "pipelines.privacy"


def privacy_facet(action: str, audit_seq: int | None, **fields: Any) -> PipelinesPrivacyRunFacet:
    from pipelines.lineage.facets import custom

    facet: PipelinesPrivacyRunFacet = custom(
        PipelinesPrivacyRunFacet, action=action, audit_seq=audit_seq, **fields
    )
    return facet


def erasure_lineage(settings: Settings, contracts: ContractSet, cert: Certificate) -> LineageParts:
    from pipelines.lake.partitions import published
    from pipelines.lake.storage import lake_store
    from pipelines.lineage.datasets import lake_partition_output
    from pipelines.lineage.emit import LineageParts

    store = lake_store(settings)  # a local folder or the object store
    outputs = []
    for r in cert.lake:
        part = published(store, r.table, r.partition)
        if part is None:
            raise FileNotFoundError(
                f"{r.table}/{r.partition}: no published version on {store.root}"
            )
        outputs.append(lake_partition_output(settings, contracts[r.table], part, {}))
    artifacts = len(cert.lake) + len(cert.features) + len(cert.warehouse) + len(cert.landing)
    artifacts += sum(len(r.tables) for r in cert.rebuilt)
    facet = privacy_facet(
        "erase", cert.audit_seq, rows_removed=cert.rows_removed, artifacts=artifacts
    )
    return LineageParts(outputs=outputs, run_facets={"pipelines_privacy": facet})


def dp_lineage(
    settings: Settings,
    table: str,
    snapshot: Path,
    noisy: NoisyCounts,
    audit_seq: int,
    sent: dict[str, Any] | None = None,
) -> LineageParts:
    """A DP release: reads the feature snapshot (its SHA-256 as version); spends epsilon;
    ``sent``: its ``destination`` and that destination's ``jurisdiction``."""
    from pipelines.features.paths import features_dir
    from pipelines.hashing import file_sha256
    from pipelines.lineage import facets as f
    from pipelines.lineage.emit import LineageParts
    from pipelines.lineage.events import input_dataset
    from pipelines.lineage.naming import feature_dataset

    ns, name = feature_dataset(features_dir(settings), table)
    from pipelines.lineage.jurisdiction import facets_for

    version = {"datasetVersion": f.dataset_version(file_sha256(snapshot))}
    dataset = input_dataset(ns, name, {**version, **facets_for(settings, table)})
    facet = privacy_facet(
        "dp_release",
        audit_seq,
        epsilon=noisy.epsilon,
        dataset=noisy.dataset,
        destination=(sent or {}).get("destination"),
        destination_jurisdiction=(sent or {}).get("jurisdiction"),
    )
    return LineageParts(inputs=[dataset], run_facets={"pipelines_privacy": facet})


def representativeness_lineage(
    settings: Settings, contracts: ContractSet, outcome: Outcome, audit_seq: int | None
) -> LineageParts:
    """DP representativeness releases: read the released lake partition versions; spend
    epsilon (total over the call's releases; refusals counted)."""
    from pipelines.lineage.datasets import lake_partition_input
    from pipelines.lineage.emit import LineageParts

    inputs = [lake_partition_input(settings, contracts[p.table], p) for p in outcome.read]
    facet = privacy_facet(
        "dp_representativeness",
        audit_seq,
        releases=len(outcome.released),
        refused=len(outcome.refused),
        epsilon=sum(float(r["epsilon"]) for r in outcome.released),
    )
    return LineageParts(inputs=inputs, run_facets={"pipelines_privacy": facet})
