"""``wsharness report`` on synthetic capacity runs whose truths are known.

Each run is written by ``tests/fixtures/synthetic_run.py``: the server's CPU is known
unit costs applied to its work, each hold has a given deliver p99 and every ramp a
p99 of 5 s (judging ramps would find a knee at the first one).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.synthetic_run import SyntheticStep, Truth, write_run
from wsharness.cli import main
from wsharness.report.command import EXIT_CHECK_FAILED

P99_OK, P99_BROKEN = 60.0, 900.0


def report(run_dir: Path, *flags: str, expect: int = 0) -> dict[str, Any]:
    assert main(["report", str(run_dir), *flags]) == expect
    return json.loads((run_dir / "report.json").read_text())


def knee_run(tmp_path: Path, name: str = "plan", scale: float = 1.0) -> Path:
    """Five steps, broken from 1600 sockets on; deliveries and frames vary by step."""
    truth = Truth(
        us_per_delivery=30.0 * scale,
        us_per_socket_second=2.0 * scale,
        us_per_handshake=400.0 * scale,
        us_per_inbound=60.0 * scale,
        steps=[
            SyntheticStep(200, P99_OK, work=1.0, inbound_work=1.0),
            SyntheticStep(400, P99_OK, work=1.6, inbound_work=0.5),
            SyntheticStep(800, P99_OK, work=0.7, inbound_work=1.4),
            SyntheticStep(1600, P99_BROKEN, work=1.3, inbound_work=0.8),
            SyntheticStep(3200, P99_BROKEN, work=0.9, inbound_work=1.1),
        ],
    )
    return write_run(tmp_path / name, truth)


def test_the_knee_is_judged_on_steady_steps_not_on_ramps(tmp_path: Path) -> None:
    document = report(knee_run(tmp_path), "--peak", "100000")
    assert document["steps_from"] == "capacity steps"
    assert [s["open_sockets"] for s in document["steps"]] == [200, 400, 800, 1600, 3200]
    assert [s["within_objective"] for s in document["steps"]] == [True] * 3 + [False] * 2
    assert document["max_sockets_within_slo"] == 800  # ramps have p99 5 s: not judged
    assert document["objective_first_broken_at_sockets"] == 1600
    assert document["measured_max_sockets"] == 800
    assert document["lower_bound"] is False
    assert document["limited_by"] == "latency"
    assert document["recommended_connections_per_instance"] == math.floor(800 * 0.7)
    assert document["instances_for_peak"] == math.ceil(100_000 / 560)
    assert all(s["generator_bound"] is False for s in document["steps"])
    latency = next(b for b in document["plan"]["bounds"] if b["resource"] == "latency")
    assert (latency["sockets"], latency["basis"]) == (800, "measured")


def test_the_unit_costs_of_the_run_are_given_back(tmp_path: Path) -> None:
    costs = report(knee_run(tmp_path))["unit_costs"]
    assert costs["cpu_us_per_delivery"] == pytest.approx(30.0, rel=0.01)
    assert costs["cpu_us_per_handshake"] == pytest.approx(400.0, rel=0.01)
    assert costs["cpu_us_per_inbound_frame"] == pytest.approx(60.0, rel=0.01)
    assert costs["cpu_us_per_socket_second"] == pytest.approx(2.0, rel=0.02)
    assert costs["r_squared"] == pytest.approx(1.0, abs=1e-6)
    assert costs["points"] == 10  # five holds and five ramps


def test_each_resource_bound_follows_the_profile_and_the_smallest_binds(
    tmp_path: Path,
) -> None:
    run = knee_run(tmp_path)
    by_files = report(run, "--instance-open-files", "1000")
    assert by_files["limited_by"] == "file_descriptors"
    assert by_files["recommended_connections_per_instance"] == math.floor(700 * 0.7)

    by_memory = report(run, "--instance-memory-mib", "80")
    memory_bound = (80 * 2**20 * 0.8 - 60e6) / 20_000
    assert by_memory["limited_by"] == "memory"
    assert by_memory["memory_bound_sockets"] == math.floor(memory_bound)

    # 50 notifications per socket per second: 2 + 50 * 30 + 0.01 * 400 + 0.2 * 60 µs
    profile = ("--reconnects-per-socket-hour", "36", "--inbound-per-socket-minute", "12")
    busy = report(run, "--notifications-per-socket-minute", "3000", *profile)
    per_socket_us = 2 + 50 * 30 + 0.01 * 400 + 0.2 * 60
    cpu = next(b for b in busy["plan"]["bounds"] if b["resource"] == "cpu")
    assert cpu["sockets"] == pytest.approx(0.8e6 / per_socket_us, abs=2)
    assert cpu["basis"] == "projected"
    assert busy["limited_by"] == "cpu"
    two = report(run, "--notifications-per-socket-minute", "3000", *profile,
                 "--processes", "2", "--instance-cpus", "2")  # fmt: skip
    cpu_two = next(b for b in two["plan"]["bounds"] if b["resource"] == "cpu")
    assert cpu_two["sockets"] == pytest.approx(2 * cpu["sockets"], abs=2)


def starved_run(tmp_path: Path, lag_only: bool = False) -> Path:
    saturated = {"generator_lag_ms": 120.0} if lag_only else {"generator_cpu": 97.0}
    truth = Truth(
        steps=[
            SyntheticStep(200, P99_OK),
            SyntheticStep(400, P99_OK),
            SyntheticStep(800, P99_BROKEN, **saturated),
            SyntheticStep(1600, P99_BROKEN, **saturated),
        ]
    )
    return write_run(tmp_path / "starved", truth)


@pytest.mark.parametrize("lag_only", [False, True], ids=["cpu", "loop-lag"])
def test_a_starved_generator_sets_no_knee_and_gives_a_lower_bound(
    tmp_path: Path, lag_only: bool
) -> None:
    run = starved_run(tmp_path, lag_only)
    document = report(run)
    assert [s["generator_bound"] for s in document["steps"]] == [False, False, True, True]
    assert document["objective_first_broken_at_sockets"] is None  # no knee
    assert document["measured_max_sockets"] == 400
    assert document["lower_bound"] is True
    assert document["limited_by"] == "generator"
    summary = (run / "report.md").read_text()
    assert "The server was not driven to its limit" in summary
    assert "Locust --processes or workers" in summary


def test_without_generator_health_the_report_says_so(tmp_path: Path) -> None:
    truth = Truth(steps=[SyntheticStep(n) for n in (100, 200, 400)])
    run = write_run(tmp_path / "blind", truth, generators=False)
    document = report(run)
    assert document["generator_health"]["recorded"] is False
    assert all(s["generator_bound"] is None for s in document["steps"])
    assert "Generator health was not recorded" in (run / "report.md").read_text()


def test_outside_cpu_samples_stand_in_for_the_generators_own_health(tmp_path: Path) -> None:
    run = starved_run(tmp_path)
    (run / "run_generators.csv").rename(run / "generator_processes.csv")
    document = report(run)
    assert document["generator_health"]["source"] == "generator_processes.csv"
    assert document["limited_by"] == "generator"


def check_run(
    tmp_path: Path,
    sockets: int,
    scale: float = 1.0,
    p99: float = P99_OK,
    other_cores: float | None = None,
) -> Path:
    truth = Truth(
        us_per_delivery=30.0 * scale,
        us_per_socket_second=2.0 * scale,
        us_per_handshake=400.0 * scale,
        us_per_inbound=60.0 * scale,
        steps=[SyntheticStep(sockets, p99, other_cores=other_cores)],
    )
    return write_run(tmp_path / f"check-{scale}-{p99}-{other_cores}", truth)


def test_a_re_run_at_the_recommendation_that_matches_passes_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = knee_run(tmp_path)
    recommended = report(plan)["recommended_connections_per_instance"]
    assert f"--capacity-steps {recommended}" in " ".join(report(plan)["recheck_commands"])
    capsys.readouterr()
    document = report(check_run(tmp_path, recommended), "--check", str(plan))
    check = document["check"]
    assert check["passed"] is True, check
    assert check["objective_held"] and check["unit_costs_agree"]
    assert check["cpu_measured_over_predicted"] == pytest.approx(1.0, abs=0.01)
    assert "check: The plan held" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("scale", "p99", "reason"),
    [(1.3, P99_OK, "server CPU +30%"), (1.0, P99_BROKEN, "objective broken at")],
)
def test_a_re_run_that_costs_more_or_breaks_the_objective_fails_the_check(
    tmp_path: Path, scale: float, p99: float, reason: str
) -> None:
    plan = knee_run(tmp_path)
    recommended = report(plan)["recommended_connections_per_instance"]
    document = report(check_run(tmp_path, recommended, scale, p99), "--check", str(plan),
                      expect=EXIT_CHECK_FAILED)  # fmt: skip
    assert document["check"]["passed"] is False
    assert any(reason in text for text in document["check"]["reasons"]), document["check"]


def test_a_check_on_a_quiet_machine_says_what_else_ran_and_holds(tmp_path: Path) -> None:
    plan = knee_run(tmp_path)
    recommended = report(plan)["recommended_connections_per_instance"]
    quiet = check_run(tmp_path, recommended, other_cores=0.05)
    document = report(quiet, "--check", str(plan))
    assert document["check"]["passed"] is True, document["check"]
    step = document["steps"][0]
    assert step["generator"]["cpu_cores"] == pytest.approx(0.8)  # two processes at 40%
    assert step["machine"]["other_cores"] == pytest.approx(0.05, abs=0.005)
    checked = document["check"]["steps"][0]
    assert checked["other_cpu_cores"] == pytest.approx(0.05, abs=0.005)
    statement = document["measured_on"]["statement"]
    assert "other processes took at most 0.05 cores of the machine" in statement


def test_a_check_while_other_processes_took_the_cpu_could_not_be_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = knee_run(tmp_path)
    recommended = report(plan)["recommended_connections_per_instance"]
    capsys.readouterr()
    busy = check_run(tmp_path, recommended, scale=1.3, other_cores=0.6)
    check = report(busy, "--check", str(plan), expect=EXIT_CHECK_FAILED)["check"]
    assert check["passed"] is False and check["busy_machine"] is True
    assert check["objective_held"] is True
    assert "other processes took up to 0.60 cores" in " ".join(check["reasons"])
    out = capsys.readouterr().out
    assert "check: The plan could not be checked" in out
    assert "+30%" not in out  # no cost verdict from a contended measurement


def test_plan_steps_measured_while_other_processes_took_the_cpu_are_flagged(
    tmp_path: Path,
) -> None:
    steps = [SyntheticStep(users, P99_OK, other_cores=0.0) for users in (200, 400, 800)]
    steps[1].other_cores = 0.7
    run = write_run(tmp_path / "busy", Truth(steps=steps))
    document = report(run)
    assert [s["machine"]["other_cores"] for s in document["steps"]] == pytest.approx(
        [0.0, 0.7, 0.0], abs=0.005
    )
    flagged = [c for c in document["caveats"] if "Other processes took up to 0.70" in c]
    assert flagged and "at 400 open sockets" in flagged[0]


def test_a_run_without_machine_samples_says_nothing_of_other_processes(
    tmp_path: Path,
) -> None:
    document = report(knee_run(tmp_path))
    assert all(s["machine"] is None for s in document["steps"])
    assert "other processes" not in document["measured_on"]["statement"]


def test_a_check_against_a_run_without_a_report_is_refused(tmp_path: Path) -> None:
    run = check_run(tmp_path, 500)
    assert main(["report", str(run), "--check", str(tmp_path / "nowhere")]) == 2


def test_a_capacity_step_where_nothing_was_delivered_breaks_the_objective(
    tmp_path: Path,
) -> None:
    """A starved generator may complete no 'deliver' at all: still a report, no pass."""
    run = write_run(
        tmp_path / "silent", Truth(steps=[SyntheticStep(n) for n in (100, 200)])
    )
    for name in ("run_stats_history.csv", "run_stats.csv"):  # only connects completed
        text = (run / name).read_text().replace(",WS,deliver,", ",WS,connect,")
        (run / name).write_text(text.replace("WS,deliver,", "WS,connect,"))
    document = report(run)
    steps = document["steps"]
    assert [s["within_objective"] for s in steps] == [False, False]
    assert steps[0]["reason"] == "no 'deliver' completed in the step"
