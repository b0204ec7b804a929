"""loadtests/publisher.py with idle receivers: deliveries timed, sequences complete."""

from __future__ import annotations

from tests.loadtests.conftest import SuiteRun


def test_publishes_reach_every_subscriber_in_sequence(suite_run: SuiteRun) -> None:
    run = suite_run(
        "idle",
        "publisher",
        users=6,
        seconds=4,
        extra=("--publish-rate", "20", "--topics", "alpha,beta"),
    )

    assert run.failures == []  # no gap, no duplicate
    assert run.count("publish") > 50
    # three idle users each receive every publish on both topics
    assert run.count("deliver") >= 2 * run.count("publish")
    assert 0 < float(run.stats["deliver"]["Average Response Time"]) < 1000
