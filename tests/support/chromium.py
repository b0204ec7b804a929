"""Headless Chromium (Debian's) driven over the DevTools protocol, for page tests.

Launches ``/usr/bin/chromium`` with the flags this closed network needs, attaches to
its first page over the DevTools WebSocket, and offers ``navigate``, ``evaluate`` and
the console errors and exceptions the page produced.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--window-size=1280,1600",
)


CONSOLE_ERRORS = ("error", "assert")


def chromium_binary() -> str:
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError("chromium not found: `make test` installs Debian's chromium")
    return found


class Browser:
    """One headless Chromium with one page, as an async context manager."""

    def __init__(self) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="wsharness-chromium-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.page: ClientConnection | None = None
        self.console_errors: list[str] = []  # script exceptions and console.error()
        self.network_errors: list[str] = []  # failed loads the browser logged
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listener: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Browser:
        self.process = subprocess.Popen(  # noqa: ASYNC220 - started once, returns at once
            [
                chromium_binary(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port = await asyncio.to_thread(self._debugging_port)
        self.page = await connect(await asyncio.to_thread(_page_url, port), max_size=None)
        self._listener = asyncio.create_task(self._listen())
        await self.send("Runtime.enable")
        await self.send("Log.enable")
        await self.send("Page.enable")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._listener is not None:
            self._listener.cancel()
        if self.page is not None:
            await self.page.close()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _debugging_port(self, timeout: float = 20.0) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not marker.exists() or not marker.read_text().strip():
            if time.monotonic() > deadline:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        return int(marker.read_text().split()[0])

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.page is not None
        message_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self.page.send(
            json.dumps({"id": message_id, "method": method, "params": params})
        )
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return dict(reply.get("result", {}))

    async def _listen(self) -> None:
        assert self.page is not None
        async for raw in self.page:
            message = json.loads(raw)
            if "id" in message and message["id"] in self._pending:
                self._pending.pop(message["id"]).set_result(message)
            else:
                self._note_event(message)

    def _note_event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            described = details.get("exception", {}).get("description")
            self.console_errors.append(described or details.get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "assert",
        ):
            args = params.get("args", [])
            self.console_errors.append(" ".join(str(a.get("value")) for a in args))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.network_errors.append(params["entry"].get("text", "")[:500])

    async def navigate(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page error evaluating {expression!r}: {result}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll a JavaScript expression until it is truthy; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not (value := await self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for page: {expression}")
            await asyncio.sleep(0.05)
        return value

    async def capture_png(self, full_page: bool = False) -> bytes:
        shot = await self.send(
            "Page.captureScreenshot", format="png", captureBeyondViewport=full_page
        )
        return base64.b64decode(shot["data"])

    async def screenshot(self, path: Path) -> None:
        await asyncio.to_thread(path.write_bytes, await self.capture_png())


def _page_url(port: int) -> str:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/json/list", timeout=5
    ) as response:
        targets = json.loads(response.read())
    return str(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
