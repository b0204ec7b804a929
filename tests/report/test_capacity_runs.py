"""Real capacity runs (``python -m wsharness.demo``, shortened) against the real server.

- a load generator starved on purpose (a Locust listener that burns CPU) is reported
  generator-bound at every step, with no knee and a lower bound;
- a server slowed on purpose per delivery (the test-only ``test_delivery_cost_us``
  setting) shows its knee at the step where the cost model puts its CPU limit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.loadtests.runs import REPO


def demo(tmp_path: Path, *flags: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "wsharness.demo", "--step-seconds", "10",
         "--results", str(tmp_path), *flags],
        capture_output=True, text=True, timeout=280, check=False, cwd=REPO,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (run_dir,) = list(tmp_path.iterdir())
    return json.loads((run_dir / "report.json").read_text())


def test_a_starved_generator_is_reported_generator_bound_with_no_knee(
    tmp_path: Path,
) -> None:
    starved = f"{REPO / 'loadtests'},{REPO / 'tests/fixtures/starved_generator.py'}"
    report = demo(tmp_path, "--capacity-steps", "20,40", "--locustfiles", starved)
    assert [s["generator_bound"] for s in report["steps"]] == [True, True], report["steps"]
    assert all(s["generator"]["saturated"] for s in report["steps"])
    assert report["objective_first_broken_at_sockets"] is None  # no knee
    assert report["lower_bound"] is True
    assert report["limited_by"] == "generator"


def test_a_server_slowed_per_delivery_breaks_where_the_model_puts_its_cpu_limit(
    tmp_path: Path,
) -> None:
    # 2 publishers at 5/s: every socket receives 10 notifications/s, each costing the
    # server 500 µs more: one core is full near 200 sockets, a fan-out to them 100 ms.
    report = demo(
        tmp_path,
        "--capacity-steps", "30,60,600",
        "--publishers", "2", "--publish-rate", "5",
        "--server-setting", "test_delivery_cost_us=500",
    )  # fmt: skip
    steps = report["steps"]
    assert report["measured_on"]["server"]["test_settings"] == {
        "test_delivery_cost_us": "500"
    }
    assert [s["within_objective"] for s in steps] == [True, True, False], steps
    assert report["objective_first_broken_at_sockets"] == steps[2]["open_sockets"]
    assert report["measured_max_sockets"] == int(steps[1]["open_sockets"])
    saturation = report["unit_costs"]["saturation_sockets"]
    assert steps[1]["open_sockets"] < saturation < steps[2]["open_sockets"], saturation
