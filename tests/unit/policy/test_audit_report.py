"""``pipelines audit report``: findings with owners and time to resolution, subject actions
and refusals in the window, and no personal data."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from pipelines.cli import main
from pipelines.policy import PurposeRefused
from pipelines.policy.enforce import enforce_purpose
from pipelines.privacy.anonymity import Policy, Result
from pipelines.privacy.anonymity_audit import GateAudit, record_decisions
from pipelines.protection.audit import AuditLog
from pipelines.protection.keys import KeyRing, keyring_from_settings
from pipelines.settings import Settings

CANARY = "joana.canary@example.org"


def test_the_report_renders_the_window_without_personal_data(
    settings: Settings, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch, capsys, tmp_path
):
    monkeypatch.setenv("PIPELINES_KEYS", keyring.to_json())
    keyed = Settings(data_dir=settings.data_dir)
    log = AuditLog(keyed.audit, keyring_from_settings(keyed))
    log.append(actor="agent-7", action="reidentify", reason=f"ticket from {CANARY}")
    log.append(actor="dpo", action="privacy_erase", reason="erasure request 42")
    blocked = Result(Policy("customer_features", ("customer_state", "age_band")), 31, 1, 2, 1)
    record_decisions(GateAudit(log), [blocked], release_id="r-7", as_of="2018-01-08", run_id="x")
    with pytest.raises(PurposeRefused):
        enforce_purpose(keyed, "customer_features", "credit_scoring", actor="notebook")
    args = ["--data-dir", str(settings.data_dir)]
    [row] = _list(args, capsys)
    assert main([*args, "findings", "resolve", row["id"], "--actor", "lead-ml"]) == 0
    today = datetime.now(UTC).date().isoformat()
    out = tmp_path / "audit.html"
    report = ["audit", "report", "--from", today, "--to", today, "--out", str(out)]
    assert main([*args, *report]) == 0
    html = out.read_text()
    assert "Re-identifications and erasures (2)" in html
    gate = html.split("k-anonymity at feature publication (1)")[1].split("</table>")[0]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", gate)
    assert cells[1:10] == ["r-7", "2018-01-08", "customer_features", "1", "5", "", "0", "True",
                           "blocked"]  # fmt: skip
    assert "Refused uses and transfers (1)" in html
    assert "ml-platform@example.com" in html and "resolved" in html
    assert re.search(r"<td>\d+\.\d h</td>", html)  # time to resolution
    assert CANARY not in html
    old = ["audit", "report", "--from", "2001-01-01", "--to", "2001-01-31", "--out", str(out)]
    assert main([*args, *old]) == 0
    assert "Refused uses and transfers (0)" in out.read_text()


def _list(args: list[str], capsys) -> list[dict]:
    import json

    capsys.readouterr()
    assert main([*args, "findings", "list", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)
