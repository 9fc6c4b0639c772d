"""Bar charts as inline SVG, drawn on the server.

No script and no style sheet of their own (the pages' CSP allows neither inline): colours are SVG
presentation attributes, sizes come from the viewBox, and app.css only makes the SVG scale to its box.
Every label is escaped. Each chart carries <title> and <desc> and role="img" with an aria-label; the
numbers are also in the table beside it, which is what screen readers and Excel users read.
"""
from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from markupsafe import Markup, escape

from experts_service.reports.tables import Chart, display

PALETTE = {
    "navy": "#1f3a5f", "accent": "#9e1b20", "teal": "#2a7f8f", "amber": "#b7791f", "green": "#1e7b3c",
    "purple": "#6b4c9a", "sky": "#4a90c2", "grey": "#8a9099", "rose": "#c2577a", "olive": "#6b7d2a",
}
SERIES_TONES = ("navy", "teal", "amber", "purple", "sky", "rose", "olive", "grey", "green", "accent")
AXIS, GRID, INK, MUTED = "#8a9099", "#e3e6ea", "#1f2329", "#646a73"
EMPTY_TEXT = "暂无数据"

WIDTH = 640
FONT = 12
# Layout of a vertical chart.
BAR_HEIGHT_AREA = 220
BAR_TOP, BAR_BOTTOM, BAR_RIGHT = 24, 40, 12
# Layout of a horizontal chart: one row per category.
ROW, THICKNESS = 28, 18
HBAR_TOP, HBAR_BOTTOM, HBAR_VALUE_ROOM = 10, 28, 64
LABEL_ROOM_MAX = 220
LEGEND_ROW = 22
# Bars take this share of their band; the rest is the gap between them.
BAR_FILL = 0.62
BAR_MAX_WIDTH = 64
TICKS = 4


def render(chart: Chart) -> Markup:
    return _horizontal(chart) if chart.kind == "hbar" else _vertical(chart)


# ---------------------------------------------------------------- pieces


def _number(value) -> float:
    if isinstance(value, (Decimal, Fraction)):
        return float(value)
    return float(value or 0)


def _text_width(text: str, size: int = FONT) -> float:
    """Roughly how wide a label renders: CJK characters take a full em, others about half."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.6 for ch in text)


def _fit(text: str, room: float, size: int = FONT) -> str:
    if _text_width(text, size) <= room:
        return text
    while text and _text_width(text + "…", size) > room:
        text = text[:-1]
    return text + "…"


def _integral(chart: Chart) -> bool:
    return all(isinstance(v, int) for series in chart.series for v in series.values)


def _scale(chart: Chart, largest: float) -> tuple[float, float]:
    """The axis end and the tick step: round numbers (1, 2, 5 x 10^n) a little above the largest bar."""
    top = float(chart.scale_max) if chart.scale_max else max(largest, 0.0)
    if top <= 0:
        return 1.0, 1.0
    raw = top / TICKS
    exponent = math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if _integral(chart) or chart.scale_max else (1, 2, 2.5, 5, 10)
    step = next(s * 10 ** exponent for s in steps if s * 10 ** exponent >= raw)
    if _integral(chart):
        step = max(step, 1.0)
    if chart.scale_max:
        return top, step
    return math.ceil(top / step) * step, step


def _tick_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _tone(chart: Chart, series_index: int, category_index: int) -> str:
    if not chart.stacked and chart.category_tones:
        return PALETTE[chart.category_tones[category_index % len(chart.category_tones)]]
    series = chart.series[series_index]
    return PALETTE[series.tone or SERIES_TONES[series_index % len(SERIES_TONES)]]


def _totals(chart: Chart) -> list[float]:
    if not chart.series:
        return []
    if chart.stacked and not chart.scale_max:
        return [sum(_number(s.values[i]) for s in chart.series) for i in range(len(chart.categories))]
    return [max(_number(s.values[i]) for s in chart.series) for i in range(len(chart.categories))]


def _value_text(chart: Chart, index: int) -> str:
    if chart.stacked:
        return _tick_label(sum(_number(s.values[index]) for s in chart.series))
    return display(chart.series[0].values[index])


def _description(chart: Chart) -> str:
    parts = []
    for index, category in enumerate(chart.categories):
        values = "，".join(f"{s.name} {display(s.values[index])}" for s in chart.series)
        parts.append(f"{category}：{values}")
    unit = f"（单位：{chart.unit}）" if chart.unit else ""
    return "；".join(parts) + unit if parts else EMPTY_TEXT


def _open(chart: Chart, height: float, empty: bool) -> list[str]:
    key = escape(chart.key)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="chart-{key}" class="chart chart-{escape(chart.kind)}" '
        f'data-chart="{key}" data-bars="{0 if empty else _bar_count(chart)}" role="img" '
        f'aria-label="{escape(chart.title)}" aria-describedby="chart-{key}-desc" viewBox="0 0 {WIDTH} {height:g}" '
        f'width="{WIDTH}" height="{height:g}" preserveAspectRatio="xMinYMin meet">',
        f'<title id="chart-{key}-title">{escape(chart.title)}</title>',
        f'<desc id="chart-{key}-desc">{escape(_description(chart))}</desc>',
    ]


def _bar_count(chart: Chart) -> int:
    return sum(1 for s in chart.series for v in s.values if _number(v) > 0)


def _is_empty(chart: Chart) -> bool:
    return not chart.categories or not any(_number(v) > 0 for s in chart.series for v in s.values)


def _empty(chart: Chart, height: float) -> Markup:
    parts = _open(chart, height, True)
    parts.append(f'<text x="{WIDTH / 2:g}" y="{height / 2:g}" text-anchor="middle" font-size="{FONT + 2}" '
                 f'fill="{MUTED}" class="chart-empty">{EMPTY_TEXT}</text></svg>')
    return Markup("".join(parts))


def _legend(chart: Chart, y: float, left: float) -> list[str]:
    if not chart.stacked:
        return []
    parts, x = ['<g class="chart-legend">'], left
    for index, series in enumerate(chart.series):
        parts.append(f'<rect x="{x:g}" y="{y - 10:g}" width="12" height="12" fill="{_tone(chart, index, 0)}"/>')
        parts.append(f'<text x="{x + 16:g}" y="{y:g}" font-size="{FONT}" fill="{INK}">{escape(series.name)}</text>')
        x += 16 + _text_width(series.name) + 18
    parts.append("</g>")
    return parts


def _bar(x: float, y: float, width: float, height: float, fill: str, category: str, series: str, value) -> str:
    tip = f"{category} {series}：{display(value)}"
    return (f'<rect class="chart-bar" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f'fill="{fill}" data-category="{escape(category)}" data-series="{escape(series)}" '
            f'data-value="{escape(display(value))}"><title>{escape(tip)}</title></rect>')


# ---------------------------------------------------------------- vertical


def _vertical(chart: Chart) -> Markup:
    legend = LEGEND_ROW if chart.stacked else 0
    height = BAR_TOP + BAR_HEIGHT_AREA + BAR_BOTTOM + legend
    if _is_empty(chart):
        return _empty(chart, height)
    top, step = _scale(chart, max(_totals(chart)))
    label_room = max(_text_width(_tick_label(top)), _text_width("0")) + 10
    left = label_room + 4
    plot_w = WIDTH - left - BAR_RIGHT
    base = BAR_TOP + legend + BAR_HEIGHT_AREA
    parts = _open(chart, height, False)
    parts += _legend(chart, BAR_TOP - 6, left)
    parts.append('<g class="chart-axis">')
    tick = 0.0
    while tick <= top + 1e-9:
        y = base - BAR_HEIGHT_AREA * tick / top
        parts.append(f'<line x1="{left:g}" x2="{WIDTH - BAR_RIGHT:g}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID if tick else AXIS}" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6:g}" y="{y + 4:.1f}" text-anchor="end" font-size="{FONT - 1}" '
                     f'fill="{MUTED}">{_tick_label(tick)}</text>')
        tick += step
    parts.append("</g>")
    band = plot_w / len(chart.categories)
    bar_w = min(band * BAR_FILL, BAR_MAX_WIDTH)
    parts.append('<g class="chart-bars">')
    for index, category in enumerate(chart.categories):
        x = left + band * index + (band - bar_w) / 2
        y = base
        for s_index, series in enumerate(chart.series):
            value = series.values[index]
            h = BAR_HEIGHT_AREA * _number(value) / top
            if h > 0:
                y -= h
                parts.append(_bar(x, y, bar_w, h, _tone(chart, s_index, index), category, series.name, value))
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 5:.1f}" text-anchor="middle" font-size="{FONT - 1}" '
                     f'fill="{INK}" class="chart-value">{escape(_value_text(chart, index))}</text>')
        parts.append(f'<text x="{left + band * index + band / 2:.1f}" y="{base + 18:g}" text-anchor="middle" '
                     f'font-size="{FONT}" fill="{INK}" class="chart-label">{escape(_fit(category, band - 4))}</text>')
    parts.append("</g></svg>")
    return Markup("".join(parts))


# ---------------------------------------------------------------- horizontal


def _horizontal(chart: Chart) -> Markup:
    legend = LEGEND_ROW if chart.stacked else 0
    rows = max(len(chart.categories), 1)
    # Grouped (side by side) when the series are different measures on one scale, stacked when they add up.
    grouped = chart.stacked and bool(chart.scale_max)
    height = HBAR_TOP + legend + rows * ROW + HBAR_BOTTOM
    if _is_empty(chart):
        return _empty(chart, height)
    label_room = min(max(_text_width(c) for c in chart.categories) + 12, LABEL_ROOM_MAX)
    left = label_room
    plot_w = WIDTH - left - HBAR_VALUE_ROOM
    top, step = _scale(chart, max(_totals(chart)))
    first = HBAR_TOP + legend
    base = first + rows * ROW
    parts = _open(chart, height, False)
    parts += _legend(chart, HBAR_TOP + 8, left)
    parts.append('<g class="chart-axis">')
    tick = 0.0
    while tick <= top + 1e-9:
        x = left + plot_w * tick / top
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{first:g}" y2="{base:g}" '
                     f'stroke="{GRID if tick else AXIS}" stroke-width="1"/>')
        parts.append(f'<text x="{x:.1f}" y="{base + 16:g}" text-anchor="middle" font-size="{FONT - 1}" '
                     f'fill="{MUTED}">{_tick_label(tick)}</text>')
        tick += step
    parts.append("</g>")
    parts.append('<g class="chart-bars">')
    for index, category in enumerate(chart.categories):
        y_row = first + ROW * index
        parts.append(f'<text x="{left - 8:g}" y="{y_row + ROW / 2 + 4:.1f}" text-anchor="end" font-size="{FONT}" '
                     f'fill="{INK}" class="chart-label">{escape(_fit(category, label_room - 12))}</text>')
        if grouped:
            parts += _grouped_row(chart, index, category, left, plot_w, top, y_row)
            continue
        x = left
        y = y_row + (ROW - THICKNESS) / 2
        for s_index, series in enumerate(chart.series):
            value = series.values[index]
            w = plot_w * _number(value) / top
            if w > 0:
                parts.append(_bar(x, y, w, THICKNESS, _tone(chart, s_index, index), category, series.name, value))
                x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + THICKNESS - 4:.1f}" font-size="{FONT - 1}" fill="{INK}" '
                     f'class="chart-value">{escape(_value_text(chart, index))}</text>')
    parts.append("</g></svg>")
    return Markup("".join(parts))


def _grouped_row(chart: Chart, index: int, category: str, left: float, plot_w: float, top: float,
                 y_row: float) -> list[str]:
    parts = []
    thickness = THICKNESS / len(chart.series) + 2
    y = y_row + (ROW - thickness * len(chart.series)) / 2
    for s_index, series in enumerate(chart.series):
        value = series.values[index]
        w = plot_w * _number(value) / top
        if w > 0:
            parts.append(_bar(left, y, w, thickness - 1, _tone(chart, s_index, index), category, series.name, value))
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + thickness - 2:.1f}" font-size="{FONT - 2}" '
                     f'fill="{INK}" class="chart-value">{escape(display(value))}</text>')
        y += thickness
    return parts
