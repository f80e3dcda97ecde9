"""CLI: ``pipelines lake gc`` (objects of a lake on an object store that no manifest names),
``pipelines lake history`` and ``pipelines lake partitions`` (with a DuckLake catalog: the
commits that changed a table; its partitions now or as of a snapshot)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from pipelines.contracts import load_contracts
from pipelines.settings import settings_for

ACTION = "lake_gc"


def _cmd_gc(args: argparse.Namespace) -> int:
    from pipelines.lake.gc import collect
    from pipelines.lake.storage import lake_store

    settings = settings_for(args)
    store = lake_store(settings)
    if not store.versioned:
        print(f"lake at {store.root} is a local folder: nothing to collect")
        return 0
    tables = args.table or list(load_contracts(settings.contracts_dir).load_order())
    grace = timedelta(hours=args.grace_hours)
    found = collect(
        store, tables, grace=grace, now=datetime.now(UTC), delete=args.delete,
        lock_url=settings.lock_url,
    )  # fmt: skip
    deleted = [g.rel for g in found if g.deleted]
    if args.delete:
        from pipelines.protection.audit_pg import open_audit_log
        from pipelines.protection.keys import keyring_from_settings

        log = open_audit_log(settings, keyring_from_settings(settings))
        entry = log.append(
            actor=args.actor, action=ACTION, reason=args.reason,
            details={"lake": store.root, "deleted": len(deleted), "grace_hours": args.grace_hours,
                     "objects": json.dumps(deleted, separators=(",", ":"))},
        )  # fmt: skip
    for g in found:
        state = "deleted" if g.deleted else ("kept (referenced now)" if args.delete else "")
        print(f"  {g.rel}  written {g.modified.isoformat(timespec='seconds')}  {state}".rstrip())
    if args.delete:
        print(f"{len(deleted)} unreferenced object(s) deleted (audit entry {entry['seq']})")
    else:
        print(
            f"{len(found)} unreferenced object(s) older than {args.grace_hours:g} h "
            "(dry run: pass --delete to delete them)"
        )
    return 0


def _catalog(settings: Any) -> Any:
    from pipelines.lake.storage import catalog_of, lake_store

    catalog = catalog_of(lake_store(settings))
    if catalog is None:
        print(
            "error: the lake keeps no history without a DuckLake catalog: set lake_url and "
            "lake_catalog_url (PIPELINES_LAKE_CATALOG_URL)",
            file=sys.stderr,
        )
    return catalog


def _cmd_history(args: argparse.Namespace) -> int:
    from pipelines.lake.ducklake.history import history

    catalog = _catalog(settings_for(args))
    if catalog is None:
        return 2
    commits = history(catalog, args.table)
    for c in commits:
        version = c.dataset_version or "-"
        print(
            f"  snapshot {c.snapshot}  {c.time.isoformat(timespec='seconds')}  "
            f"{c.message}  run {c.run_id or '-'}  {c.partition}  dataset {version}"
        )
    print(f"{len(commits)} commit(s) changed {args.table} (catalog {catalog.display})")
    return 0


def _cmd_partitions(args: argparse.Namespace) -> int:
    from pipelines.lake.ducklake.connection import CatalogError
    from pipelines.lake.partitions import partitions
    from pipelines.lake.storage import lake_store

    settings = settings_for(args)
    if args.snapshot is not None and _catalog(settings) is None:
        return 2
    try:
        parts = partitions(lake_store(settings), args.table, snapshot=args.snapshot)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for part in parts:
        counts = part.manifest.counts
        committed = "" if part.snapshot is None else f"  snapshot {part.snapshot}"
        print(
            f"  {part.name}  dataset {part.manifest.dataset_version}  loaded {counts.loaded}  "
            f"quarantined {counts.quarantined}  run {part.manifest.run_id or '-'}{committed}"
        )
    when = "now" if args.snapshot is None else f"as of snapshot {args.snapshot}"
    print(f"{len(parts)} partition(s) of {args.table} {when}")
    return 0


def _register_catalog(lake_sub: Any) -> None:
    history = lake_sub.add_parser(
        "history",
        help="the commits (snapshots) that changed a table (DuckLake catalog)",
        description="With a DuckLake catalog (lake_catalog_url), every publication and "
        "removal of a partition is a snapshot: list those of --table, oldest first, with "
        "the run id, the partition and the dataset version it published.",
    )
    history.add_argument("--table", required=True, help="the lake table")
    history.set_defaults(func=_cmd_history)
    listing = lake_sub.add_parser(
        "partitions",
        help="a table's partitions, now or as of a snapshot",
        description="The partitions of --table as published now or, with a DuckLake catalog, "
        "as of --snapshot N (see `pipelines lake history`).",
    )
    listing.add_argument("--table", required=True, help="the lake table")
    listing.add_argument("--snapshot", type=int, help="as of this snapshot (time travel)")
    listing.set_defaults(func=_cmd_partitions)


def register(sub: Any) -> None:
    lake = sub.add_parser("lake", help="maintain the lake on an object store")
    lake_sub = lake.add_subparsers(dest="lake_command", metavar="COMMAND", required=True)
    gc = lake_sub.add_parser(
        "gc",
        help="list (and with --delete, delete) objects no manifest names",
        description="On a lake on an object store (lake_url), a re-run leaves the superseded "
        "version's objects and a killed writer its objects: no reader follows them. List "
        "those written more than --grace-hours ago; with --delete, delete them (each "
        "partition's under its writer lock; audited). A dry run by default.",
    )
    gc.add_argument("--table", action="append", help="only this table (repeatable)")
    gc.add_argument(
        "--grace-hours", type=float, default=24.0,
        help="keep objects younger than this: a reader of the previous version or a live "
        "writer may be using them (default 24)",
    )  # fmt: skip
    gc.add_argument("--delete", action="store_true", help="delete them (default: list only)")
    gc.add_argument("--actor", default="pipelines", help="who deletes (audited)")
    gc.add_argument("--reason", default="lake garbage collection", help="why (audited)")
    gc.set_defaults(func=_cmd_gc)
    _register_catalog(lake_sub)
