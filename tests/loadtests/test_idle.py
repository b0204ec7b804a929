"""loadtests/idle.py on the real server: sockets counted, held, closed; refusals named."""

from __future__ import annotations

from pathlib import Path

from tests.loadtests.runs import locustfiles, run_locust, ws_host
from tests.support.servers import ServerProcess


def test_idle_users_hold_their_sockets_and_the_csv_counts_them(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    host = ws_host(suite_server)
    run = run_locust(locustfiles("idle"), host, tmp_path, users=20, seconds=4)

    assert run.returncode == 0, run.output
    assert run.count("connect") == 20
    assert run.failures == []
    assert run.max_open_sockets == 20
    assert run.sockets[-1]["Open Sockets"] == "0"  # every socket closed at the end
    assert "open sockets: 20" in run.output


def test_a_refused_upgrade_is_a_failure_named_by_its_status(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    run = run_locust(
        locustfiles("idle"),
        ws_host(suite_server),
        tmp_path,
        users=2,
        seconds=2,
        secret="not-the-secret-the-server-was-given-at-all",
    )

    assert run.returncode == 1
    assert run.count("connect") == run.failure_count("connect") > 0
    errors = [error for (name, error) in run.errors() if name == "connect"]
    assert errors and all("refused upgrade: HTTP 401" in e for e in errors)
    assert run.max_open_sockets == 0


def test_a_run_without_any_token_source_stops_at_once_saying_why(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    host = ws_host(suite_server)
    run = run_locust(locustfiles("idle"), host, tmp_path, users=2, seconds=20, secret=None)

    assert run.returncode == 2
    assert "no token source: set --jwt-secret (env WSH_JWT_SECRET)" in run.output
    assert "Traceback" not in run.output
    assert "All users spawned" not in run.output  # stopped before any user, not at -t 20s
    assert run.count("connect") == 0 and run.max_open_sockets == 0
