"""The server's cost model: CPU per unit of work, fitted on the run's steps.

The server's CPU (cores, i.e. CPU-seconds per second) over each point of the run is
modelled as

    cores = s * open_sockets + d * deliveries/s + h * handshakes/s + f * inbound frames/s

and the four unit costs are fitted by non-negative least squares
(``scipy.optimize.nnls``; a cost cannot be negative) on the steps' holds and, in a
capacity run, their ramps (where handshakes/s varies on its own).  Columns are scaled
to unit length before the fit, so a column in the thousands (sockets) does not drown
one in the tens (handshakes).  R² is ``1 - SS_res / SS_tot`` around the mean CPU.

A capacity run keeps each socket's workload fixed, so sockets, deliveries/s and
inbound frames/s rise together: the fit then cannot tell them apart.  Columns are
therefore taken in the order deliveries/s, handshakes/s, inbound frames/s, open
sockets, and a column whose cost, beside the columns already taken, is not positive
and at least twice its standard error (ordinary least squares) is left out of the
fit: its cost is ``None`` (not separable in this run) and is carried by the columns
it moved with, so two runs of the same build give comparable costs.  The
cost per socket at the run's own mix is determined either way; the columns left out
are listed as *confounded*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls

COLUMNS = ("open_sockets", "deliveries_per_s", "handshakes_per_s", "inbound_per_s")
PRIORITY = ("deliveries_per_s", "handshakes_per_s", "inbound_per_s", "open_sockets")
COLUMN_LABELS = {
    "open_sockets": "open sockets",
    "deliveries_per_s": "deliveries/s",
    "handshakes_per_s": "handshakes/s",
    "inbound_per_s": "inbound frames/s",
}
MIN_POINTS = 3
MIN_T_STATISTIC = 2.0
MICROSECONDS = 1e6
COST_FIELDS = (  # the UnitCosts field of each column's cost
    "cpu_us_per_socket_second",
    "cpu_us_per_delivery",
    "cpu_us_per_handshake",
    "cpu_us_per_inbound_frame",
)


@dataclass(frozen=True)
class CostPoint:
    """One point the model is fitted on: the work the server did, and its CPU."""

    label: str
    open_sockets: float
    deliveries_per_s: float
    handshakes_per_s: float
    inbound_per_s: float
    cpu_cores: float

    def work(self) -> tuple[float, float, float, float]:
        return (
            self.open_sockets,
            self.deliveries_per_s,
            self.handshakes_per_s,
            self.inbound_per_s,
        )


@dataclass(frozen=True)
class UnitCosts:
    """CPU microseconds per unit of work, with the fit's quality."""

    cpu_us_per_socket_second: float | None  # None: not separable in this run
    cpu_us_per_delivery: float | None
    cpu_us_per_handshake: float | None
    cpu_us_per_inbound_frame: float | None
    r_squared: float
    points: tuple[CostPoint, ...]
    confounded: tuple[str, ...] = ()
    # Ordinary-least-squares standard error of each separable cost (µs), by the name
    # of its cost field: how far a re-run of the same build may move it.
    standard_errors: dict[str, float] = field(default_factory=dict)

    def cores(
        self,
        sockets: float,
        deliveries_per_s: float,
        handshakes_per_s: float,
        inbound_per_s: float,
    ) -> float:
        """The CPU (cores) the model predicts for this work (a ``None`` cost counts 0)."""
        return (
            (self.cpu_us_per_socket_second or 0.0) * sockets
            + (self.cpu_us_per_delivery or 0.0) * deliveries_per_s
            + (self.cpu_us_per_handshake or 0.0) * handshakes_per_s
            + (self.cpu_us_per_inbound_frame or 0.0) * inbound_per_s
        ) / MICROSECONDS

    def predict(self, point: CostPoint) -> float:
        return self.cores(*point.work())


def _r_squared(observed: np.ndarray, predicted: np.ndarray) -> float:
    total = float(np.sum((observed - observed.mean()) ** 2))
    residual = float(np.sum((observed - predicted) ** 2))
    if total <= 0:
        return 1.0 if residual <= 1e-12 else 0.0
    return 1.0 - residual / total


def t_statistic(design: np.ndarray, cpu: np.ndarray, columns: list[int]) -> float:
    """Ordinary least squares on ``columns``: the last column's coefficient over its
    standard error (infinite for an exact fit, 0 for a coefficient not above 0)."""
    x = design[:, columns]
    dof = len(cpu) - len(columns)
    if dof <= 0:
        return 0.0
    gram = x.T @ x
    if np.linalg.matrix_rank(gram) < len(columns):
        return 0.0
    inverse = np.linalg.inv(gram)
    coefficients = inverse @ x.T @ cpu
    if coefficients[-1] <= 0:
        return 0.0
    variance = float(np.sum((cpu - x @ coefficients) ** 2)) / dof
    error = math.sqrt(max(variance * inverse[-1, -1], 0.0))
    return math.inf if error == 0 else float(coefficients[-1] / error)


def standard_errors(design: np.ndarray, cpu: np.ndarray, columns: list[int]) -> list[float]:
    """Ordinary least squares on ``columns``: each coefficient's standard error
    (infinite where the points cannot tell, e.g. no more points than columns)."""
    x = design[:, columns]
    dof = len(cpu) - len(columns)
    gram = x.T @ x
    if dof <= 0 or np.linalg.matrix_rank(gram) < len(columns):
        return [math.inf] * len(columns)
    inverse = np.linalg.inv(gram)
    residual = cpu - x @ (inverse @ x.T @ cpu)
    variance = float(np.sum(residual**2)) / dof
    return [math.sqrt(max(variance * inverse[i, i], 0.0)) for i in range(len(columns))]


def separable_columns(design: np.ndarray, cpu: np.ndarray) -> list[int]:
    """Columns to fit, taken in :data:`PRIORITY` order: each one kept only if, beside
    those already kept, its cost is positive and at least twice its standard error."""
    kept: list[int] = []
    for name in PRIORITY:
        index = COLUMNS.index(name)
        if not np.any(design[:, index]):
            kept.append(index)  # no work of this kind: its cost is simply 0
        elif t_statistic(design, cpu, [*kept, index]) >= MIN_T_STATISTIC:
            kept.append(index)
    return sorted(kept)


def fit_unit_costs(points: Sequence[CostPoint]) -> UnitCosts | None:
    """Non-negative least squares of CPU on the work; None with fewer than 3 points."""
    usable = [p for p in points if all(math.isfinite(v) for v in (*p.work(), p.cpu_cores))]
    if len(usable) < MIN_POINTS:
        return None
    design = np.array([p.work() for p in usable], dtype=float)
    cpu = np.array([p.cpu_cores for p in usable], dtype=float)
    kept = separable_columns(design, cpu)
    reduced = design[:, kept]
    scale = np.linalg.norm(reduced, axis=0)
    scale[scale == 0] = 1.0
    scaled, _ = nnls(reduced / scale, cpu)
    coefficients = np.zeros(len(COLUMNS))
    coefficients[kept] = scaled / scale
    costs: list[float | None] = [
        float(c * MICROSECONDS) if i in kept else None for i, c in enumerate(coefficients)
    ]
    errors = standard_errors(design, cpu, kept)
    return UnitCosts(
        cpu_us_per_socket_second=costs[0],
        cpu_us_per_delivery=costs[1],
        cpu_us_per_handshake=costs[2],
        cpu_us_per_inbound_frame=costs[3],
        r_squared=_r_squared(cpu, design @ coefficients),
        points=tuple(usable),
        confounded=tuple(name for i, name in enumerate(COLUMNS) if i not in kept),
        standard_errors={
            COST_FIELDS[column]: error * MICROSECONDS
            for column, error in zip(kept, errors, strict=True)
            if math.isfinite(error) and np.any(design[:, column])
        },
    )
