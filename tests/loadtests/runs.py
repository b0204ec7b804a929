"""Run the Locust suite as a user would (a ``locust`` subprocess); read its CSVs."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import SECRET

REPO = Path(__file__).resolve().parents[2]
LOADTESTS = REPO / "loadtests"
RUN_TIMEOUT_S = 90


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

    def count(self, name: str) -> int:
        return int(self.stats[name]["Request Count"]) if name in self.stats else 0

    def failure_count(self, name: str) -> int:
        return int(self.stats[name]["Failure Count"]) if name in self.stats else 0

    def errors(self) -> dict[tuple[str, str], int]:
        return {(f["Name"], f["Error"]): int(f["Occurrences"]) for f in self.failures}

    @property
    def max_open_sockets(self) -> int:
        return max((int(row["Open Sockets"]) for row in self.sockets), default=0)


def _rows(path: Path) -> list[dict[str, str]]:
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
) -> LocustRun:
    """``locust -f FILES --headless`` for ``seconds`` with ``--csv``; parsed results."""
    prefix = workdir / "run"
    command = [
        sys.executable, "-m", "locust", "-f", files, "--headless",
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "3",
        "--host", host, "--csv", str(prefix), "--only-summary", *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSH_", "OTEL_"))}
    if secret is not None:
        env["WSH_JWT_SECRET"] = secret
    done = subprocess.run(
        command,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    stats = {row["Name"]: row for row in _rows(Path(f"{prefix}_stats.csv"))}
    return LocustRun(
        returncode=done.returncode,
        output=done.stdout + done.stderr,
        stats=stats,
        failures=_rows(Path(f"{prefix}_failures.csv")),
        sockets=_rows(Path(f"{prefix}_sockets.csv")),
    )
