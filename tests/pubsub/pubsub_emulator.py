"""The real Pub/Sub emulator as a child process (``gcloud beta emulators pubsub``).

Started on a loopback port, waited on until it answers, stopped by killing its whole
process group (gcloud spawns java).  ``stop`` then ``start`` gives a fresh, empty
emulator on the same port: that is how the tests simulate a Pub/Sub outage and its
end.  Used by the test fixtures and by ``benchmarks/pubsub_lag.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from wsharness.localserver import free_port

PROJECT = "test-project"
START_TIMEOUT_S = 60.0


class EmulatorError(RuntimeError):
    """The emulator is not installed or did not come up."""


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Emulator:
    """One emulator process group on ``127.0.0.1:port``."""

    def __init__(self, port: int | None = None, project: str = PROJECT) -> None:
        self.port = port or free_port()
        self.project = project
        self.host = f"127.0.0.1:{self.port}"
        self._log_dir = Path(tempfile.mkdtemp(prefix="wsh-pubsub-emulator-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs to talk to this emulator."""
        return {"PUBSUB_EMULATOR_HOST": self.host, "GOOGLE_CLOUD_PROJECT": self.project}

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self._log_dir / f"emulator-{self._starts}.log"

    def start(self) -> None:
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise EmulatorError("gcloud is not installed (needs the pubsub-emulator too)")
        self._starts += 1
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                [gcloud, "beta", "emulators", "pubsub", "start",
                 f"--host-port={self.host}", f"--project={self.project}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise EmulatorError(f"emulator exited: {self.log_path.read_text()[-2000:]}")
            if "Server started" in self.log_path.read_text() and port_answers(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise EmulatorError(f"emulator not up in {START_TIMEOUT_S}s: {self.log_path}")

    def stop(self) -> None:
        """Kill the process group and wait until the port is closed."""
        process, self._process = self._process, None
        if process is None:
            return
        stop_process_group(process, timeout=10)
        self._wait_port_closed()

    def _wait_port_closed(self) -> None:
        deadline = time.monotonic() + 15
        while port_answers(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        if port_answers(self.port):
            raise EmulatorError(f"port {self.port} still answers after stop")

    def close(self) -> None:
        """Stop for good and remove the logs."""
        self.stop()
        shutil.rmtree(self._log_dir, ignore_errors=True)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process's group, then SIGKILL it if it outlives ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue
