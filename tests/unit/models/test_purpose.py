"""The training DAG declares its purpose: the card and the lineage carry it, and a purpose
the policy does not approve is refused through the API and through the DAG's task."""

from __future__ import annotations

import json

import pytest

from pipelines.cli import main
from pipelines.models.repeat_purchase import train
from pipelines.policy import PurposeRefused
from pipelines.settings import PROJECT_DIR
from tests.unit.models.conftest import TrainedTwice
from tests.unit.models.training_lake import HORIZON_DAYS, MIDDLE


def test_the_purpose_is_on_the_card_in_lineage_and_in_the_trace(
    trained: TrainedTwice, capsys: pytest.CaptureFixture[str]
):
    assert trained.first.card["purpose"] == "repeat_purchase"
    md = (trained.first.folder / "card.md").read_text()
    assert "- purpose: repeat_purchase" in md
    [event, *_] = trained.training_completes()
    assert event["run"]["facets"]["pipelines_training"]["purpose"] == "repeat_purchase"
    data = str(trained.settings.data_dir)
    assert main(["--data-dir", data, "lineage", "trace", "model:repeat_purchase"]) == 0
    assert "for purpose repeat_purchase" in capsys.readouterr().out
    metadata = json.loads((trained.first.folder / "metadata.json").read_text())
    assert metadata["purpose"] == "repeat_purchase"


def test_training_for_an_unapproved_purpose_is_refused(trained: TrainedTwice):
    with pytest.raises(PurposeRefused, match=r"ml-lead@example\.com"):
        train(
            release_as_of=MIDDLE,
            horizon_days=HORIZON_DAYS,
            settings=trained.settings,
            purpose="credit_scoring",
        )


def test_the_training_dags_task_refuses_an_unapproved_purpose(
    trained: TrainedTwice, monkeypatch: pytest.MonkeyPatch
):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    monkeypatch.setenv("PIPELINES_DATA_DIR", str(trained.settings.data_dir))
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags" / "train_repeat_purchase.py"))
    dag = bag.dags["train_repeat_purchase"]
    assert dag.params["purpose"] == "repeat_purchase"
    task = dag.get_task("train_model")
    params = {"horizon_days": HORIZON_DAYS, "purpose": "credit_scoring"}
    with pytest.raises(AirflowFailException, match="not approved for purpose 'credit_scoring'"):
        task.python_callable(run_id="manual__refused", params=params)
