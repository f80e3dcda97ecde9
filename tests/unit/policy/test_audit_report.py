"""``pipelines audit report``: findings with owners and time to resolution, subject actions
and refusals in the window, and no personal data; rendered in headless Chromium and printed
to PDF."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.policy import PurposeRefused, TransferRefused
from pipelines.policy.enforce import enforce_purpose, enforce_transfer
from pipelines.portal.audit_report import browser
from pipelines.privacy.anonymity import Policy, Result
from pipelines.privacy.anonymity_audit import GateAudit, record_decisions
from pipelines.protection.audit import AuditLog
from pipelines.protection.keys import KeyRing, keyring_from_settings
from pipelines.settings import Settings
from tests.unit.portal import cdp

CANARY = "joana.canary@example.org"
SECTIONS = (
    "Runs and gates (1)",
    "k-anonymity at feature publication (1)",
    "Findings (2)",
    "Re-identifications and erasures (2)",
    "Refused uses and transfers (2)",
)
no_browser = pytest.mark.skipif(browser() is None, reason="headless Chromium not installed")


@pytest.fixture
def audited(
    settings: Settings, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch, capsys
) -> list[str]:
    """A day of governance: a failed gate, a re-identification and an erasure (the canary in
    a reason), a refused use (then resolved) and a refused transfer. The CLI's base args."""
    from pipelines.quality.tasks import QualityGateFailed, gate

    monkeypatch.setenv("PIPELINES_KEYS", keyring.to_json())
    keyed = Settings(data_dir=settings.data_dir)
    log = AuditLog(keyed.audit, keyring_from_settings(keyed))
    log.append(actor="agent-7", action="reidentify", reason=f"ticket from {CANARY}")
    log.append(actor="dpo", action="privacy_erase", reason="erasure request 42")
    # today's first hour: an interval inside the report's day whatever the time (at 23:00 the
    # next hour's replace(hour=0) fell before the start)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with pytest.raises(QualityGateFailed):  # orders has no results: the gate fails, recorded
        gate(start, start + timedelta(hours=1), "manual__a", ["orders"], settings=keyed)
    blocked = Result(Policy("customer_features", ("customer_state", "age_band")), 31, 1, 2, 1)
    record_decisions(GateAudit(log), [blocked], release_id="r-7", as_of="2018-01-08", run_id="x")
    with pytest.raises(PurposeRefused):
        enforce_purpose(keyed, "customer_features", "credit_scoring", actor="notebook")
    with pytest.raises(TransferRefused):
        enforce_transfer(keyed, ["product_features"], "s3://partner-us/x.parquet")
    args = ["--data-dir", str(settings.data_dir)]
    [use] = [r for r in _list(args, capsys) if r["kind"] == "refused_use"]
    assert main([*args, "findings", "resolve", use["id"], "--actor", "lead-ml"]) == 0
    return args


def _report(args: list[str], out: Path, *extra: str, day: str = "") -> list[str]:
    day = day or datetime.now(UTC).date().isoformat()
    return [*args, "audit", "report", "--from", day, "--to", day, "--out", str(out), *extra]


def test_the_report_renders_the_window_without_personal_data(audited: list[str], tmp_path):
    out = tmp_path / "audit.html"
    assert main(_report(audited, out)) == 0
    html = out.read_text()
    for section in SECTIONS:
        assert section in html
    gate = html.split("k-anonymity at feature publication (1)")[1].split("</table>")[0]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", gate)
    assert cells[1:10] == ["r-7", "2018-01-08", "customer_features", "1", "5", "", "0", "True",
                           "blocked"]  # fmt: skip
    assert "ml-platform@example.com" in html and "resolved" in html
    assert re.search(r"<td>\d+\.\d h</td>", html)  # time to resolution
    assert CANARY not in html
    assert main(_report(audited, out, day="2001-01-01")) == 0
    assert "Refused uses and transfers (0)" in out.read_text()


@no_browser
def test_the_report_shows_every_section_in_a_browser(audited: list[str], tmp_path):
    out = tmp_path / "audit.html"
    assert main(_report(audited, out)) == 0
    with cdp.browser(tmp_path / "profile") as tab:
        tab.open(out.as_uri(), 1200, {})
        shown = tab.evaluate(
            "[...document.querySelectorAll('h2')].filter(h => h.getBoundingClientRect().height"
            " > 0 && getComputedStyle(h).visibility === 'visible').map(h => h.innerText)"
        )
        text = tab.evaluate("document.body.innerText")
        rows = tab.evaluate(
            "[...document.querySelectorAll('h2')].map(h => h.nextElementSibling"
            ".querySelectorAll('tbody tr, tr:not(:first-child)').length)"
        )
        assert tab.errors == []
        assert [r for r in tab.requests() if not r.startswith("file:")] == []  # self-contained
    assert shown == list(SECTIONS)
    assert all(n > 0 for n in rows), rows
    assert "manual__a\tfailed" in text  # the failed gate's run
    assert "refused_transfer" in text and "ml-platform@example.com" in text
    assert CANARY not in text


@no_browser
def test_the_report_prints_to_pdf_with_every_section(audited: list[str], tmp_path):
    out = tmp_path / "audit.pdf"
    assert main(_report(audited, out, "--format", "pdf")) == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    assert CANARY.encode() not in data
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed: the PDF's text is not checked")
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    for section in SECTIONS:
        assert section in flat
    assert "Audit report" in flat and "manual__a" in flat
    assert CANARY not in flat


def test_a_pdf_without_chromium_fails_naming_what_to_install(
    audited: list[str], tmp_path, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no browser on PATH
    out = tmp_path / "audit.pdf"
    assert main(_report(audited, out, "--format", "pdf")) == 1
    assert "headless Chromium" in capsys.readouterr().err
    assert not out.exists()


def _list(args: list[str], capsys) -> list[dict]:
    capsys.readouterr()
    assert main([*args, "findings", "list", "--format", "json"]) == 0
    return list(json.loads(capsys.readouterr().out))
