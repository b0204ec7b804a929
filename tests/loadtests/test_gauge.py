"""The open-socket gauge: summed over workers in the CSV, shown live in the web UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.loadtests.conftest import SuiteRun
from tests.loadtests.runs import locustfiles
from tests.loadtests.test_idle import ws_host
from tests.support.servers import SECRET, ServerProcess, free_port

SOCKET_COLUMNS = ("Timestamp", "User Count", "Open Sockets", "Opened", "Closed")


def test_two_worker_processes_report_one_run_with_summed_sockets(
    suite_run: SuiteRun,
) -> None:
    run = suite_run("idle", "publisher", users=10, seconds=6, extra=("--processes", "2"))

    assert run.failures == []
    assert run.count("connect") == 10
    assert run.count("deliver") > 0
    assert tuple(run.sockets[0]) == SOCKET_COLUMNS
    assert run.max_open_sockets == 10  # five per worker, summed by the master


def stats_json(web_port: int) -> dict:
    url = f"http://127.0.0.1:{web_port}/stats/requests"
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read())


def socket_gauges(web_port: int) -> dict[str, int]:
    try:
        extended = stats_json(web_port).get("extended_stats") or []
    except OSError:
        return {}
    return {row["name"]: row["value"] for tab in extended for row in tab["data"]}


def test_the_web_ui_shows_open_sockets_while_the_test_runs(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    web_port = free_port()
    command = [
        sys.executable, "-m", "locust", "-f", locustfiles("idle"),
        "--host", ws_host(suite_server), "--web-host", "127.0.0.1",
        "--web-port", str(web_port), "--autostart", "-u", "3", "-r", "3",
        "-t", "20s", "--autoquit", "0",
    ]  # fmt: skip
    env = {**os.environ, "WSH_JWT_SECRET": SECRET}
    with subprocess.Popen(command, cwd=tmp_path, env=env) as locust:
        try:
            deadline = time.monotonic() + 20
            while socket_gauges(web_port).get("open sockets") != 3:
                assert time.monotonic() < deadline, "the web UI never showed 3 open sockets"
                assert locust.poll() is None, "locust exited early"
                time.sleep(0.2)
            page = urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=2).read()
            assert b"wsh-sockets" in page  # the "WebSockets" tab is offered
            csv_url = f"http://127.0.0.1:{web_port}/wsharness/sockets/csv"
            rows = urllib.request.urlopen(csv_url, timeout=2).read().decode().splitlines()
            assert rows[0] == ",".join(SOCKET_COLUMNS)
            assert rows[1].split(",")[2] == "3"
        finally:
            locust.terminate()
            locust.wait(timeout=20)
