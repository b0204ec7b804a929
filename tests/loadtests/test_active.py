"""loadtests/active.py: echoes timed to sub-millisecond precision; raw mode on any echo."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.server import Server, ServerConnection, serve

from tests.loadtests.conftest import SuiteRun
from tests.loadtests.runs import locustfiles, run_locust

PERCENTILES = ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%")
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$")


def test_active_users_echo_and_keep_sub_millisecond_times(suite_run: SuiteRun) -> None:
    run = suite_run(
        "active", users=4, seconds=4, extra=("--echo-rate", "20", "--payload-bytes", "256")
    )

    assert run.failures == []
    echo = run.stats["echo"]
    assert int(echo["Request Count"]) > 100
    assert float(echo["Average Content Size"]) > 256
    assert 0 < float(echo["Min Response Time"]) < 5
    # Locust alone rounds these to whole milliseconds (a loopback echo would read 0/1).
    assert any("." in echo[column] for column in PERCENTILES), echo
    # and so does its console summary; it shows the same two significant digits
    lines = run.output.splitlines()
    (row,) = [line for line in lines if line.startswith("WS       echo") and "%)" in line]
    assert re.search(r"\|\s+\d+\.\d+\s", row), row


class EchoServer:
    """A plain RFC 6455 echo server (the websockets library), recording upgrades."""

    def __init__(self) -> None:
        self.traceparents: list[str | None] = []
        self.echoed = 0  # frames received and sent back
        self.server: Server = serve(self.handle, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        self.traceparents.append(connection.request.headers.get("traceparent"))
        for message in connection:
            connection.send(message)
            self.echoed += 1


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.thread.join(timeout=10)


def test_raw_mode_runs_idle_and_echo_users_against_a_plain_echo_server(
    echo_server: EchoServer, tmp_path: Path
) -> None:
    run = run_locust(
        locustfiles("idle", "active"),
        f"ws://127.0.0.1:{echo_server.port}",
        tmp_path,
        users=4,
        seconds=3,
        extra=("--raw", "--ws-path", "/", "--echo-rate", "10"),
        secret=None,
    )

    assert run.returncode == 0, run.output
    assert run.failures == []
    assert run.count("connect") == 4
    # every echo sent was answered and timed (one per active user may be cut by the stop)
    assert 0 < run.count("echo") <= echo_server.echoed <= run.count("echo") + 4
    assert run.max_open_sockets == 4
    assert len(echo_server.traceparents) == 4
    assert all(TRACEPARENT.match(tp or "") for tp in echo_server.traceparents)
    assert len(set(echo_server.traceparents)) == 4
