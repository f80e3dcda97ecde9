"""Hand-written OpenLineage events for two daily runs of ``commerce_daily``, following
``notes/lineage_spec.md`` (not produced by the emitter, so store/trace tests stand alone).

landing csv --(ingest: pseudonymize customer ids, generalize zip, keep state)--> lake table
lake table --(build_features)--> warehouse.lake.<table> view --(dbt)--> stg_* --> int_ -->
customer_features. ``customer_state`` is a quasi-identifier the contract keeps in clear: it
reaches ``customer_features.home_state`` without masking, the deliberate PII path.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

PRODUCER = "https://github.com/example/commerce-pipelines/tests"
NS = "commerce"
DAG = "commerce_daily"
DAYS = ("2018-01-01", "2018-01-02")
RUN_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
CUSTOM = "https://example.com/commerce-pipelines/facets/"

Event = dict[str, Any]


def run_id(*parts: str) -> str:
    return str(uuid.uuid5(RUN_NAMESPACE, "/".join(parts)))


def dag_run(day: str) -> str:
    return run_id(DAG, f"scheduled__{day}")


def task_run(day: str, task: str) -> str:
    return run_id(DAG, task, f"scheduled__{day}", "1")


def model_run(day: str, model: str) -> str:
    return run_id(DAG, "build_features", model, f"scheduled__{day}")


def version(table: str, day: str) -> str:
    return hashlib.sha256(f"{table}/{day}".encode()).hexdigest()


class Layout:
    """Where the datasets of the fixture live (under a test's data directory)."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.landing = data_dir / "landing"
        self.lake = data_dir / "lake"
        self.warehouse = data_dir / "warehouse.duckdb"
        self.wh_ns = f"duckdb://{self.warehouse}"

    def landing_file(self, table: str, day: str) -> str:
        return str(self.landing / day / f"olist_{table}_dataset.csv")

    def lake_table(self, table: str) -> str:
        return str(self.lake / table)


LANDING_COLUMNS = {
    "customers": [
        ("customer_id", "VARCHAR", "indirect_identifier"),
        ("customer_unique_id", "VARCHAR", "indirect_identifier"),
        ("customer_zip_code_prefix", "VARCHAR", "quasi_identifier"),
        ("customer_city", "VARCHAR", "quasi_identifier"),
        ("customer_state", "VARCHAR", "quasi_identifier"),
    ],
    "orders": [
        ("order_id", "VARCHAR", None),
        ("customer_id", "VARCHAR", "indirect_identifier"),
        ("order_status", "VARCHAR", None),
        ("order_purchase_timestamp", "VARCHAR", None),
    ],
}

# lake column: (landing column, type, subtype, description, masking, pii, protection)
LAKE_COLUMNS: dict[str, list[tuple[str, str, str, str, str | None, bool, str | None, str]]] = {
    "customers": [
        ("customer_id", "customer_id", "VARCHAR", "TRANSFORMATION",
         "pseudonymize: HMAC-SHA256 key p1", True, "indirect_identifier", "pseudonymize"),
        ("customer_unique_id", "customer_unique_id", "VARCHAR", "TRANSFORMATION",
         "pseudonymize: HMAC-SHA256 key p1", True, "indirect_identifier", "pseudonymize"),
        ("customer_zip3", "customer_zip_code_prefix", "VARCHAR", "TRANSFORMATION",
         "generalize: zip_prefix_3", True, "quasi_identifier", "generalize"),
        ("customer_state", "customer_state", "VARCHAR", "IDENTITY", None, False,
         "quasi_identifier", "keep"),
    ],
    "orders": [
        ("order_id", "order_id", "VARCHAR", "IDENTITY", None, False, None, "keep"),
        ("customer_id", "customer_id", "VARCHAR", "TRANSFORMATION",
         "pseudonymize: HMAC-SHA256 key p1", True, "indirect_identifier", "pseudonymize"),
        ("order_status", "order_status", "VARCHAR", "IDENTITY", None, False, None, "keep"),
        ("order_purchase_timestamp", "order_purchase_timestamp", "TIMESTAMP", "TRANSFORMATION",
         "cast to TIMESTAMP", False, None, "keep"),
    ],
}  # fmt: skip

LANDING_PROTECTION = {
    table: {c[1]: c[7] for c in columns} for table, columns in LAKE_COLUMNS.items()
}
"""The contract's protection of each landing column (from the lake column it becomes)."""

# warehouse model: output column -> [(input relation, input column, type, subtype, description)]
MODELS: dict[str, dict[str, list[tuple[str, str, str, str, str | None]]]] = {
    "stg_orders": {
        "order_id": [("lake.orders", "order_id", "DIRECT", "IDENTITY", None)],
        "customer_id": [("lake.orders", "customer_id", "DIRECT", "IDENTITY", None)],
        "order_status": [("lake.orders", "order_status", "DIRECT", "IDENTITY", None)],
        "purchased_at": [
            ("lake.orders", "order_purchase_timestamp", "DIRECT", "IDENTITY", None)
        ],
    },
    "stg_customers": {
        "customer_id": [("lake.customers", "customer_id", "DIRECT", "IDENTITY", None)],
        "customer_unique_id": [
            ("lake.customers", "customer_unique_id", "DIRECT", "IDENTITY", None)
        ],
        "customer_zip3": [("lake.customers", "customer_zip3", "DIRECT", "IDENTITY", None)],
        "customer_state": [("lake.customers", "customer_state", "DIRECT", "IDENTITY", None)],
    },
    "int_customer_orders": {
        "order_id": [("main.stg_orders", "order_id", "DIRECT", "IDENTITY", None)],
        "customer_unique_id": [
            ("main.stg_customers", "customer_unique_id", "DIRECT", "IDENTITY", None),
            ("main.stg_orders", "customer_id", "INDIRECT", "JOIN", "join on customer_id"),
        ],
        "customer_state": [("main.stg_customers", "customer_state", "DIRECT", "IDENTITY", None)],
        "purchased_at": [("main.stg_orders", "purchased_at", "DIRECT", "IDENTITY", None)],
    },
    "customer_features": {
        "customer_unique_id": [
            ("main.int_customer_orders", "customer_unique_id", "DIRECT", "IDENTITY", None)
        ],
        "orders_count": [
            ("main.int_customer_orders", "order_id", "DIRECT", "AGGREGATION", "count(order_id)")
        ],
        "last_purchase_at": [
            ("main.int_customer_orders", "purchased_at", "DIRECT", "AGGREGATION",
             "max(purchased_at)")
        ],
        "home_state": [
            ("main.int_customer_orders", "customer_state", "DIRECT", "AGGREGATION",
             "any_value(customer_state)")
        ],
    },
}  # fmt: skip

# dataset-level indirect lineage per model: (input relation, column, subtype, description)
MODEL_INDIRECT = {
    "stg_orders": [("lake.orders", "order_status", "FILTER", "order_status <> 'canceled'")],
    "int_customer_orders": [
        ("main.stg_orders", "customer_id", "JOIN", "stg_orders.customer_id = stg_customers.customer_id"),
        ("main.stg_customers", "customer_id", "JOIN", "stg_orders.customer_id = stg_customers.customer_id"),
    ],
    "customer_features": [
        ("main.int_customer_orders", "customer_unique_id", "GROUP_BY", "group by customer_unique_id")
    ],
}  # fmt: skip

MODEL_ORDER = ("stg_customers", "stg_orders", "int_customer_orders", "customer_features")

# Quality assertions per lake table: (assertion, column, severity); success per day below.
CHECKS = {
    "customers": [
        ("not_null", "customer_id", "critical"),
        ("unique", "customer_id", "critical"),
        ("in_set", "customer_state", "critical"),
        ("row_count_between", None, "warn"),
    ],
    "orders": [
        ("not_null", "order_id", "critical"),
        ("unique", "order_id", "critical"),
        ("not_null", "customer_id", "critical"),
        ("in_set", "order_status", "warn"),
        ("row_count_between", None, "warn"),
    ],
}
FAILING = {("orders", "in_set", "2018-01-02")}  # a warning on day 2
FEATURE_CHECKS = [
    ("not_null", "customer_unique_id", "critical"),
    ("unique", "customer_unique_id", "critical"),
    ("between", "orders_count", "critical"),
]


def _time(day: str, minute: int, second: int = 0) -> str:
    """Runs happen the morning after their interval day."""
    next_day = {"2018-01-01": "2018-01-02", "2018-01-02": "2018-01-03"}[day]
    return f"{next_day}T06:{minute:02d}:{second:02d}.000000+00:00"


def _facet(name: str, **body: Any) -> dict[str, Any]:
    return {
        "_producer": PRODUCER,
        "_schemaURL": f"https://openlineage.io/spec/facets/{name}",
        **body,
    }


def _custom(name: str, **body: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": f"{CUSTOM}{name}.json", **body}


def _symlinks(short: str) -> dict[str, Any]:
    return _facet(
        "1-0-1/SymlinksDatasetFacet.json",
        identifiers=[{"namespace": "commerce", "name": short, "type": "TABLE"}],
    )


def _schema(columns: list[tuple[str, str]]) -> dict[str, Any]:
    return _facet(
        "1-1-1/SchemaDatasetFacet.json",
        fields=[{"name": n, "type": t} for n, t in columns],
    )


def _tags(items: list[tuple[str, str, str]]) -> dict[str, Any]:
    return _facet(
        "1-0-0/TagsDatasetFacet.json",
        tags=[{"key": k, "value": v, "source": "contract", "field": f} for f, k, v in items],
    )


def _column_lineage(
    fields: dict[str, list[dict[str, Any]]], dataset: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return _facet(
        "1-2-0/ColumnLineageDatasetFacet.json",
        fields={k: {"inputFields": v} for k, v in fields.items()},
        dataset=dataset or [],
    )


def _input_field(
    namespace: str, name: str, field: str, type_: str, subtype: str, desc: str | None, masking: bool
) -> dict[str, Any]:
    t: dict[str, Any] = {"type": type_, "subtype": subtype, "masking": masking}
    if desc:
        t["description"] = desc
    return {"namespace": namespace, "name": name, "field": field, "transformations": [t]}


def _event(
    event_type: str,
    time: str,
    job: str,
    rid: str,
    parent: tuple[str, str] | None,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    job_facets: dict[str, Any] | None = None,
    run_facets: dict[str, Any] | None = None,
) -> Event:
    facets = dict(run_facets or {})
    if parent:
        facets["parent"] = _facet(
            "1-1-0/ParentRunFacet.json",
            run={"runId": parent[1]},
            job={"namespace": NS, "name": parent[0]},
        )
    return {
        "eventType": event_type,
        "eventTime": time,
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": rid, "facets": facets},
        "job": {"namespace": NS, "name": job, "facets": job_facets or {}},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }


def _pair(
    time_start: str, time_end: str, job: str, rid: str, parent: tuple[str, str] | None, **kw: Any
) -> list[Event]:
    """START (with inputs only) and COMPLETE (with everything) for one run."""
    start = _event("START", time_start, job, rid, parent, inputs=kw.get("inputs"))
    return [start, _event("COMPLETE", time_end, job, rid, parent, **kw)]


class Builder:
    def __init__(self, data_dir: Path):
        self.at = Layout(data_dir)

    def landing(self, table: str, day: str) -> dict[str, Any]:
        cols = LANDING_COLUMNS[table]
        return {
            "namespace": "file",
            "name": self.at.landing_file(table, day),
            "facets": {
                "symlinks": _symlinks(f"landing.{table}"),
                "schema": _schema([(n, t) for n, t, _ in cols]),
                # as the emitter writes them (datasets.landing_tags): pii and protection
                "tags": _tags(
                    [(n, "pii", p) for n, _, p in cols if p]
                    + [
                        (n, "protection", LANDING_PROTECTION[table].get(n, "drop"))
                        for n, _, p in cols
                        if p
                    ]
                ),
            },
        }

    def lake(self, table: str, day: str, *, lineage: bool) -> dict[str, Any]:
        cols = LAKE_COLUMNS[table]
        facets: dict[str, Any] = {
            "symlinks": _symlinks(f"lake.{table}"),
            "schema": _schema([(c[0], c[2]) for c in cols]),
            "datasetVersion": _facet(
                "1-0-1/DatasetVersionDatasetFacet.json", datasetVersion=version(table, day)
            ),
            "pipelines_partition": _custom(
                "PipelinesPartitionDatasetFacet",
                table=table,
                partition=f"dt={day}",
                interval_start=f"{day}T00:00:00+00:00",
                interval_end=f"{day}T23:59:59+00:00",
                manifest=f"{self.at.lake_table(table)}/dt={day}/manifest.json",
                rows_loaded=3,
                rows_quarantined=0,
            ),
            "documentation": _facet(
                "1-1-0/DocumentationDatasetFacet.json", description=f"{table} (protected lake)"
            ),
            "ownership": _facet(
                "1-0-1/OwnershipDatasetFacet.json",
                owners=[{"name": "commerce-data@example.com", "type": "team"}],
            ),
        }
        if lineage:
            landing = self.at.landing_file(table, day)
            facets["columnLineage"] = _column_lineage(
                {
                    c[0]: [_input_field("file", landing, c[1], "DIRECT", c[3], c[4], c[5])]
                    for c in cols
                }
            )
            facets["tags"] = _tags(
                [(c[0], "pii", c[6]) for c in cols if c[6]]
                + [(c[0], "protection", c[7]) for c in cols if c[6]]
            )
        return {"namespace": "file", "name": self.at.lake_table(table), "facets": facets}

    def relation(self, relation: str) -> tuple[str, str]:
        """``lake.orders`` / ``main.stg_orders`` -> (namespace, full name)."""
        return self.at.wh_ns, f"warehouse.{relation}"

    def warehouse(self, relation: str, lineage: dict[str, Any] | None) -> dict[str, Any]:
        ns, name = self.relation(relation)
        short = relation.split(".", 1)[1]
        if relation.startswith("lake."):
            table = short
            cols = [(c[0], c[2]) for c in LAKE_COLUMNS[table]]
        else:
            cols = [(c, "VARCHAR") for c in MODELS[short]]
        facets: dict[str, Any] = {
            "symlinks": _symlinks(f"warehouse.{short}"),
            "schema": _schema(cols),
        }
        if relation.startswith("lake."):  # the views repeat the lake's PII tags
            lake = LAKE_COLUMNS[short]
            facets["tags"] = _tags(
                [(c[0], "pii", c[6]) for c in lake if c[6]]
                + [(c[0], "protection", c[7]) for c in lake if c[6]]
            )
        if lineage is not None:
            facets["columnLineage"] = lineage
        return {"namespace": ns, "name": name, "facets": facets}

    def day(self, day: str) -> list[Event]:
        dag = dag_run(day)
        events: list[Event] = [
            _event("START", _time(day, 0), DAG, dag, None, run_facets={
                "nominalTime": _facet("1-0-1/NominalTimeRunFacet.json",
                                      nominalStartTime=f"{day}T00:00:00Z")})
        ]  # fmt: skip
        parent = (DAG, dag)
        minute = 1
        for table in ("customers", "orders"):
            rid = task_run(day, f"ingest_{table}")
            events += _pair(
                _time(day, minute),
                _time(day, minute, 30),
                f"{DAG}.ingest_{table}",
                rid,
                parent,
                inputs=[self.landing(table, day)],
                outputs=[self.lake(table, day, lineage=True)],
                job_facets={"sql": _facet("1-1-0/SQLJobFacet.json", query="SELECT ... protected")},
                run_facets={"pipelines_ingestion": _custom("PipelinesIngestionRunFacet",
                                                           read=3, loaded=3, quarantined=0)},
            )  # fmt: skip
            minute += 1
        for table in ("customers", "orders"):
            rid = task_run(day, f"quality_{table}")
            lake = self.lake(table, day, lineage=False)
            lake["inputFacets"] = {
                "dataQualityAssertions": _facet(
                    "1-0-1/DataQualityAssertionsDatasetFacet.json",
                    assertions=[
                        {
                            "assertion": a,
                            "column": c,
                            "success": (table, a, day) not in FAILING,
                            "severity": s,
                        }
                        for a, c, s in CHECKS[table]
                    ],
                ),
                "dataQualityMetrics": _facet(
                    "1-0-2/DataQualityMetricsInputDatasetFacet.json", rowCount=3, columnMetrics={}
                ),
            }
            events += _pair(
                _time(day, minute), _time(day, minute, 30), f"{DAG}.quality_{table}", rid, parent,
                inputs=[lake],
            )  # fmt: skip
            minute += 1
        build = task_run(day, "build_features")
        views = []
        for table in ("customers", "orders"):
            ns = "file"
            views.append(
                self.warehouse(
                    f"lake.{table}",
                    _column_lineage(
                        {
                            c[0]: [
                                _input_field(
                                    ns, self.at.lake_table(table), c[0], "DIRECT", "IDENTITY",
                                    None, False,
                                )
                            ]
                            for c in LAKE_COLUMNS[table]
                        }
                    ),
                )
            )  # fmt: skip
        build_inputs = [self.lake(t, day, lineage=False) for t in ("customers", "orders")]
        used = {"customers": [day], "orders": list(DAYS[: DAYS.index(day) + 1])}
        if len(used["orders"]) > 1:  # several partitions: a set facet instead of one version
            facets = build_inputs[1]["facets"]
            for key in ("datasetVersion", "pipelines_partition"):
                facets.pop(key)
            facets["pipelines_partitions"] = _custom(
                "PipelinesPartitionsDatasetFacet",
                table="orders",
                read_until=f"{day}T23:59:59+00:00",
                partitions=len(used["orders"]),
                first_partition=f"dt={used['orders'][0]}",
                last_partition=f"dt={used['orders'][-1]}",
                versions_sha256=hashlib.sha256(
                    "\n".join(f"dt={d}={version('orders', d)}" for d in used["orders"]).encode()
                ).hexdigest(),
            )
        release = [
            {"table": t, "partition": f"dt={d}", "dataset_version": version(t, d),
             "interval_start": f"{d}T00:00:00+00:00", "interval_end": f"{d}T23:59:59+00:00",
             "run_id": f"scheduled__{d}"}
            for t, days in used.items() for d in days
        ]  # fmt: skip
        events.append(
            _event("START", _time(day, minute), f"{DAG}.build_features", build, parent,
                   inputs=build_inputs)
        )  # fmt: skip
        second = 5
        for model in MODEL_ORDER:
            rid = model_run(day, model)
            sources = sorted({src for specs in MODELS[model].values() for src, *_ in specs})
            fields = {
                out: [
                    _input_field(*self.relation(src), col, t, s, d, False)
                    for src, col, t, s, d in specs
                ]
                for out, specs in MODELS[model].items()
            }
            indirect = [
                _input_field(*self.relation(src), col, "INDIRECT", sub, desc, False)
                for src, col, sub, desc in MODEL_INDIRECT.get(model, [])
            ]
            events += _pair(
                _time(day, minute, second),
                _time(day, minute, second + 2),
                f"{DAG}.build_features.{model}",
                rid,
                (f"{DAG}.build_features", build),
                inputs=[self.warehouse(src, None) for src in sources],
                outputs=[self.warehouse(f"main.{model}", _column_lineage(fields, indirect))],
                job_facets={
                    "sql": _facet("1-1-0/SQLJobFacet.json", query=f"select ... from {model}")
                },
            )
            second += 5
        events.append(
            _event("COMPLETE", _time(day, minute, 59), f"{DAG}.build_features", build, parent,
                   inputs=build_inputs, outputs=views,
                   run_facets={"pipelines_release": _custom(
                       "PipelinesReleaseRunFacet", partitions=release)})
        )  # fmt: skip
        minute += 1
        features = self.warehouse("main.customer_features", None)
        features["inputFacets"] = {
            "dataQualityAssertions": _facet(
                "1-0-1/DataQualityAssertionsDatasetFacet.json",
                assertions=[
                    {"assertion": a, "column": c, "success": True, "severity": s}
                    for a, c, s in FEATURE_CHECKS
                ],
            )
        }
        events += _pair(
            _time(day, minute), _time(day, minute, 30), f"{DAG}.quality_features",
            task_run(day, "quality_features"), parent, inputs=[features],
        )  # fmt: skip
        events.append(_event("COMPLETE", _time(day, minute + 1), DAG, dag, None))
        return events


def build_events(data_dir: Path) -> list[Event]:
    """Both days' events, in emission order."""
    builder = Builder(data_dir)
    return [e for day in DAYS for e in builder.day(day)]


def write_events(path: Path, events: list[Event], *, torn_tail: str | None = None) -> Path:
    """Write a JSON-lines log; ``torn_tail`` appends an unterminated partial line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in events)
    path.write_text(text + (torn_tail or ""))
    return path


def publish(settings: Any, events: list[Event] | None = None) -> Path:
    """Write the fixture's events (or ``events``) to the settings' default event log."""
    from pipelines.reporting.store import events_path

    return write_events(
        events_path(settings), build_events(settings.data_dir) if events is None else events
    )


def find_dataset(events: list[Event], name: str) -> list[dict[str, Any]]:
    """Every input/output entry of the dataset called ``name`` (to edit fixture events)."""
    return [
        d for e in events for d in (e.get("inputs") or []) + (e.get("outputs") or [])
        if d["name"] == name
    ]  # fmt: skip
