"""Run the Locust suite as a user would (a ``locust`` subprocess); read its CSVs."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import STDOUT

from tests.support.servers import SECRET, ServerProcess
from wsharness.localserver import free_port, locust_master_flags

REPO = Path(__file__).resolve().parents[2]
LOADTESTS = REPO / "loadtests"
RUN_TIMEOUT_S = 90


def ws_host(server: ServerProcess) -> str:
    """The ``--host`` of a Locust run against ``server``."""
    return f"ws://127.0.0.1:{server.port}"


def locustfiles(*names: str) -> str:
    """``-f`` value for some of the suite's locustfiles."""
    return ",".join(str(LOADTESTS / f"{name}.py") for name in names)


@dataclass
class LocustRun:
    """A finished run: exit code, output and the CSV rows."""

    returncode: int
    output: str
    stats: dict[str, dict[str, str]]
    failures: list[dict[str, str]]
    sockets: list[dict[str, str]]
    observed: set[str] = field(default_factory=set)
    deliveries: list[dict[str, str]] = field(default_factory=list)
    generators: list[dict[str, str]] = field(default_factory=list)
    completeness: list[dict[str, str]] = field(default_factory=list)

    def count(self, name: str) -> int:
        return int(self.stats[name]["Request Count"]) if name in self.stats else 0

    def failure_count(self, name: str) -> int:
        return int(self.stats[name]["Failure Count"]) if name in self.stats else 0

    def errors(self) -> dict[tuple[str, str], int]:
        return {(f["Name"], f["Error"]): int(f["Occurrences"]) for f in self.failures}

    def last_deliveries(self, process: str = "total") -> dict[str, str]:
        """The last ``_deliveries.csv`` row of ``process``."""
        return [row for row in self.deliveries if row["Process"] == process][-1]

    @property
    def max_open_sockets(self) -> int:
        return max((int(row["Open Sockets"]) for row in self.sockets), default=0)


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def run_locust(
    files: str,
    host: str,
    workdir: Path,
    users: int,
    seconds: int = 5,
    extra: tuple[str, ...] = (),
    secret: str | None = SECRET,
    during: Callable[[], set[str]] | None = None,
    env_extra: dict[str, str] | None = None,
    workers: int = 0,
) -> LocustRun:
    """``locust -f FILES --headless`` for ``seconds`` with ``--csv``; parsed results.

    ``during``, when given, is called every 0.2 s while Locust runs; the union of
    what it returns is the run's ``observed``.  ``workers`` > 0: that process is a
    ``--master`` waiting for that many ``--worker`` processes, started beside it.
    """
    prefix = workdir / "run"
    command = [
        sys.executable, "-m", "locust", "-f", files, "--headless",
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "3",
        "--host", host, "--csv", str(prefix), "--only-summary", *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSH_", "OTEL_"))}
    if secret is not None:
        env["WSH_JWT_SECRET"] = secret
    env.update(env_extra or {})
    log = workdir / "locust.log"
    observed: set[str] = set()
    helpers: list[subprocess.Popen[bytes]] = []
    if workers:
        port = free_port()
        command += ["--master", *locust_master_flags(port)]
        command += ["--expect-workers", str(workers)]
        worker = [sys.executable, "-m", "locust", "-f", files, "--worker"]
        worker += [*locust_master_flags(port), *extra]  # a worker reads the last two
        for index in range(workers):
            with (workdir / f"worker-{index}.log").open("wb") as output:
                helpers.append(
                    subprocess.Popen(
                        worker, cwd=workdir, env=env, stdout=output, stderr=STDOUT
                    )
                )
    with log.open("wb") as output:
        locust = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while locust.poll() is None and time.monotonic() < deadline:
            if during is not None:
                observed |= during()
            time.sleep(0.2)
        returncode = locust.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in (locust, *helpers):
            try:
                process.wait(timeout=10 if process is not locust else 0.01)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    stats = {row["Name"]: row for row in _rows(Path(f"{prefix}_stats.csv"))}
    return LocustRun(
        returncode=returncode,
        output=log.read_text(errors="replace"),
        stats=stats,
        failures=_rows(Path(f"{prefix}_failures.csv")),
        sockets=_rows(Path(f"{prefix}_sockets.csv")),
        observed=observed,
        deliveries=_rows(Path(f"{prefix}_deliveries.csv")),
        generators=_rows(Path(f"{prefix}_generators.csv")),
        completeness=_rows(Path(f"{prefix}_completeness.csv")),
    )
