"""``pipelines generate``: write seeded sample landing data (see :func:`register`)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from pipelines.generate.defects import KINDS, parse_kinds
from pipelines.generate.report import MANIFEST, GenerationReport
from pipelines.generate.run import generate, mean_items_per_order
from pipelines.generate.writers import FORMATS

DESCRIPTION = """\
Write deterministic, seeded sample data in the Olist e-commerce layout into OUT:
one folder per delivery date (OUT/<YYYY-MM-DD>/<file_stem>.<ext>), column names and order
taken from the source contracts, values drawn from Olist-like distributions. The product
and seller catalogue lands in the first folder; each review lands in the folder of its
creation date, so review folders run past the last purchase day. Customer identity
profiles (names, e-mails, phones, addresses) are SYNTHETIC.

The same arguments always give byte-identical files. --defects injects known errors
(each --defect-count times) and OUT/_generation.json lists every one with its file, line
and record number, next to row counts per table and per day."""

EPILOG = f"""\
defect kinds: {", ".join(KINDS)} (or: all)

examples:
  pipelines generate --orders 2000 --out .data/landing
  pipelines generate --items 10000000 --out /tmp/bench --days 14 --chunk-rows 500000
  pipelines generate --orders 5000 --out /tmp/dirty --defects all --defect-count 5
  pipelines generate --orders 1000 --out /tmp/json --format jsonl --force
  pipelines generate --orders 2000 --out s3://bucket/landing   # generated locally, then uploaded
"""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _kinds(text: str) -> list[str]:
    try:
        return parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``generate`` subcommand to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "generate",
        help="write seeded sample landing data (Olist layout, optional injected defects)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--orders", type=_positive, help="number of orders to generate")
    size.add_argument(
        "--items",
        type=_positive,
        help=f"target number of order items instead (orders = items / {mean_items_per_order():.3f})",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="output folder (landing root), or s3://bucket/prefix: generated in a temporary "
        "folder, then uploaded (credentials as for PIPELINES_LANDING_URL)",
    )
    parser.add_argument("--seed", type=_non_negative, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--start",
        type=_day,
        default=date(2018, 1, 1),
        help="first purchase day (default 2018-01-01)",
    )
    parser.add_argument("--days", type=_positive, default=7, help="purchase days (default 7)")
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=FORMATS,
        default="csv.gz",
        help="file format (default csv.gz)",
    )
    parser.add_argument(
        "--defects",
        type=_kinds,
        default=[],
        metavar="KINDS",
        help="comma-separated defect kinds to inject, or 'all' (default: none)",
    )
    parser.add_argument(
        "--defect-count",
        type=_non_negative,
        default=3,
        help="injections per defect kind (default 3)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=_positive,
        default=1_000_000,
        help="rows per file before splitting into <stem>-part-NNNNN files (default 1000000)",
    )
    parser.add_argument(
        "--contracts-dir", type=Path, help="source contracts folder (default: the project's)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty OUT, first removing earlier date folders and "
        f"{MANIFEST} (nothing else)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``pipelines generate`` from parsed arguments; progress goes to stderr."""

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if str(args.out).startswith("s3://"):
        return _to_store(args, progress)
    return _report(_generate(args, Path(args.out), progress))


def _generate(
    args: argparse.Namespace, out: Path, progress: Callable[[str], None]
) -> GenerationReport | None:
    try:
        return generate(
            out,
            orders=args.orders,
            items=args.items,
            seed=args.seed,
            start=args.start,
            days=args.days,
            fmt=args.fmt,
            defects=args.defects,
            defect_count=args.defect_count,
            chunk_rows=args.chunk_rows,
            contracts_dir=args.contracts_dir,
            progress=None if args.quiet else progress,
            force=args.force,
        )
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _report(report: GenerationReport | None, where: str | None = None) -> int:
    if report is None:
        return 2
    where = where or str(report.out)
    width = max(len(t) for t in report.rows)
    for table, rows in report.rows.items():
        print(f"{table:<{width}}  {rows:>12,}")
    print(f"{len(report.files)} files in {len(report.rows_by_day)} folders under {where}")
    if report.defects:
        print(f"{len(report.defects)} injected defects listed in {where}/{MANIFEST}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _to_store(args: argparse.Namespace, progress: Callable[[str], None]) -> int:
    """Generate into a temporary folder, then upload it to the ``s3://`` landing ``--out``
    (objects of the same names are replaced; a non-empty prefix needs ``--force``)."""
    from pipelines.ingest.landing import upload_landing
    from pipelines.lake.storage import lake_storage

    url = str(args.out).rstrip("/")
    store = lake_storage(url)
    top = store.scan("")
    if (top.folders or top.files) and not args.force:
        print(f"error: {url} is not empty; use --force to upload over it", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="generate-") as tmp:
        report = _generate(args, Path(tmp), progress)
        if report is None:
            return 2
        names = upload_landing(Path(tmp), store)
        if not args.quiet:
            progress(f"uploaded {len(names)} files to {url}")
        return _report(report, url)
