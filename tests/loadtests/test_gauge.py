"""The open-socket gauge in a distributed run: workers' sockets summed in the CSV."""

from __future__ import annotations

from pathlib import Path

from tests.loadtests.runs import locustfiles, run_locust
from tests.loadtests.test_idle import ws_host
from tests.support.servers import ServerProcess


def test_two_worker_processes_report_one_run_with_summed_sockets(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    run = run_locust(
        locustfiles("idle", "publisher"),
        ws_host(suite_server),
        tmp_path,
        users=10,
        seconds=6,
        extra=("--processes", "2"),
    )

    assert run.returncode == 0, run.output
    assert run.failures == []
    assert run.count("connect") == 10
    assert run.count("deliver") > 0
    assert tuple(run.sockets[0]) == (
        "Timestamp",
        "User Count",
        "Open Sockets",
        "Opened",
        "Closed",
    )
    assert run.max_open_sockets == 10  # five per worker, summed by the master
