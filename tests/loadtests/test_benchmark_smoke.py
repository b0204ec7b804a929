"""benchmarks/locust_idle_memory.py runs end to end (tiny sizes; figures not judged)."""

from __future__ import annotations

import subprocess
import sys

from tests.loadtests.runs import REPO


def test_the_idle_memory_benchmark_prints_its_figures() -> None:
    done = subprocess.run(
        [
            sys.executable, str(REPO / "benchmarks" / "locust_idle_memory.py"),
            "--users", "40", "--distributed-users", "40", "--spawn-rate", "200",
            "--settle", "0", "--cpu-window", "0.5", "--variants", "bare,ours,ours-2p",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["bare", "ours", "ours-2p"]
    assert "ours / bare memory per user:" in lines[-1]
