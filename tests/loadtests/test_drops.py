"""loadtests/drops.py: aborts, resets and read stalls recover with zero gaps."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from tests.loadtests.conftest import SuiteRun
from tests.loadtests.runs import locustfiles, run_locust
from tests.loadtests.test_idle import ws_host
from tests.support.servers import ServerProcess, metric_value

# Two publishers of 16 kB at 45/s against a 3 s stall overflow a 20-message queue.
STALL_OPTIONS = (
    "--drop-mix", "stall=1", "--drop-interval", "0.5", "--stall-seconds", "3",
    "--publish-rate", "45", "--payload-bytes", "16000",
)  # fmt: skip


def server_metric(server: ServerProcess, name: str, **labels: str) -> float:
    with urllib.request.urlopen(server.http_url + "/metrics", timeout=5) as response:
        return metric_value(response.read().decode(), name, **labels)


def test_aborts_and_resets_reconnect_and_resume_without_gaps(suite_run: SuiteRun) -> None:
    run = suite_run(
        "drops",
        "publisher",
        users=6,
        seconds=5,
        extra=("--drop-mix", "abort=1,rst=1", "--drop-interval", "0.5"),
    )

    assert run.failures == []  # intended drops are not failures; no gap after resume
    assert run.count("reconnect") >= 6
    assert run.count("deliver") > 0
    assert float(run.stats["reconnect"]["Average Response Time"]) > 0


def test_read_stalls_provoke_the_slow_consumer_close_and_resume(
    small_queue_server: ServerProcess, tmp_path: Path
) -> None:
    run = run_locust(
        locustfiles("drops", "publisher"),
        ws_host(small_queue_server),
        tmp_path,
        users=6,  # four stalling, two publishing (weights 2:1)
        seconds=7,
        extra=STALL_OPTIONS,
    )

    assert run.returncode == 0, run.output
    assert run.failures == []
    assert run.count("reconnect") >= 1
    assert server_metric(small_queue_server, "wsh_closes_total", code="1013") >= 1
    assert server_metric(small_queue_server, "wsh_replays_total", outcome="recovered") >= 1
