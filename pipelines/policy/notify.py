"""Failures reach their owner: an Airflow notifier (``on_failure_callback``) that opens a
finding and e-mails the owner of what failed.

The owner is the failed table's: a per-table task's ``table`` argument, or the tables a failed
gate names (the :class:`~pipelines.failures.TableFailure` it raised, found through Airflow's
``AirflowFailException`` wrapper); the contract's owner for a source, the policy's team for a
feature table. Each owner gets one e-mail naming its tables; a failure that names no table
goes to the policy's ``pipeline_owner``. The message names the DAG, task, run, table and the kind of error (its
class, never its text, which may quote data) and links to the finding in the portal. SMTP
server, sender and portal URL are settings (``smtp_host``, ``smtp_port``, ``smtp_from``,
``portal_url``).
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from airflow.sdk import BaseNotifier

from pipelines.failures import failed_tables
from pipelines.policy.model import Policy, load_policy
from pipelines.settings import Settings

KIND = "task_failed"


def _table(context: Any) -> str:
    """The table a per-table task works on: its ``table`` argument (keyword or first)."""
    task = context.get("task")
    kwargs = getattr(task, "op_kwargs", None) or {}
    args = list(getattr(task, "op_args", None) or [])
    table = kwargs.get("table") if isinstance(kwargs, dict) else None
    table = table or (args[0] if args else None)
    return table if isinstance(table, str) else ""


def recipient(settings: Settings, policy: Policy, table: str) -> str:
    """Who is told: the table's owner, else the pipeline owner's contact."""
    if table in policy.features:
        return policy.feature_owner(table).contact
    if table:
        from pipelines.contracts import ContractError, load_contracts

        try:
            return load_contracts(settings.contracts_dir)[table].owner
        except (ContractError, KeyError):
            pass
    team = policy.teams.get(policy.pipeline_owner or "")
    if team is None:
        raise ValueError(f"{policy.path}: set pipeline_owner to a team (see docs/policy.md)")
    return team.contact


def tables_of(context: Any) -> list[str]:
    """The tables a failure concerns: a per-table task's table, else the tables the raised
    :class:`~pipelines.failures.TableFailure` names (a failed quality or feature gate)."""
    table = _table(context)
    return [table] if table else failed_tables(context.get("exception"))


def by_owner(settings: Settings, policy: Policy, tables: list[str]) -> dict[str, list[str]]:
    """Owner address -> the tables it answers for (the pipeline owner when there are none)."""
    owners: dict[str, list[str]] = {}
    for table in tables or [""]:
        owners.setdefault(recipient(settings, policy, table), []).append(table)
    return owners


def failure_message(
    settings: Settings, context: Any, owner: str, findings: dict[str, str]
) -> EmailMessage:
    """The e-mail to ``owner``; ``findings``: table (or ``""``) -> the finding opened for it."""
    dag_id = getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(context.get("task"), "task_id", "?")
    named = [t for t in findings if t]
    portal = settings.portal_url.rstrip("/")
    error = type(context.get("exception")).__name__ if context.get("exception") else "failure"
    what = f"{dag_id}.{task_id}" + (f" ({', '.join(named)})" if named else "")
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = owner
    msg["Subject"] = f"[pipelines] {what} failed"
    msg.set_content(
        "\n".join(
            [
                f"{what} failed in run {context.get('run_id', '?')} with {error}.",
                "",
                f"You are told as the owner ({owner}) in the governance policy.",
                *(
                    f"Finding {fid}{f' ({t})' if t else ''}: {portal}/?finding={fid}"
                    for t, fid in findings.items()
                ),
                "Acknowledge: pipelines findings ack <finding> --actor <you>",
                "The error's text is in the task log (it is not copied here).",
            ]
        )
    )
    return msg


def notify_owner(settings: Settings, context: Any) -> list[EmailMessage]:
    """Open a finding per table at fault and e-mail each owner once; returns what was sent."""
    from pipelines.policy.findings import open_finding

    policy = load_policy(settings.policy_file)
    dag_id = getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(context.get("task"), "task_id", "?")
    what = f"{dag_id}.{task_id} failed in run {context.get('run_id', '?')}"
    sent = []
    for owner, tables in by_owner(settings, policy, tables_of(context)).items():
        opened = {
            t: open_finding(settings, KIND, t or dag_id, what, owner, actor="airflow")
            for t in tables
        }
        msg = failure_message(settings, context, owner, opened)
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            smtp.send_message(msg)
        sent.append(msg)
    return sent


class OwnerNotifier(BaseNotifier):
    """``on_failure_callback=OwnerNotifier()``: the failure becomes a finding and its owner
    gets an e-mail (settings resolved when the callback runs)."""

    def notify(self, context: Any) -> None:
        notify_owner(Settings(), context)
