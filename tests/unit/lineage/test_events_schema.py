"""The offline OpenLineage schema check itself: it accepts real events and rejects broken ones."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from openlineage.client.event_v2 import RunState
from openlineage.client.serde import Serde

from pipelines.lineage import events as ev
from pipelines.lineage import facets as f
from pipelines.lineage.runs import RunRef
from tests.unit.lineage.ol_schema import event_problems, facet_classes

RUN = RunRef("commerce_daily.ingest_orders", "0b1c2d3e-4f50-5617-8293-a4b5c6d7e8f9", "commerce")


def good_event() -> dict[str, Any]:
    event = ev.run_event(
        RunState.COMPLETE,
        RUN,
        outputs=[
            ev.output_dataset(
                "file",
                "/lake/orders",
                {
                    "schema": f.schema([("order_id", "VARCHAR", "Order key.")]),
                    "columnLineage": f.column_lineage(
                        {"order_id": [f.Edge("file", "/landing/o.csv", "order_id")]}
                    ),
                    "tags": f.pii_tags(
                        [f.FieldTag("customer_id", "indirect_identifier", "pseudonymize")]
                    ),
                },
            )
        ],
        run_facets={
            "pipelines_airflow": f.custom(f.PipelinesAirflowRunFacet, dag_id="d", run_id="r")
        },
    )
    return json.loads(Serde.to_json(event))


def broken(path: list[Any], value: Any = None, delete: bool = False) -> dict[str, Any]:
    event = copy.deepcopy(good_event())
    node = event
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return event


def test_a_real_event_is_valid():
    assert event_problems(good_event()) == []


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (broken(["run", "runId"], "not-a-uuid"), "is not a 'uuid'"),
        (broken(["eventTime"], "2018-01-01"), "is not a 'date-time'"),
        (broken(["eventType"], "DONE"), "is not one of"),
        (broken(["job", "name"], delete=True), "'name' is a required property"),
        (broken(["outputs", 0, "facets", "schema", "_producer"], delete=True), "'_producer'"),
        (
            broken(["outputs", 0, "facets", "columnLineage", "fields", "order_id"], {"x": 1}),
            "'inputFields' is a required property",
        ),
        (
            broken(
                [
                    "outputs",
                    0,
                    "facets",
                    "columnLineage",
                    "fields",
                    "order_id",
                    "inputFields",
                    0,
                    "transformations",
                    0,
                    "type",
                ],
                "SIDEWAYS",
            ),
            "is not one of",
        ),
        (broken(["outputs", 0, "facets", "tags", "tags", 0, "value"], delete=True), "'value'"),
        (broken(["run", "facets", "pipelines_airflow", "run_id"], 7), "is not of type 'string'"),
        (
            broken(["run", "facets", "pipelines_airflow", "_schemaURL"], "https://x/y"),
            "unknown _schemaURL",
        ),
    ],
)
def test_broken_events_are_rejected(event: dict[str, Any], problem: str):
    problems = event_problems(event)
    assert any(problem in p for p in problems), problems


def test_a_facet_under_the_wrong_key_or_place_is_rejected():
    event = good_event()
    outputs = event["outputs"][0]
    outputs["facets"]["ownership"] = outputs["facets"].pop("schema")
    assert any("expected OwnershipDatasetFacet" in p for p in event_problems(event))
    event = good_event()
    event["job"]["facets"]["tags"] = event["outputs"][0]["facets"]["tags"]
    assert any("is not a job facet" in p for p in event_problems(event))


def test_every_custom_facet_has_a_schema():
    urls = {cls._get_schema() for cls in f.CUSTOM_FACETS.values()}
    assert urls <= set(facet_classes())


GENERIC_RUN = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet"
PROVIDER = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"


def _with_provider_facet(key: str, facet: dict[str, Any]) -> dict[str, Any]:
    event = good_event()
    event["run"]["facets"][key] = {"_producer": PROVIDER, "_schemaURL": GENERIC_RUN, **facet}
    return event


def test_the_providers_own_facets_are_checked_against_the_schemas_it_ships():
    state = {"dagRunState": "success", "tasksState": {"ingest_orders": "success"}}
    assert event_problems(_with_provider_facet("airflowState", state)) == []
    missing = event_problems(_with_provider_facet("airflowState", {"tasksState": {}}))
    assert any("'dagRunState' is a required property" in p for p in missing), missing
    wrong = event_problems(_with_provider_facet("airflowState", {**state, "dagRunState": 1}))
    assert any("airflowState/dagRunState: 1 is not of type 'string'" in p for p in wrong), wrong
    # a facet with only the generic URL and no shipped schema cannot be checked: refused
    unknown = event_problems(_with_provider_facet("somethingElse", {}))
    assert any("no schema shipped for run facet 'somethingElse'" in p for p in unknown)
    # the base RunFacet of the spec, resolved offline: _producer is required
    event = _with_provider_facet("airflowState", state)
    del event["run"]["facets"]["airflowState"]["_producer"]
    assert any("'_producer' is a required property" in p for p in event_problems(event))


def test_only_the_named_deviations_of_the_provider_are_tolerated():
    dag = {"dag_id": "commerce_daily"}
    facet = {
        "dag": dag,
        "dagRun": {"dag_id": "commerce_daily"},
        "task": {"retry_exponential_backoff": 0},
        "taskInstance": {"try_number": 1},
        "taskUuid": "0b1c2d3e-4f50-5617-8293-a4b5c6d7e8f9",
    }
    problems = event_problems(_with_provider_facet("airflow", facet))
    assert not any("pool" in p or "retry_exponential_backoff" in p for p in problems), problems
    facet["task"] = {"retry_exponential_backoff": 0, "depends_on_past": "no"}
    problems = event_problems(_with_provider_facet("airflow", facet))
    assert any("depends_on_past: 'no' is not of type 'boolean'" in p for p in problems), problems
