"""``--slo`` on real Locust runs against the real server: the exit code is the verdict.

Standalone, ``--processes 2`` and a master with a separate worker process: an
objective that cannot hold (``deliver:p99<0.001ms``) exits 3 and is named; objectives
with generous limits exit 0; a malformed one is refused at start with exit code 2.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loadtests.runs import LocustRun, locustfiles, run_locust
from tests.support.servers import SECRET, ServerProcess
from wsharness.loadclient.slo import EXIT_CODE_BAD_OBJECTIVE, EXIT_CODE_OBJECTIVE_FAILED
from wsharness.localserver import free_port, locust_master_flags

FILES = locustfiles("idle", "publisher")
IMPOSSIBLE = "deliver:p99<0.001ms"
GENEROUS = (
    "deliver:p99<20s",
    "connect:p95<20s",
    "errors<50%",
    "completeness>=50%",
)


def slo_flags(*objectives: str) -> tuple[str, ...]:
    return tuple(flag for objective in objectives for flag in ("--slo", objective))


def host(server: ServerProcess) -> str:
    return f"ws://127.0.0.1:{server.port}"


def slo_rows(workdir: Path) -> list[dict[str, str]]:
    with (workdir / "run_slo.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def two_processes() -> tuple[str, ...]:
    """``--processes 2`` on a port of its own, master and children on loopback."""
    return ("--processes", "2", *locust_master_flags(free_port()))


def run(server: ServerProcess, workdir: Path, *extra: str) -> LocustRun:
    return run_locust(FILES, host(server), workdir, users=6, seconds=4, extra=extra)


def assert_failed_on_the_impossible_objective(result: LocustRun, workdir: Path) -> None:
    assert result.returncode == EXIT_CODE_OBJECTIVE_FAILED, result.output
    assert result.count("deliver") > 0
    assert f"1 of 2 objective(s) failed: {IMPOSSIBLE} (measured " in result.output
    rows = {row["Objective"]: row for row in slo_rows(workdir)}
    assert rows[IMPOSSIBLE]["Result"] == "fail"
    assert float(rows[IMPOSSIBLE]["Measured"]) > 0.001
    assert rows["errors<50%"]["Result"] == "pass"


def test_an_objective_that_cannot_hold_fails_the_run_with_its_own_exit_code(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    result = run(suite_server, tmp_path, *slo_flags(IMPOSSIBLE, "errors<50%"))
    assert_failed_on_the_impossible_objective(result, tmp_path)
    table_header = result.output.index("Objectives (--slo)")
    assert result.output.index("Response time percentiles") < table_header
    assert f"{IMPOSSIBLE} | " in result.output[table_header:]


def test_objectives_that_hold_exit_zero(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    result = run(suite_server, tmp_path, *slo_flags(*GENEROUS))
    assert result.returncode == 0, result.output
    assert "all 4 objective(s) held" in result.output
    assert [row["Result"] for row in slo_rows(tmp_path)] == ["pass"] * 4


def test_with_two_processes_the_master_judges_every_workers_requests(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    result = run(
        suite_server, tmp_path, *two_processes(), *slo_flags(IMPOSSIBLE, "errors<50%")
    )
    assert_failed_on_the_impossible_objective(result, tmp_path)
    assert result.output.count("objective(s) failed") == 1  # the master only


def test_with_two_processes_objectives_that_hold_exit_zero(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    result = run(suite_server, tmp_path, *two_processes(), *slo_flags(*GENEROUS))
    assert result.returncode == 0, result.output
    rows = slo_rows(tmp_path)
    assert [row["Result"] for row in rows] == ["pass"] * 4
    completeness = next(r for r in rows if r["Objective"] == "completeness>=50%")
    assert float(completeness["Measured"]) > 0.5


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[int]:
    """A separate ``locust --worker`` process; yields the master port it connects to."""
    port = free_port()
    command = [sys.executable, "-m", "locust", "-f", FILES, "--worker"]
    command += locust_master_flags(port)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSH_", "OTEL_"))}
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        command, cwd=tmp_path, env={**env, "WSH_JWT_SECRET": SECRET}, stdout=log, stderr=log
    )
    try:
        yield port
        process.wait(timeout=30)  # it quits when the master does
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def test_a_master_with_a_worker_process_fails_on_the_workers_figures(
    suite_server: ServerProcess, tmp_path: Path, worker: int
) -> None:
    master = ("--master", "--expect-workers", "1", *locust_master_flags(worker))
    result = run(suite_server, tmp_path, *master, *slo_flags(IMPOSSIBLE, "errors<50%"))
    assert_failed_on_the_impossible_objective(result, tmp_path)
    assert "objective(s)" not in (tmp_path / "worker.log").read_text()


def test_a_malformed_objective_is_refused_at_start_in_one_line(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    result = run_locust(
        FILES,
        host(suite_server),
        tmp_path,
        users=2,
        seconds=30,
        extra=slo_flags("deliver:p99<250ms", "deliver:p99<250"),
    )
    assert result.returncode == EXIT_CODE_BAD_OBJECTIVE == 2, result.output
    refusals = [line for line in result.output.splitlines() if "--slo" in line]
    assert len(refusals) == 1
    assert "--slo 'deliver:p99<250': latency needs a unit (us, ms or s)" in refusals[0]
    assert not (tmp_path / "run_slo.csv").exists()
    seconds = int(result.sockets[-1]["Timestamp"]) - int(result.sockets[0]["Timestamp"])
    assert seconds < 15  # stopped at once, not after -t 30s
