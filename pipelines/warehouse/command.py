"""``pipelines warehouse ...``: the dbt sources file, feature builds and dbt docs.

Registered by ``pipelines.cli`` with :func:`register`; handlers import dbt/DuckDB lazily.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import Any

from pipelines.settings import settings_for

EPILOG = """\
examples:
  pipelines warehouse sources --check       # is the dbt sources file in sync with contracts/?
  pipelines warehouse sources               # regenerate it from the contracts
  pipelines warehouse build --as-of 2018-01-08
  pipelines warehouse docs                  # dbt docs for governance staff
"""


def _cmd_sources(args: argparse.Namespace) -> int:
    from pipelines.warehouse.sources import SOURCES_FILE, check_sources, write_sources

    settings = settings_for(args)
    if args.check:
        problem = check_sources(settings)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        print(f"{SOURCES_FILE.name} matches the contracts")
        return 0
    print(f"wrote {write_sources(settings)}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from pipelines.console import table
    from pipelines.warehouse.build import build_features

    settings = settings_for(args)
    result = build_features(
        settings,
        args.as_of,
        release_id=args.release_id,
        run_id=args.run_id,
        select=args.select or (),
        full_refresh=args.full_refresh,
        unit_tests=args.unit_tests,
        echo=print,
    )
    rows = [
        [n.name, f"{n.rows_affected:,}"]
        for n in result.nodes
        if n.resource_type == "model" and n.rows_affected is not None
    ]
    if rows:
        print(table(rows, ["feature table", f"rows as of {args.as_of}"]))
    print(f"warehouse: {settings.warehouse}\ndbt artifacts: {result.target_dir}")
    return 0


def _cmd_docs(args: argparse.Namespace) -> int:
    from pipelines.warehouse.dbt import generate_docs
    from pipelines.warehouse.stored import pull_warehouse

    settings = settings_for(args)
    pull_warehouse(settings)  # lake on an object store: the last build's warehouse
    print(f"dbt docs: {generate_docs(settings, args.as_of, echo=print)}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``pipelines warehouse ...`` to the top-level parser's subcommands."""
    warehouse = subparsers.add_parser(
        "warehouse",
        help="feature warehouse: dbt sources from contracts, feature builds, dbt docs",
        description="Build the ML feature tables with dbt on DuckDB from the protected lake "
        "(dbt_project/); dbt's target and logs go to <data_dir>/dbt.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = warehouse.add_subparsers(dest="warehouse_command", metavar="ACTION", required=True)

    sources = sub.add_parser(
        "sources", help="regenerate dbt_project/sources/_lake__sources.yml from contracts"
    )
    sources.add_argument(
        "--check", action="store_true", help="only check that the file is up to date (exit 1)"
    )
    sources.set_defaults(func=_cmd_sources)

    build = sub.add_parser(
        "build",
        help="register every lake partition and run `dbt build` as of a date",
        description="Registers all published lake partitions as views (schema lake), then "
        "builds and tests the feature tables' snapshot as of --as-of (events before that "
        "date, 00:00 UTC). Re-running a date replaces its snapshot.",
    )
    build.add_argument(
        "--as-of", required=True, type=date.fromisoformat, help="snapshot date YYYY-MM-DD"
    )
    build.add_argument("--release-id", default="manual", help="stamped on every row")
    build.add_argument("--run-id", default="manual", help="stamped on every row")
    build.add_argument("--select", nargs="+", help="dbt --select (default: everything)")
    build.add_argument(
        "--full-refresh", action="store_true", help="drop earlier snapshots of the marts"
    )
    build.add_argument(
        "--unit-tests",
        action="store_true",
        help="also run dbt's unit tests (the models' logic on fixed rows; `make test` runs "
        "them, scheduled builds skip them)",
    )
    build.set_defaults(func=_cmd_build)

    docs = sub.add_parser("docs", help="dbt docs generate (static HTML with catalog)")
    docs.add_argument(
        "--as-of", type=date.fromisoformat, help="as-of date shown in compiled SQL (default today)"
    )
    docs.set_defaults(func=_cmd_docs)
