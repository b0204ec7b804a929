"""Load shapes: off by default, chosen with --shape, ending the run on their own."""

from __future__ import annotations

from pathlib import Path

from tests.loadtests.runs import locustfiles, run_locust
from tests.loadtests.test_idle import ws_host
from tests.support.servers import ServerProcess


def test_a_step_shape_selected_by_option_drives_users_and_ends_the_run(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    run = run_locust(
        locustfiles("idle"),
        ws_host(suite_server),
        tmp_path,
        users=1,
        seconds=30,  # only a safety net: the shape ends the run after 4 s
        extra=("--shape", "step", "--shape-users", "5", "--shape-seconds", "4"),
    )

    assert run.returncode == 0, run.output
    assert "Shape test completed" in run.output
    user_counts = [int(row["User Count"]) for row in run.sockets]
    peak = user_counts.index(max(user_counts))
    assert user_counts[: peak + 1] == sorted(user_counts[: peak + 1])  # stepping up
    assert max(user_counts) >= 4
    assert run.count("connect") >= 4  # the steps spawned users (CSV lags <= 1 s)
    assert len(run.sockets) < 15  # ended by the shape, not by -t 30s
