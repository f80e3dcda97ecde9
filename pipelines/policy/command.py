"""``pipelines findings ...`` and ``pipelines policy check``: findings with an owner and a
state, and the policy file's validation."""

from __future__ import annotations

import argparse
import json
from typing import Any

FINDINGS_EPILOG = """\
examples:
  pipelines findings list                         # open and acknowledged first
  pipelines findings list --state open --owner ml-platform@example.com --format json
  pipelines findings ack f-1a2b3c4d5e6f --actor steward-commerce
  pipelines findings resolve f-1a2b3c4d5e6f --actor lead-commerce --reason "file re-sent"
  pipelines findings accept f-1a2b3c4d5e6f --actor lead-commerce --reason "known late source"

A finding is a failed or warned check, undeclared personal data, a drift alert or a refused
use or transfer. Its owner comes from the policy file (feature tables) or the contract
(sources); every change of state is an entry of the audit log (docs/policy.md).
"""

COLUMNS = ("id", "state", "owner", "kind", "table", "partition", "column", "what")


def _known(settings: Any) -> list[Any]:
    from pipelines.portal.data import owned_findings

    return owned_findings(settings)


def _cmd_list(args: argparse.Namespace) -> int:
    rows = [f.row() for f in _known(args.settings)]
    rows = [r for r in rows if args.state in (None, r["state"])]
    rows = [r for r in rows if args.owner in (None, r["owner"])]
    if args.format == "json":
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("no findings")
        return 0
    for r in rows:
        where = "/".join(str(r[k]) for k in ("table", "partition", "column") if r[k])
        print(f"{r['id']}  {r['state']:<12} {r['owner']:<32} {r['kind']:<16} {where}: {r['what']}")
    return 0


def _change(state: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        from pipelines.policy.findings import change

        finding = change(
            args.settings,
            _known(args.settings),
            args.finding,
            state,
            actor=args.actor,
            reason=args.reason or "",
        )
        print(f"{finding.id} ({finding.kind}, {finding.dataset}): {state}, owner {finding.owner}")
        return 0

    return run


def _cmd_check(args: argparse.Namespace) -> int:
    from pipelines.contracts import load_contracts
    from pipelines.policy import load_policy

    policy = load_policy(args.settings.policy_file)
    contracts = load_contracts(args.settings.contracts_dir)
    problems = [
        f"contracts/{t}.yml: owner {contracts[t].owner} is no team's contact in "
        f"{policy.path}; add a team with contact: {contracts[t].owner}"
        for t in contracts.load_order()
        if policy.team_of_contact(contracts[t].owner) is None
    ]
    problems += [
        f"{policy.path}: sources.{t}: missing; add sources.{t}.jurisdiction"
        for t in contracts.load_order()
        if t not in policy.sources
    ]
    problems += _backend_problems(policy)
    for problem in problems:
        print(problem)
    if not problems:
        print(
            f"{policy.path}: valid; {len(policy.features)} feature tables, {len(policy.sources)} sources"
        )
    return 1 if problems else 0


def _backend_problems(policy: Any) -> list[str]:
    """The configured lineage backends the sources' subjects may not reach (their events
    would be kept in-house: docs/policy.md, transfer rules)."""
    from pipelines.lineage.transfer import WHAT, backends
    from pipelines.policy.enforce import TransferRefused, check_subjects

    subjects = sorted({s.jurisdiction for s in policy.sources.values()})
    problems = []
    for target in backends():
        try:
            check_subjects(policy, subjects, target, WHAT)
        except TransferRefused as refused:
            problems.append(f"lineage backend: {refused}; its events stay in the local log")
    return problems


def _register_findings(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "findings",
        help="findings with an owner and a state: list, acknowledge, resolve, accept",
        epilog=FINDINGS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every finding with its owner and state")
    listing.add_argument("--state", choices=["open", "acknowledged", "resolved", "accepted"])
    listing.add_argument("--owner", help="only this owner's findings (an e-mail address)")
    listing.add_argument("--format", choices=["text", "json"], default="text")
    listing.set_defaults(func=_cmd_list)
    for name, state, what in (
        ("ack", "acknowledged", "acknowledge: someone is on it"),
        ("resolve", "resolved", "the cause is fixed"),
        ("accept", "accepted", "accept the risk (a --reason is required)"),
    ):
        action = actions.add_parser(name, help=what)
        action.add_argument("finding", help="the finding's id (f-..., from findings list)")
        action.add_argument("--actor", required=True, help="who changes it (a handle)")
        action.add_argument("--reason", help="why (recorded, scrubbed, in the audit log)")
        action.set_defaults(func=_change(state))


def register(subparsers: Any) -> None:
    _register_findings(subparsers)
    policy = subparsers.add_parser("policy", help="the governance policy file (docs/policy.md)")
    actions = policy.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="validate policy.yml, check it covers every contract and allows the configured "
        "lineage backend",
    )
    check.set_defaults(func=_cmd_check)
