"""Load shapes: off by default, chosen with --shape, ending the run on their own."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.loadtests.conftest import SuiteRun
from wsharness.loadclient.options import LoadOptions
from wsharness.loadclient.shapes import plan_steps, step_users


def test_a_step_shape_selected_by_option_drives_users_and_ends_the_run(
    suite_run: SuiteRun,
) -> None:
    run = suite_run(
        "idle",
        users=1,
        seconds=30,  # only a safety net: the shape ends the run after 4 s
        extra=("--shape", "step", "--shape-users", "5", "--shape-seconds", "4"),
    )

    assert "Shape test completed" in run.output
    user_counts = [int(row["User Count"]) for row in run.sockets]
    peak = user_counts.index(max(user_counts))
    assert user_counts[: peak + 1] == sorted(user_counts[: peak + 1])  # stepping up
    assert max(user_counts) >= 4
    assert run.count("connect") >= 4  # the steps spawned users (CSV lags <= 1 s)
    assert len(run.sockets) < 15  # ended by the shape, not by -t 30s


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_capacity_steps_double_up_to_the_peak_and_each_ramps_before_holding() -> None:
    options = LoadOptions(shape="capacity", shape_users=800, step_seconds=10)
    assert step_users(options) == [50, 100, 200, 400, 800]
    steps = plan_steps([100, 300], step_seconds=10, spawn_rate=50)
    assert [(s.users, s.ramp_start, s.hold_start, s.hold_end) for s in steps] == [
        (100, 0.0, 4.0, 14.0),  # 100 users at 50/s: 2 s, then 2 s to settle
        (300, 14.0, 20.0, 30.0),
    ]


@pytest.mark.parametrize("steps", ["10,5", "0,5", "ten"])
def test_capacity_steps_that_are_not_increasing_counts_are_refused(steps: str) -> None:
    with pytest.raises(ValueError, match="--capacity-steps"):
        step_users(LoadOptions(shape="capacity", capacity_steps=steps))


def test_a_capacity_shape_holds_each_step_and_logs_its_steady_part(
    suite_run: SuiteRun, tmp_path: Path
) -> None:
    run = suite_run(
        "idle", "publisher",
        users=1,
        seconds=60,  # only a safety net: the shape ends the run after about 14 s
        extra=("--shape", "capacity", "--capacity-steps", "6,12", "--step-seconds", "4",
               "--capacity-spawn-rate", "20", "--publish-rate", "2"),
    )  # fmt: skip

    steps = _rows(tmp_path / "run_steps.csv")
    assert [int(row["users"]) for row in steps] == [6, 12]
    for row in steps:
        hold = float(row["hold_end"]) - float(row["hold_start"])
        assert hold == pytest.approx(4.0, abs=0.01)
        assert float(row["ramp_start"]) < float(row["hold_start"])
        # Locust's user count during the hold is the step's users.
        during = [
            int(s["User Count"])
            for s in run.sockets
            if float(row["hold_start"]) + 1
            <= int(s["Timestamp"])
            <= float(row["hold_end"]) - 1
        ]
        assert during and set(during) == {int(row["users"])}, (row, run.sockets)
    assert len(run.sockets) < 40  # ended by the shape, not by -t 60s
