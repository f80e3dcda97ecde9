"""The ``pipelines`` command line. Run ``pipelines --help`` or ``pipelines <command> --help``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.contracts import ContractSet

EPILOG = """\
typical session:
  pipelines keys init                         # a local development key ring (once)
  pipelines generate --orders 2000 --out .data/landing
  pipelines ingest --all --start 2018-01-01 --end 2018-01-02
  pipelines summary --start 2018-01-01 --end 2018-01-02
  pipelines pii inventory

settings come from arguments, then a TOML file (--settings, $PIPELINES_SETTINGS_FILE or
./pipelines.toml), then PIPELINES_* environment variables; see `pipelines settings`.
"""


def _ingest_order(args: argparse.Namespace, contracts: ContractSet) -> list[str]:
    """The tables to ingest, in load order (a name no contract declares last, to fail)."""
    if args.all:
        return contracts.load_order()
    named = args.table or []
    return [t for t in contracts.load_order() if t in set(named)] + [
        t for t in named if t not in contracts
    ]


def _cmd_ingest(args: argparse.Namespace) -> int:
    from pipelines.console import safe_error, table
    from pipelines.contracts import load_contracts
    from pipelines.ingest import ingest_table
    from pipelines.lake.interval import Interval
    from pipelines.schedule import check_interval_start

    settings = args.settings
    contracts = load_contracts(settings.contracts_dir)
    interval = Interval.parse(args.start, args.end)
    check_interval_start(interval.start, interval.end, settings)
    tables = _ingest_order(args, contracts)
    if not tables:
        print("name a --table (repeatable) or use --all", file=sys.stderr)
        return 2
    rows, failed = [], {}
    suppressed: dict[str, int] = {}
    for name in tables:
        blocked = [t for t in contracts.upstream(name) if t in failed] if name in contracts else []
        if blocked:  # its foreign keys would be checked against partitions that are not there
            failed[name] = f"skipped, because {', '.join(blocked)} failed"
            print(f"error: {name}: {failed[name]}", file=sys.stderr)
            continue
        try:
            result = ingest_table(name, interval, settings, run_id=args.run_id, contracts=contracts)
        except Exception as exc:  # the next tables may not depend on it: go on, report at the end
            failed[name] = safe_error(exc)  # the redaction boundary (pipelines.redact)
            said = failed[name].removeprefix(f"{name}: ")  # most messages name their table
            print(f"error: {name}: {said}", file=sys.stderr)
            continue
        c = result.counts
        rows.append(
            [
                name,
                f"{c.read:,}",
                f"{c.loaded:,}",
                f"{c.quarantined:,}",
                f"{c.dropped:,}",
                result.location,
            ]
        )
        if c.suppressed:
            suppressed[name] = c.suppressed
        for warning in result.warnings:
            print(f"warning: {name}: {warning}", file=sys.stderr)
    if rows:
        print(table(rows, ["table", "read", "loaded", "quarantined", "dropped", "partition"]))
    if suppressed:  # read = loaded + quarantined + dropped + suppressed
        listed = ", ".join(f"{t} {n:,}" for t, n in suppressed.items())
        print(f"rows of erased subjects suppressed (pipelines privacy erase): {listed}")
    if failed:
        names = ", ".join(failed)
        print(f"error: ingestion failed for {len(failed)} table(s): {names}", file=sys.stderr)
        return 1
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from pipelines.summary import print_summary

    settings = args.settings
    from pipelines.lake.interval import Interval

    interval = Interval.parse(args.start, args.end) if args.start and args.end else None
    return print_summary(settings, interval, as_json=args.format == "json")


def _cmd_contracts(args: argparse.Namespace) -> int:
    from pipelines.console import table
    from pipelines.contracts import load_contracts

    if args.action in ("schema", "docs"):
        return _contract_docs(args)
    if args.action == "init":
        return _contract_init(args)
    if args.action == "export":
        return _contract_export(args)
    settings = args.settings
    contracts = load_contracts(settings.contracts_dir)
    if args.action == "list":
        rows = [
            [
                t,
                f"v{contracts[t].version}",
                ", ".join(contracts[t].primary_key),
                ", ".join(fk.references for fk in contracts[t].foreign_keys) or "-",
                contracts[t].owner,
            ]
            for t in contracts.load_order()
        ]
        print(table(rows, ["table (load order)", "version", "primary key", "references", "owner"]))
    elif args.action == "show":
        contract = contracts[args.table]
        print(json.dumps(contract.model_dump(mode="json", exclude={"path"}), indent=2))
    else:  # check
        return _contracts_check(contracts, settings.contracts_dir)
    return 0


def _todos(value: object, where: str) -> list[str]:
    """The fields of a contract's dump still holding a ``TODO`` placeholder."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _todos(v, f"{where}.{k}" if where else k)]
    if isinstance(value, list):
        named = [v.get("name", i) if isinstance(v, dict) else i for i, v in enumerate(value)]
        return [t for n, v in zip(named, value, strict=True) for t in _todos(v, f"{where}.{n}")]
    return [where] if isinstance(value, str) and value.strip().upper().startswith("TODO") else []


def _contracts_check(contracts: Any, folder: Path) -> int:
    """Valid contracts; a placeholder ``contracts init`` left (``TODO: ...``) fails the check."""
    todos = [
        f"{contracts[t].path or t}: {field}"
        for t in contracts.load_order()
        for field in _todos(contracts[t].model_dump(mode="json", exclude={"path"}), "")
    ]
    if todos:
        print(
            f"{len(todos)} field(s) still hold a TODO placeholder from `contracts init`: fill "
            "them in (owner: who answers for the source; description: what a record is):\n  "
            + "\n  ".join(todos),
            file=sys.stderr,
        )
        return 1
    print(f"{len(contracts)} contracts in {folder} are valid")
    return 0


def _contract_init(args: argparse.Namespace) -> int:
    from pipelines.scaffold.command import init

    if not args.sample or not args.init_table:
        print("contracts init needs --from FILE and --table NAME", file=sys.stderr)
        return 2
    settings = args.settings
    suites = args.suites_dir or settings.expectations_dir
    return init(args.sample, args.init_table, settings.contracts_dir, suites, args.region)


def _contract_export(args: argparse.Namespace) -> int:
    from pipelines.contracts import load_contracts
    from pipelines.odcs import API_VERSION, export

    settings = args.settings
    contracts = load_contracts(settings.contracts_dir)
    tables = [args.table] if args.table else contracts.load_order()
    out = args.out or settings.data_dir / "odcs"
    for path in export([contracts[t] for t in tables], out):
        print(f"wrote {path}")
    print(f"{len(tables)} contract(s) as ODCS {API_VERSION}, each validated against its schema")
    return 0


def _contract_docs(args: argparse.Namespace) -> int:
    from pipelines import contract_docs

    if args.action == "schema":
        print(contract_docs.render_schema(), end="")
        return 0
    if args.check:
        stale = contract_docs.check_docs()
        for message in stale:
            print(message, file=sys.stderr)
        return 1 if stale else 0
    for path in contract_docs.write_docs():
        print(f"wrote {path}")
    return 0


def _cmd_pii(args: argparse.Namespace) -> int:
    from pipelines.lake.findings import undeclared_inventory
    from pipelines.pii_inventory import inventory, render_markdown

    settings = args.settings
    rows = inventory(settings) + undeclared_inventory(settings)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        print(render_markdown(rows))
    return 0


def _cmd_settings(args: argparse.Namespace) -> int:
    from pipelines.console import table

    settings = args.settings
    print(table([[k, v] for k, v in settings.describe().items()], ["setting", "value"]))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import run_demo

    return run_demo(args.settings, orders=args.orders, days=args.days, seed=args.seed)


def _cmd_run(args: argparse.Namespace) -> int:
    from pipelines.runrange import run_range

    return run_range(args.settings, args.date_from, args.date_to, keep_going=args.keep_going)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD") from None


RUN_EPILOG = """\
examples:
  pipelines run --from 2018-01-01 --to 2018-01-02     # one day: the interval [01-01, 01-02)
  pipelines run --from 2018-01-01 --to 2018-01-08     # a week, day by day, stop at a failure
  pipelines run --from 2010-12-01 --to 2010-12-10 --keep-going
  PIPELINES_DAG_START_DATE=2010-12-01 pipelines run --from 2010-12-01 --to 2010-12-03

Every line starts with [interval n/N day | elapsed, ETA] and names the running task; a task
that prints nothing gets a line every 10 s. A failed interval is named with its failed
task(s) and the command that shows why. Airflow's own output: <data_dir>/logs/run-airflow.log.
The end is a table per interval: run state, quality gate, rows loaded and quarantined, and
the feature release (published or why not). Exit code 0 only if every interval succeeded.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipelines",
        description="Governed commerce data pipeline: generate sample data, ingest it into a "
        "protected lake, manage keys and inspect what was done.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--settings", dest="settings_file", type=Path, help="TOML settings file")
    parser.add_argument("--data-dir", type=Path, help="root of everything the pipeline writes")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from pipelines.features.command import register as register_features
    from pipelines.generate.command import register as register_generate
    from pipelines.lake.command import register as register_lake
    from pipelines.policy.command import register as register_policy
    from pipelines.portal.command import register as register_portal
    from pipelines.privacy.command import register as register_privacy
    from pipelines.protection.command import register as register_protection
    from pipelines.quality.command import register as register_quality
    from pipelines.reporting.command import register as register_lineage
    from pipelines.warehouse.command import register as register_warehouse

    register_generate(sub)
    register_features(sub)
    register_lineage(sub)
    register_protection(sub)
    register_quality(sub)
    register_warehouse(sub)
    register_portal(sub)
    register_privacy(sub)
    register_policy(sub)
    register_lake(sub)

    _add_ingest(sub)
    _add_summary(sub)
    _add_contracts(sub)
    _add_pii(sub)
    _add_settings(sub)
    _add_run(sub)
    _add_demo(sub)
    return parser


def _add_ingest(sub: Any) -> None:
    ingest = sub.add_parser(
        "ingest",
        help="ingest landing files of a data interval into the protected lake",
        description="Read each table's landing files delivered in [START, END), type and "
        "check every record against its contract, protect PII and publish one lake partition "
        "per table (data, quarantine, manifest). Re-running an interval replaces it.",
        epilog="example:\n  pipelines ingest --all --start 2018-01-01 --end 2018-01-02",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = ingest.add_mutually_exclusive_group(required=True)
    target.add_argument("--table", action="append", help="table to ingest (repeatable)")
    target.add_argument("--all", action="store_true", help="every table, in load order")
    ingest.add_argument("--start", required=True, help="interval start (ISO date/time, UTC)")
    ingest.add_argument("--end", required=True, help="interval end, exclusive")
    ingest.add_argument("--run-id", help="run identifier recorded in manifests")
    ingest.set_defaults(func=_cmd_ingest)


def _add_summary(sub: Any) -> None:
    summary = sub.add_parser(
        "summary",
        help="row accounting of the lake: read, loaded, quarantined per table",
        description="Totals from the partition manifests, optionally for one interval.",
    )
    summary.add_argument("--start", help="only partitions starting at or after this")
    summary.add_argument("--end", help="... and before this")
    summary.add_argument("--format", choices=["text", "json"], default="text")
    summary.set_defaults(func=_cmd_summary)


def _add_contracts(sub: Any) -> None:
    contracts = sub.add_parser(
        "contracts",
        help="list, show or validate the source contracts; their format's schema and reference",
        description="check: load and cross-check every contract in the contracts directory "
        "(errors name the file, the field and what to write instead). schema: print the JSON "
        "Schema of a contract file. docs: regenerate docs/contracts.md and "
        "docs/contract.schema.json from the contract model (--check: fail if out of date). "
        "init: propose a contract and a starter suite from a sample file (CSV, CSV.gz, JSON "
        "lines, Parquet): types, source names, key candidates with their uniqueness, a PII "
        "class and protection per column; with an existing contract for the table, print "
        "how the file differs from it instead. Never prints sample values. export --format "
        "odcs: write each contract as an Open Data Contract Standard v3.2.0 document "
        "(validated with the standard's model and JSON Schema) for data catalogs.",
        epilog="examples:\n"
        "  pipelines contracts check\n"
        "  pipelines contracts init --from exports/online_retail_ii.csv.gz --table online_retail\n"
        "  pipelines contracts init --from new_export.parquet --table online_retail  # drift\n"
        "  pipelines contracts init --from customers.jsonl --table crm_customers --region GB\n"
        "  pipelines contracts export --format odcs --out catalog/   # one file per table",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    contracts.add_argument(
        "action", choices=["list", "show", "check", "schema", "docs", "init", "export"]
    )
    contracts.add_argument("table", nargs="?", help="table for `show` (`export`: only this one)")
    contracts.add_argument(
        "--format", dest="export_format", choices=["odcs"], default="odcs", help="export: format"
    )
    contracts.add_argument(
        "--out", type=Path, help="export: folder for <table>.odcs.yaml (default <data_dir>/odcs)"
    )
    contracts.add_argument("--check", action="store_true", help="docs: only check, write nothing")
    contracts.add_argument(
        "--from", dest="sample", type=Path, metavar="FILE", help="init: the sample file"
    )
    contracts.add_argument("--table", dest="init_table", metavar="NAME", help="init: table name")
    contracts.add_argument(
        "--region",
        default="BR",
        help="init: where phone numbers without + are read (ISO code, default BR)",
    )
    contracts.add_argument(
        "--suites-dir",
        type=Path,
        help="init: where the starter suite goes (default: the settings' expectations_dir)",
    )
    contracts.set_defaults(func=_cmd_contracts)


def _add_pii(sub: Any) -> None:
    pii = sub.add_parser(
        "pii",
        help="PII inventory: every personal-data column and how it is protected",
        description="Built from the source contracts; lists each PII column, its class, its "
        "protection and its name in the lake; then every column kept in clear in which "
        "ingestion found personal data nobody declared (class 'undeclared', the detector and "
        "the partitions; see undeclared_pii in docs/contracts.md).",
    )
    pii.add_argument("action", choices=["inventory"])
    pii.add_argument("--format", choices=["markdown", "json"], default="markdown")
    pii.set_defaults(func=_cmd_pii)


def _add_settings(sub: Any) -> None:
    settings = sub.add_parser("settings", help="show the effective settings (secrets masked)")
    settings.set_defaults(func=_cmd_settings)


def _add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run the daily DAG through Airflow for each day of a range, with progress",
        description="Runs `airflow dags test commerce_daily` (embedded SQLite metadata under "
        "<data_dir>/airflow, as `make demo` does) for each daily interval in [--from, --to), "
        "all in one Airflow process: ingestion, the quality gate, the feature build and release. The landing files must "
        "be there already (<data_dir>/landing/<YYYY-MM-DD>/, PIPELINES_LANDING_DIR or PIPELINES_LANDING_URL). Keys: "
        "PIPELINES_KEY_FILE / PIPELINES_KEYS, else a local development key ring.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--from", dest="date_from", metavar="DATE", type=_day, required=True, help="first day"
    )
    run.add_argument(
        "--to",
        dest="date_to",
        metavar="DATE",
        type=_day,
        required=True,
        help="end of the range, exclusive (--from D --to D+1 runs the day D)",
    )
    run.add_argument(
        "--keep-going",
        action="store_true",
        help="run the next intervals after a failed one (default: stop at the first failure)",
    )
    run.set_defaults(func=_cmd_run)


def _add_demo(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="generate sample data and run the daily DAG through Airflow (what `make demo` runs)",
        description="Creates a development key ring if none is configured, generates sample "
        "landing data, runs `airflow dags test commerce_daily` on SQLite for each demo day "
        "(all days in one Airflow process: python -m pipelines.airflow_runs), and prints "
        "what was loaded and quarantined and where the outputs are.",
    )
    demo.add_argument("--orders", type=int, default=3500, help="orders to generate (default 3500)")
    demo.add_argument("--days", type=int, default=7, help="days to generate and run (default 7)")
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=_cmd_demo)


def main(argv: Sequence[str] | None = None) -> int:
    from pipelines.console import setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        from pipelines.settings import settings_for

        args.settings = settings_for(args)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from pipelines.console import report_error

        return report_error(exc, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
