"""A failed task reaches its owner: the Airflow notifier opens a finding and sends an e-mail
through a real SMTP server on localhost (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage, Message

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr

from pipelines.policy import load_policy
from pipelines.policy.findings import findings
from pipelines.protection.keys import KeyRing
from pipelines.settings import PROJECT_DIR, Settings

CANARY = "maria.canary@example.org"


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.received.append(
            (
                list(envelope.rcpt_tos),
                email.message_from_bytes(envelope.content, policy=email.policy.default),
            )
        )
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box, port = Inbox(), _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        bag = DagBag(dag_folder=str(PROJECT_DIR / "dags" / "commerce_daily.py"))
    return bag.dags["commerce_daily"]


def test_commerce_daily_tasks_notify_their_owner_on_failure(dag):  # type: ignore[no-untyped-def]
    from pipelines.policy.notify import OwnerNotifier  # Airflow: imported when run

    for task in dag.tasks:
        callbacks = task.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert any(isinstance(c, OwnerNotifier) for c in callbacks), task.task_id


def test_a_failed_validation_reaches_the_tables_owner(  # type: ignore[no-untyped-def]
    dag, inbox, settings: Settings, keyring: KeyRing
):
    from pipelines.policy.notify import notify_owner

    box, port = inbox
    smtp = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "portal_url": "http://portal.example:8765",
            "keys": SecretStr(keyring.to_json()),
        }
    )
    task = dag.get_task("quality_order_payments")
    context = {
        "dag": dag,
        "task": task,
        "run_id": "scheduled__2018-01-02",
        "exception": ValueError(f"row with {CANARY} failed"),
    }
    notify_owner(smtp, context)
    [(to, msg)] = box.received
    assert to == ["payments-data@example.com"]
    assert isinstance(msg, EmailMessage)
    body = msg.get_content()
    subject = " ".join(str(msg["Subject"]).split())  # unfolded
    assert subject == "[pipelines] commerce_daily.quality_order_payments (order_payments) failed"
    assert "run scheduled__2018-01-02 with ValueError" in body
    [finding] = findings(smtp, load_policy(smtp.policy_file))
    assert (finding.kind, finding.owner) == ("task_failed", "payments-data@example.com")
    assert f"http://portal.example:8765/?finding={finding.id}" in body
    assert CANARY not in msg.as_string()


def test_a_failure_of_no_single_table_reaches_the_pipeline_owner(  # type: ignore[no-untyped-def]
    dag, inbox, settings: Settings
):
    from pipelines.policy.notify import notify_owner

    box, port = inbox
    smtp = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    context = {"dag": dag, "task": dag.get_task("quality_gate"), "run_id": "manual__1"}
    notify_owner(smtp, context)
    [(to, msg)] = box.received
    assert to == ["commerce-data@example.com"]
    assert "commerce_daily.quality_gate failed" in msg["Subject"]


def test_a_failed_gate_reaches_the_owners_of_the_failed_tables(  # type: ignore[no-untyped-def]
    dag, inbox, settings: Settings
):
    """The real gate decides (no quality results for two tables), Airflow's no-retry wrapper
    raises ``AirflowFailException`` from it, and the notifier finds the tables through it."""
    from datetime import UTC, datetime

    from pipelines.policy.notify import notify_owner
    from pipelines.quality.tasks import QualityGateFailed, gate
    from pipelines.taskscope import fail_without_retry

    box, port = inbox
    smtp = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    start, end = datetime(2018, 1, 2, tzinfo=UTC), datetime(2018, 1, 3, tzinfo=UTC)
    tables = ["order_payments", "customer_profiles"]
    with pytest.raises(Exception) as raised:
        fail_without_retry(QualityGateFailed, gate, start, end, "manual__1", tables, settings=smtp)
    assert type(raised.value).__name__ == "AirflowFailException"
    context = {"dag": dag, "task": dag.get_task("quality_gate"), "run_id": "manual__1"}
    notify_owner(smtp, {**context, "exception": raised.value})
    sent = {tuple(to): msg for to, msg in box.received}
    assert set(sent) == {("payments-data@example.com",), ("crm-data@example.com",)}
    subject = " ".join(str(sent[("payments-data@example.com",)]["Subject"]).split())
    assert subject == "[pipelines] commerce_daily.quality_gate (order_payments) failed"
    assert "with AirflowFailException" in sent[("crm-data@example.com",)].get_content()
    owners = {(f.dataset, f.owner) for f in findings(smtp, load_policy(smtp.policy_file))}
    assert owners == {
        ("order_payments", "payments-data@example.com"),
        ("customer_profiles", "crm-data@example.com"),
    }


def test_a_refused_feature_release_reaches_the_feature_tables_owner(  # type: ignore[no-untyped-def]
    dag, inbox, settings: Settings
):
    from pipelines.features.tasks import FeatureGateFailed, tables_at_fault
    from pipelines.policy.notify import notify_owner

    box, port = inbox
    smtp = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    problems = [
        "critical check failed: seller_features.rows_present",
        "customer_features: k-anonymity 2 < 5 over (customer_state, age_band)",
    ]
    tables = ["customer_features", "product_features", "seller_features"]
    assert tables_at_fault(tables, problems) == ["customer_features", "seller_features"]
    error = FeatureGateFailed("not published", tables_at_fault(tables, problems))
    context = {"dag": dag, "task": dag.get_task("publish_features"), "run_id": "manual__1"}
    notify_owner(smtp, {**context, "exception": error})
    [(to, msg)] = box.received
    assert to == ["ml-platform@example.com"]
    assert msg.get_content().count("/?finding=f-") == 2  # one finding per table
