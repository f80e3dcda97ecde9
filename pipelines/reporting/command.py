"""``pipelines lineage ...``: rebuild the store, trace a column, list PII-derived columns, write
the lineage page, explain one feature row down to its landing records.

Registered by ``pipelines.cli`` with :func:`register`. Every command but ``explain`` reads only
the lineage store, rebuilt first from the event log when the log is newer; ``explain`` reads the
published feature release and its lake partitions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipelines.console import error_message
from pipelines.settings import settings_for

EPILOG = """\
examples:
  pipelines lineage rebuild                       # reload .data/lineage/events.jsonl
  pipelines lineage trace customer_features.orders
  pipelines lineage trace lake.orders.customer_id --downstream    # impact analysis
  pipelines lineage trace customer_features.orders --format json --depth 3
  pipelines lineage trace model:repeat_purchase   # a model back to its landing files
  pipelines lineage pii                           # PII-derived warehouse columns
  pipelines lineage page                          # .data/reports/lineage/index.html
  pipelines lineage explain customer_features p1:0123... --as-of 2018-03-01 --limit 10
  pipelines lineage explain model:repeat_purchase p1:0123...   # one training row
  pipelines lineage send --url http://localhost:5000          # the log into Marquez
"""


def _open(args: argparse.Namespace) -> Any:
    from pipelines.reporting.store import open_store

    return open_store(settings_for(args), args.events)


def _graph(con: Any, run: str | None) -> Any:
    from pipelines.reporting.graph import load_graph, run_scope

    return load_graph(con, run_scope(con, run))


def _cmd_rebuild(args: argparse.Namespace) -> int:
    from pipelines.reporting.store import event_source, rebuild_store, store_path

    settings = settings_for(args)
    events = event_source(settings, args.events)
    result = rebuild_store(events, store_path(settings))
    print(
        f"lineage store {result.store}: {result.events:,} events, {result.runs:,} runs, "
        f"{result.datasets:,} datasets, {result.column_edges:,} column edges, "
        f"{result.assertions:,} assertions (from {result.events_file})"
    )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _cmd_trace(args: argparse.Namespace) -> int:
    from pipelines.reporting.modeltrace import is_model_query
    from pipelines.reporting.trace import ColumnLookupError, render_text, trace

    if args.depth is not None and args.depth < 1:
        print("--depth must be at least 1", file=sys.stderr)
        return 2
    if is_model_query(args.column):
        return _trace_model(args)
    with _open(args) as con:
        graph = _graph(con, args.run)
        try:
            result = trace(graph, args.column, downstream=args.downstream, depth=args.depth)
        except ColumnLookupError as exc:
            print(error_message(exc), file=sys.stderr)
            return 2
        if args.format == "json":
            print(json.dumps(result.to_json(), indent=2, default=str))
        else:
            print(render_text(result))
    return 0


def _trace_model(args: argparse.Namespace) -> int:
    from pipelines.reporting.modeltrace import render_model_text, trace_model
    from pipelines.reporting.trace import ColumnLookupError

    if args.downstream:
        print("error: a model is where lineage ends; --downstream takes a column", file=sys.stderr)
        return 2
    with _open(args) as con:
        graph = _graph(con, args.run)
        try:
            result = trace_model(graph, args.column, depth=args.depth)
        except ColumnLookupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        print(render_model_text(result))
    return 0


def _cmd_pii(args: argparse.Namespace) -> int:
    from pipelines.reporting.pii import mart_violations, pii_derived, render_text, to_json

    with _open(args) as con:
        graph = _graph(con, args.run)
    findings = pii_derived(graph, direct_only=args.direct_only)
    if not args.all:
        findings = [
            f for f in findings if graph.dataset(f.column).kind in ("warehouse", "features")
        ]
    marts = mart_violations(findings)
    if args.format == "json":
        print(json.dumps({"columns": to_json(graph, findings), "marts_clean": not marts}, indent=2))
    else:
        print(render_text(graph, findings))
        if marts:
            names = ", ".join(graph.label(f.column) for f in marts)
            print(f"\nmarts: {len(marts)} PII-derived column(s), the marts must have none: {names}")
        else:
            print("\nmarts: no PII-derived columns (other than quasi-identifiers kept by contract)")
    return 1 if marts else 0


def _cmd_page(args: argparse.Namespace) -> int:
    from pipelines.reporting.page import page_path, write_page

    target = args.out or page_path(settings_for(args))
    with _open(args) as con:
        path = write_page(con, target, run=args.run or "latest")
    print(f"lineage page: {path}")
    return 0


def _cmd_explain_model(args: argparse.Namespace) -> int:
    from pipelines.features.provenance import StaleRelease
    from pipelines.models.explain import explain_training_row, render_text

    try:
        model = args.table.strip()[len("model:") :]
        row = explain_training_row(settings_for(args), model, args.key, args.model_version)
    except (LookupError, ValueError, StaleRelease) as exc:
        print(error_message(exc), file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(row.to_json(), indent=2))
    else:
        print(render_text(row, limit=args.limit))
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from datetime import date

    from pipelines.features.provenance import StaleRelease, explain, render_text

    if args.limit < 0:
        print("error: --limit must be at least 0", file=sys.stderr)
        return 1
    if args.table.strip().startswith("model:"):
        return _cmd_explain_model(args)
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        print(f"error: --as-of must be a date YYYY-MM-DD, got {args.as_of!r}", file=sys.stderr)
        return 1
    try:
        result = explain(settings_for(args), args.table, args.key, as_of)
    except (LookupError, StaleRelease) as exc:
        print(error_message(exc), file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(render_text(result, limit=args.limit))
    return 0


def _cmd_send(args: argparse.Namespace) -> int:
    from pipelines.lineage import transfer
    from pipelines.lineage.send import SendFailed, send_events
    from pipelines.reporting.store import event_source, has_events, read_events

    path = event_source(settings_for(args), args.events)
    if not has_events(path):
        print(f"error: no event log at {path} (run the pipeline first)", file=sys.stderr)
        return 1
    settings = settings_for(args)
    events = [line.event for line in read_events(path)]
    subjects = sorted({s for event in events for s in transfer.event_subjects(event)})
    refused = transfer.refusal(settings, transfer.without_userinfo(args.url), subjects)
    if refused is not None:  # nothing is sent: the rules refuse the destination
        transfer.record(settings, refused)
        print(f"error: {refused}", file=sys.stderr)
        return 1
    try:
        sent = send_events(events, args.url)
    except SendFailed as exc:
        print(error_message(exc), file=sys.stderr)
        return 1
    print(f"sent {sent.events:,} events from {path} to {sent.url}")
    return 0


def _common(parser: argparse.ArgumentParser, run: str | None = "every run") -> None:
    parser.add_argument(
        "--events",
        type=Path,
        help="event log (JSON lines, or a folder of them); default: the lineage_url table in "
        "PostgreSQL when set, else <data_dir>/lineage/events.jsonl",
    )
    if run:
        parser.add_argument(
            "--run",
            help="only this run and the runs under it (a run id, or `latest` for the "
            f"most recent DAG run); default: {run}",
        )


def register(subparsers: Any) -> None:
    """Add ``pipelines lineage rebuild|trace|pii|page|explain|send``."""
    lineage = subparsers.add_parser(
        "lineage",
        help="query the lineage store: trace columns, PII propagation, the lineage page",
        description="The OpenLineage event log loaded into DuckDB "
        "(<data_dir>/lineage/lineage.duckdb, rebuilt when the log is newer), and the "
        "questions governance asks of it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = lineage.add_subparsers(dest="lineage_command", metavar="ACTION", required=True)
    _add_rebuild(actions)
    _add_trace(actions)
    _add_pii(actions)
    _add_page(actions)
    _add_explain(actions)
    _add_send(actions)


def _add_rebuild(actions: Any) -> None:
    rebuild = actions.add_parser(
        "rebuild",
        help="rebuild the lineage store from the event log (atomic, idempotent)",
    )
    _common(rebuild, run=None)
    rebuild.set_defaults(func=_cmd_rebuild)


def _add_trace(actions: Any) -> None:
    tr = actions.add_parser(
        "trace",
        help="the upstream column graph of <table.column> down to the landing files",
        description="Each edge with its transformation and masking flag, and each dataset on "
        "the way with its versions and quality checks. Name a column by its short name "
        "(customer_features.orders, lake.orders.customer_id) or its full name.",
    )
    tr.add_argument(
        "column",
        help="<table>.<column>, e.g. customer_features.orders; or model:<name> for every "
        "input of a trained model",
    )
    tr.add_argument("--downstream", action="store_true", help="what depends on the column (impact)")
    tr.add_argument("--format", choices=["text", "json"], default="text")
    tr.add_argument("--depth", type=int, help="stop after N edges")
    _common(tr)
    tr.set_defaults(func=_cmd_trace)


def _add_pii(actions: Any) -> None:
    pii = actions.add_parser(
        "pii",
        help="PII-derived warehouse columns (exit status 1 if a mart has one)",
        description="A column is PII-derived if a column holding clear PII (a `pii` tag and no "
        "masking) is upstream of it along edges that do not mask.",
    )
    pii.add_argument("--all", action="store_true", help="also landing and lake columns")
    pii.add_argument(
        "--direct-only",
        action="store_true",
        help="follow only DIRECT edges (ignore joins, filters, grouping on PII)",
    )
    pii.add_argument("--format", choices=["text", "json"], default="text")
    _common(pii)
    pii.set_defaults(func=_cmd_pii)


def _add_page(actions: Any) -> None:
    page = actions.add_parser("page", help="write the lineage page (one self-contained HTML file)")
    page.add_argument(
        "--out", type=Path, help="output file; default <data_dir>/reports/lineage/index.html"
    )
    _common(page, run="latest")
    page.set_defaults(func=_cmd_page)


def _add_explain(actions: Any) -> None:
    ex = actions.add_parser(
        "explain",
        help="the landing records one served feature row (or training row) was computed from",
        description="Finds the published release as of the date (default: the latest), the "
        "row of <key> in its snapshot, and the lake rows of the release's partitions behind "
        "it (same joins and point-in-time rules as the dbt models). Prints feature values, "
        "counts, partitions and landing-file locators (file:record), never lake values. "
        "With model:<name>, explains <key>'s training row of a model version (default: the "
        "latest trained): the feature row it was trained on, the lake rows of its label, the "
        "quality checks of its inputs and their PII status. "
        "Exit status 1 for an unknown table, model, version, key or as-of date.",
    )
    ex.add_argument(
        "table",
        help="customer_features, product_features, seller_features, or model:<name>",
    )
    ex.add_argument("key", help="the row's key (customer_unique_token, product_id, seller_id)")
    ex.add_argument("--as-of", help="YYYY-MM-DD: the latest release on or before that date")
    ex.add_argument("--format", choices=["text", "json"], default="text")
    ex.add_argument(
        "--limit", type=int, default=5, help="locators shown per lake table (text; default 5)"
    )
    ex.add_argument(
        "--model-version", help="with model:<name>: the version (m-...; default: the latest)"
    )
    ex.set_defaults(func=_cmd_explain)


def _add_send(actions: Any) -> None:
    send = actions.add_parser(
        "send",
        help="replay the event log to an OpenLineage HTTP endpoint (Marquez)",
        description="POSTs every event of the log, in order, to <url>/api/v1/lineage, so a "
        "serverless run's lineage can be browsed in Marquez's UI (docker compose up -d "
        "marquez marquez-web; UI at http://localhost:3000). Exit status 1 at the first event "
        "the endpoint refuses.",
    )
    send.add_argument("--url", required=True, help="e.g. http://localhost:5000 (Marquez's API)")
    _common(send, run=None)
    send.set_defaults(func=_cmd_send)
