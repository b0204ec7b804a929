"""loadtests/publisher.py with idle receivers: deliveries timed, sequences complete."""

from __future__ import annotations

from pathlib import Path

from tests.loadtests.runs import locustfiles, run_locust
from tests.loadtests.test_idle import ws_host
from tests.support.servers import ServerProcess


def test_publishes_reach_every_subscriber_in_sequence(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    run = run_locust(
        locustfiles("idle", "publisher"),
        ws_host(suite_server),
        tmp_path,
        users=6,
        seconds=4,
        extra=("--publish-rate", "20", "--topics", "alpha,beta"),
    )

    assert run.returncode == 0, run.output
    assert run.failures == []  # no gap, no duplicate
    assert run.count("publish") > 50
    # three idle users each receive every publish on both topics
    assert run.count("deliver") >= 2 * run.count("publish")
    assert 0 < float(run.stats["deliver"]["Average Response Time"]) < 1000
