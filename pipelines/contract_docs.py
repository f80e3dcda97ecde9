"""The contract format's reference (``docs/contracts.md``) and JSON Schema
(``docs/contract.schema.json``), both generated from the contract model in
:mod:`pipelines.contracts` (never written by hand).

``pipelines contracts docs`` rewrites both files, ``--check`` fails when either differs from
what the model says, and so does a unit test. ``pipelines contracts schema`` prints the
schema, for editors that validate YAML against it.
"""

from __future__ import annotations

import inspect
import json
import re
import types
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pipelines.contracts import (
    Column,
    Contract,
    EventTime,
    ForeignKey,
    RowKey,
    SchemaPolicy,
    Source,
    UndeclaredPii,
)
from pipelines.settings import PROJECT_DIR

DOCS_FILE = PROJECT_DIR / "docs" / "contracts.md"
SCHEMA_FILE = PROJECT_DIR / "docs" / "contract.schema.json"
EXAMPLE = "docs/examples/contracts/invoice_lines.yml"
EXAMPLE_FILE = PROJECT_DIR / EXAMPLE

SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("Contract (top level)", Contract),
    ("source", Source),
    ("columns[]", Column),
    ("row_key", RowKey),
    ("foreign_keys[]", ForeignKey),
    ("event_time", EventTime),
    ("schema_policy", SchemaPolicy),
    ("undeclared_pii", UndeclaredPii),
)

INTRO = """\
<!-- GENERATED from pipelines/contracts.py by `pipelines contracts docs`. Do not edit by hand:
change the model and regenerate; `pipelines contracts docs --check` and the unit tests fail
when this file is out of date. -->

# Source contracts

A contract (`<contracts_dir>/<table>.yml`, one per source table) declares a table's columns,
types, keys, checks, owner and, for every column, its PII class and protection. Ingestion,
the quality gate, the dbt sources, lineage and the PII inventory all read it; onboarding a
new source means writing its contract, not Python.

The contracts directory is the setting `contracts_dir` (`PIPELINES_CONTRACTS_DIR`, default
`<repo>/contracts`); the DAG, the command line and the dbt sources all read it.

```bash
pipelines contracts check          # load and cross-check every contract; errors name the
                                   # file, the field and what to write instead
pipelines contracts list           # tables in load order, keys, references, owners
pipelines contracts show <table>   # one contract as the pipeline sees it (defaults filled in)
pipelines contracts schema         # the JSON Schema of a contract file (for editors)
pipelines contracts docs           # regenerate this page and docs/contract.schema.json
```

Editors with a YAML language server validate and complete contracts with the schema: put
`# yaml-language-server: $schema=<path to>/docs/contract.schema.json` on a contract's
first line.

How a file reaches a contract: a delivery folder `<landing>/<YYYY-MM-DD>/` holds files named
`<source.file_stem>[-<part>].<ext>` or matching one of `source.file_patterns`; their columns
(CSV headers, JSON keys, Parquet columns) are matched to `columns[].source_name` (else
`name`). A table without a natural key declares `primary_key: []` and `row_key`: each loaded
row gets a surrogate `_row_key` (`<fingerprint of its lake values>-<occurrence>`, stable
across re-runs of the same files), and exact duplicates are kept, quarantined
(`exact_duplicate`) or dropped and counted (`read = loaded + quarantined + dropped`).
"""


def render_reference() -> str:
    """The text of ``docs/contracts.md`` (deterministic)."""
    parts = [INTRO]
    for title, model in SECTIONS:
        parts.append(_section(title, model))
    parts.append(_enums())
    example = EXAMPLE_FILE.read_text(encoding="utf-8")
    parts.append(
        "## A complete example\n\n"
        f"`{EXAMPLE}`, a UK online shop's invoice "
        "lines (tested: `tests/unit/ingest/test_ingest_own_data.py`):\n\n"
        f"```yaml\n{example.rstrip()}\n```\n"
    )
    return "\n".join(parts)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a contract file."""
    schema = Contract.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "commerce-pipelines source contract"
    return schema


def render_schema() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def outputs() -> dict[Path, str]:
    return {DOCS_FILE: render_reference(), SCHEMA_FILE: render_schema()}


def write_docs() -> list[Path]:
    written = []
    for path, text in outputs().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def check_docs() -> list[str]:
    """What is out of date (empty when every file matches the model)."""
    stale = []
    for path, text in outputs().items():
        actual = path.read_text(encoding="utf-8") if path.is_file() else None
        if actual != text:
            state = "is missing" if actual is None else "is out of date with pipelines/contracts.py"
            stale.append(
                f"{path.relative_to(PROJECT_DIR).as_posix()} {state}; "
                "run `pipelines contracts docs` to regenerate it"
            )
    return stale


def documented_fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    return {name: f for name, f in model.model_fields.items() if not f.exclude}


def _section(title: str, model: type[BaseModel]) -> str:
    lines = [f"## {title}", "", _doc(model), ""]
    lines += ["| field | type | default | meaning | example |", "|---|---|---|---|---|"]
    for name, field in documented_fields(model).items():
        default = "required" if field.is_required() else _yaml(field.get_default())
        example = _yaml(field.examples[0]) if field.examples else ""
        lines.append(
            f"| `{name}` | {_type(field.annotation)} | {default} | "
            f"{_cell(field.description or '')} | {example} |"
        )
    return "\n".join(lines) + "\n"


def _doc(model: type[BaseModel]) -> str:
    """The model's docstring as Markdown paragraphs (reST literals and roles made plain)."""
    text = inspect.cleandoc(model.__doc__ or "")
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
    markdown = "\n\n".join(p for p in paragraphs if p).replace("``", "`")
    return re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", markdown)


def _type(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (Union, types.UnionType):
        kinds = [_type(a) for a in args if a is not type(None)]
        return " or ".join(kinds) + (" (optional)" if type(None) in args else "")
    if origin is list:
        return f"list of {_type(args[0])}"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        title = next(t for t, m in SECTIONS if m is annotation)
        anchor = "".join(ch for ch in title.lower() if ch.isalnum() or ch in "_- ").replace(
            " ", "-"
        )
        return f"[{annotation.__name__}](#{anchor})"
    return getattr(annotation, "__name__", str(annotation))


def _yaml(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, Enum):
        value = value.value
    return f"`{json.dumps(value)}`" if value is not None else "none"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _enums() -> str:
    from pipelines.contracts import _SIMPLE_TYPES as SIMPLE_TYPES
    from pipelines.contracts import Generalization, PiiClass, Protection

    lines = ["## Values", ""]
    for name, enum in (
        ("pii", PiiClass),
        ("protection", Protection),
        ("generalize", Generalization),
    ):
        lines.append(f"- `{name}`: " + ", ".join(f"`{m.value}`" for m in enum))
    simple = ", ".join(f"`{t}`" for t in SIMPLE_TYPES)
    lines.append(f"- `type`: {simple}, `decimal(<precision>,<scale>)`")
    lines.append(
        "- A `direct_identifier` or `free_text` column cannot be kept in clear text; "
        "`pii: none` columns are kept; `scrub` is for strings only."
    )
    return "\n".join(lines) + "\n"
