"""``--protocol echo`` (``--raw``) against Node's ``ws`` echo: a server nobody here wrote.

``tests/peers/ws_echo.js``; the suite as a user runs it (a ``locust`` subprocess).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.loadtests.runs import locustfiles, run_locust
from tests.support.node_peers import NodePeer


def test_the_node_peer_echoes_text_and_binary(node_echo: NodePeer) -> None:
    with connect(f"{node_echo.ws_base}/any/path") as ws:
        ws.send('{"id":1}')
        assert ws.recv(timeout=5) == '{"id":1}'
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=5) == b"\x00\x01"


@pytest.mark.parametrize("flags", [("--raw",), ("--protocol", "echo")])
def test_echo_users_time_replies_from_node_ws(
    flags: tuple[str, ...], node_echo: NodePeer, tmp_path: Path
) -> None:
    run = run_locust(
        locustfiles("idle", "active"),
        node_echo.ws_base,
        tmp_path,
        users=4,
        seconds=3,
        extra=(*flags, "--ws-path", "/", "--echo-rate", "10"),
        secret=None,
    )

    assert run.returncode == 0, run.output
    assert run.failures == []  # every echo answered (a timeout would be a failure)
    assert run.count("connect") == 4
    assert run.count("echo") > 0
    assert 0 < float(run.stats["echo"]["Median Response Time"]) < 1000
    assert run.max_open_sockets == 4
