"""loadtests/expiry.py: in-band refresh and expire-then-reconnect, both timed."""

from __future__ import annotations

from pathlib import Path

from tests.loadtests.runs import locustfiles, run_locust
from tests.loadtests.test_idle import ws_host
from tests.support.servers import ServerProcess


def test_short_tokens_are_refreshed_or_reauthenticated_without_failures(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    run = run_locust(
        locustfiles("expiry", "publisher"),
        ws_host(suite_server),
        tmp_path,
        users=6,
        seconds=5,
        extra=("--expiry-token-ttl", "2.5", "--expiry-mode", "mix"),
    )

    assert run.returncode == 0, run.output
    assert run.failures == []  # the 4001 closes were expected; refreshes accepted
    assert run.count("refresh") >= 2
    assert run.count("reauth") >= 2
    assert run.count("deliver") > 0
    assert float(run.stats["refresh"]["Average Response Time"]) > 0
