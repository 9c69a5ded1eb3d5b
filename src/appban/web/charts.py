"""Charts as SVG text, drawn on the server from the numbers the pages show. Pure: values in, text out.

Every chart carries a `<title>` and a `<desc>` (what a screen reader announces), is labelled by them
(`role="img"`, `aria-labelledby`), and is shown beside a data table holding the same numbers (the page's job).
Colour is never the only signal: each finding state also has its own fill pattern (hatches, dots, cross-hatch)
and its name in the legend; the two lines of the trend chart differ in dash and marker shape (circles for
non-compliant, squares for in grace) as well as colour. Every drawn value also carries its number as a
`data-value` attribute and in a `<title>` tooltip, which is how the tests check the picture against the data.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["STATES", "StateStyle", "TrendPoint", "legend", "stacked_bars", "state_style", "trend_chart"]

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class StateStyle:
    state: str
    label: str
    colour: str
    pattern: str  # the SVG pattern's drawing, over the colour


# The order of the bars' segments and of the legend: the good news first, then worse and worse.
STATES: tuple[StateStyle, ...] = (
    StateStyle("compliant", "compliant", "#2e7d4f", ""),
    StateStyle("exempt", "exempt", "#4a5fc1", '<path d="M0 3h8M0 7h8" stroke="#fff" stroke-width="1.2"/>'),
    StateStyle("advised", "advised", "#7a5195",
               '<circle cx="2" cy="2" r="1.1" fill="#fff"/><circle cx="6" cy="6" r="1.1" fill="#fff"/>'),
    StateStyle("unknown", "unknown", "#6b6b6b", '<path d="M4 0v8" stroke="#fff" stroke-width="1.2"/>'),
    StateStyle("grace", "in grace", "#b86e00", '<path d="M-2 2l4-4M0 8l8-8M6 10l4-4" stroke="#fff" '
               'stroke-width="1.4"/>'),
    StateStyle("non_compliant", "non-compliant", "#b3261e",
               '<path d="M0 0l8 8M8 0l-8 8" stroke="#fff" stroke-width="1.4"/>'),
)
_BY_STATE = {style.state: style for style in STATES}


def state_style(state: str) -> StateStyle:
    return _BY_STATE[state]


@dataclass(frozen=True, slots=True)
class TrendPoint:
    day: dt.date
    non_compliant: int
    grace: int


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _defs(prefix: str) -> str:
    """One fill per state: the colour, and over it the state's pattern."""
    out = []
    for style in STATES:
        out.append(f'<pattern id="{prefix}-{style.state}" width="8" height="8" patternUnits="userSpaceOnUse">'
                   f'<rect width="8" height="8" fill="{style.colour}"/>{style.pattern}</pattern>')
    return "<defs>" + "".join(out) + "</defs>"


def legend(prefix: str = "legend") -> str:
    """A small SVG per state (its colour and pattern) with its name: the key the charts share."""
    items = []
    for style in STATES:
        items.append(f'<li><svg width="16" height="16" aria-hidden="true" focusable="false">'
                     f'<defs><pattern id="{prefix}-{style.state}" width="8" height="8" patternUnits="userSpaceOnUse">'
                     f'<rect width="8" height="8" fill="{style.colour}"/>{style.pattern}</pattern></defs>'
                     f'<rect width="16" height="16" fill="url(#{prefix}-{style.state})" stroke="#222"/></svg> '
                     f'{_esc(style.label)}</li>')
    return '<ul class="legend">' + "".join(items) + "</ul>"


def stacked_bars(rows: Sequence[tuple[str, Mapping[str, int]]], *, title: str, description: str,
                 width: int = 720) -> str:
    """One horizontal bar per row (an organisation), its segments the devices in each state, to scale.

    `rows` are (label, {state: count}); states absent count 0. A segment wide enough shows its number.
    """
    prefix = f"sb{next(_ids)}"
    label_width, bar_height, gap, top = 290, 22, 8, 8
    plot = width - label_width - 70
    biggest = max((sum(counts.values()) for _, counts in rows), default=0) or 1
    height = max(top + len(rows) * (bar_height + gap) + 8, 48)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" aria-labelledby="{prefix}-t {prefix}-d">',
             f'<title id="{prefix}-t">{_esc(title)}</title><desc id="{prefix}-d">{_esc(description)}</desc>',
             _defs(prefix)]
    for index, (label, counts) in enumerate(rows):
        y = top + index * (bar_height + gap)
        total = sum(counts.get(style.state, 0) for style in STATES)
        shown = label if len(label) <= 40 else label[:39] + "…"
        parts.append(f'<g class="bar" data-label="{_esc(label)}" data-total="{total}">'
                     f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" '
                     f'font-size="12.5">{_esc(shown)}</text>')
        x = float(label_width)
        for style in STATES:
            count = counts.get(style.state, 0)
            if count <= 0:
                continue
            w = plot * count / biggest
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{bar_height}" '
                         f'fill="url(#{prefix}-{style.state})" stroke="#fff" stroke-width="0.5" '
                         f'data-state="{style.state}" data-value="{count}">'
                         f'<title>{_esc(label)}: {count} {_esc(style.label)}</title></rect>')
            box = 7 * len(str(count)) + 8
            if w >= box + 4:  # the number on a white tab, readable over any pattern
                parts.append(f'<g aria-hidden="true"><rect x="{x + (w - box) / 2:.1f}" y="{y + 4}" width="{box}" '
                             f'height="{bar_height - 8}" rx="3" fill="#fff" opacity="0.92"/>'
                             f'<text x="{x + w / 2:.1f}" y="{y + bar_height * 0.68:.1f}" text-anchor="middle" '
                             f'font-size="11.5" fill="#111">{count}</text></g>')
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + bar_height * 0.7:.1f}" font-size="12" fill="#333">'
                     f'{total}</text></g>')
    if not rows:
        parts.append(f'<text x="{width / 2}" y="{height / 2 + 5}" text-anchor="middle" font-size="14">'
                     'no devices in scope</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nice_ceiling(value: int) -> int:
    if value <= 5:
        return 5
    for step in itertools.chain.from_iterable((m * 10**e for m in (1, 2, 5)) for e in range(0, 12)):
        if step * 5 >= value:
            return int(step * 5)
    return value


def trend_chart(points: Sequence[TrendPoint], *, title: str, description: str, width: int = 720,
                height: int = 260) -> str:
    """Non-compliant and in-grace devices at the end of each day: two lines with distinct dashes and markers."""
    prefix = f"tc{next(_ids)}"
    left, right, top, bottom = 56, 34, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    ceiling = _nice_ceiling(max((max(p.non_compliant, p.grace) for p in points), default=0))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" aria-labelledby="{prefix}-t {prefix}-d">',
             f'<title id="{prefix}-t">{_esc(title)}</title><desc id="{prefix}-d">{_esc(description)}</desc>']
    for tick in range(6):
        value = ceiling * tick // 5
        y = top + plot_h - plot_h * tick / 5
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value}</text>')
    n = len(points)

    def x_of(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_of(v: int) -> float:
        return top + plot_h - plot_h * v / ceiling

    step = max(1, n // 6)
    for i, point in enumerate(points):
        if i % step == 0 or i == n - 1:
            parts.append(f'<text x="{x_of(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                         f'font-size="11">{point.day:%d %b}</text>')
    series = (("non_compliant", "non-compliant", "#b3261e", "", "circle"),
              ("grace", "in grace", "#8a5300", "6 4", "square"))
    for key, label, colour, dash, marker in series:
        coords = " ".join(f"{x_of(i):.1f},{y_of(getattr(p, key)):.1f}" for i, p in enumerate(points))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<g class="series" data-series="{key}"><polyline points="{coords}" fill="none" '
                     f'stroke="{colour}" stroke-width="2.5"{dash_attr}/>')
        for i, point in enumerate(points):
            value = getattr(point, key)
            x, y = x_of(i), y_of(value)
            tip = f"<title>{point.day.isoformat()}: {value} {label}</title>"
            if marker == "circle":
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}" '
                             f'data-day="{point.day.isoformat()}" data-value="{value}">{tip}</circle>')
            else:
                parts.append(f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="#fff" '
                             f'stroke="{colour}" stroke-width="2" data-day="{point.day.isoformat()}" '
                             f'data-value="{value}">{tip}</rect>')
        parts.append("</g>")
    key_y = height - 10
    parts.append(f'<g font-size="12"><line x1="{left}" x2="{left + 28}" y1="{key_y - 4}" y2="{key_y - 4}" '
                 f'stroke="#b3261e" stroke-width="2.5"/><circle cx="{left + 14}" cy="{key_y - 4}" r="3.5" '
                 f'fill="#b3261e"/><text x="{left + 34}" y="{key_y}">non-compliant</text>'
                 f'<line x1="{left + 150}" x2="{left + 178}" y1="{key_y - 4}" y2="{key_y - 4}" stroke="#8a5300" '
                 f'stroke-width="2.5" stroke-dasharray="6 4"/><rect x="{left + 160.5}" y="{key_y - 7.5}" width="7" '
                 f'height="7" fill="#fff" stroke="#8a5300" stroke-width="2"/>'
                 f'<text x="{left + 184}" y="{key_y}">in grace</text></g>')
    parts.append("</svg>")
    return "".join(parts)
