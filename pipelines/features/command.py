"""``pipelines features ...``: build, inspect and export the ML feature tables.

Registered by ``pipelines.cli`` with :func:`register`; handlers import their machinery lazily.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pipelines.settings import settings_for

EPILOG = """\
examples:
  pipelines features releases                         # what was built, published or held back
  pipelines features show --as-of 2018-01-08          # one release: inputs, checks, files
  pipelines features export customer_features out/customer_features.parquet --as-of 2018-01-08 \
      --purpose churn
  pipelines features build --as-of 2018-01-08         # build, check and publish outside Airflow

In Python (polars):
  from pipelines.features import load_features, training_set
  fs = load_features("customer_features", as_of="2018-01-08", purpose="churn"); fs.frame; fs.release
"""


def _as_of(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise SystemExit(f"--as-of must be a date YYYY-MM-DD, got {text!r}") from exc


def _cmd_releases(args: argparse.Namespace) -> int:
    from pipelines.features.summary import print_features

    return print_features(settings_for(args), last=args.last)


def _cmd_show(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from pipelines.features.snapshots import read_release

    release = read_release(settings_for(args), _as_of(args.as_of))
    print(json.dumps(asdict(release), indent=2, sort_keys=True))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from pipelines.features import load_features

    settings = settings_for(args)
    as_of = _as_of(args.as_of) if args.as_of else None
    fs = load_features(args.table, as_of, purpose=args.purpose, settings=settings)
    out = fs.export(args.dest, settings=settings)
    print(
        f"{args.table} as of {fs.as_of} ({fs.frame.height:,} rows, release "
        f"{fs.release.release_id}) -> {out}"
    )
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from pipelines.features import tasks
    from pipelines.features.paths import feature_table_names

    settings = settings_for(args)
    end = datetime.combine(_as_of(args.as_of), time(0), tzinfo=UTC)
    start = end - timedelta(days=1)
    run_id = args.run_id or f"manual__{end.date().isoformat()}"
    built = tasks.build(start, end, run_id, settings=settings)
    print(f"built release {built['release_id']}: {built['rows']}")
    for table in feature_table_names(settings):
        summary = tasks.check(table, start, end, run_id, settings=settings)
        print(
            f"checked {table}: {summary['passed']} passed, {summary['warned']} warned, "
            f"{summary['failed']} failed"
        )
    try:
        tasks.publish(start, end, run_id, settings=settings)
    except tasks.FeatureGateFailed as exc:
        print(f"NOT PUBLISHED: {exc}")
        return 1
    print(f"published features as of {end.date()}")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "features",
        help="build, inspect and export the ML feature tables",
        description="The validated feature tables (dbt models declared with "
        "config.meta.feature_table; the Olist package: customer, product, seller) as daily "
        "as-of snapshots, built by dbt from gate-passed lake partitions.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="features_action", required=True, metavar="ACTION")
    releases = actions.add_parser("releases", help="list the latest releases")
    releases.add_argument("--last", type=int, default=14, help="how many (default 14)")
    releases.set_defaults(func=_cmd_releases)
    show = actions.add_parser("show", help="one release as JSON")
    show.add_argument("--as-of", required=True, help="the snapshot date YYYY-MM-DD")
    show.set_defaults(func=_cmd_show)
    export = actions.add_parser("export", help="copy a published snapshot to a Parquet file")
    export.add_argument("table", help="a declared feature table, e.g. customer_features")
    export.add_argument("dest", help="destination .parquet file")
    export.add_argument("--as-of", help="latest published on or before this date (default: latest)")
    export.add_argument(
        "--purpose",
        required=True,
        help="what the export is for (policy.yml must approve the table for it, e.g. churn); "
        "the destination must be declared in policy.yml with a jurisdiction the table's "
        "subjects allow",
    )
    export.set_defaults(func=_cmd_export)
    build = actions.add_parser(
        "build", help="build, check and publish the features as of a date (outside Airflow)"
    )
    build.add_argument("--as-of", required=True, help="snapshot date YYYY-MM-DD")
    build.add_argument("--run-id", help="run id to record (default manual__<as-of>)")
    build.set_defaults(func=_cmd_build)
