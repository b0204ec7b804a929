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
inbound frames/s rise together: the fit then cannot tell them apart.  Each column
regressed on the others (R² above 0.98) is reported as *confounded*; the total cost
per socket at the run's own mix is still determined, the split between the
confounded columns is not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

COLUMNS = ("open_sockets", "deliveries_per_s", "handshakes_per_s", "inbound_per_s")
COLUMN_LABELS = {
    "open_sockets": "open sockets",
    "deliveries_per_s": "deliveries/s",
    "handshakes_per_s": "handshakes/s",
    "inbound_per_s": "inbound frames/s",
}
MIN_POINTS = 3
CONFOUNDED_R_SQUARED = 0.98
MICROSECONDS = 1e6


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

    cpu_us_per_socket_second: float
    cpu_us_per_delivery: float
    cpu_us_per_handshake: float
    cpu_us_per_inbound_frame: float
    r_squared: float
    points: tuple[CostPoint, ...]
    confounded: tuple[str, ...] = ()

    def cores(
        self,
        sockets: float,
        deliveries_per_s: float,
        handshakes_per_s: float,
        inbound_per_s: float,
    ) -> float:
        """The CPU (cores) the model predicts for this work."""
        return (
            self.cpu_us_per_socket_second * sockets
            + self.cpu_us_per_delivery * deliveries_per_s
            + self.cpu_us_per_handshake * handshakes_per_s
            + self.cpu_us_per_inbound_frame * inbound_per_s
        ) / MICROSECONDS

    def predict(self, point: CostPoint) -> float:
        return self.cores(*point.work())


def _r_squared(observed: np.ndarray, predicted: np.ndarray) -> float:
    total = float(np.sum((observed - observed.mean()) ** 2))
    residual = float(np.sum((observed - predicted) ** 2))
    if total <= 0:
        return 1.0 if residual <= 1e-12 else 0.0
    return 1.0 - residual / total


def confounded_columns(design: np.ndarray) -> tuple[str, ...]:
    """Columns that the other columns explain almost entirely (R² > 0.98)."""
    found = []
    for index, name in enumerate(COLUMNS):
        column = design[:, index]
        others = np.delete(design, index, axis=1)
        if not np.any(column) or not np.any(others):
            continue
        coefficients, *_ = np.linalg.lstsq(others, column, rcond=None)
        explained = 1.0 - float(np.sum((column - others @ coefficients) ** 2)) / float(
            np.sum(column**2)
        )
        if explained > CONFOUNDED_R_SQUARED:
            found.append(name)
    return tuple(found)


def fit_unit_costs(points: Sequence[CostPoint]) -> UnitCosts | None:
    """Non-negative least squares of CPU on the work; None with fewer than 3 points."""
    usable = [p for p in points if all(math.isfinite(v) for v in (*p.work(), p.cpu_cores))]
    if len(usable) < MIN_POINTS:
        return None
    design = np.array([p.work() for p in usable], dtype=float)
    cpu = np.array([p.cpu_cores for p in usable], dtype=float)
    scale = np.linalg.norm(design, axis=0)
    scale[scale == 0] = 1.0
    scaled, _ = nnls(design / scale, cpu)
    coefficients = scaled / scale
    costs = coefficients * MICROSECONDS
    return UnitCosts(
        cpu_us_per_socket_second=float(costs[0]),
        cpu_us_per_delivery=float(costs[1]),
        cpu_us_per_handshake=float(costs[2]),
        cpu_us_per_inbound_frame=float(costs[3]),
        r_squared=_r_squared(cpu, design @ coefficients),
        points=tuple(usable),
        confounded=confounded_columns(design),
    )
