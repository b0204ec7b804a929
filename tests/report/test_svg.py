"""The inline SVG charts: data carried in the DOM, axes that cover the data."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from wsharness.report.svg import Guide, Series, bar_chart, line_chart, nice_ticks


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 301) == [0, 100, 200, 300, 400]
    assert nice_ticks(52.9, 58.1) == [52, 54, 56, 58, 60]
    assert nice_ticks(0.0001, 0.00074) == [0, 0.0002, 0.0004, 0.0006, 0.0008]
    assert nice_ticks(5, 5) == [5, 5.2, 5.4, 5.6, 5.8, 6], (
        "a flat series still gets an axis"
    )


def test_a_line_chart_is_well_formed_svg_with_its_points() -> None:
    markup = line_chart(
        "chart-x",
        [Series("p99 <deliver>", [(0, 1), (10, 4), (20, 9)], style="both")],
        "open sockets",
        "ms",
        [Guide("objective", 5)],
    )
    svg = ET.fromstring(markup[: markup.index("</svg>") + len("</svg>")])
    points = [c for c in svg.iter("circle") if c.get("data-series") == "p99 <deliver>"]
    assert [(p.get("data-x"), p.get("data-y")) for p in points] == [
        ("0", "1"),
        ("10", "4"),
        ("20", "9"),
    ]
    assert len(list(svg.iter("polyline"))) == 1
    assert any(line.get("data-guide") == "objective" for line in svg.iter("line"))
    assert "p99 &lt;deliver&gt;" in markup  # the legend escapes names


def test_bars_rise_with_their_values() -> None:
    markup = bar_chart("chart-b", [("1000", 300.0), ("1006", 100.0)], "closed")
    heights = [float(h) for h in re.findall(r'class="bar"[^>]* height="([\d.]+)"', markup)]
    assert heights[0] == 3 * heights[1]
