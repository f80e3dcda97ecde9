"""CLI: ``pipelines privacy erase|verify-erasure``.

Every subcommand takes the subject as a ``customer_unique_id`` or its token, and an actor and
a reason (audited, as for ``pipelines reidentify``). Output: artifacts, versions and counts;
never a value.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipelines.console import safe_error
from pipelines.contracts import ContractError, load_contracts
from pipelines.settings import settings_for

SUBJECT_HELP = "the person: their customer_unique_id, or its token (p1:...)"


def _context(args: argparse.Namespace, action: str) -> Any:
    from pipelines.lake.state import key_registry
    from pipelines.lake.storage import lake_store
    from pipelines.lake.subjects import subject_graph
    from pipelines.privacy.authorize import audit_outcome, authorize
    from pipelines.protection.audit_pg import open_audit_log
    from pipelines.protection.errors import KeyRingError
    from pipelines.protection.keys import keyring_from_settings

    settings = settings_for(args)
    contracts = load_contracts(settings.contracts_dir)
    graph = subject_graph(contracts, args.subject_column)
    table, _, column = graph.subject_column.partition(".")
    try:
        keyring = keyring_from_settings(settings)
    except KeyRingError as exc:  # refused for want of keys: logged, without a MAC
        audit_outcome(open_audit_log(settings), None, action=action, actor=args.actor,
                      reason=args.reason, outcome="refused", error=exc, unauthenticated=True)  # fmt: skip
        raise
    log = open_audit_log(settings, keyring)
    request = authorize(
        log, keyring, settings.lake, action=action, actor=args.actor, reason=args.reason,
        subject=args.subject, subject_table=table, registry=key_registry(settings),
        store=lake_store(settings), subject_column=contracts[table].column(column),
        source=contracts[table].source,
    )  # fmt: skip
    return settings, contracts, graph, keyring, log, request


def _cmd_erase(args: argparse.Namespace) -> int:
    from pipelines.lineage.emit import task_run
    from pipelines.privacy.erase import ACTION, erase
    from pipelines.privacy.lineage import JOB_PREFIX, erasure_lineage

    settings, contracts, graph, keyring, log, request = _context(args, ACTION)
    with task_run("erase", settings=settings, job_prefix=JOB_PREFIX) as lineage:
        cert = erase(
            settings, keyring, log, request, contracts, graph, landing=not args.keep_landing
        )
        lineage.complete_with(lambda: erasure_lineage(settings, contracts, cert))
    if args.json:
        print(json.dumps({**cert.as_dict(), "audit_seq": cert.audit_seq}, indent=2))
        return 0
    print(f"erased subject {cert.subject[:23]}... ({len(cert.tables)} tables searched)")
    for r in cert.lake:
        print(
            f"  lake {r.table}/{r.partition}: -{r.data_rows_removed} rows, "
            f"-{r.quarantine_rows_removed} quarantined; version {r.old_version[:12]} -> "
            f"{r.new_version[:12]}"
        )
    for d in [*cert.features, *cert.warehouse]:
        print(f"  {d.artifact}: -{d.rows_removed} rows")
    for b in cert.rebuilt:
        done = "rebuilt from the rewritten lake" if b.success else "REBUILD FAILED, kept"
        print(f"  features as of {b.as_of} ({', '.join(sorted(b.tables))}): {done}")
    for f in cert.landing:
        what = (
            f"not rewritten ({f.not_rewritten})"
            if f.not_rewritten
            else f"-{f.records_removed} records"
        )
        print(f"  landing {f.file}: {what}")
    print(f"certificate: audit entry {cert.audit_seq} in {log.path}; on the suppression list")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from pipelines.privacy.authorize import audit_outcome
    from pipelines.privacy.verify import verify_erasure

    settings, contracts, graph, keyring, log, request = _context(args, "privacy_verify_erasure")
    result = verify_erasure(settings, keyring, contracts, graph, request.token)
    seq = audit_outcome(
        log, request, action=request.action, actor=request.actor, reason=request.reason,
        outcome="absent" if result.absent else "present",
        details={"findings": json.dumps(result.findings, sort_keys=True),
                 "suppressed": result.suppressed, "searched": result.searched},
    )  # fmt: skip
    if args.json:
        print(json.dumps({**result.__dict__, "absent": result.absent, "audit_seq": seq}, indent=2))
    else:
        for where, n in sorted(result.findings.items()):
            print(f"  still present: {where} ({n} rows)")
        if not result.suppressed:
            print("  not on the suppression list: a re-run would bring the subject back")
        verdict = "ABSENT" if result.absent else "PRESENT"
        print(
            f"subject {result.subject[:23]}...: {verdict} ({result.searched} files searched; audit entry {seq})"
        )
    return 0 if result.absent else 1


def _cmd_anonymity(args: argparse.Namespace) -> int:
    from datetime import date

    from pipelines.features.paths import feature_table_names, snapshot_file
    from pipelines.features.snapshots import releases
    from pipelines.privacy.anonymity import snapshot_results
    from pipelines.warehouse.project import DBT_PROJECT_DIR

    settings = settings_for(args)
    tables = [args.table] if args.table else list(feature_table_names(settings))
    if args.file:
        snapshots = {tables[0]: Path(args.file)}
    else:
        done = [r for r in releases(settings) if r.status in ("built", "published", "failed")]
        as_of = date.fromisoformat(args.as_of) if args.as_of else None
        if as_of is None and not done:
            raise ValueError("no feature release yet: build one, or pass --file")
        as_of = as_of or date.fromisoformat(done[-1].as_of)
        snapshots = {t: snapshot_file(settings, t, as_of) for t in tables}
    results = snapshot_results(snapshots, load_contracts(settings.contracts_dir), DBT_PROJECT_DIR)
    if args.json:
        print(json.dumps([_result_json(r) for r in results], indent=2, default=str))
    for r in [] if args.json else results:
        _print_result(r)
    return 0 if all(r.passed for r in results) else 1


def _result_json(r: Any) -> dict[str, Any]:
    return {
        "table": r.policy.table, "quasi_identifiers": list(r.policy.quasi_identifiers),
        "k": r.k, "required_k": r.policy.k, "l": r.l_values, "required_l": r.policy.l,
        "enforced": r.policy.enforce, "rows": r.rows, "classes": r.classes,
        "suppressed": r.suppressed, "rows_below_k": r.below_k, "smallest_classes": r.smallest, "proposals": r.proposals, "plan": r.plan,
        "problems": r.problems,
    }  # fmt: skip


def _print_result(r: Any) -> None:
    verdict = "passes" if r.passed else ("BLOCKS publication" if r.policy.enforce else "fails")
    print(
        f"{r.policy.table}: k={r.k} (required {r.policy.k}) over "
        f"({', '.join(r.policy.quasi_identifiers)}), {r.classes:,} classes, {r.rows:,} rows, "
        f"{r.below_k:,} rows in classes below k, {r.suppressed:,} suppressed ('*'): {verdict}"
    )
    for column, value in r.l_values.items():
        print(f"  l-diversity of {column}: {value} (required {r.policy.l})")
    if r.smallest:
        print("  smallest classes:")
        for c in r.smallest:
            print("    " + ", ".join(f"{k}={v}" for k, v in c.items()))
    if r.proposals:
        print("  proposed generalizations (k reached, rows still below the required k):")
        for p in r.proposals[:6]:
            print(f"    {p['change']}: k={p['k']}, {p['rows_below_k']:,} rows below")
    if r.plan:
        steps = " then ".join(
            f"{p['change']} (k={p['k']}, {p['rows_below_k']:,} below)" for p in r.plan
        )
        print(f"  combined: {steps}")


def _cmd_export(args: argparse.Namespace) -> int:
    import os

    from pipelines.privacy.authorize import audit_outcome
    from pipelines.privacy.export import ACTION, counts, subject_export

    settings, contracts, graph, keyring, log, request = _context(args, ACTION)
    try:
        export = subject_export(settings, keyring, contracts, graph, request.token)
    except Exception as exc:
        audit_outcome(log, request, action=ACTION, actor=request.actor, reason=request.reason,
                      outcome="failed", error=exc)  # fmt: skip
        raise
    seq = audit_outcome(
        log, request, action=ACTION, actor=request.actor, reason=request.reason,
        outcome="success", details={**counts(export), "to_file": bool(args.out)},
    )  # fmt: skip
    text = json.dumps({"subject": request.subject, **export}, indent=2, default=str) + "\n"
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"wrote {args.out} (mode 0600): {counts(export)}; audit entry {seq}")
    else:
        print(f"(audited as entry {seq} in {log.path})", file=sys.stderr)
        print(text, end="")
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pipelines.privacy.tasks import purge_retention

    now = (
        datetime.fromisoformat(args.as_of).replace(tzinfo=UTC) if args.as_of else datetime.now(UTC)
    )
    done = purge_retention(now, now, None, settings=settings_for(args))
    print(
        f"retention purge as of {now.date()}: {done['partitions']} lake partition(s) and "
        f"{done['landing_files']} landing file(s) deleted (audited)"
    )
    return 0


def _public_segments(contracts: Any, table: str, by: str) -> list[str]:
    """The public values of a segment column: its source contract's allowed values."""
    from pipelines.privacy.anonymity import _model_yaml
    from pipelines.warehouse.project import DBT_PROJECT_DIR

    for col in _model_yaml(DBT_PROJECT_DIR, table).get("columns", []):
        meta = (col.get("config") or {}).get("meta") or {}
        if col.get("name") == by and meta.get("lake_column"):
            source, _, name = str(meta["lake_column"]).partition(".")
            allowed = next(
                (
                    c.allowed_values
                    for c in contracts[source].written_columns
                    if c.lake_name == name
                ),
                None,
            )
            if allowed:
                return [str(v) for v in allowed]
    raise ValueError(
        f"{table}.{by}: no public list of segments (a contract's allowed_values through the "
        "model's lake_column); a DP release cannot take its segments from the data"
    )


def _cmd_dp_release(args: argparse.Namespace) -> int:
    from datetime import date

    from pipelines.features.paths import snapshot_file
    from pipelines.lineage.emit import task_run
    from pipelines.policy.enforce import enforce_transfer
    from pipelines.privacy.dp import (
        ACTION,
        BudgetExhausted,
        ledger_state,
        release_counts,
        segment_counts,
    )
    from pipelines.privacy.lineage import JOB_PREFIX, dp_lineage
    from pipelines.protection.audit_pg import open_audit_log
    from pipelines.protection.keys import keyring_from_settings

    settings = settings_for(args)
    if not args.actor.strip() or not args.reason.strip():
        raise ValueError("a DP release needs an actor and a reason (audited)")
    log = open_audit_log(settings, keyring_from_settings(settings))
    snapshot = snapshot_file(settings, args.table, date.fromisoformat(args.as_of))
    segments = _public_segments(load_contracts(settings.contracts_dir), args.table, args.by)
    dataset = f"features.{args.table}"
    target = _destination(args.to)
    # noisy counts are anonymous aggregates: any destination, but it is recorded
    place = enforce_transfer(settings, [args.table], target, anonymous_aggregate=True)
    details: dict[str, Any] = {"dataset": dataset, "by": args.by, "epsilon": args.epsilon,
                               "destination": target, "jurisdiction": place or "undeclared"}  # fmt: skip
    with task_run("dp_release", settings=settings, job_prefix=JOB_PREFIX) as lineage:
        try:
            noisy = release_counts(
                ledger_state(settings), dataset, args.by, segment_counts(snapshot, args.by, segments),
                args.epsilon, budget=args.budget,
            )  # fmt: skip
        except BudgetExhausted as exc:
            log.append(actor=args.actor, action=ACTION, reason=args.reason,
                       details={**details, "outcome": "refused", "error": type(exc).__name__})  # fmt: skip
            raise
        entry = log.append(
            actor=args.actor, action=ACTION, reason=args.reason,
            details={**details, "outcome": "released", "release_id": noisy.release_id,
                     "scale": noisy.scale, "spent": noisy.spent, "budget": noisy.budget},
        )  # fmt: skip
        lineage.complete_with(
            lambda: dp_lineage(settings, args.table, snapshot, noisy, entry["seq"], details)
        )
    out = {
        "dataset": dataset, "by": args.by, "release_id": noisy.release_id,
        "epsilon": noisy.epsilon, "noise_scale": noisy.scale, "spent": noisy.spent,
        "budget": noisy.budget, "counts": noisy.counts, "shares": noisy.shares,
    }  # fmt: skip
    out |= {"destination": target, "jurisdiction": place}
    if "://" not in args.to:  # a local file: written there too
        Path(args.to).parent.mkdir(parents=True, exist_ok=True)
        Path(args.to).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))
    return 0


def _cmd_dp_representativeness(args: argparse.Namespace) -> int:
    from pipelines.lineage.emit import task_run
    from pipelines.privacy.lineage import JOB_PREFIX, representativeness_lineage
    from pipelines.privacy.representativeness import release_pending
    from pipelines.protection.audit import AuditLog
    from pipelines.protection.keys import keyring_from_settings

    settings = settings_for(args)
    if not args.actor.strip() or not args.reason.strip():
        raise ValueError("a DP release needs an actor and a reason (audited)")
    contracts = load_contracts(settings.contracts_dir)
    log = AuditLog(settings.audit, keyring_from_settings(settings))
    with task_run("dp_representativeness", settings=settings, job_prefix=JOB_PREFIX) as lineage:
        outcome = release_pending(
            settings, contracts, log, actor=args.actor, reason=args.reason,
            epsilon=args.epsilon, budget=args.budget,
        )  # fmt: skip
        seq, _ = log.head()
        lineage.complete_with(lambda: representativeness_lineage(settings, contracts, outcome, seq))
    for r in outcome.records:
        print(f"{r['ledger_dataset']} {r['column']}: {r['status']} (epsilon {r['epsilon']:g})")
    print(f"{len(outcome.released)} released, {len(outcome.refused)} refused")
    return 0


def _destination(to: str) -> str:
    """A destination as the policy looks it up: URLs as given (without credentials), local
    paths absolute."""
    from pipelines.lineage.transfer import without_userinfo

    return without_userinfo(to) if "://" in to else str(Path(to).absolute())


def _cmd_dp_budget(args: argparse.Namespace) -> int:
    from pipelines.privacy.dp import ledger_state, read_ledger, spent

    ledger = read_ledger(ledger_state(settings_for(args)))
    for dataset, entry in sorted(ledger.items()):
        print(
            f"{dataset}: spent epsilon {spent(entry):g} of {float(entry['budget']):g} "
            f"in {len(entry['releases'])} release(s)"
        )
    if not ledger:
        print("no differentially private release yet")
    return 0


def _guarded(handler: Any) -> Any:
    from pipelines.protection.errors import ProtectionError

    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except (ProtectionError, ContractError, OSError, ValueError) as exc:
            print(f"error: {safe_error(exc)}", file=sys.stderr)
            return 1

    return run


def _subject_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subject", required=True, help=SUBJECT_HELP)
    parser.add_argument("--actor", required=True, help="who is asking (audited)")
    parser.add_argument("--reason", required=True, help="why, e.g. the request's ticket (audited)")
    parser.add_argument(
        "--subject-column",
        default="customers.customer_unique_id",
        help="contract column identifying a person (default: customers.customer_unique_id)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def register(subparsers: Any) -> None:
    """Add ``privacy`` to the main parser's subparsers."""
    privacy = subparsers.add_parser(
        "privacy",
        help="data subject rights: erasure and its proof",
        description="Act on one person's data (GDPR Art. 17), audited.",
    )
    sub = privacy.add_subparsers(
        dest="privacy_command",
        metavar="{erase,verify-erasure,export,purge,anonymity,dp-release,dp-representativeness,dp-budget}",
    )
    sub.required = True
    _add_erase(sub)
    _add_verify_erasure(sub)
    _add_export(sub)
    _add_purge(sub)
    _add_anonymity(sub)
    _add_dp_release(sub)
    _add_dp_representativeness(sub)
    _add_dp_budget(sub)


def _add_erase(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    erase = sub.add_parser(
        "erase",
        help="remove a person from the lake, quarantine, features, warehouse and landing",
        formatter_class=fmt,
        description=(
            "Find every row of the person through the contracts' foreign keys (their customer\n"
            "records, orders, items, payments, reviews, profile; quarantined rows too), rewrite\n"
            "each lake partition holding one as a new dataset version (the old files are\n"
            "deleted), then the feature snapshots, the warehouse and the retained landing\n"
            "files. The person's keys go on the suppression list, which every later ingestion\n"
            "honours (their rows are counted as 'suppressed'). The erasure certificate (what\n"
            "was rewritten, old and new versions, rows removed) is written to the audit log.\n"
            "Needs the key ring, an actor and a reason, like 'pipelines reidentify'."
        ),
        epilog=(
            "example:\n  pipelines privacy erase --subject 861eff4711a542e4b93843c6dd7febb0 \\\n"
            '      --actor alice --reason "erasure request DSR-2026-118"'
        ),
    )
    _subject_args(erase)
    erase.add_argument(
        "--keep-landing", action="store_true", help="leave the landing files as they are"
    )
    erase.set_defaults(func=_guarded(_cmd_erase))


def _add_verify_erasure(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    verify = sub.add_parser(
        "verify-erasure",
        help="prove a person is absent (exit 1 if anything still holds them)",
        formatter_class=fmt,
        description=(
            "Search every lake partition (data and quarantine), feature snapshot, warehouse\n"
            "table and retained landing file for the person's tokens, ciphertexts and order\n"
            "keys, and check they are on the suppression list. Prints where they are still\n"
            "found (artifacts and counts), audited."
        ),
    )
    _subject_args(verify)
    verify.set_defaults(func=_guarded(_cmd_verify))


def _add_export(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    export = sub.add_parser(
        "export",
        help="a person's data across the lake and the features, as JSON (decrypted, audited)",
        formatter_class=fmt,
        description=(
            "Subject access (GDPR Art. 15): every lake row of the person (through the\n"
            "contracts' foreign keys) with encrypted columns decrypted, and every feature\n"
            "snapshot row of theirs; quarantined records are counted. The only privacy command\n"
            "that shows clear values: audited (actor, reason, counts) before it writes them."
        ),
    )
    _subject_args(export)
    export.add_argument("--out", help="write the JSON to this file (mode 0600), not stdout")
    export.set_defaults(func=_guarded(_cmd_export))


def _add_purge(sub: Any) -> None:
    purge = sub.add_parser(
        "purge",
        help="delete landing files and lake partitions past their contract's retention_days",
        description=(
            "For every contract with retention_days: delete lake partitions whose interval "
            "ended longer ago, and landing files delivered longer ago. Audited; in lineage."
        ),
    )
    purge.add_argument("--as-of", help="the date to count from (default: now)")
    purge.set_defaults(func=_guarded(_cmd_purge))


def _add_anonymity(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    anon = sub.add_parser(
        "anonymity",
        help="k-anonymity and l-diversity of published feature tables (exit 1 below k)",
        formatter_class=fmt,
        description=(
            "Compute k-anonymity over each feature table's quasi-identifiers (derived from\n"
            "the dbt model's lake_column links and the contracts' pii: quasi_identifier) and\n"
            "l-diversity of its declared sensitive columns; name the smallest classes and\n"
            "propose generalizations. Settings per table: config.meta.anonymity in\n"
            "dbt_project/models/marts/<table>.yml (k, default 5; sensitive; l; enforce).\n"
            "The same check runs at publication: an enforcing table below k is not published."
        ),
    )
    anon.add_argument("--table", help="one feature table (default: all)")
    anon.add_argument("--as-of", help="the snapshot date (default: the newest release)")
    anon.add_argument("--file", help="a Parquet file to check as --table instead")
    anon.add_argument("--json", action="store_true", help="print JSON")
    anon.set_defaults(func=_guarded(_cmd_anonymity))


def _add_dp_release(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    dpr = sub.add_parser(
        "dp-release",
        help="people per segment of a feature snapshot, with differential privacy (OpenDP)",
        formatter_class=fmt,
        description=(
            "For reports that leave the team (marketing, live hosts, representativeness shared\n"
            "outside governance): counts per public segment with discrete Laplace noise of\n"
            "scale 1/epsilon (OpenDP), and shares from them. The dataset's privacy budget\n"
            "(ledger: <data_dir>/privacy/dp_ledger.json) must cover epsilon, else refused.\n"
            "Audited; the release is in lineage."
        ),
    )
    dpr.add_argument("--table", default="customer_features", help="feature table")
    dpr.add_argument("--as-of", required=True, help="snapshot date")
    dpr.add_argument("--by", default="customer_state", help="segment column")
    dpr.add_argument("--epsilon", type=float, required=True, help="privacy loss to spend")
    dpr.add_argument("--budget", type=float, help="total epsilon of the dataset (first release)")
    dpr.add_argument(
        "--to",
        required=True,
        help="where the release goes: a file, bucket or URL (policy.yml destinations; "
        "recorded with its jurisdiction; a local file is written)",
    )
    dpr.add_argument("--actor", required=True, help="who releases (audited)")
    dpr.add_argument("--reason", required=True, help="for whom and why (audited)")
    dpr.set_defaults(func=_guarded(_cmd_dp_release))


def _add_dp_representativeness(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    rep = sub.add_parser(
        "dp-representativeness",
        help="segment shares of every lake partition version not released yet, through OpenDP",
        formatter_class=fmt,
        description=(
            "What the portal shows outside the governance role: per lake partition version and\n"
            "segment column of the quality suites, rows per public segment with discrete\n"
            "Laplace noise (OpenDP), from the partition's budget; refused over budget. Made\n"
            "once per version and column (the DAG task release_representativeness runs it)."
        ),
    )
    rep.add_argument("--epsilon", type=float, default=0.1, help="epsilon per release (0.1)")
    rep.add_argument("--budget", type=float, help="total epsilon of a partition (first release)")
    rep.add_argument("--actor", required=True, help="who releases (audited)")
    rep.add_argument("--reason", required=True, help="for whom and why (audited)")
    rep.set_defaults(func=_guarded(_cmd_dp_representativeness))


def _add_dp_budget(sub: Any) -> None:
    budget = sub.add_parser("dp-budget", help="epsilon spent and left per dataset")
    budget.set_defaults(func=_guarded(_cmd_dp_budget))
