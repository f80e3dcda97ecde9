"""Offline OpenLineage JSON-Schema validation, with schemas built from the typed classes.

The OpenLineage spec files (``OpenLineage.json``, ``facets/*.json``) are not shipped in any
installed package, and tests must not fetch them. openlineage-python's ``generated``
classes are generated from exactly those files, so this module turns them back into JSON
Schemas (draft 2020-12): one for the event envelope (``RunEvent`` of spec 2-0-2) and one per
facet class, keyed by the ``_schemaURL`` the class declares. The project's custom facets
(:data:`pipelines.lineage.facets.CUSTOM_FACETS`) are attrs classes of the same shape and get
their schemas the same way.

What is checked:

* the envelope: required fields, types, ``eventType`` enum, ``runId`` a UUID, ``eventTime``
  an ISO date-time with a time, producer/schema URLs absolute URIs;
* every facet: ``_producer`` and ``_schemaURL`` present; the ``_schemaURL`` is one of a
  known facet class; the facet validates against that class's schema (required fields,
  types, nested objects); the class matches where the facet sits (run/job/dataset/input/
  output) and its key (``schema`` is a SchemaDatasetFacet, ...).

The OpenLineage Airflow provider's own facets (``airflow``, ``airflowDagRun``,
``airflowState``, ``debug``) declare only the generic ``RunFacet``/``JobFacet`` schema URL; the
provider ships their JSON Schemas (``airflow/providers/openlineage/facets/*.json``, each
describing ``{key: facet}``, their ``$ref`` to the spec's ``OpenLineage.json`` resolved here to
the generated base classes' schemas): a facet with a generic URL is checked against the
provider's schema for its key and place, and any other facet with a generic URL is a problem.

Constraints the classes do not carry (string formats) are added for the fields the spec
gives formats to. Use :func:`validate_event` (raises ``AssertionError`` naming the problem)
or :func:`event_problems`.
"""

from __future__ import annotations

import enum
import importlib
import importlib.metadata
import json
import pkgutil
import types
import typing
import uuid
from datetime import datetime
from functools import cache, lru_cache
from typing import Any
from urllib.parse import urlparse

import attr
import jsonschema
import referencing
from openlineage.client import generated
from openlineage.client.generated import base

from pipelines.lineage.facets import CUSTOM_FACETS

FORMATS = {
    "runId": "uuid",
    "eventTime": "date-time",
    "nominalStartTime": "date-time",
    "nominalEndTime": "date-time",
    "lastUpdated": "date-time",
    "captureDate": "date-time",
    "producer": "uri",
    "schemaURL": "uri",
    "_producer": "uri",
    "_schemaURL": "uri",
}
"""Spec formats of fields whose classes only say ``str``."""

ALWAYS_SET = {"producer", "schemaURL", "_producer", "_schemaURL"}
"""Fields the classes fill in ``__attrs_post_init__``; the spec requires them."""

KEY_CLASSES = {
    "run": {
        "parent": "ParentRunFacet",
        "nominalTime": "NominalTimeRunFacet",
        "errorMessage": "ErrorMessageRunFacet",
        "tags": "TagsRunFacet",
        "environmentVariables": "EnvironmentVariablesRunFacet",
        "processing_engine": "ProcessingEngineRunFacet",
    },
    "job": {
        "jobType": "JobTypeJobFacet",
        "sql": "SQLJobFacet",
        "sourceCode": "SourceCodeJobFacet",
        "sourceCodeLocation": "SourceCodeLocationJobFacet",
        "documentation": "DocumentationJobFacet",
        "ownership": "OwnershipJobFacet",
        "tags": "TagsJobFacet",
    },
    "dataset": {
        "schema": "SchemaDatasetFacet",
        "symlinks": "SymlinksDatasetFacet",
        "datasetVersion": "DatasetVersionDatasetFacet",
        "ownership": "OwnershipDatasetFacet",
        "documentation": "DocumentationDatasetFacet",
        "columnLineage": "ColumnLineageDatasetFacet",
        "tags": "TagsDatasetFacet",
        "dataQualityAssertions": "DataQualityAssertionsDatasetFacet",
    },
    "input": {
        "dataQualityAssertions": "DataQualityAssertionsDatasetFacet",
        "dataQualityMetrics": "DataQualityMetricsInputDatasetFacet",
        "inputStatistics": "InputStatisticsInputDatasetFacet",
    },
    "output": {"outputStatistics": "OutputStatisticsOutputDatasetFacet"},
}
"""The facet class each standard facet key must have, per place."""

PLACE_BASES: dict[str, tuple[type, ...]] = {
    "run": (base.RunFacet,),
    "job": (base.JobFacet,),
    # dbt test outcomes are folded into the model's output dataset (see lineage_spec.md)
    "dataset": (base.DatasetFacet, base.InputDatasetFacet),
    "input": (base.InputDatasetFacet,),
    "output": (base.OutputDatasetFacet,),
}


def _is_attrs(tp: Any) -> bool:
    return isinstance(tp, type) and attr.has(tp)


class _Builder:
    """JSON Schema ``$defs`` for attrs classes, built from their resolved type hints."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def ref(self, cls: type) -> dict[str, Any]:
        key = f"{cls.__module__}.{cls.__qualname__}"
        if key not in self.defs:
            self.defs[key] = {}  # placeholder: recursion (nested schema fields)
            self.defs[key] = self.object_schema(cls)
        return {"$ref": f"#/$defs/{key}"}

    def object_schema(self, cls: type) -> dict[str, Any]:
        if issubclass(cls, base.BaseFacet) and cls in FACET_BASES:
            # a facet slot: any facet; the concrete facet is checked on its own
            props = {"_producer": {"type": "string", "format": "uri"}}
            props["_schemaURL"] = {"type": "string", "format": "uri"}
            return {
                "type": "object",
                "properties": props,
                "required": ["_producer", "_schemaURL"],
            }
        hints = typing.get_type_hints(cls)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for a in attr.fields(cls):
            name = a.name
            schema = self.type_schema(hints.get(name, Any))
            if name in FORMATS and schema.get("type") == "string":
                schema = {**schema, "format": FORMATS[name]}
            if cls.__name__ == "Transformation" and name == "type":
                schema = {**schema, "enum": ["DIRECT", "INDIRECT"]}  # the spec's allowed values
            properties[name] = schema
            if name in ALWAYS_SET or (a.default is attr.NOTHING and a.init):
                required.append(name)
        return {"type": "object", "properties": properties, "required": sorted(required)}

    def type_schema(self, tp: Any) -> dict[str, Any]:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is Any:
            return {}
        if origin in (typing.Union, types.UnionType):
            options = [a for a in args if a is not type(None)]
            if len(options) == 1:
                return self.type_schema(options[0])
            return {"anyOf": [self.type_schema(a) for a in options]}
        if origin is list:
            return {"type": "array", "items": self.type_schema(args[0]) if args else {}}
        if origin is dict:
            return {
                "type": "object",
                "additionalProperties": self.type_schema(args[1]) if len(args) > 1 else {},
            }
        if tp is str:
            return {"type": "string"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"type": "string", "enum": [m.value for m in tp]}
        if _is_attrs(tp):
            return self.ref(tp)
        raise TypeError(f"no JSON Schema for type {tp!r}")


FACET_BASES = (
    base.BaseFacet,
    base.RunFacet,
    base.JobFacet,
    base.DatasetFacet,
    base.InputDatasetFacet,
    base.OutputDatasetFacet,
)


def _schema_for(cls: type) -> dict[str, Any]:
    builder = _Builder()
    root = builder.ref(cls)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **root,
        "$defs": builder.defs,
    }


@lru_cache(maxsize=1)
def event_schema() -> dict[str, Any]:
    """The RunEvent envelope (facets checked only for ``_producer``/``_schemaURL`` here)."""
    return _schema_for(base.RunEvent)


@lru_cache(maxsize=1)
def facet_classes() -> dict[str, type]:
    """``_schemaURL`` -> facet class, for every generated facet and the custom ones."""
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{info.name}")
        for value in vars(module).values():
            if (
                _is_attrs(value)
                and issubclass(value, base.BaseFacet)
                and value not in FACET_BASES
                and value.__module__ == module.__name__
            ):
                found[value._get_schema()] = value
    for cls in CUSTOM_FACETS.values():
        found[cls._get_schema()] = cls
    return found


@cache
def facet_schema(schema_url: str) -> dict[str, Any]:
    return _schema_for(facet_classes()[schema_url])


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("uuid", raises=ValueError)
    def _uuid(value: object) -> bool:
        return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return "t" in value.lower()

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parsed = urlparse(value)
        return bool(parsed.scheme) and bool(parsed.netloc or parsed.path)

    return checker


FORMAT_CHECKER = _format_checker()


def _errors(instance: Any, schema: dict[str, Any], where: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    return [
        f"{where}/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
GENERIC = {
    "run": base.RunFacet._get_schema(),
    "job": base.JobFacet._get_schema(),
}
"""The generic facet schema URLs the provider's own facets declare, per place."""


@lru_cache(maxsize=1)
def provider_schemas() -> dict[str, dict[str, dict[str, Any]]]:
    """place -> facet key -> the provider's shipped JSON Schema of ``{key: facet}``."""
    dist = importlib.metadata.distribution("apache-airflow-providers-openlineage")
    folder = dist.locate_file("airflow/providers/openlineage/facets")
    found: dict[str, dict[str, dict[str, Any]]] = {"run": {}, "job": {}}
    for path in sorted(folder.iterdir()):  # type: ignore[attr-defined]
        if not path.name.endswith(".json"):
            continue
        schema = json.loads(path.read_text(encoding="utf-8"))
        # by the file's name: AirflowJobFacet.json's own $ref names RunFacet
        place = "job" if path.name.endswith("JobFacet.json") else "run"
        for key in schema["properties"]:
            found[place][key] = schema
    return found


@lru_cache(maxsize=1)
def _spec_registry() -> referencing.Registry:
    """``OpenLineage.json`` offline: its facet base ``$defs`` from the generated classes."""
    defs: dict[str, Any] = {}
    for cls in (base.BaseFacet, base.RunFacet, base.JobFacet, base.DatasetFacet):
        builder = _Builder()
        defs[cls.__name__] = builder.object_schema(cls)
    spec = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": defs}
    resource = referencing.Resource.from_contents(spec)
    return referencing.Registry().with_resource(SPEC, resource)


PROVIDER_DEVIATIONS = {
    ("run", "airflow", "taskInstance", "'pool' is a required property"),
    ("run", "airflow", "task/retry_exponential_backoff", "is not of type 'boolean'"),
}
"""Where apache-airflow-providers-openlineage 2.20.3 on Airflow 3.3 contradicts the schema it
ships for its own ``airflow`` run facet (seen on every task event): Airflow 3's task instance
has no ``pool`` to send, and Airflow 3.3's ``retry_exponential_backoff`` is a number (the
backoff multiplier; 0 is off), not a boolean. Only these are tolerated."""


def _known_deviation(place: str, key: str, path: str, message: str) -> bool:
    return any(
        (place, key, path) == known[:3] and known[3] in message for known in PROVIDER_DEVIATIONS
    )


def _provider_facet_problems(key: str, facet: dict[str, Any], place: str, at: str) -> list[str]:
    schema = provider_schemas().get(place, {}).get(key)
    if schema is None:
        return [f"{at}: generic _schemaURL and no schema shipped for {place} facet {key!r}"]
    validator = jsonschema.Draft202012Validator(
        schema, registry=_spec_registry(), format_checker=FORMAT_CHECKER
    )
    problems = []
    for error in validator.iter_errors({key: facet}):
        path = "/".join(str(p) for p in list(error.absolute_path)[1:])
        if not _known_deviation(place, key, path, error.message):
            problems.append(f"{at}/{path}: {error.message}")
    return problems


def _facet_problems(facets: Any, place: str, where: str) -> list[str]:
    problems: list[str] = []
    if not facets:
        return problems
    for key, facet in facets.items():
        at = f"{where}/{key}"
        if not isinstance(facet, dict):
            problems.append(f"{at}: not an object")
            continue
        url = facet.get("_schemaURL")
        if url is not None and url == GENERIC.get(place):  # the provider's own facets
            problems += _provider_facet_problems(key, facet, place, at)
            continue
        cls = facet_classes().get(url)
        if cls is None:
            problems.append(f"{at}: unknown _schemaURL {url!r}")
            continue
        if not issubclass(cls, PLACE_BASES[place]):
            problems.append(f"{at}: {cls.__name__} is not a {place} facet")
        expected = KEY_CLASSES[place].get(key)
        if expected and cls.__name__ != expected:
            problems.append(f"{at}: key {key!r} holds {cls.__name__}, expected {expected}")
        if key.startswith("pipelines_") and CUSTOM_FACETS.get(key) is not cls:
            problems.append(f"{at}: custom key {key!r} holds {cls.__name__}")
        problems += _errors(facet, facet_schema(url), at)
    return problems


def event_problems(event: dict[str, Any]) -> list[str]:
    """Everything wrong with one serialized event (empty when it is valid)."""
    problems = _errors(event, event_schema(), "event")
    if problems:
        return problems
    problems += _facet_problems(event["run"].get("facets"), "run", "run.facets")
    problems += _facet_problems(event["job"].get("facets"), "job", "job.facets")
    for i, dataset in enumerate(event.get("inputs") or []):
        problems += _facet_problems(dataset.get("facets"), "dataset", f"inputs[{i}].facets")
        problems += _facet_problems(dataset.get("inputFacets"), "input", f"inputs[{i}].inputFacets")
    for i, dataset in enumerate(event.get("outputs") or []):
        problems += _facet_problems(dataset.get("facets"), "dataset", f"outputs[{i}].facets")
        problems += _facet_problems(
            dataset.get("outputFacets"), "output", f"outputs[{i}].outputFacets"
        )
    return problems


def validate_event(event: dict[str, Any]) -> None:
    problems = event_problems(event)
    if problems:
        job = (event.get("job") or {}).get("name")
        raise AssertionError(
            f"invalid OpenLineage event ({event.get('eventType')} {job}):\n  "
            + "\n  ".join(problems[:20])
        )


def validate_events(events: list[dict[str, Any]]) -> None:
    for event in events:
        validate_event(event)
