"""HTML for the portal: one layout, escaped tables, small inline SVG charts. No asset leaves
the package and no script is loaded: pages work offline and print cleanly."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',
Roboto,sans-serif;color:#1d2433;background:#f6f7f9}
header{background:#1d2433;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1rem;
align-items:center}header b{margin-right:auto}header a{color:#cfd8e6;text-decoration:none}
header a.on{color:#fff;border-bottom:2px solid #7fb3ff}main{padding:1rem;max-width:1400px}
h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
.scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse;background:#fff;
min-width:100%}th,td{padding:.3rem .55rem;border-bottom:1px solid #e3e6eb;text-align:left;
vertical-align:top}th{background:#eef1f5;font-weight:600}td{overflow-wrap:break-word;max-width:28rem}
.failed,.refused,.tampered{color:#a1141e;font-weight:600}.warned,.held{color:#8a5a00;font-weight:600}
.passed,.published,.ok,.success{color:#1b6e2a}.muted{color:#667085}.note{background:#fff;
border-left:4px solid #7fb3ff;padding:.5rem .8rem;margin:.6rem 0}
.tools{margin:.4rem 0 1rem;display:flex;gap:1rem;flex-wrap:wrap}form input{padding:.25rem;
max-width:100%}details{background:#fff;margin:.3rem 0;padding:.3rem .6rem}
svg{max-width:100%;height:auto;background:#fff}
td.passed::before{content:"\\2714  "}td.warned::before{content:"\\26A0  "}
td.failed::before{content:"\\2716  "}
@media print{header,.tools{display:none}main{max-width:none}}
"""

NAV = [
    ("overview", "/", "Overview"),
    ("quality", "/quality", "Quality"),
    ("lineage", "/lineage", "Lineage"),
    ("pii", "/pii", "PII map"),
    ("releases", "/releases", "Feature releases"),
    ("audit", "/audit", "Audit"),
]


def e(value: Any) -> str:
    return "" if value is None else escape(str(value))


def page(title: str, active: str, body: str, *, base: str, visible: Iterable[str]) -> str:
    """A whole page; ``visible`` names the nav entries the caller's role may open."""
    shown = set(visible)
    links = "".join(
        f'<a href="{e(base + href)}"{" class=on" if key == active else ""}>{e(label)}</a>'
        for key, href, label in NAV
        if key in shown
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        '<link rel=icon href="data:,">'
        f"<title>{e(title)} - governance portal</title><style>{CSS}</style></head>"
        f"<body><header><b>Governance portal</b>{links}</header>"
        f"<main><h1>{e(title)}</h1>{body}</main></body></html>"
    )


def tools(base_href: str) -> str:
    """Export links for the page's data (CSV) and a printable view."""
    sep = "&" if "?" in base_href else "?"
    return (
        f'<div class=tools><a href="{e(base_href + sep)}format=csv">Download CSV</a>'
        f'<a href="{e(base_href + sep)}print=1">Printable view</a></div>'
    )


def _href(template: str, row: dict[str, Any]) -> str:
    """``template`` with ``{column}`` placeholders filled from ``row``, URL-quoted."""
    return template.format_map({k: quote(str(v or ""), safe="") for k, v in row.items()})


def _cell(row: dict[str, Any], column: str, status: set[str], links: dict[str, str]) -> str:
    value = row.get(column)
    text = e(value)
    if column in links and value not in (None, ""):
        text = f'<a href="{e(_href(links[column], row))}">{text}</a>'
    if column in status and value not in (None, ""):
        return f"<td class={e(str(value).split()[0].lower())}>{text}</td>"
    return f"<td>{text}</td>"


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    status: Iterable[str] = ("outcome", "status", "state", "gate"),
    empty: str = "nothing recorded yet",
    links: dict[str, str] | None = None,
) -> str:
    """Rows as an escaped table; ``links``: column -> href template (``?run_id={run_id}``)."""
    if not rows:
        return f"<p class=muted>{e(empty)}</p>"
    marked = set(status)
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(r, c, marked, links or {}) for c in columns) + "</tr>" for r in rows
    )
    return f"<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
