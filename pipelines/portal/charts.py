"""Inline SVG charts (no script, no external asset): segment shares against the reference,
and a metric over intervals."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

_W, _BAR, _GAP, _LABEL = 640, 14, 8, 170


def segment_bars(title: str, segments: Sequence[tuple[str, float, float | None]]) -> str:
    """Horizontal bars per segment: observed share (blue) and reference share (grey)."""
    rows = len(segments)
    height = 30 + rows * (2 * _BAR + _GAP)
    span = _W - _LABEL - 60
    parts = [f'<text x="0" y="16" font-weight="600">{escape(title)}</text>']
    for i, (name, share, ref) in enumerate(segments):
        y = 28 + i * (2 * _BAR + _GAP)
        parts.append(f'<text x="0" y="{y + _BAR + 2}" font-size="12">{escape(name[:26])}</text>')
        parts.append(
            f'<rect x="{_LABEL}" y="{y}" width="{span * share:.1f}" height="{_BAR}" fill="#3a78d8">'
            f"<title>{escape(name)}: {share:.1%}</title></rect>"
        )
        parts.append(
            f'<text x="{_LABEL + span * share + 4:.1f}" y="{y + 11}" font-size="11">{share:.1%}</text>'
        )
        if ref is not None:
            parts.append(
                f'<rect x="{_LABEL}" y="{y + _BAR}" width="{span * ref:.1f}" height="{_BAR - 4}" '
                f'fill="#b8c0cc"><title>reference {ref:.1%}</title></rect>'
            )
    return (
        f'<svg role="img" viewBox="0 0 {_W} {height}" width="{_W}" '
        f'aria-label="{escape(title)}">{"".join(parts)}</svg>'
    )


def line(title: str, points: Sequence[tuple[str, float]], *, limit: float | None = None) -> str:
    """A metric over intervals (x: interval labels in order), with an optional threshold."""
    height, left, bottom = 180, 40, 30
    if not points:
        return ""
    top = max([v for _, v in points] + [limit or 0.0]) or 1.0
    step = (_W - left - 10) / max(len(points) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, height - bottom - (height - bottom - 20) * v / top

    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, (_, v) in enumerate(points)))
    parts = [
        f'<text x="0" y="14" font-weight="600">{escape(title)}</text>',
        f'<polyline points="{path}" fill="none" stroke="#3a78d8" stroke-width="2"/>',
    ]
    for i, (label, v) in enumerate(points):
        x, y = xy(i, v)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#3a78d8">'
            f"<title>{escape(label)}: {v:.4g}</title></circle>"
        )
    if limit is not None:
        _, ly = xy(0, limit)
        parts.append(
            f'<line x1="{left}" x2="{_W - 10}" y1="{ly:.1f}" y2="{ly:.1f}" '
            'stroke="#a1141e" stroke-dasharray="4 3"><title>threshold</title></line>'
        )
    first, last = points[0][0], points[-1][0]
    parts.append(f'<text x="{left}" y="{height - 8}" font-size="11">{escape(first)}</text>')
    parts.append(
        f'<text x="{_W - 10}" y="{height - 8}" font-size="11" text-anchor="end">'
        f"{escape(last)}</text>"
    )
    return f'<svg role="img" viewBox="0 0 {_W} {height}" width="{_W}">{"".join(parts)}</svg>'


_BADGE = {
    "PII": "#e03131",
    "masked": "#2f9e44",
    "PII-derived": "#f08c00",
    "quasi-id kept": "#1c7ed6",
}


def layered_graph(
    layers: dict[str, list[str]], edges: Sequence[tuple[str, str]], badges: dict[str, str]
) -> str:
    """Datasets as boxes in one column per layer, edges between them; the SVG scales to the
    window (viewBox), so a wide pipeline never needs a wider page."""
    col_w, box_w, row_h, top = 190, 165, 26, 24
    pos: dict[str, tuple[float, float]] = {}
    parts = []
    for i, (layer, names) in enumerate(layers.items()):
        x = 5 + i * col_w
        parts.append(
            f'<text x="{x}" y="14" font-weight="600" font-size="12">{escape(layer)}</text>'
        )
        for j, name in enumerate(names):
            y = top + j * row_h
            pos[name] = (x, y)
            badge = badges.get(name)
            stroke = _BADGE.get(badge or "", "#8b95a5")
            tip = f"{name}: {badge}" if badge else name
            parts.append(
                f'<g><title>{escape(tip)}</title><rect x="{x}" y="{y}" width="{box_w}" '
                f'height="{row_h - 6}" rx="3" fill="#fff" stroke="{stroke}" '
                f'stroke-width="{2 if badge else 1}"/><text x="{x + 4}" y="{y + 14}" '
                f'font-size="11">{escape(name[:27])}</text></g>'
            )
    lines = []
    for src, dst in edges:
        if src in pos and dst in pos:
            (x1, y1), (x2, y2) = pos[src], pos[dst]
            lines.append(
                f'<path d="M{x1 + box_w},{y1 + 10} C{x1 + box_w + 20},{y1 + 10} '
                f'{x2 - 20},{y2 + 10} {x2},{y2 + 10}" fill="none" stroke="#9aa5b5"/>'
            )
    width = max(len(layers), 1) * col_w
    height = top + max((len(n) for n in layers.values()), default=1) * row_h
    legend = " ".join(
        f'<tspan fill="{color}">■ {escape(name)}</tspan>' for name, color in _BADGE.items()
    )
    parts.append(f'<text x="5" y="{height + 8}" font-size="11">{legend}</text>')
    return (
        f'<svg role="img" class="graph" viewBox="0 0 {width} {height + 14}" width="{width}" '
        f'aria-label="lineage graph">{"".join(lines)}{"".join(parts)}</svg>'
    )


_OUTCOME = {"passed": "#2f9e44", "warned": "#f08c00", "failed": "#e03131"}


def outcome_grid(title: str, cells: dict[tuple[str, str], str], intervals: Sequence[str]) -> str:
    """Every check (row) by interval (column), one square per validation coloured by its
    outcome (green passed, amber warned, red failed): a check's history at a glance."""
    checks = sorted({check for check, _ in cells})
    if not checks or not intervals:
        return ""
    label_w, cell, top = 230, 14, 22
    width = label_w + len(intervals) * (cell + 2) + 10
    parts = [f'<text x="0" y="14" font-weight="600">{escape(title)}</text>']
    for i, check in enumerate(checks):
        y = top + i * (cell + 2)
        parts.append(f'<text x="0" y="{y + 11}" font-size="11">{escape(check[:36])}</text>')
        for j, interval in enumerate(intervals):
            outcome = cells.get((check, interval))
            if outcome:
                parts.append(
                    f'<rect x="{label_w + j * (cell + 2)}" y="{y}" width="{cell}" '
                    f'height="{cell}" fill="{_OUTCOME.get(outcome, "#b8c0cc")}">'
                    f"<title>{escape(check)} {escape(interval)}: {escape(outcome)}</title></rect>"
                )
    height = top + len(checks) * (cell + 2) + 16
    parts.append(
        f'<text x="{label_w}" y="{height - 4}" font-size="11">{escape(intervals[0])} .. '
        f"{escape(intervals[-1])}</text>"
    )
    return f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}">{"".join(parts)}</svg>'
