"""``pipelines audit report --from --to``: one HTML page for auditors over a time window.

Sections: gate decisions (runs), the k-anonymity gate's decisions at feature publication
(their audit entries: figures per table, never a value), findings with their owners, states and time to resolution,
re-identifications and erasures (and the other data-subject actions of the audit log), and
refused uses and transfers. Everything comes from the quality results store and the audit
log; entries show who, what, when and the (scrubbed) reason, never a subject token.

As PDF (:func:`write_pdf`), headless Chromium (Debian's ``chromium`` package, ``make
browser``) prints the same page: ``chromium --headless --print-to-pdf``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pipelines.portal import data
from pipelines.portal.html import CSS, e, table
from pipelines.protection.audit_pg import open_audit_log
from pipelines.settings import Settings

SUBJECT_ACTIONS = ("reidentify", "privacy_erase", "privacy_export", "retention_purge")
REFUSALS = ("refused_use", "refused_transfer")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


class PrintFailed(OSError):
    """The PDF could not be printed (no headless Chromium, or it failed)."""


def browser() -> str | None:
    """A headless Chromium to print with (``PATH``), or None."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


ANONYMITY_ACTION = "anonymity_gate"  # pipelines.privacy.anonymity_audit.ACTION
ANONYMITY_FIGURES = ("release_id", "as_of", "table", "k", "required_k", "l", "suppressed",
                     "enforced", "outcome")  # fmt: skip


def _day(value: Any) -> str:
    return str(value or "")[:10]


def _within(value: Any, start: date, end: date) -> bool:
    day = _day(value)
    return bool(day) and start.isoformat() <= day <= end.isoformat()


def _hours(opened: str, closed: str) -> str:
    if not opened or not closed:
        return ""
    delta = datetime.fromisoformat(closed.replace("Z", "+00:00")) - datetime.fromisoformat(
        opened.replace("Z", "+00:00")
    )
    return f"{delta.total_seconds() / 3600:.1f} h"


def _finding_rows(settings: Settings, start: date, end: date) -> list[dict[str, Any]]:
    rows = []
    for f in data.owned_findings(settings):
        closed = next((h["time"] for h in f.history if h["state"] in ("resolved", "accepted")), "")
        times = [f.opened_at, *(h["time"] for h in f.history)]
        if f.history and not any(_within(t, start, end) for t in times):
            continue
        rows.append({**f.row(), "time_to_resolution": _hours(f.opened_at, str(closed))})
    return rows


def _entries(settings: Settings, start: date, end: date) -> list[dict[str, Any]]:
    return [e for e in open_audit_log(settings).entries() if _within(e["time"], start, end)]


def _entry_row(entry: dict[str, Any]) -> dict[str, Any]:
    details = entry.get("details") or {}
    return {
        "time": entry["time"],
        "actor": entry["actor"],
        "action": entry["action"],
        "table": details.get("dataset") or details.get("table") or "",
        "owner": details.get("owner", ""),
        "reason": entry["reason"],
    }


def _anonymity_row(entry: dict[str, Any]) -> dict[str, Any]:
    details = entry.get("details") or {}
    return {
        "time": entry["time"],
        **{name: details.get(name) for name in ANONYMITY_FIGURES},
        "audit_seq": entry["seq"],
        "keyed": entry.get("key_id") is not None,
    }


def sections(settings: Settings, start: date, end: date) -> list[tuple[str, list[str], list]]:
    entries = _entries(settings, start, end)
    gates = [g for g in data.gates(settings) if _within(g["decided_at"], start, end)]
    anonymity = [_anonymity_row(x) for x in entries if x["action"] == ANONYMITY_ACTION]
    subject = [_entry_row(x) for x in entries if x["action"] in SUBJECT_ACTIONS]
    refused = [
        _entry_row(x)
        for x in entries
        if x["action"] == "finding.open" and (x.get("details") or {}).get("kind") in REFUSALS
    ]
    entry_columns = ["time", "actor", "action", "table", "owner", "reason"]
    finding_columns = ["id", "kind", "table", "partition", "what", "owner", "state"]
    return [
        (
            "Runs and gates",
            ["interval_start", "interval_end", "run_id", "gate", "decided_at"],
            gates,
        ),
        (
            "k-anonymity at feature publication",
            ["time", *ANONYMITY_FIGURES, "audit_seq", "keyed"],
            anonymity,
        ),
        (
            "Findings",
            [*finding_columns, "changed_by", "time_to_resolution"],
            _finding_rows(settings, start, end),
        ),
        ("Re-identifications and erasures", entry_columns, subject),
        ("Refused uses and transfers", entry_columns, refused),
    ]


def render(settings: Settings, start: date, end: date) -> str:
    """The report as one self-contained HTML page (no script, prints cleanly)."""
    body = "".join(
        f"<h2>{e(title)} ({len(rows)})</h2>{table(rows, columns)}"
        for title, columns, rows in sections(settings, start, end)
    )
    title = f"Audit report {start.isoformat()} to {end.isoformat()}"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{e(title)}</title><style>{CSS}</style></head>"
        f"<body><main><h1>{e(title)}</h1>{body}</main></body></html>"
    )


def write_pdf(html: str, out: Path, *, timeout: float = 180.0) -> Path:
    """Print the report page ``html`` to the PDF ``out`` with headless Chromium."""
    exe = browser()
    if exe is None:
        raise PrintFailed(
            "a PDF needs headless Chromium (Debian: apt-get install chromium, or make browser); "
            "write HTML instead (--format html)"
        )
    with tempfile.TemporaryDirectory(prefix="audit-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        target = out.absolute()
        done = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--no-pdf-header-footer",
             f"--user-data-dir={Path(tmp) / 'profile'}", f"--print-to-pdf={target}",
             page.as_uri()],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    if done.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
        raise PrintFailed(f"{exe} did not print {target} (exit {done.returncode})")
    return target
