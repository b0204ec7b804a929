"""Real servers on loopback for tests: in-process (same event loop) or as a subprocess."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from wsharness.contract.tokens import mint
from wsharness.localserver import LocalServer, free_port
from wsharness.server.app import SERVER_KEY, Server, build_app
from wsharness.server.brokers.base import Broker
from wsharness.server.config import Settings
from wsharness.server.headguard import GuardedSite

__all__ = [
    "SECRET",
    "LocalServer",
    "RunningServer",
    "ServerProcess",
    "free_port",
    "publish_http",
    "token",
]

SECRET = "test-secret-that-is-long-enough-for-hs256"


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


async def start_server(
    broker_object: Broker | None = None, **overrides: Any
) -> RunningServer:
    settings = Settings(**{"jwt_secret": SECRET, "port": free_port(), **overrides})
    app = build_app(settings, broker_object)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=5)
    await runner.setup()
    await GuardedSite(runner, "127.0.0.1", settings.port).start()
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


class ServerProcess(LocalServer):
    """``wsharness serve`` in a subprocess with the tests' secret."""

    def __init__(self, port: int | None = None, /, **env: str) -> None:
        super().__init__(SECRET, port, **env)

    def metric(self, name: str, **labels: str) -> float:
        """The value of one series scraped from the process's ``/metrics`` (0 if absent)."""
        with urllib.request.urlopen(self.http_url + "/metrics", timeout=5) as response:
            return metric_value(response.read().decode(), name, **labels)


def publish_http(process: LocalServer, topic: str, data: Any) -> str:
    """Publish through ``POST /publish`` with a publish-scoped token; return the id."""
    request = urllib.request.Request(
        process.http_url + "/publish",
        data=json.dumps({"topic": topic, "data": data}).encode(),
        headers={"Authorization": f"Bearer {token('svc', scope='publish')}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 202
        return str(json.loads(response.read())["id"])
