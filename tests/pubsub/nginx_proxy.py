"""Debian's nginx as a real load balancer in front of server instances (tests only).

Runs in the foreground (``daemon off``) with a config generated from
``nginx.conf.template`` in a temp dir holding its pid file, logs and temp paths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.pubsub.pubsub_emulator import free_port, port_answers, stop_process_group

TEMPLATE = Path(__file__).with_name("nginx.conf.template")


class NginxError(RuntimeError):
    """nginx is not installed or did not come up."""


class NginxProxy:
    """nginx on ``127.0.0.1:port`` balancing round-robin over ``upstream_ports``."""

    def __init__(self, upstream_ports: Sequence[int]) -> None:
        self.port = free_port()
        self.upstream_ports = list(upstream_ports)
        self.directory = Path(tempfile.mkdtemp(prefix="wsh-nginx-"))
        self.directory.chmod(0o755)  # workers may run as another user under root
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def config_text(self) -> str:
        upstreams = "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;"
            for port in self.upstream_ports
        )
        return (
            TEMPLATE.read_text()
            .replace("@TMP@", str(self.directory))
            .replace("@PORT@", str(self.port))
            .replace("@UPSTREAMS@", upstreams)
        )

    def start(self, timeout: float = 15.0) -> NginxProxy:
        nginx = shutil.which("nginx") or (
            "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
        )
        if nginx is None:
            raise NginxError("nginx is not installed (apt-get install nginx)")
        (self.directory / "nginx.conf").write_text(self.config_text())
        with open(self.directory / "stdout.log", "wb") as log:
            self._process = subprocess.Popen(
                [nginx, "-p", str(self.directory), "-c", "nginx.conf", "-g", "daemon off;"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not port_answers(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                logs = self.logs()
                self.stop()
                raise NginxError(f"nginx did not start: {logs}")
            time.sleep(0.05)
        return self

    def logs(self) -> str:
        parts = [self.directory / "stdout.log", self.directory / "error.log"]
        return "\n".join(p.read_text()[-3000:] for p in parts if p.exists())

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        stop_process_group(process, timeout=5)  # fast shutdown, then certain
        shutil.rmtree(self.directory, ignore_errors=True)
