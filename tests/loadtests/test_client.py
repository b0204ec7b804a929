"""The protocol client's handshake as Locust counts it: one ``connect`` per attempt."""

from __future__ import annotations

from pathlib import Path

from tests.loadtests.runs import locustfiles, run_locust
from tests.support.node_peers import NodePeer


def test_an_upgrade_whose_welcome_never_comes_is_one_failed_connect(
    node_echo: NodePeer, tmp_path: Path
) -> None:
    """Node's ``ws`` upgrades and never says ``welcome`` (``--protocol wsharness``)."""
    run = run_locust(
        locustfiles("idle"),
        node_echo.ws_base,
        tmp_path,
        users=2,
        seconds=3,
        extra=("--ws-timeout", "0.5"),
    )

    assert run.returncode == 1, run.output
    attempts = run.count("connect")
    assert attempts >= 2 and run.failure_count("connect") == attempts  # none succeeded
    assert run.errors() == {("connect", "ReplyTimeout('timeout: no welcome')"): attempts}
