"""CLI: ``pipelines lake gc``: objects of a lake on an object store that no manifest names."""

from __future__ import annotations

import argparse
import json
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
