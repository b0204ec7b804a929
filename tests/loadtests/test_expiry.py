"""loadtests/expiry.py: in-band refresh and expire-then-reconnect, both timed."""

from __future__ import annotations

from tests.loadtests.conftest import SuiteRun


def test_short_tokens_are_refreshed_or_reauthenticated_without_failures(
    suite_run: SuiteRun,
) -> None:
    run = suite_run(
        "expiry",
        "publisher",
        users=6,
        seconds=5,
        extra=("--expiry-token-ttl", "2.5", "--expiry-mode", "mix"),
    )

    assert run.failures == []  # the 4001 closes were expected; refreshes accepted
    assert run.count("refresh") >= 2
    assert run.count("reauth") >= 2
    assert run.count("deliver") > 0
    assert float(run.stats["refresh"]["Average Response Time"]) > 0
