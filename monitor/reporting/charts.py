"""Inline SVG charts for the monthly report: drawn here, so the file needs no script or network.

Every chart is an `<svg class="chart">` whose data marks carry class `mark` and a `data-tip`
text (the report's script shows it on hover and checks that the marks drew). All text that
reaches the SVG goes through `esc`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

PALETTE = ("#2f6fde", "#f0a030", "#1f9e77", "#d6453d", "#7c5cc4", "#1aa3c4", "#d65a9e", "#7fa82d")
OTHER_COLOUR = "#9aa5b1"
WIDTH = 960  # viewBox units: about one pixel each in the report's layout
HALF_WIDTH = 520
Format = Callable[[float], str]


def esc(value: object) -> str:
    """Text made safe for HTML and SVG, in element content and in quoted attributes."""
    return escape(str(value), quote=True)


def colour(index: int, name: str = "") -> str:
    return OTHER_COLOUR if name == "Other" else PALETTE[index % len(PALETTE)]


def nice_step(span: float, integer: bool = False) -> float:
    """A 1, 2, 2.5 or 5 x 10^k step that cuts `span` into about four intervals."""
    raw = span / 4 if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return max(1.0, round(step)) if integer else step


def nice_range(lo: float, hi: float, integer: bool = False) -> list[float]:
    """Axis ticks from a round number at or below `lo` to one at or above `hi`."""
    step = nice_step(hi - lo, integer)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [i * step for i in range(first, max(last, first + 1) + 1)]


def plain(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _frame(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{esc(label)}</title>{"".join(body)}</svg>'
    )


def _empty(width: int, height: int, label: str, message: str) -> str:
    text = f'<text class="empty" x="{width / 2}" y="{height / 2}" text-anchor="middle">{esc(message)}</text>'
    return _frame(width, height, label, [text])


def _y_axis(
    ticks: Sequence[float], left: int, width: int, y: Callable[[float], float], fmt: Format
) -> list[str]:
    out = []
    for value in ticks:
        py = y(value)
        out.append(f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{py:.1f}" y2="{py:.1f}"/>')
        out.append(
            f'<text class="tick" x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">{esc(fmt(value))}</text>'
        )
    return out


def _x_labels(labels: Sequence[str], xs: Sequence[float], base: float, most: int) -> list[str]:
    step = max(1, math.ceil(len(labels) / most))
    return [
        f'<text class="tick" x="{x:.1f}" y="{base + 18:.1f}" text-anchor="middle">{esc(label)}</text>'
        for i, (label, x) in enumerate(zip(labels, xs, strict=True))
        if i % step == 0
    ]


def stacked_bars(
    label: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    unit: str = "posts",
    width: int = WIDTH,
) -> str:
    """Vertical bars per category, stacked by series (weekly volume per account or country)."""
    height, left, top, bottom = 300, 52, 14, 40
    totals = [sum(values[i] for _, values in series) for i in range(len(categories))]
    if not categories or not any(totals):
        return _empty(width, height, label, "No posts in this period")
    ticks = nice_range(0, max(totals), integer=True)
    plot_h, band = height - top - bottom, (width - left - 8) / len(categories)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / ticks[-1])

    body = _y_axis(ticks, left, width, y, plain)
    xs = [left + band * (i + 0.5) for i in range(len(categories))]
    bar = min(band * 0.62, 90)
    for i, category in enumerate(categories):
        base = 0.0
        for s, (name, values) in enumerate(series):
            if not values[i]:
                continue
            y0, y1 = y(base), y(base + values[i])
            tip = f"{category} · {name}: {plain(values[i])} {unit}"
            body.append(
                f'<rect class="mark" x="{xs[i] - bar / 2:.1f}" y="{y1:.1f}" width="{bar:.1f}" '
                f'height="{y0 - y1:.1f}" fill="{colour(s, name)}" data-tip="{esc(tip)}"/>'
            )
            base += values[i]
    body += _x_labels(categories, xs, top + plot_h, most=12)
    return _frame(width, height, label, body)


def line_chart(
    label: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    fmt: Format,
    y_range: tuple[float, float] | None = None,
    width: int = WIDTH,
) -> str:
    """Lines over time, broken where a value is unknown; a dashed zero line when the range spans it."""
    height, left, top, bottom = 260, 56, 14, 40
    known = [v for _, values in series for v in values if v is not None]
    if not x_labels or not known:
        return _empty(width, height, label, "Nothing to show for this period")
    ticks = nice_range(*(y_range or (min(0.0, *known), max(0.0, *known))))
    lo, hi = ticks[0], ticks[-1]
    plot_h, step = height - top - bottom, (width - left - 24) / max(1, len(x_labels) - 1)
    xs = [left + 12 + step * i for i in range(len(x_labels))]

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    body = _y_axis(ticks, left, width, y, fmt)
    if lo < 0 < hi:
        body.append(f'<line class="zero" x1="{left}" x2="{width - 8}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>')
    for s, (name, values) in enumerate(series):
        c, points = colour(s, name), list(zip(xs, x_labels, values, strict=True))
        body.append(f'<path class="line" d="{_path(points, y)}" stroke="{c}"/>')
        body += [
            f'<circle class="mark" cx="{x:.1f}" cy="{y(v):.1f}" r="3.4" fill="{c}" '
            f'data-tip="{esc(f"{name} · {xl}: {fmt(v)}")}"/>'
            for x, xl, v in points
            if v is not None
        ]
    body += _x_labels(x_labels, xs, top + plot_h, most=max(4, width // 90))
    return _frame(width, height, label, body)


def _path(points: Sequence[tuple[float, str, float | None]], y: Callable[[float], float]) -> str:
    """An SVG path through the known points, lifting the pen over unknown ones."""
    out, pen_down = [], False
    for x, _, v in points:
        if v is None:
            pen_down = False
            continue
        out.append(f"{'L' if pen_down else 'M'}{x:.1f},{y(v):.1f}")
        pen_down = True
    return " ".join(out)


def bar_list(
    label: str,
    rows: Sequence[tuple[str, float, float | None]],
    fmt: Format,
    names: tuple[str, str] = ("this period", "previous period"),
    width: int = WIDTH,
) -> str:
    """Horizontal bars, one per row, with an optional thinner grey comparison bar under each."""
    if not rows:
        return _empty(width, 120, label, "Nothing to show for this period")
    paired = any(b is not None for _, _, b in rows)
    row_h, left, right, top = (34 if paired else 26), 170, 80, 6
    height = top * 2 + row_h * len(rows)
    scale = (width - left - right) / (max(max(a, b or 0) for _, a, b in rows) or 1)
    body = []
    for i, (name, a, b) in enumerate(rows):
        y0 = top + i * row_h
        body.append(f'<text class="label" x="{left - 10}" y="{y0 + 15}" text-anchor="end">{esc(name)}</text>')
        body.append(
            f'<rect class="mark" x="{left}" y="{y0 + 4}" width="{max(a * scale, 2):.1f}" height="15" '
            f'fill="{PALETTE[0]}" data-tip="{esc(f"{name}, {names[0]}: {fmt(a)}")}"/>'
        )
        if b is not None:
            body.append(
                f'<rect class="mark compare" x="{left}" y="{y0 + 22}" width="{max(b * scale, 2):.1f}" '
                f'height="6" data-tip="{esc(f"{name}, {names[1]}: {fmt(b)}")}"/>'
            )
        body.append(f'<text class="value" x="{left + a * scale + 8:.1f}" y="{y0 + 16}">{esc(fmt(a))}</text>')
    return _frame(width, height, label, body)


def legend(names: Sequence[str], colours: Sequence[str] = ()) -> str:
    """The colour key of a chart, as HTML (series colours unless `colours` are given)."""
    items = "".join(
        f'<li><span class="swatch" style="background:{colours[i] if colours else colour(i, n)}"></span>'
        f"{esc(n)}</li>"
        for i, n in enumerate(names)
    )
    return f'<ul class="legend">{items}</ul>'


def sparkline(values: Sequence[float | None]) -> str:
    """A tiny line for a table cell."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return ""
    lo, hi = min(v for _, v in known), max(v for _, v in known)
    span, n = (hi - lo) or 1, max(1, len(values) - 1)
    points = " ".join(f"{2 + 96 * i / n:.1f},{20 - 16 * (v - lo) / span:.1f}" for i, v in known)
    return f'<svg class="spark" viewBox="0 0 100 24" aria-hidden="true"><polyline points="{points}"/></svg>'
