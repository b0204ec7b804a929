"""``report.html`` opened in real headless Chromium: charts drawn, console clean."""

from __future__ import annotations

import csv
import re
import shutil
from html import escape as html_escape
from pathlib import Path

import pytest

from tests.report.chromium import PageVisit, visit
from tests.report.conftest import RECORDED_RUN
from tests.report.recompute import expected_closes
from wsharness.report.analysis import Objective
from wsharness.report.command import build_report
from wsharness.report.jaeger import JaegerTarget

CHARTS = (
    "chart-sockets",
    "chart-latency-connect",
    "chart-latency-echo",
    "chart-latency-deliver",
    "chart-memory",
    "chart-cpu",
    "chart-closes",
    "chart-errors",
)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> PageVisit:
    """The recorded run's report as Chromium showed it (opened once per module)."""
    run_dir = tmp_path_factory.mktemp("rendered") / "run"
    shutil.copytree(RECORDED_RUN, run_dir)
    html = build_report(
        run_dir, Objective(p99_ms=100, peak=50_000), JaegerTarget("http://127.0.0.1:16686")
    )
    visited = visit(html)
    (run_dir / "report.png").write_bytes(visited.screenshot_png)
    return visited


def test_the_page_renders_every_chart_with_data_and_no_console_error(
    page: PageVisit,
) -> None:
    assert page.errors == []
    for chart in CHARTS:
        assert page.chart_points.get(chart, 0) > 0, f"{chart} drew nothing"
    assert page.screenshot_png.startswith(b"\x89PNG")
    assert len(page.screenshot_png) > 50_000, "a blank page would compress to little"


def test_the_charts_carry_the_run_data(page: PageVisit) -> None:
    dom = page.dom
    # memory chart: one dot per scrape, values in MiB, and the fitted line in the legend
    memory_svg = re.search(r'<svg id="chart-memory".*?</svg>', dom, re.S)
    assert memory_svg is not None
    assert len(re.findall(r'data-series="scrapes in the fit"', memory_svg.group(0))) >= 10
    assert re.search(r"fit: \d+\.\d KiB/socket", dom)
    # the deliver chart shows the objective line and where it was first broken
    assert 'data-guide="objective p99 100 ms"' in dom
    assert 'data-guide="first broken"' in dom
    # closes by code: one bar per code, with the counts the test computes itself
    for code, count in expected_closes(RECORDED_RUN).items():
        assert f'<rect class="bar" data-series="{code}" data-y="{count}"' in dom
    # failures: Locust's rows, or an explicit "No failures."
    with (RECORDED_RUN / "run_failures.csv").open() as handle:
        failures = list(csv.DictReader(handle))
    for failure in failures:
        assert html_escape(failure["Error"]) in dom
    if not failures:
        assert "No failures." in dom
    assert 'href="http://127.0.0.1:16686/search?service=wsharness-locust' in dom


def test_the_page_is_self_contained(run_dir: Path) -> None:
    html = build_report(run_dir).read_text()
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "no network resource"


def test_the_harness_does_see_console_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!DOCTYPE html><img src="missing.png"><script>console.error("boom");'
        "notDefined();</script>"
    )
    errors = visit(broken).errors
    assert "boom" in errors
    assert any("notDefined" in error for error in errors)
    assert any("ERR_FILE_NOT_FOUND" in error for error in errors)
