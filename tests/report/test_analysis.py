"""The pure analysis functions on small, hand-checkable inputs."""

from __future__ import annotations

import statistics

import pytest

from wsharness.contract import names
from wsharness.report.analysis import (
    Knee,
    Percentiles,
    Window,
    allowed_failures,
    closes_by_code,
    cpu_cores,
    find_knee,
    least_squares,
    memory_points,
    value_at,
)
from wsharness.sampler import Sample


def window(sockets: float, within: bool = True) -> Window:
    return Window(
        start=0,
        end=9,
        open_sockets=sockets,
        requests=1000,
        failures=0,
        latency={"deliver": Percentiles(1, 2, 3)},
        objective_p99_ms=3,
        within_objective=within,
        reason="" if within else "p99 deliver 300 ms > 250 ms",
    )


def test_least_squares_matches_the_statistics_module() -> None:
    points = [(0.0, 50e6), (100.0, 52.1e6), (200.0, 53.9e6), (300.0, 56.2e6), (400.0, 58e6)]
    fit = least_squares(points)
    expected = statistics.linear_regression(*zip(*points, strict=True))
    assert fit.slope_bytes == pytest.approx(expected.slope)
    assert fit.intercept_bytes == pytest.approx(expected.intercept)
    assert fit.r_squared == pytest.approx(
        statistics.correlation(*zip(*points, strict=True)) ** 2
    )


def test_the_knee_is_the_last_passing_level_below_the_first_broken_one() -> None:
    windows = [
        window(100),
        window(400, within=False),
        window(200),
        window(300),
        window(500),
    ]
    knee = find_knee(windows)
    assert knee == Knee(300, False, 400, "p99 deliver 300 ms > 250 ms")


def test_a_run_that_never_breaks_the_objective_is_a_lower_bound() -> None:
    assert find_knee([window(10), window(20)]) == Knee(20, True, None, "")


def test_one_failure_in_a_small_window_does_not_break_a_tenth_of_a_percent() -> None:
    assert allowed_failures(200, 0.001) == pytest.approx(1.0)
    assert allowed_failures(5000, 0.001) == pytest.approx(5.0)
    assert allowed_failures(5000, 0.0) == 0.0


def scrape(t: float, sockets: float, rss: float) -> list[Sample]:
    return [
        Sample(t, names.PROM_OPEN_CONNECTIONS, (), sockets),
        Sample(t, names.PROM_PROCESS_MEMORY, (), rss),
    ]


def test_memory_points_stop_at_the_end_of_the_socket_plateau() -> None:
    samples = [
        *scrape(1, 0, 50),
        *scrape(2, 10, 60),
        *scrape(3, 20, 70),
        *scrape(4, 20, 71),
        *scrape(5, 5, 71),  # ramp down: memory not given back
    ]
    assert memory_points(samples) == [(0, 50), (10, 60), (20, 70), (20, 71)]


def test_closes_count_the_increase_during_the_run() -> None:
    normal, expired = (("code", "1000"), ("initiator", "client")), (("code", "4001"),)
    samples = [
        Sample(1, names.PROM_CLOSES, normal, 7),  # closes from before the run
        Sample(2, names.PROM_CLOSES, normal, 10),
        Sample(2, names.PROM_CLOSES, expired, 2),  # first seen mid-run: counted from 0
        Sample(3, names.PROM_CLOSES, expired, 5),
    ]
    assert closes_by_code(samples) == {"1000": 3, "4001": 5}


def test_cpu_is_the_counter_rate_between_scrapes() -> None:
    samples = [
        Sample(0, names.PROM_PROCESS_CPU, (), 1.0),
        Sample(2, names.PROM_PROCESS_CPU, (), 2.0),
        Sample(4, names.PROM_PROCESS_CPU, (), 2.5),
    ]
    assert cpu_cores(samples) == [(2, 0.5), (4, 0.25)]


def test_value_at_uses_the_mean_inside_else_the_nearest_point() -> None:
    timeline = [(0.0, 10.0), (4.0, 20.0), (20.0, 90.0)]
    assert value_at(timeline, 0, 5) == 15.0
    assert value_at(timeline, 8, 10) == 20.0
