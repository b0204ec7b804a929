"""Open a report page in real headless Chromium and collect what it showed.

What a person with the console open would see (console errors, uncaught exceptions,
failed resource loads), the rendered DOM, the points each chart drew and a
full-page screenshot.  :class:`tests.support.chromium.Browser` drives the browser.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.chromium import Browser

CHART_POINTS_JS = """JSON.stringify(Object.fromEntries(
  [...document.querySelectorAll('svg.chart')].map(svg => [svg.id,
   svg.querySelectorAll('polyline[points], circle[data-x], rect.bar').length])))"""


@dataclass
class PageVisit:
    """What Chromium showed for one page."""

    errors: list[str] = field(default_factory=list)
    dom: str = ""
    screenshot_png: bytes = b""
    chart_points: dict[str, int] = field(default_factory=dict)


def visit(path: Path, timeout_s: float = 30.0) -> PageVisit:
    """Load ``path`` in headless Chromium and report what it showed."""
    return asyncio.run(asyncio.wait_for(_visit(path.resolve().as_uri()), timeout_s))


async def _visit(url: str) -> PageVisit:
    async with Browser() as browser:
        await browser.navigate(url)
        return PageVisit(
            errors=browser.console_errors + browser.network_errors,
            dom=await browser.evaluate("document.documentElement.outerHTML"),
            screenshot_png=await browser.capture_png(full_page=True),
            chart_points=json.loads(await browser.evaluate(CHART_POINTS_JS)),
        )
