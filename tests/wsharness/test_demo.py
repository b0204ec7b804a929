"""``make demo``'s job, shortened: a real capacity run that ends in a coherent plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

STEPS = (30, 60, 120)


def test_demo_run_ends_with_a_plan_that_agrees_with_its_steps(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "wsharness.demo", "--capacity-steps",
         ",".join(map(str, STEPS)), "--step-seconds", "10", "--results", str(tmp_path)],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (run_dir,) = list(tmp_path.iterdir())
    for name in ("report.html", "report.md", "report.json", "server_metrics.csv",
                 "locust_steps.csv", "generator_processes.csv", "machine.csv",
                 "run.json"):  # fmt: skip
        assert (run_dir / name).is_file(), name
    assert str(run_dir / "report.html") in completed.stdout
    assert "server limit, measured on 3 capacity steps" in completed.stdout
    assert "other processes took at most" in completed.stdout
    report = json.loads((run_dir / "report.json").read_text())

    steps = report["steps"]
    assert [s["users"] for s in steps] == list(STEPS)
    for step in steps:  # the server held the step's sockets (Locust's users) steadily
        assert step["open_sockets"] >= 0.8 * step["users"], step
        assert step["generator"]["processes"] >= 2, "two Locust workers sampled"
        # the machine's CPU: the server's and the generators' share of it, and the rest
        machine = step["machine"]
        assert machine["busy_cores"] >= step["server_cpu_cores"], step
        assert machine["other_cores"] is not None and machine["other_cores"] >= 0, step
    # Both measures of the generators: their own (CPU, loop lag) and the runner's.
    assert report["generator_health"]["source"] == (
        "locust_generators.csv + generator_processes.csv"
    )
    # Where the objective breaks depends on how busy the machine is (measuring that
    # is the benchmarks' job): here the knee must only agree with the steps.
    knee = report["measured_max_sockets"]
    passing = [s["open_sockets"] for s in steps if s["within_objective"]]
    broken = [
        s["open_sockets"]
        for s in steps
        if not s["within_objective"] and not s["generator_bound"]
    ]
    if broken:
        assert report["lower_bound"] is False
        assert report["objective_first_broken_at_sockets"] == min(broken)
        assert knee == int(max((p for p in passing if p < min(broken)), default=0))
    else:
        assert report["lower_bound"] is True
        assert knee == int(max(passing, default=0))
    assert report["max_sockets_within_slo"] == knee
    assert report["limited_by"] in ("latency", "cpu", "memory", "file_descriptors",
                                    "generator")  # fmt: skip
    assert 0 <= report["recommended_connections_per_instance"] <= knee
    assert report["instances_for_peak"] is None or report["instances_for_peak"] > 0
    assert report["objective"]["peak"] == 100_000  # a default peak is planned
    assert set(report["unit_costs"]) >= {
        "cpu_us_per_delivery", "cpu_us_per_handshake", "cpu_us_per_inbound_frame",
        "cpu_us_per_socket_second", "r_squared",
    }  # fmt: skip
    assert report["recheck_commands"] == [f"python -m wsharness.demo --check {run_dir}"]
    # each socket receives the same notifications per second at every step
    per_socket = [s["deliveries_per_s"] / s["open_sockets"] for s in steps]
    assert max(per_socket) < 2 * min(per_socket), per_socket
    locust_stats = (run_dir / "locust_stats.csv").read_text()
    for request in ("connect", "echo", "deliver", "publish"):
        assert f"WS,{request}," in locust_stats, request
