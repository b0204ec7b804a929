"""Open a page in real headless Chromium over the DevTools protocol (loopback only).

Collects what a person with the console open would see (console errors, uncaught
exceptions, failed resource loads), the rendered DOM and a screenshot.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1280,2000",
)
LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


@dataclass
class PageVisit:
    """What Chromium showed for one page."""

    errors: list[str] = field(default_factory=list)
    dom: str = ""
    screenshot_png: bytes = b""
    chart_points: dict[str, int] = field(default_factory=dict)


class _DevTools:
    def __init__(self, url: str, deadline: float) -> None:
        self.ws = websocket.create_connection(url, timeout=10, suppress_origin=True)
        self.deadline = deadline
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while time.monotonic() < self.deadline:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
        raise TimeoutError(f"no reply to {method}")

    def wait_event(self, method: str) -> None:
        if any(event.get("method") == method for event in self.events):
            return
        while time.monotonic() < self.deadline:
            message = json.loads(self.ws.recv())
            self.events.append(message)
            if message.get("method") == method:
                return
        raise TimeoutError(f"no {method} event")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


def _errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "assert",
        ):
            errors.append(" ".join(str(a.get("value")) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            described = details.get("exception", {}).get("description")
            errors.append(described or details.get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(params["entry"].get("text", "log error"))
    return errors


def _page_socket(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        found = LISTENING.search(line)
        if found:
            port = found.group(1).split(":")[2].split("/")[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as reply:
                pages = [t for t in json.load(reply) if t["type"] == "page"]
            return str(pages[0]["webSocketDebuggerUrl"])
    raise RuntimeError("chromium did not start its DevTools endpoint")


CHART_POINTS_JS = """JSON.stringify(Object.fromEntries(
  [...document.querySelectorAll('svg.chart')].map(svg => [svg.id,
   svg.querySelectorAll('polyline[points], circle[data-x], rect.bar').length])))"""


def visit(path: Path, timeout_s: float = 30.0) -> PageVisit:
    """Load ``path`` in headless Chromium and report what it showed."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise AssertionError("chromium is not installed (make system-deps)")
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            devtools = _DevTools(_page_socket(process, deadline), deadline)
            for domain in ("Runtime", "Log", "Page"):
                devtools.call(f"{domain}.enable")
            devtools.call("Page.navigate", url=path.resolve().as_uri())
            devtools.wait_event("Page.loadEventFired")
            page = PageVisit(
                dom=devtools.evaluate("document.documentElement.outerHTML"),
                chart_points=json.loads(devtools.evaluate(CHART_POINTS_JS)),
            )
            shot = devtools.call(
                "Page.captureScreenshot", format="png", captureBeyondViewport=True
            )
            page.screenshot_png = base64.b64decode(shot["data"])
            page.errors = _errors(devtools.events)
            devtools.ws.close()
            return page
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
