"""A real Prometheus (the Debian binary) scrapes the server's ``/metrics``.

Its query API must report ``wsh_open_connections`` equal to the sockets the test
holds open, and follow them down when some close: the autoscaling signal, end to end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clients import open_socket
from tests.support.servers import ServerProcess, free_port
from wsharness.contract import names

SCRAPE_CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: wsharness
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:{server_port}"]
"""
READY_TIMEOUT_S = 30.0
SERIES_TIMEOUT_S = 20.0


class Prometheus:
    """``prometheus`` on a loopback port with a temporary config and storage."""

    def __init__(self, workdir: Path, server_port: int) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.config = workdir / "prometheus.yml"
        self.config.write_text(SCRAPE_CONFIG.format(server_port=server_port))
        self.log = workdir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        binary = shutil.which("prometheus")
        assert binary, "the Debian 'prometheus' package is required (make system-deps)"
        command = [
            binary,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, (
                self.log.read_text()
            )
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"prometheus not ready:\n{self.log.read_text()}")

    def query(self, promql: str) -> float | None:
        """The scalar value of an instant query (None while it has no result)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        results = body["data"]["result"]
        return float(results[0]["value"][1]) if results else None

    def wait_for_value(self, promql: str, expected: float) -> None:
        deadline = time.monotonic() + SERIES_TIMEOUT_S
        seen = None
        while time.monotonic() < deadline:
            seen = self.query(promql)
            if seen == expected:
                return
            time.sleep(0.2)
        raise AssertionError(f"{promql} = {seen}, expected {expected}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    running = ServerProcess().start()
    yield running
    running.stop()


@pytest.fixture
def prometheus(tmp_path: Path, server: ServerProcess) -> Iterator[Prometheus]:
    running = Prometheus(tmp_path, server.port).start()
    yield running
    running.stop()


async def test_prometheus_sees_the_sockets_the_test_holds_open(
    server: ServerProcess, prometheus: Prometheus
) -> None:
    promql = f'sum({names.PROM_OPEN_CONNECTIONS}{{job="wsharness"}})'
    sockets = [await open_socket(server.ws_url, sub=f"user{i}") for i in range(7)]
    prometheus.wait_for_value(promql, 7)
    for ws in sockets[:3]:
        await ws.close()
    prometheus.wait_for_value(promql, 4)
    assert prometheus.query('up{job="wsharness"}') == 1
    for ws in sockets[3:]:
        await ws.close()
