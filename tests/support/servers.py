"""Real servers on loopback for tests: in-process (same event loop) or as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from server.app import SERVER_KEY, Server, build_app
from server.config import Settings
from wsharness.tokens import mint

SECRET = "test-secret-that-is-long-enough-for-hs256"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def token(sub: str = "alice", ttl: float = 300, **claims: Any) -> str:
    return mint(SECRET, sub, ttl=ttl, **claims)


@dataclass
class RunningServer:
    """An in-process server listening on a real loopback port."""

    runner: web.AppRunner
    port: int

    @property
    def server(self) -> Server:
        return self.runner.app[SERVER_KEY]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metric(self, name: str, **labels: str) -> float:
        """The value of one series in the server's Prometheus text (0 if absent)."""
        return metric_value(
            self.server.telemetry.prometheus_text().decode(), name, **labels
        )


def metric_value(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                total += sample.value
    return total


async def start_server(**overrides: Any) -> RunningServer:
    settings = Settings(jwt_secret=SECRET, port=free_port(), **overrides)
    runner = web.AppRunner(build_app(settings), handle_signals=False, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port).start()
    return RunningServer(runner, settings.port)


async def wait_until(
    predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` on the loop until true; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


class ServerProcess:
    """``wsharness serve`` in a subprocess, ready once ``/readyz`` answers 200."""

    def __init__(self, port: int | None = None, **env: str) -> None:
        self.port = port or free_port()
        self.env = {
            **os.environ,
            "WSH_JWT_SECRET": SECRET,
            "WSH_PORT": str(self.port),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(f"/tmp/wsharness-test-server-{self.port}.log")
        self.ready_url = f"{self.http_url}/readyz"
        self.ssl_context: ssl.SSLContext | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 15.0) -> ServerProcess:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "wsharness.cli", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.log.read_text()}")
            time.sleep(0.05)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                self.ready_url, timeout=1, context=self.ssl_context
            ) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def readyz(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.http_url + "/readyz", timeout=2) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> int:
        if self.process is None:
            return 0
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
