"""A ``wsharness serve`` subprocess on loopback, ready once ``/readyz`` says so.

Used by ``make demo``, the benchmarks and the tests: one way to start, wait for and
stop a local server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class LocalServer:
    """``wsharness serve`` in a subprocess; its settings come as ``WSH_*`` variables."""

    def __init__(
        self,
        secret: str,
        port: int | None = None,
        /,
        log_path: Path | str | None = None,
        **env: str,
    ) -> None:
        """``env`` is added to this process's environment (``WSH_*``, ``OTEL_*``)."""
        self.port = port or free_port()
        self.env = {
            **os.environ,
            "WSH_JWT_SECRET": secret,
            "WSH_PORT": str(self.port),
            **env,
        }
        self.log_path = Path(log_path or f"/tmp/wsharness-server-{self.port}.log")
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_url = f"{self.http_url}/readyz"
        self.ssl_context: ssl.SSLContext | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 15.0) -> Self:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "wsharness.cli", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while self.readyz()[0] != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        return self

    def readyz(self) -> tuple[int, dict[str, Any]]:
        """``/readyz``'s status and body; status 0 while nothing answers."""
        try:
            with urllib.request.urlopen(
                self.ready_url, timeout=2, context=self.ssl_context
            ) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        except OSError:
            return 0, {}

    def terminate(self) -> None:
        """Send SIGTERM (the server drains)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait for the drain, kill past ``timeout``; return the exit code."""
        if self.process is None:
            return 0
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
