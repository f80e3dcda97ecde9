"""``pipelines quality ...``: run the gate, print summaries, build Data Docs, inspect suites.

Registered by ``pipelines.cli`` with :func:`register`; every handler imports GX lazily.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipelines.settings import settings_for

EPILOG = """\
examples:
  pipelines quality summary                       # the latest run, per table
  pipelines quality summary --run-id 'scheduled__2018-01-02T00:00:00+00:00'
  pipelines quality validate --all --start 2018-01-01 --end 2018-01-02
  pipelines quality docs                          # rebuild GX Data Docs
  pipelines quality suite orders                  # the effective suite (contract + file)
  pipelines quality history --table orders        # representativeness/drift over time
"""


def _cmd_summary(args: argparse.Namespace) -> int:
    from pipelines.lake.interval import Interval
    from pipelines.quality.summary import print_summary

    interval = Interval.parse(args.start, args.end) if args.start and args.end else None
    return print_summary(settings_for(args), args.run_id, interval, as_json=args.format == "json")


def _cmd_validate(args: argparse.Namespace) -> int:
    from pipelines.contracts import load_contracts
    from pipelines.lake.interval import Interval
    from pipelines.quality.gxsetup import configure_logging
    from pipelines.quality.runner import configured_keyring, validate_partition
    from pipelines.quality.summary import print_summary

    configure_logging()
    settings = settings_for(args)
    contracts = load_contracts(settings.contracts_dir)
    interval = Interval.parse(args.start, args.end)
    tables = (
        contracts.load_order()
        if args.all
        else [t for t in contracts.load_order() if t in set(args.table or [])]
    )
    if not tables:
        print("name a --table (repeatable) or use --all", file=sys.stderr)
        return 2
    run_id = args.run_id or f"manual__{interval.start.isoformat()}"
    keyring = configured_keyring(settings)  # gate-quarantined values kept encrypted
    for table in tables:
        validate_partition(
            table, interval, settings, run_id=run_id, contracts=contracts, keyring=keyring
        )
    if args.docs:
        from pipelines.quality.docs import build_docs

        build_docs(settings)
    return print_summary(settings, run_id)


def _cmd_docs(args: argparse.Namespace) -> int:
    from pipelines.quality.docs import build_docs

    index = build_docs(settings_for(args), args.run_id or None)
    print(f"Data Docs: {index}")
    return 0


def _cmd_suite(args: argparse.Namespace) -> int:
    from pipelines.contracts import load_contracts
    from pipelines.lake.interval import Interval
    from pipelines.quality.suites import build_suite

    settings = settings_for(args)
    contracts = load_contracts(settings.contracts_dir)
    interval = Interval.parse(args.start, args.end)
    suite = build_suite(contracts[args.table], contracts, interval, loaded=0, read=0)
    body = {
        "name": suite.table,
        "disabled": suite.disabled,
        "expectations": [s.configuration() for s in suite.specs],
    }
    print(json.dumps(body, indent=2, default=str))
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from pipelines.console import table
    from pipelines.quality import store

    rows = [
        r
        for r in store.read_stats(settings_for(args))
        if r["table"] == args.table and (not args.check or r["expectation"] == args.check)
    ]
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        seen[(r["interval_start"], r["expectation"], r["run_id"])] = r
    lines = [
        [
            r["interval_start"][:19],
            r["expectation"],
            r["kind"],
            str(r["rows"]),
            r["level"] or "-",
            "-" if r["psi"] is None else f"{r['psi']:.4f}",
            "-" if r["tvd"] is None else f"{r['tvd']:.4f}",
            "-" if r["js_distance"] is None else f"{r['js_distance']:.4f}",
            r["run_id"],
        ]
        for _, r in sorted(seen.items())
    ]
    if not lines:
        print(f"no representativeness or drift statistics for {args.table} yet")
        return 0
    print(table(lines, ["interval", "check", "kind", "rows", "level", "PSI", "TVD", "JS", "run"]))
    return 0


def _cmd_reference(args: argparse.Namespace) -> int:
    from pipelines.quality.reference import build_from_olist_full, write_references

    for path in write_references(build_from_olist_full(Path(args.olist_full))):
        print(f"wrote {path}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``pipelines quality ...`` to the top-level parser's subcommands."""
    quality = subparsers.add_parser(
        "quality",
        help="quality gate: validate lake partitions with Great Expectations, summaries, Data Docs",
        description="Run the quality and representativeness gate on the protected lake, print "
        "its results, build GX Data Docs and inspect the suites (expectations/).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = quality.add_subparsers(dest="quality_command", metavar="ACTION", required=True)

    summary = sub.add_parser("summary", help="checks passed, warned and failed per table")
    summary.add_argument("--run-id", help="a run id (default: the latest run)")
    summary.add_argument("--start", help="instead of a run: the latest results of partitions")
    summary.add_argument("--end", help="... overlapping [START, END)")
    summary.add_argument("--format", choices=["text", "json"], default="text")
    summary.set_defaults(func=_cmd_summary)

    validate = sub.add_parser("validate", help="validate lake partitions of an interval")
    target = validate.add_mutually_exclusive_group(required=True)
    target.add_argument("--table", action="append", help="table (repeatable)")
    target.add_argument("--all", action="store_true", help="every table, in load order")
    validate.add_argument("--start", required=True, help="interval start (ISO date/time, UTC)")
    validate.add_argument("--end", required=True, help="interval end, exclusive")
    validate.add_argument("--run-id", help="run id to record (default manual__<start>)")
    validate.add_argument("--docs", action="store_true", help="build Data Docs afterwards")
    validate.set_defaults(func=_cmd_validate)

    docs = sub.add_parser("docs", help="build GX Data Docs from the stored results")
    docs.add_argument("--run-id", action="append", help="only these runs (repeatable)")
    docs.set_defaults(func=_cmd_docs)

    suite = sub.add_parser("suite", help="print a table's effective suite (contract + file)")
    suite.add_argument("table")
    suite.add_argument("--start", default="2018-01-01")
    suite.add_argument("--end", default="2018-01-02")
    suite.set_defaults(func=_cmd_suite)

    history = sub.add_parser("history", help="representativeness and drift statistics over time")
    history.add_argument("--table", required=True)
    history.add_argument("--check", help="one check name")
    history.set_defaults(func=_cmd_history)

    reference = sub.add_parser(
        "reference", help="rebuild the reference files that come from the Olist full tables"
    )
    reference.add_argument("action", choices=["build"])
    reference.add_argument("--olist-full", required=True, help="folder of the Olist full tables")
    reference.set_defaults(func=_cmd_reference)


def main(argv: list[str] | None = None) -> int:
    """``python -m pipelines.quality ACTION ...`` (the same as ``pipelines quality ACTION``)."""
    from pipelines.console import setup_logging

    parser = argparse.ArgumentParser(prog="pipelines-quality")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--settings", type=Path, help="TOML settings file")
    parser.add_argument("--data-dir", type=Path, help="root of everything the pipeline writes")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(sub)
    raw = list(sys.argv[1:] if argv is None else argv)
    at = 0  # global options first, then the quality action
    while at < len(raw) and raw[at].startswith("-"):
        at += 1 if raw[at] in ("-v", "--verbose") or "=" in raw[at] else 2
    args = parser.parse_args([*raw[:at], "quality", *raw[at:]])
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except Exception as exc:
        from pipelines.console import report_error

        return report_error(exc, verbose=args.verbose)
