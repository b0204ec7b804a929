"""Smoke test of ``benchmarks/handshake_storm.py``: a quick run gives real figures.

Runs the benchmark as a user would (``--quick``: 300 upgrades a burst, one round) and
checks that every server accepted every upgrade in both phases, with a positive rate
and a CPU figure, and that the target is evaluated (whether it passes is timing, not
asserted).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "handshake_storm.py"


def test_quick_run_reports_every_phase_of_every_server(tmp_path: Path) -> None:
    output = tmp_path / "storm.json"
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    figures = json.loads(output.read_text())
    assert set(figures["servers"]) == {"ours", "ours-nocache", "aiohttp"}
    for name, phases in figures["servers"].items():
        for phase in ("first", "reconnect"):
            burst = phases[phase]
            assert burst["opened"] == [figures["sockets"]], (name, phase, burst["errors"])
            assert burst["median_upgrades_per_s"] > 0, (name, phase)
            assert burst["median_server_cpu_us_per_upgrade"] >= 0, (name, phase)
    names = {target["name"] for target in figures["targets"]}
    assert "ours reconnect upgrades/s vs aiohttp" in names
    assert "PASS" in completed.stdout or "MISS" in completed.stdout
