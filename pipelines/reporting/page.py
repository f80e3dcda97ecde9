"""The lineage page for governance staff: one self-contained HTML file, no network.

It shows the lineage graph of the latest DAG run (or another run): datasets as boxes with
their columns, laid out left to right in layers (landing files, lake, warehouse views,
staging, intermediate, marts), column-to-column edges (solid: direct, dotted: indirect, green
dashed: masking), a quality status per dataset (pass/warn/fail from the assertions), and a
PII marker per column (PII: holds clear PII, PII-derived: computed from clear PII without
masking, masked: a PII column whose value is pseudonymized/encrypted/generalized). Clicking a
column highlights everything upstream and downstream of it. Tables below the graph repeat the
same facts as text.

Everything comes from the lineage events (names, types, versions, check outcomes): no data
file is read, and every string is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipelines.reporting.graph import (
    LAYERS,
    Column,
    Dataset,
    Graph,
    assertion_outcome,
    latest_roots,
    load_graph,
    quality_status,
    run_scope,
    runs,
)
from pipelines.reporting.pii import (
    clear_pii_sources,
    kept_by_contract,
    mart_violations,
    pii_derived,
    warehouse_findings,
)
from pipelines.settings import Settings

BOX_W = 300
HEADER_H = 60
ROW_H = 19
GAP_X = 150
GAP_Y = 26
MARGIN = 24
MAX_CHARS = 30


def page_path(settings: Settings) -> Path:
    return settings.data_dir / "reports" / "lineage" / "index.html"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _clip(text: str, n: int = MAX_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass
class _Box:
    dataset: Dataset
    columns: list[str]
    layer: int
    x: float = 0
    y: float = 0

    @property
    def height(self) -> float:
        return HEADER_H + ROW_H * max(len(self.columns), 1) + 6

    def anchor(self, field: str, side: str) -> tuple[float, float]:
        index = self.columns.index(field) if field in self.columns else 0
        y = self.y + HEADER_H + ROW_H * index + ROW_H / 2
        return (self.x + BOX_W if side == "out" else self.x, y)


def _scoped_datasets(graph: Graph) -> list[tuple[str, str]]:
    """The datasets of the runs in scope: read or written by them, or on their edges."""
    keys = {e.output.dataset_key for e in graph.edges + graph.dataset_edges}
    keys |= {e.input.dataset_key for e in graph.edges + graph.dataset_edges}
    keys |= graph.seen
    return sorted(keys)


def _layout(graph: Graph, keys: list[tuple[str, str]]) -> dict[tuple[str, str], _Box]:
    """Longest-path layers over column edges, then a barycentre ordering within each layer."""
    layer = _layers(graph, keys)
    boxes = {k: _Box(graph.dataset(k), graph.columns_of(k), layer[k]) for k in keys}
    by_layer: dict[int, list[_Box]] = defaultdict(list)
    for key in sorted(
        keys, key=lambda k: (LAYERS.index(graph.dataset(k).layer), graph.dataset(k).label, k)
    ):
        by_layer[boxes[key].layer].append(boxes[key])
    _place(graph, by_layer)
    return boxes


def _layers(graph: Graph, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Each dataset's layer: at least its kind's rank, and right of every parent."""
    parents: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for edge in graph.edges:  # dataset-level edges (lookups, filters) do not move a box
        if edge.input.dataset_key != edge.output.dataset_key:
            parents[edge.output.dataset_key].add(edge.input.dataset_key)
    present = sorted({graph.dataset(k).layer for k in keys}, key=LAYERS.index)
    rank = {name: i for i, name in enumerate(present)}
    layer: dict[tuple[str, str], int] = {}

    def depth(key: tuple[str, str], seen: frozenset[tuple[str, str]]) -> int:
        """At least the rank of the dataset's layer, and right of every parent."""
        if key in layer:
            return layer[key]
        ups = [p for p in parents.get(key, ()) if p not in seen and p in set(keys)]
        layer[key] = max(
            rank[graph.dataset(key).layer],
            1 + max((depth(p, seen | {key}) for p in ups), default=-1),
        )
        return layer[key]

    for key in keys:
        depth(key, frozenset())
    return layer


def _place(graph: Graph, by_layer: dict[int, list[_Box]]) -> None:
    """Position the boxes layer by layer, each ordered by the height of its inputs."""
    positions: dict[Column, float] = {}
    for index in sorted(by_layer):
        column = by_layer[index]
        if index > 0:

            def centre(box: _Box) -> float:
                ys = [
                    positions[e.input]
                    for e in graph.edges
                    if e.output.dataset_key == box.dataset.key and e.input in positions
                ]
                return sum(ys) / len(ys) if ys else float("inf")

            column.sort(key=centre)
        y = float(MARGIN + 40)
        for box in column:
            box.x = MARGIN + index * (BOX_W + GAP_X)
            box.y = y
            y += box.height + GAP_Y
            for name in box.columns:
                positions[Column(box.dataset.namespace, box.dataset.name, name)] = box.anchor(
                    name, "out"
                )[1]


def _marker(
    graph: Graph, column: Column, sources: set[Column], derived: set[Column]
) -> tuple[str, str] | None:
    """(css class, text) for a column's PII marker."""
    tags = graph.tags.get(column, {})
    if column in sources:
        return "pii-clear", "PII"
    if column in derived:
        return "pii-derived", "PII-derived"
    if (tags.get("pii") or "none").lower() not in ("none", "false", ""):
        return "pii-masked", "masked"
    return None


def _edge_class(type_: str | None, masking: bool) -> str:
    if masking:
        return "edge masked"
    return "edge indirect" if (type_ or "").upper() == "INDIRECT" else "edge direct"


def _svg(
    graph: Graph,
    boxes: dict[tuple[str, str], _Box],
    status: dict[tuple[str, str], str],
    sources: set[Column],
    derived: set[Column],
) -> tuple[str, dict[str, Any]]:
    """The inline SVG and the adjacency the highlight script needs (integers only)."""
    width = max((b.x + BOX_W for b in boxes.values()), default=400) + MARGIN
    height = max((b.y + b.height for b in boxes.values()), default=200) + MARGIN
    col_ids: dict[Column, int] = {}
    parts: list[str] = []
    for key, box in sorted(boxes.items(), key=lambda kv: (kv[1].layer, kv[1].y)):
        for name in box.columns:
            col_ids[Column(key[0], key[1], name)] = len(col_ids)
    edges_svg, adjacency = _edges_svg(graph, boxes, col_ids)
    layers = sorted({b.layer for b in boxes.values()})
    for index in layers:
        names = sorted(
            {b.dataset.layer for b in boxes.values() if b.layer == index},
            key=LAYERS.index,
        )
        x = MARGIN + index * (BOX_W + GAP_X)
        parts.append(
            f'<text class="layer" x="{x}" y="{MARGIN + 16}">{_e(" / ".join(names))}</text>'
        )
    parts.append('<g class="edges">' + "".join(edges_svg) + "</g>")
    for key, box in sorted(boxes.items(), key=lambda kv: (kv[1].layer, kv[1].y)):
        state = status.get(key, "none")
        parts += _box_svg(graph, box, state, col_ids, sources, derived)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="column lineage graph">{"".join(parts)}</svg>'
    )
    return svg, {"edges": adjacency}


def _edges_svg(
    graph: Graph, boxes: dict[tuple[str, str], _Box], col_ids: dict[Column, int]
) -> tuple[list[str], list[list[int]]]:
    """One curve per column edge between two drawn boxes, and its (input, output) ids."""
    edges_svg: list[str] = []
    adjacency: list[list[int]] = []
    for edge in graph.edges:
        src, dst = boxes.get(edge.input.dataset_key), boxes.get(edge.output.dataset_key)
        if src is None or dst is None:
            continue
        x1, y1 = src.anchor(edge.input.field, "out")
        x2, y2 = dst.anchor(edge.output.field, "in")
        bend = max((x2 - x1) / 2, 40)
        a, b = col_ids.get(edge.input, -1), col_ids.get(edge.output, -1)
        adjacency.append([a, b])
        title = f"{graph.label(edge.output)} <- {graph.label(edge.input)}: {edge.transformation}"
        if edge.masking:
            title += " (masking)"
        edges_svg.append(
            f'<path id="e{len(adjacency) - 1}" class="{_edge_class(edge.type, edge.masking)}" '
            f'd="M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} '
            f'{x2:.0f},{y2:.0f}"><title>{_e(title)}</title></path>'
        )
    return edges_svg, adjacency


def _box_svg(
    graph: Graph,
    box: _Box,
    state: str,
    col_ids: dict[Column, int],
    sources: set[Column],
    derived: set[Column],
) -> list[str]:
    """One dataset's box: its header (name, layer or file, quality) and a row per column."""
    ds = box.dataset
    sub = ds.layer
    if ds.kind == "landing":
        sub = "/".join(Path(ds.name).parts[-2:])
    parts = [
        f'<g class="box q-{state}" transform="translate({box.x:.0f},{box.y:.0f})">',
        f'<rect class="frame" width="{BOX_W}" height="{box.height:.0f}" rx="6">'
        f"<title>{_e(ds.namespace)} {_e(ds.name)}</title></rect>",
        f'<rect class="head" width="{BOX_W}" height="{HEADER_H - 4}" rx="6"/>',
        f'<text class="name" x="10" y="18">{_e(_clip(ds.label, 36))}</text>',
        f'<text class="sub" x="10" y="33">{_e(_clip(sub, 46))}</text>',
        f'<text class="quality" x="10" y="49">quality: {_e(state)}</text>',
    ]
    for i, name in enumerate(box.columns):
        column = Column(ds.namespace, ds.name, name)
        parts += _column_svg(graph, column, HEADER_H + ROW_H * i, col_ids[column], sources, derived)
    parts.append("</g>")
    return parts


def _column_svg(
    graph: Graph, column: Column, y: int, cid: int, sources: set[Column], derived: set[Column]
) -> list[str]:
    """One column's row: its name, then its PII marker or else its type."""
    type_ = graph.field_type(column) or ""
    parts = [
        f'<g class="col" id="c{cid}" data-c="{cid}">',
        f'<rect class="row" y="{y}" width="{BOX_W}" height="{ROW_H}"/>',
        f'<text class="field" x="10" y="{y + 14}">{_e(_clip(column.field))}'
        f"<title>{_e(graph.label(column))} {_e(type_)}</title></text>",
    ]
    marker = _marker(graph, column, sources, derived)
    if marker:
        cls, text = marker
        w = 8 + 6.5 * len(text)
        parts.append(
            f'<rect class="marker {cls}" x="{BOX_W - w - 6:.0f}" y="{y + 3}" '
            f'width="{w:.0f}" height="{ROW_H - 6}" rx="3"/>'
            f'<text class="marker-text" x="{BOX_W - w / 2 - 6:.0f}" y="{y + 13}" '
            f'text-anchor="middle">{_e(text)}</text>'
        )
    elif type_:
        parts.append(
            f'<text class="type" x="{BOX_W - 10}" y="{y + 14}" text-anchor="end">'
            f"{_e(_clip(type_, 14))}</text>"
        )
    parts.append("</g>")
    return parts


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
 color:#1f2933;background:#f7f8fa}
header{background:#1f3a5f;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;font-size:13px;opacity:.9}
main{padding:12px 24px}
.summary span{display:inline-block;margin:0 14px 6px 0;font-size:14px}
.legend{font-size:13px;margin:6px 0 10px} .legend span{margin-right:14px}
.graph{overflow:auto;border:1px solid #d5dae1;background:#fff;border-radius:6px}
svg text{font-size:12px;fill:#1f2933}
.layer{font-size:13px;font-weight:600;fill:#52606d;text-transform:uppercase}
.frame{fill:#fff;stroke:#9aa5b1;stroke-width:1.2}
.head{fill:#e4e7eb} .q-pass .head{fill:#d3f9d8} .q-warn .head{fill:#fff3bf}
.q-fail .head{fill:#ffc9c9} .q-fail .frame{stroke:#c92a2a;stroke-width:2}
.name{font-weight:700;font-size:13px} .sub,.type{fill:#616e7c;font-size:11px}
.quality{font-size:11px;font-weight:600}
.row{fill:transparent} .col{cursor:pointer} .col:hover .row{fill:#eef2ff}
.edge{fill:none;stroke-width:1.4;opacity:.75}
.edge.direct{stroke:#3b5bdb} .edge.indirect{stroke:#868e96;stroke-dasharray:2 3}
.edge.masked{stroke:#2b8a3e;stroke-dasharray:7 4;stroke-width:2}
.marker{stroke:none} .pii-clear{fill:#e03131} .pii-derived{fill:#f08c00}
.pii-masked{fill:#2f9e44} .marker-text{fill:#fff;font-size:10px;font-weight:700}
.dim{opacity:.12} .hl .row{fill:#dbe4ff} path.hl{opacity:1;stroke-width:3}
table{border-collapse:collapse;margin:8px 0 18px;font-size:13px;background:#fff}
th,td{border:1px solid #d5dae1;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4} .badge{padding:1px 6px;border-radius:3px;color:#fff;font-weight:600}
.b-pass{background:#2f9e44}.b-warn{background:#e8590c}.b-fail{background:#c92a2a}
.b-none{background:#868e96} .ok{color:#2b8a3e;font-weight:600} .bad{color:#c92a2a;font-weight:600}
code{font-size:12px}
"""

SCRIPT = """
(function(){
 var data=JSON.parse(document.getElementById('adjacency').textContent);
 var up={},down={};
 data.edges.forEach(function(e,i){(down[e[0]]=down[e[0]]||[]).push(i);
  (up[e[1]]=up[e[1]]||[]).push(i);});
 function walk(start,links,end,cols,edges){var todo=[start];while(todo.length){var c=todo.pop();
  (links[c]||[]).forEach(function(i){if(edges[i])return;edges[i]=1;var n=data.edges[i][end];
  if(!cols[n]){cols[n]=1;todo.push(n);}});}}
 var active=null;
 function clear(){document.querySelectorAll('.dim,.hl').forEach(function(n){
  n.classList.remove('dim');n.classList.remove('hl');});active=null;}
 document.querySelectorAll('.col').forEach(function(g){g.addEventListener('click',function(ev){
  ev.stopPropagation();var c=+g.getAttribute('data-c');if(active===c){clear();return;}clear();
  active=c;var cols={},edges={};cols[c]=1;walk(c,up,0,cols,edges);walk(c,down,1,cols,edges);
  document.querySelectorAll('path.edge').forEach(function(p){var i=+p.id.slice(1);
   p.classList.add(edges[i]?'hl':'dim');});
  document.querySelectorAll('.col').forEach(function(n){
   if(cols[+n.getAttribute('data-c')])n.classList.add('hl');});});});
 document.addEventListener('click',clear);
})();
"""


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(value, "strftime") else str(value)


def _run_header(con: duckdb.DuckDBPyConnection, roots: list[str]) -> str:
    """One line naming the run(s) shown."""
    if not roots:
        return "no lineage events recorded yet"
    rows = {r.run_id: r for r in runs(con)}
    shown = [rows[r] for r in roots if r in rows]
    if not shown:
        return f"run {_e(roots[0])}"
    if len(shown) == 1:
        r = shown[0]
        parts = [
            f"run of <b>{_e(r.job)}</b>",
            f"run id {_e(r.run_id)}",
            f"state {_e(r.state)}",
        ]
        if r.nominal:
            parts.append(f"data interval from {_e(_when(r.nominal))}")
        if r.started:
            parts.append(f"started {_e(_when(r.started))}")
        if r.ended:
            parts.append(f"ended {_e(_when(r.ended))}")
        return " · ".join(parts)
    latest = max((r.when for r in shown if r.when), default=None)
    nominal = shown[0].nominal
    return (
        f"{len(shown)} task runs outside Airflow"
        + (f" for the data interval from {_e(_when(nominal))}" if nominal else "")
        + (f" · latest event {_e(_when(latest))}" if latest else "")
    )


def render_page(con: duckdb.DuckDBPyConnection, run: str | None = "latest") -> str:
    """The page's HTML for ``run`` (``latest``: the most recent DAG run; None: all runs)."""
    roots = latest_roots(con) if run == "latest" else ([run] if run else [])
    scope = run_scope(con, run) if run else None
    graph = load_graph(con, scope)
    keys = _scoped_datasets(graph)
    boxes = _layout(graph, keys)
    checks = {k: graph.assertions.get(k, []) for k in keys}
    status = {k: quality_status(v) for k, v in checks.items()}
    findings = pii_derived(graph)
    derived = {f.column for f in findings}
    sources = set(clear_pii_sources(graph))
    svg, adjacency = _svg(graph, boxes, status, sources, derived)
    header = _run_header(con, roots) if run else "every run in the event log"
    total_cols = sum(len(b.columns) for b in boxes.values())
    warehouse_pii = warehouse_findings(graph, findings)
    marts = mart_violations(warehouse_pii)
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        "<title>Data lineage: commerce pipeline</title>",
        f"<style>{CSS}</style></head><body>",
        "<header><h1>Data lineage: commerce pipeline</h1>",
    ]
    out.append(f"<p>{header}</p>")
    out.append("</header><main>")
    out.append(
        '<div class="summary">'
        f"<span><b>{len(boxes)}</b> datasets</span>"
        f"<span><b>{total_cols}</b> columns</span>"
        f"<span><b>{len(graph.edges)}</b> column edges</span>"
        f"<span><b>{sum(1 for e in graph.edges if e.masking)}</b> masking edges</span>"
        f"<span><b>{len(warehouse_pii)}</b> PII-derived warehouse columns</span>"
        + (
            f'<span class="bad">{len(marts)} PII-derived mart column(s): the marts must '
            "have none</span>"
            if marts
            else '<span class="ok">marts: no PII-derived columns</span>'
            + _kept_note(graph, warehouse_pii)
        )
        + "</div>"
    )
    out.append(
        '<div class="legend"><b>Legend</b> '
        '<span><svg width="34" height="8"><path class="edge direct" d="M0,4 H34"/></svg> '
        "direct</span>"
        '<span><svg width="34" height="8"><path class="edge indirect" d="M0,4 H34"/></svg> '
        "indirect (join/filter/group)</span>"
        '<span><svg width="34" height="8"><path class="edge masked" d="M0,4 H34"/></svg> '
        "masking (pseudonymized/encrypted/generalized)</span>"
        '<span class="badge pii-clear" style="background:#e03131">PII</span> holds clear PII '
        '<span class="badge" style="background:#f08c00">PII-derived</span> computed from '
        "clear PII without masking "
        '<span class="badge" style="background:#2f9e44">masked</span> PII column, protected '
        "· quality: pass / warn / fail from the data quality assertions · click a column to "
        "highlight its lineage</div>"
    )
    out.append(f'<div class="graph">{svg}</div>')
    out.append(_datasets_table(graph, boxes, checks, status))
    out.append(_pii_table(graph, warehouse_pii))
    out.append(
        '<script type="application/json" id="adjacency">'
        + json.dumps(adjacency, separators=(",", ":"))
        + "</script>"
    )
    out.append(f"<script>{SCRIPT}</script>")
    out.append("</main></body></html>")
    return "\n".join(out)


def _kept_note(graph: Graph, findings: list[Any]) -> str:
    """Next to the marts verdict: the orange PII-derived badges that are no violation."""
    kept = sorted({graph.label(f.column) for f in findings if kept_by_contract(f)})
    if not kept:
        return ""
    shown = ", ".join(kept[:4]) + (" ..." if len(kept) > 4 else "")
    return (
        f"<span>other than {len(kept)} quasi-identifier column(s) kept by contract "
        f"({_e(shown)}): badged PII-derived, allowed, listed below</span>"
    )


def _datasets_table(
    graph: Graph,
    boxes: dict[tuple[str, str], _Box],
    checks: dict[tuple[str, str], list[dict[str, Any]]],
    status: dict[tuple[str, str], str],
) -> str:
    rows = [
        "<h2>Datasets</h2><table><tr><th>dataset</th><th>layer</th><th>quality</th>"
        "<th>checks (latest run)</th><th>versions</th><th>PII columns</th>"
        "<th>subjects in</th><th>name</th></tr>"
    ]
    for key, box in sorted(boxes.items(), key=lambda kv: (kv[1].layer, kv[1].dataset.label)):
        ds = box.dataset
        items = checks.get(key, [])
        latest = items[0]["run_id"] if items else None
        current = [a for a in items if a["run_id"] == latest]
        failing = [
            f"{a['column'] + ' ' if a['column'] else ''}{a['name'] or a['assertion']}: "
            f"{assertion_outcome(a)}"
            for a in current
            if assertion_outcome(a) != "pass"
        ]
        passed = sum(1 for a in current if assertion_outcome(a) == "pass")
        check_text = f"{passed}/{len(current)} passed" if current else "-"
        if failing:
            check_text += "; " + "; ".join(failing)
        seen_versions: list[str] = []
        for v in graph.versions.get(key, []):
            if v["version"] and v["version"] not in seen_versions:
                seen_versions.append(v["version"])
        pii_cols = []
        for name in box.columns:
            tags = graph.tags.get(Column(key[0], key[1], name), {})
            if (tags.get("pii") or "none") != "none":
                protection = f" ({tags['protection']})" if tags.get("protection") else ""
                pii_cols.append(f"{name}: {tags['pii']}{protection}")
        state = status.get(key, "none")
        rows.append(
            f"<tr><td><b>{_e(ds.label)}</b></td><td>{_e(ds.layer)}</td>"
            f'<td><span class="badge b-{_e(state)}">{_e(state)}</span></td>'
            f"<td>{_e(check_text)}</td>"
            f"<td>{'<br>'.join(f'<code>{_e(v[:16])}</code>' for v in seen_versions[:3]) or '-'}"
            f"{f' (+{len(seen_versions) - 3})' if len(seen_versions) > 3 else ''}</td>"
            f"<td>{'<br>'.join(_e(p) for p in pii_cols) or '-'}</td>"
            f"<td>{_e(', '.join(graph.jurisdictions(key))) or '-'}</td>"
            f"<td><code>{_e(ds.name)}</code></td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _pii_table(graph: Graph, findings: list[Any]) -> str:
    if not findings:
        return '<h2>PII-derived warehouse columns</h2><p class="ok">none</p>'
    rows = [
        "<h2>PII-derived warehouse columns</h2><table><tr><th>column</th><th>layer</th>"
        "<th>PII class</th><th>from (clear PII)</th><th>path</th><th>note</th></tr>"
    ]
    violations = set(map(id, mart_violations(findings)))
    for f in findings:
        path = " ← ".join(
            [graph.label(f.column)]
            + [f"{graph.label(e.input)} [{e.transformation}]" for e in f.path]
        )
        cls = ' class="bad"' if id(f) in violations else ""
        note = "quasi-identifier kept by contract" if kept_by_contract(f) else ""
        rows.append(
            f"<tr><td{cls}>{_e(graph.label(f.column))}</td><td>{_e(f.layer)}</td>"
            f"<td>{_e(f.source.pii)}</td><td>{_e(graph.label(f.source.column))}</td>"
            f"<td>{_e(path)}</td><td>{_e(note)}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def write_page(con: duckdb.DuckDBPyConnection, target: Path, run: str | None = "latest") -> Path:
    """Render and write the page atomically; returns its path."""
    text = render_page(con, run)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target
