"""Small inline-SVG charts (line, scatter and bar) for the self-contained report page.

No JavaScript and no external resources: each chart is one ``<svg>`` element whose
plotted elements carry ``data-series`` (and points ``data-x``/``data-y``) so tests and
readers can find the data in the DOM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 560, 300
WIDE = 1140
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 16, 44
PALETTE = ("#2563eb", "#f97316", "#dc2626", "#16a34a", "#9333ea", "#0891b2", "#ca8a04")


@dataclass(frozen=True)
class Series:
    """One plotted series; ``style`` is ``line``, ``dots`` or ``both``."""

    name: str
    points: Sequence[tuple[float, float]]
    color: str = PALETTE[0]
    style: str = "line"
    dashed: bool = False


@dataclass(frozen=True)
class Guide:
    """A labelled horizontal (``axis="y"``) or vertical (``axis="x"``) reference line."""

    label: str
    value: float
    axis: str = "y"
    color: str = "#6b7280"


@dataclass
class Frame:
    """Maps data coordinates to pixels."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float
    width: int = WIDTH
    height: int = HEIGHT
    x_ticks: list[float] = field(default_factory=list)
    y_ticks: list[float] = field(default_factory=list)

    def x(self, value: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        inner = self.width - MARGIN_LEFT - MARGIN_RIGHT
        return MARGIN_LEFT + (value - self.x_min) / span * inner

    def y(self, value: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        inner = self.height - MARGIN_TOP - MARGIN_BOTTOM
        return self.height - MARGIN_BOTTOM - (value - self.y_min) / span * inner


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if high <= low:
        high = low + 1.0
    raw_step = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def format_number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:g}G"
    if magnitude >= 1e6:
        return f"{value / 1e6:g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def _frame(
    series: Sequence[Series], guides: Sequence[Guide], y_zero: bool, width: int
) -> Frame:
    xs = [x for s in series for x, _ in s.points] + [
        g.value for g in guides if g.axis == "x"
    ]
    ys = [y for s in series for _, y in s.points] + [
        g.value for g in guides if g.axis == "y"
    ]
    xs, ys = xs or [0.0, 1.0], ys or [0.0, 1.0]
    y_low = min(0.0, min(ys)) if y_zero else min(ys)
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs)), nice_ticks(y_low, max(ys))
    return Frame(
        x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1], width, HEIGHT, x_ticks, y_ticks
    )


def _axes(frame: Frame, x_label: str, y_label: str) -> list[str]:
    parts = []
    bottom, left = frame.height - MARGIN_BOTTOM, MARGIN_LEFT
    for tick in frame.y_ticks:
        y = frame.y(tick)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{frame.width - MARGIN_RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{format_number(tick)}</text>"
        )
    for tick in frame.x_ticks:
        x = frame.x(tick)
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" '
            f'y1="{MARGIN_TOP}" y2="{bottom}"/>'
            f'<text class="tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{format_number(tick)}</text>"
        )
    parts.append(
        f'<text class="axis-label" x="{(left + frame.width - MARGIN_RIGHT) / 2:.0f}" '
        f'y="{frame.height - 8}" text-anchor="middle">{escape(x_label)}</text>'
        f'<text class="axis-label" text-anchor="middle" '
        f'transform="translate(14 {(MARGIN_TOP + bottom) / 2:.0f}) rotate(-90)">'
        f"{escape(y_label)}</text>"
    )
    return parts


def _series(frame: Frame, series: Series) -> list[str]:
    name = escape(series.name)
    parts = []
    if series.style in ("line", "both") and len(series.points) > 1:
        path = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in series.points)
        dash = ' stroke-dasharray="6 4"' if series.dashed else ""
        parts.append(
            f'<polyline class="series" data-series="{name}" fill="none" '
            f'stroke="{series.color}" stroke-width="2"{dash} points="{path}"/>'
        )
    if series.style in ("dots", "both") or len(series.points) == 1:
        for x, y in series.points:
            parts.append(
                f'<circle class="point" data-series="{name}" data-x="{x:g}" data-y="{y:g}" '
                f'cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="3" fill="{series.color}">'
                f"<title>{name}: {x:g}, {y:g}</title></circle>"
            )
    return parts


def _guide(frame: Frame, guide: Guide) -> str:
    label = escape(guide.label)
    if guide.axis == "y":
        y = frame.y(guide.value)
        x1, x2 = MARGIN_LEFT, frame.width - MARGIN_RIGHT
        return (
            f'<line class="guide" data-guide="{label}" x1="{x1}" x2="{x2}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="{guide.color}"/><text class="guide-label" '
            f'x="{x2 - 4}" y="{y - 5:.1f}" text-anchor="end" '
            f'fill="{guide.color}">{label}</text>'
        )
    x = frame.x(guide.value)
    return (
        f'<line class="guide" data-guide="{label}" x1="{x:.1f}" x2="{x:.1f}" '
        f'y1="{MARGIN_TOP}" y2="{frame.height - MARGIN_BOTTOM}" stroke="{guide.color}"/>'
        f'<text class="guide-label" x="{x + 4:.1f}" y="{MARGIN_TOP + 12}" '
        f'fill="{guide.color}">{label}</text>'
    )


def legend(series: Sequence[Series]) -> str:
    items = "".join(
        f'<span class="key"><i style="background:{s.color}"></i>{escape(s.name)}</span>'
        for s in series
    )
    return f'<div class="legend">{items}</div>'


def line_chart(
    chart_id: str,
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    guides: Sequence[Guide] = (),
    y_zero: bool = True,
    width: int = WIDTH,
) -> str:
    """An SVG chart of ``series`` (lines and/or dots) with optional guide lines."""
    frame = _frame(series, guides, y_zero, width)
    parts = _axes(frame, x_label, y_label)
    for item in series:
        parts.extend(_series(frame, item))
    parts.extend(_guide(frame, guide) for guide in guides)
    body = "".join(parts)
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {frame.width} {frame.height}" '
        f'role="img" aria-label="{escape(y_label)} against {escape(x_label)}">{body}</svg>'
        + legend(series)
    )


def bar_chart(chart_id: str, bars: Sequence[tuple[str, float]], y_label: str) -> str:
    """Vertical bars, one per category."""
    top = max((value for _, value in bars), default=1.0)
    ticks = nice_ticks(0.0, top or 1.0)
    frame = Frame(0, len(bars) or 1, ticks[0], ticks[-1], y_ticks=ticks)
    parts = _axes(frame, "", y_label)
    slot = (frame.x(1) - frame.x(0)) if bars else 0
    for index, (label, value) in enumerate(bars):
        x, y = frame.x(index) + slot * 0.2, frame.y(value)
        height = frame.y(0) - y
        parts.append(
            f'<rect class="bar" data-series="{escape(label)}" data-y="{value:g}" '
            f'x="{x:.1f}" y="{y:.1f}" width="{slot * 0.6:.1f}" height="{height:.1f}" '
            f'fill="{PALETTE[index % len(PALETTE)]}"><title>{escape(label)}: {value:g}'
            f'</title></rect><text class="tick" x="{x + slot * 0.3:.1f}" '
            f'y="{frame.height - MARGIN_BOTTOM + 16}" text-anchor="middle">'
            f'{escape(label)}</text><text class="bar-value" x="{x + slot * 0.3:.1f}" '
            f'y="{y - 4:.1f}" text-anchor="middle">{format_number(value)}</text>'
        )
    body = "".join(parts)
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {frame.width} {frame.height}" '
        f'role="img" aria-label="{escape(y_label)}">{body}</svg>'
    )
