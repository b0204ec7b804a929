"""A ``wsharness serve`` subprocess on loopback, ready once ``/readyz`` says so.

Used by ``make demo``, the benchmarks and the tests: one way to start, wait for and
stop a local server, and the free loopback ports its servers and Locust masters
listen on.
"""

from __future__ import annotations

import itertools
import json
import os
import random
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

EPHEMERAL_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"


def _listen_ports() -> range:
    """Ports below the kernel's ephemeral range, which only a bind naming them takes."""
    try:
        low = int(Path(EPHEMERAL_RANGE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768
    return range(max(1_024, low - 12_000), low)


_next_port = itertools.count(random.SystemRandom().randrange(12_000))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody is bound to right now, for a listener to take.

    Not ``bind(0)``: that hands out an ephemeral port, which any outgoing connection
    (a load run opens thousands) may take as its source port before the listener
    binds it.  The ports below the ephemeral range are walked in turn, so one process
    is not handed the same port twice.
    """
    ports = _listen_ports()
    for _ in range(len(ports)):
        port = ports[next(_next_port) % len(ports)]
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {ports.start}-{ports.stop - 1} on {host}")


def locust_master_flags(port: int) -> list[str]:
    """A Locust master on a loopback port of its own; its workers connect there.

    Locust's default (``*:5557``) is shared by every run on the machine and listens on
    every interface.
    """
    return [
        "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        "--master-host", "127.0.0.1", "--master-port", str(port),
    ]  # fmt: skip


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
