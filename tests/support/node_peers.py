"""Node servers this project did not write (``tests/peers/*.js``), started by the tests.

Each peer is a ``node`` child process in its own process group on a loopback port of
its choosing; it prints one JSON line ``{"event": "listening", "port": N}`` when it
accepts connections, and :meth:`NodePeer.start` waits for exactly that line (no
sleeping).  The npm packages live in ``tests/peers/node_modules``, installed from
the committed ``package-lock.json`` by ``make peers`` (a dependency of ``make test``);
a missing ``node`` or a missing install fails the test with the command to run.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from tests.pubsub.pubsub_emulator import stop_process_group

PEERS_DIR = Path(__file__).resolve().parents[1] / "peers"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class PeerError(RuntimeError):
    """A peer is not installed or did not come up."""


def node_binary() -> str:
    """The ``node`` executable; fails with what to install when it is missing."""
    node = shutil.which("node")
    if node is None:
        raise PeerError("node is not installed (Debian: apt-get install nodejs npm)")
    return node


def check_installed(*packages: str) -> None:
    """Fail with the command to run when ``tests/peers`` lacks an npm package."""
    for package in packages:
        if not (PEERS_DIR / "node_modules" / package / "package.json").is_file():
            raise PeerError(
                f"npm package {package!r} is missing from tests/peers/node_modules: "
                "run `make peers` (npm ci in tests/peers)"
            )


class NodePeer:
    """One ``node tests/peers/SCRIPT ARGS...`` process on a loopback port."""

    def __init__(self, script: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.argv = [node_binary(), str(PEERS_DIR / script), *args]
        self.env = {**os.environ, **(env or {})}
        self.port = 0
        self._log = Path(tempfile.mkstemp(prefix=f"wsh-peer-{Path(script).stem}-")[1])
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT_S) -> NodePeer:
        """Start the process and wait for its ``listening`` line."""
        with self._log.open("w") as log:
            self._process = subprocess.Popen(
                self.argv,
                cwd=PEERS_DIR,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
        assert self._process.stdout is not None
        reader = threading.Thread(target=self._read, args=(self._process.stdout,))
        reader.daemon = True
        reader.start()
        self.port = self._wait_listening(timeout)
        return self

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def _wait_listening(self, timeout: float) -> int:
        try:
            while (line := self._lines.get(timeout=timeout)) is not None:
                event = _json_line(line)
                if event.get("event") == "listening":
                    return int(event["port"])
        except queue.Empty:
            self.stop()
            raise PeerError(
                f"{self.argv[1]} not listening in {timeout}s: {self.log}"
            ) from None
        raise PeerError(f"{self.argv[1]} exited: {self.log}")

    @property
    def log(self) -> str:
        """What the peer wrote to stderr (its errors)."""
        return self._log.read_text()[-2000:]

    def stop(self) -> None:
        """SIGTERM the process group (SIGKILL past a timeout)."""
        process, self._process = self._process, None
        if process is not None:
            stop_process_group(process, timeout=STOP_TIMEOUT_S)  # type: ignore[arg-type]
        self._log.unlink(missing_ok=True)


def _json_line(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
