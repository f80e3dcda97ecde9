"""Each portal page as data: a title and sections (rows, columns, optional chart). The app
renders a page as HTML, CSV (one section) or JSON from the same object."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import quote

from pipelines.portal import charts, data, lineage, records
from pipelines.portal.access import Role, allowed
from pipelines.settings import Settings


@dataclass
class Section:
    name: str
    columns: list[str]
    rows: list[dict[str, Any]]
    note: str = ""
    html: str = ""  # extra markup (charts, forms) shown before the table
    links: dict[str, str] = field(default_factory=dict)  # column -> href template ({col})
    title: str = ""  # heading (default: the name)


@dataclass
class Page:
    title: str
    sections: list[Section] = field(default_factory=list)


CHECK_COLUMNS = [
    "table",
    "partition",
    "expectation",
    "description",
    "column",
    "severity",
    "outcome",
    "observed_value",
    "expected",
    "governed_by",
    "unexpected_count",
    "element_count",
    "source",
    "run_id",
]


def _held_back(settings: Settings) -> Section:
    return Section(
        "held_back",
        ["as_of", "table", "partition", "reason"],
        records.held_back(settings),
        note="Lake partitions left out of a feature release, and why.",
    )


def overview(settings: Settings, params: dict[str, str], role: Role) -> Page:
    return Page(
        "Overview",
        [
            Section(
                "gates",
                ["interval_start", "interval_end", "gate", "failed_checks", "run_id", "decided_at"],
                data.gates(settings),
                note="Quality gate decision per data interval: a failed gate stops publication.",
            ),
            _held_back(settings),
            Section(
                "findings",
                [
                    "id",
                    "kind",
                    "table",
                    "partition",
                    "what",
                    "column",
                    "severity",
                    "observed",
                    "governed_by",
                    "owner",
                    "state",
                    "changed_by",
                    "changed_at",
                ],
                _hide_findings(settings, [f.row() for f in data.owned_findings(settings)], role),
                note="Failed and warned checks of each partition's latest validation, and "
                "refused uses and transfers, with their owner (policy.yml, contracts) and "
                "state (pipelines findings ack|resolve|accept).",
            ),
        ],
    )


SHARES_SOURCES = ("representativeness", "drift")
"""Check sources whose observed values are exact segment shares: governance only."""
GOVERNANCE_ONLY = "exact shares: governance only (see the released segments)"


def _representativeness(settings: Settings, table: str, role: Role) -> Section:
    if role is not Role.GOVERNANCE:
        return _released_representativeness(settings, table)
    stats = data.segment_stats(settings, table)
    svg = []
    for (tbl, check), segs in sorted(data.latest_segments(stats).items()):
        bars = [(s["segment"], s["share"] or 0.0, s["reference_share"]) for s in segs]
        svg.append(charts.segment_bars(f"{tbl}: {check} (blue: observed, grey: reference)", bars))
    for (tbl, check), points in sorted(data.drift_series(stats).items()):
        svg.append(charts.line(f"{tbl}: {check}, total variation distance by interval", points))
    rows = [s for s in stats if s["segment"] is not None]
    return Section(
        "segments",
        [
            "table",
            "expectation",
            "interval_start",
            "segment",
            "share",
            "reference_share",
            "ratio",
            "segment_level",
        ],
        rows,
        note="Segment mix against the reference, per interval (exact: governance only).",
        html="".join(svg),
    )


def _released_representativeness(settings: Settings, table: str) -> Section:
    """Outside governance: the segment shares privacy released through OpenDP, never the
    exact ones (a view reads the recorded releases and spends no budget)."""
    wanted = {
        (s["table"], s["partition"], s["column"])
        for s in data.segment_stats(settings, table)
        if s["segment"] is not None and s["column"]
    }
    rows = records.dp_segments(settings, wanted)
    released = [r for r in rows if r["status"] == "released"]
    newest: dict[tuple[str, str], str] = {}
    for r in released:
        key = (r["table"], r["column"])
        newest[key] = max(newest.get(key, ""), r["interval_start"])
    latest: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in released:
        if r["interval_start"] == newest[(r["table"], r["column"])]:
            latest.setdefault((r["table"], r["column"]), []).append(r)
    svg = [
        charts.segment_bars(
            f"{tbl}: {col} (differentially private; grey: reference)",
            [(r["segment"], max(r["share"], 0.0), r["reference_share"]) for r in segs],
        )
        for (tbl, col), segs in sorted(latest.items())
    ]
    return Section(
        "segments",
        records.DP_COLUMNS,
        rows,
        note="Segment mix per interval, released with differential privacy (OpenDP, discrete "
        "Laplace noise; epsilon per release from the partition's budget). Exact shares, "
        "ratios and drift are for the governance role only.",
        html="".join(svg),
    )


def _hide_findings(
    settings: Settings, rows: list[dict[str, Any]], role: Role
) -> list[dict[str, Any]]:
    """Findings outside governance: the observed value of a shares check hidden."""
    if role is Role.GOVERNANCE:
        return rows
    shares = {
        (r["table"], r["expectation"])
        for r in data.check_history(settings)
        if r.get("source") in SHARES_SOURCES
    }
    return [
        {**r, "observed": GOVERNANCE_ONLY} if (r["table"], r["what"]) in shares else r for r in rows
    ]


def _hide_shares(rows: list[dict[str, Any]], role: Role, field: str) -> list[dict[str, Any]]:
    """Check rows outside governance: the observed value of a shares check hidden."""
    if role is Role.GOVERNANCE:
        return rows
    return [{**r, field: GOVERNANCE_ONLY} if r.get("source") in SHARES_SOURCES else r for r in rows]


def quality(settings: Settings, params: dict[str, str], role: Role) -> Page:
    table, run = params.get("table", ""), params.get("run_id", "")
    if run:
        return _validation(settings, run, table, role)
    if not table:
        rows = data.check_summary(settings)
        links = "".join(
            f'<a href="?table={quote(t)}">{escape(t)}</a> '
            for t in sorted({r["table"] for r in rows})
        )
        return Page(
            "Quality",
            [
                Section(
                    "runs",
                    [
                        "table",
                        "partition",
                        "outcome",
                        "passed",
                        "warned",
                        "failed",
                        "run_id",
                        "validated_at",
                    ],
                    rows,
                    html=f"<p>Tables: {links}</p>",
                    note="Every validation (table, partition, run), newest first: open one "
                    "for its checks with observed and expected values, or a table for its "
                    "history and segment plots. This list replaces GX Data Docs, which need "
                    "the internet to render.",
                    links={
                        "outcome": "?run_id={run_id}&table={table}",
                        "table": "?table={table}",
                    },
                ),
                _representativeness(settings, table, role),
            ],
        )
    history = data.with_expected(settings, data.check_history(settings, table), table=table)
    history = _hide_shares(history, role, "observed_value")
    chart = charts.line(
        f"{table}: failed and warned checks by interval", data.problem_series(history)
    ) + charts.outcome_grid(f"{table}: every check by interval", *data.outcome_cells(history))
    return Page(
        f"Quality: {table}",
        [
            Section(
                "checks",
                [*CHECK_COLUMNS, "interval_start", "validated_at"],
                history,
                html=chart + '<p><a href="?">All tables</a></p>',
                note="Every run and check of this table, newest first.",
            ),
            _representativeness(settings, table, role),
        ],
    )


def _validation(settings: Settings, run: str, table: str, role: Role) -> Page:
    """The checks of one DAG run (and table): what a GX Data Docs validation page shows."""
    rows = [r for r in data.check_history(settings, table or None) if r["run_id"] == run]
    rows = _hide_shares(
        data.with_expected(settings, rows, table=table, run_id=run), role, "observed_value"
    )
    rows.sort(key=lambda r: (r["table"], _ORDER.get(r["outcome"], 3), r["expectation"]))
    what = f"{table} in run {run}" if table else f"run {run}"
    return Page(
        f"Quality of {what}",
        [
            Section(
                "checks",
                [*CHECK_COLUMNS, "interval_start", "validated_at"],
                rows,
                html='<p><a href="?">All validations</a></p>',
                note="Every check with its severity, what it observed and what it expected; "
                "failed first. A warning-severity check that did not hold is 'warned', "
                "never 'passed'.",
            )
        ],
    )


_ORDER = {"failed": 0, "warned": 1, "passed": 2}


def pii(settings: Settings, params: dict[str, str], role: Role) -> Page:
    return Page(
        "PII map",
        [
            Section(
                "columns",
                [
                    "table",
                    "column",
                    "pii_class",
                    "protection",
                    "method",
                    "lake_column",
                    "key_version",
                    "meaning",
                    "owner",
                    "contract",
                ],
                records.pii_map(settings),
                note="Every personal-data column from the contracts, how it is protected and "
                "the key ids in use. Quasi-identifiers 'kept by contract' are the only "
                "PII-derived values allowed in feature tables.",
            ),
        ],
    )


def releases(settings: Settings, params: dict[str, str], role: Role) -> Page:
    used_by = records.consumers(settings)
    return Page(
        "Feature releases",
        [
            Section(
                "releases",
                [
                    "as_of",
                    "status",
                    "release_id",
                    "inputs",
                    "held_back",
                    "feature_tables",
                    "problems",
                    "consumers",
                    "run_id",
                    "created_at",
                ],
                records.releases(settings, used_by),
                note="Each release's inputs, checks and status, and the model versions "
                "trained on it.",
            ),
            Section(
                "consumers",
                [
                    "release_id",
                    "as_of",
                    "model",
                    "model_version",
                    "feature_table",
                    "columns",
                    "training_rows",
                    "trained_at",
                    "lineage_run",
                ],
                used_by,
                note="Training runs that read a release's feature snapshots, from the lineage "
                "each training run recorded (pipelines.models).",
            ),
            _held_back(settings),
        ],
    )


def audit(settings: Settings, params: dict[str, str], role: Role) -> Page:
    status, entries = records.audit(settings)
    if not allowed("audit_entries", role):
        entries, note = [], "Entry details are shown to the governance role only."
    else:
        note = "Re-identifications, key rotations and other privileged actions, newest first."
    return Page(
        "Audit",
        [
            Section("chain", ["status"], [{"status": status}]),
            Section(
                "entries",
                ["seq", "time", "actor", "action", "reason", "subject", "details"],
                entries,
                note=note,
            ),
        ],
    )


def lineage_page(settings: Settings, params: dict[str, str], role: Role) -> Page:
    run, column = params.get("run", ""), params.get("column", "")
    if params.get("key") and params.get("table"):
        found = lineage.explain_rows(settings, params["table"], params["key"], params.get("as_of"))
        return Page(
            f"Explain {params['table']} {params['key']}",
            [
                Section(
                    "values",
                    ["feature", "value"],
                    found["values"],
                    note=f"Release {found['release']}, as of {found['as_of']}.",
                ),
                Section(
                    "sources",
                    [
                        "lake_table",
                        "partition",
                        "dataset_version",
                        "gate_run",
                        "checks_passed",
                        "checks_warned",
                        "landing_records",
                    ],
                    found["sources"],
                ),
            ],
        )
    if column:
        down = params.get("direction") == "downstream"
        rows = lineage.trace_rows(settings, column, down, run)
        flip = "upstream" if down else "downstream"
        links = (
            f'{SEARCH}<p><a href="?column={quote(column)}&direction={flip}">Trace {flip} '
            'instead</a> · <a href="?">All datasets</a></p>'
        )
        return Page(
            f"Lineage of {column} ({'downstream' if down else 'upstream'})",
            [
                Section(
                    "edges",
                    ["depth", "from", "to", "layer", "transformation", "masking", "jobs"],
                    rows,
                    html=links,
                )
            ],
        )
    graph = lineage.load(settings, run)
    findings = lineage.pii_derived_columns(graph)
    layers = lineage.datasets_by_layer(graph)
    subjects = lineage.subjects_by_label(graph)
    rows = [
        {"layer": layer, "dataset": name, "subjects_in": subjects.get(name, ""),
         "columns": ", ".join(cols)}
        for layer, items in layers.items()
        for name, cols in items
    ]  # fmt: skip
    drawn = charts.layered_graph(*lineage.dataset_graph(graph, findings))
    return Page(
        "Lineage",
        [
            _pii_derived(lineage.pii_findings(graph, findings), drawn),
            Section(
                "datasets",
                ["layer", "dataset", "subjects_in", "columns"],
                rows,
                html=_lineage_browser(layers, subjects),
                note="Open a layer, then a column to trace it. Search any column by name. "
                "[BR, EU]: where the data subjects a dataset derives from live (policy.yml).",
            ),
            Section(
                "runs",
                ["run_id", "job", "state", "nominal", "ended"],
                lineage.runs(settings),
                note="Open a run for its graph and datasets.",
                links={"run_id": "?run={run_id}"},
            ),
        ],
    )


def _pii_derived(rows: list[dict[str, Any]], drawn: str) -> Section:
    """The drawn graph, the marts verdict and the PII-derived columns that explain its badges."""
    kept = [r["column"] for r in rows if r["status"] == "kept by contract"]
    bad = [r["column"] for r in rows if r["status"] == "violation"]
    verdict = (
        f"Marts: {len(bad)} PII-derived column(s), which the marts must not have."
        if bad
        else "Marts: no PII-derived columns"
        + (
            f" other than {len(kept)} quasi-identifier(s) kept by contract "
            f"({', '.join(kept[:6])}{' ...' if len(kept) > 6 else ''}): their contract keeps "
            "them as they are, so they are reported here and badged, not violations."
            if kept
            else "."
        )
    )
    return Section(
        "pii_derived",
        ["column", "layer", "pii_class", "from", "status", "why"],
        rows,
        note="The run's datasets by layer (hover a box for its badge). " + verdict,
        html=drawn,
        title="Graph and PII-derived columns",
    )


SEARCH = (
    "<form method=get><label>Column <input name=column size=40 "
    'placeholder="customer_features.recency_days or lake.orders.customer_id"></label> '
    "<select name=direction><option>upstream</option><option>downstream</option></select> "
    "<button>Trace</button></form>"
)


def _lineage_browser(
    layers: dict[str, list[tuple[str, list[str]]]], subjects: dict[str, str] | None = None
) -> str:
    """Layers collapsed by default; each column links to its upstream trace; each dataset
    shows where its subjects live."""
    parts = [SEARCH]
    places = subjects or {}
    for layer, items in layers.items():
        inner = "".join(
            f"<p><b>{escape(name)}</b>"
            + (f" [{escape(places[name])}]" if name in places else "")
            + ": "
            + ", ".join(f'<a href="?column={quote(name + "." + c)}">{escape(c)}</a>' for c in cols)
            + "</p>"
            for name, cols in items
        )
        parts.append(f"<details><summary>{escape(layer)} ({len(items)})</summary>{inner}</details>")
    return "".join(parts)


PAGES = {
    "overview": overview,
    "quality": quality,
    "lineage": lineage_page,
    "pii": pii,
    "releases": releases,
    "audit": audit,
}
