"""The cost model: unit costs recovered from step series with known coefficients.

The expected fit is recomputed independently: non-negative least squares by brute
force over every set of columns kept at zero (ordinary least squares on the rest with
``numpy.linalg.lstsq``; the best feasible solution is the NNLS solution), without any
code of ``wsharness.report``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from wsharness.report.costs import CostPoint, fit_unit_costs

TRUE_US = np.array([2.0, 30.0, 400.0, 60.0])  # socket-second, delivery, handshake, frame


def points_from(work: np.ndarray, cores: np.ndarray) -> list[CostPoint]:
    return [
        CostPoint(f"p{i}", row[0], row[1], row[2], row[3], cpu)
        for i, (row, cpu) in enumerate(zip(work, cores, strict=True))
    ]


def varied_work(rng: np.random.Generator, n: int = 12) -> np.ndarray:
    sockets = rng.uniform(100, 5000, n)
    return np.column_stack(
        [
            sockets,
            sockets * rng.uniform(0.2, 3.0, n),  # deliveries/s
            rng.uniform(0, 200, n),  # handshakes/s
            sockets * rng.uniform(0.05, 0.5, n),  # inbound frames/s
        ]
    )


def brute_force_nnls(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    best, best_residual = np.zeros(design.shape[1]), float(np.sum(target**2))
    for size in range(1, design.shape[1] + 1):
        for kept in itertools.combinations(range(design.shape[1]), size):
            solution, *_ = np.linalg.lstsq(design[:, kept], target, rcond=None)
            if np.any(solution < 0):
                continue
            full = np.zeros(design.shape[1])
            full[list(kept)] = solution
            residual = float(np.sum((design @ full - target) ** 2))
            if residual < best_residual - 1e-15:
                best, best_residual = full, residual
    return best


def as_us(costs) -> np.ndarray:
    """The four costs; a cost left out of the fit (None) counts 0, as NNLS would set it."""
    values = (
        costs.cpu_us_per_socket_second,
        costs.cpu_us_per_delivery,
        costs.cpu_us_per_handshake,
        costs.cpu_us_per_inbound_frame,
    )
    return np.array([0.0 if v is None else v for v in values])


def test_noise_free_steps_give_back_the_unit_costs_and_r_squared_one() -> None:
    work = varied_work(np.random.default_rng(1))
    costs = fit_unit_costs(points_from(work, work @ TRUE_US / 1e6))
    assert costs is not None
    assert as_us(costs) == pytest.approx(TRUE_US, rel=1e-6)
    assert costs.r_squared == pytest.approx(1.0)
    assert costs.confounded == ()


def test_noisy_steps_match_an_independent_nnls_and_its_r_squared() -> None:
    rng = np.random.default_rng(7)
    work = varied_work(rng, 20)
    cores = work @ TRUE_US / 1e6 * rng.normal(1.0, 0.05, len(work))
    costs = fit_unit_costs(points_from(work, cores))
    assert costs is not None
    expected = brute_force_nnls(work, cores) * 1e6
    assert as_us(costs) == pytest.approx(expected, rel=1e-4, abs=1e-6)
    predicted = work @ expected / 1e6
    r_squared = 1 - np.sum((cores - predicted) ** 2) / np.sum((cores - cores.mean()) ** 2)
    assert costs.r_squared == pytest.approx(r_squared, abs=1e-6)
    # the large costs survive 5% noise (the per-socket one, 2 µs, is lost in it)
    assert as_us(costs)[1:3] == pytest.approx(TRUE_US[1:3], rel=0.2)


def test_a_cost_that_would_be_negative_is_clamped_at_zero() -> None:
    rng = np.random.default_rng(3)
    work = varied_work(rng)
    truth = np.array([2.0, 30.0, 400.0, -50.0])  # least squares would go negative
    cores = work @ truth / 1e6
    ols, *_ = np.linalg.lstsq(work, cores, rcond=None)
    assert ols[3] < 0
    costs = fit_unit_costs(points_from(work, cores))
    assert costs is not None
    assert costs.cpu_us_per_inbound_frame in (None, 0.0)
    assert as_us(costs) == pytest.approx(brute_force_nnls(work, cores) * 1e6, rel=1e-4)


def test_work_that_grows_together_is_reported_confounded() -> None:
    sockets = np.array([250.0, 500, 1000, 2000, 4000])
    work = np.column_stack([sockets, sockets * 0.95, [40.0, 2, 60, 3, 90], sockets * 0.2])
    costs = fit_unit_costs(points_from(work, work @ TRUE_US / 1e6))
    assert costs is not None
    # deliveries/s is kept, the costs of what moved with it are carried by it
    assert set(costs.confounded) == {"open_sockets", "inbound_per_s"}
    assert costs.cpu_us_per_socket_second is None and costs.cpu_us_per_inbound_frame is None
    assert costs.cpu_us_per_delivery == pytest.approx(30 + (2 + 0.2 * 60) / 0.95)
    assert costs.cpu_us_per_handshake == pytest.approx(400)
    # the cost at the run's own mix is right
    assert costs.cores(*work[-1]) == pytest.approx(work[-1] @ TRUE_US / 1e6, rel=1e-6)


def test_fewer_than_three_points_fit_nothing() -> None:
    work = varied_work(np.random.default_rng(2), 2)
    assert fit_unit_costs(points_from(work, work @ TRUE_US / 1e6)) is None
