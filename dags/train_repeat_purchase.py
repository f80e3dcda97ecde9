"""Train the repeat-purchase classifier whenever a customer feature release is published.

Scheduled on the ``features.customer_features`` Asset, which ``commerce_daily``'s
``publish_features`` updates with the release id, dataset version, row count and gate status.
``train_model`` trains a scikit-learn classifier on the pseudonymous customer features
through ``pipelines.features.training_set`` on the release the triggering asset event names
(``as_of`` in its extra; the latest published release for a manual run) (labels from the release's gate-passed lake
partitions; ``horizon_days`` is a DAG param) for the declared ``purpose`` (a DAG param the
policy file must approve customer_features for; any other is refused), writes the artifact and its model card under ``<data_dir>/models/``, and emits
OpenLineage events naming the exact feature snapshot and lake partitions it consumed
(``pipelines lineage trace model:repeat_purchase``). One call into ``pipelines``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, task

from pipelines.assets import feature_asset


@dag(
    dag_id="train_repeat_purchase",
    schedule=[feature_asset("customer_features")],
    start_date=datetime(2016, 9, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["features", "ml", "lineage"],
    default_args={"retries": 1},
    # days after the feature snapshot in which a customer's next order counts as a repeat
    # the declared purpose: policy.yml must approve customer_features for it
    params={"horizon_days": 30, "purpose": "repeat_purchase"},
    doc_md=__doc__,
)
def train_repeat_purchase() -> None:
    @task(execution_timeout=timedelta(minutes=30))
    def train_model(run_id=None, params=None, triggering_asset_events=None):  # type: ignore[no-untyped-def]
        from pipelines.models.tasks import train_repeat_purchase as run
        from pipelines.models.tasks import triggering_as_of

        as_of = triggering_as_of(triggering_asset_events)
        return run(run_id, int(params["horizon_days"]), as_of, str(params["purpose"]))

    train_model()


train_repeat_purchase()
