"""Load shapes (ramp, step, spike, soak), chosen with ``--shape``; none by default.

Locust makes any ``LoadTestShape`` found in a locustfile active for every run, so
the shapes live here, outside ``loadtests/``, and the one named by ``--shape`` is
installed on the ``init`` event.  Each reads ``--shape-users`` (peak) and
``--shape-seconds`` (duration); they are also offered in the web UI's shape picker
(``--class-picker``).
"""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape
from locust.runners import WorkerRunner

from wsharness.loadclient.options import LoadOptions


class _SuiteShape(LoadTestShape):
    abstract = True

    def __init__(self, users: int = 100, seconds: float = 60.0) -> None:
        super().__init__()
        self.users = max(1, users)
        self.seconds = max(1.0, seconds)

    def rate(self, users: float, seconds: float) -> float:
        return max(1.0, users / max(seconds, 1.0))

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        if elapsed >= self.seconds:
            return None
        return self.at(elapsed / self.seconds)

    def at(self, fraction: float) -> tuple[int, float]:
        raise NotImplementedError


class RampShape(_SuiteShape):
    """Linear ramp to the peak over the first half, then hold."""

    def at(self, fraction: float) -> tuple[int, float]:
        return self.users, self.rate(self.users, self.seconds / 2)


class StepShape(_SuiteShape):
    """Five equal steps up to the peak."""

    steps = 5

    def at(self, fraction: float) -> tuple[int, float]:
        step = min(self.steps, int(fraction * self.steps) + 1)
        users = round(self.users * step / self.steps)
        return users, self.rate(self.users / self.steps, 1.0)


class SpikeShape(_SuiteShape):
    """A tenth of the peak, a sudden spike to the peak mid-run, then back."""

    def at(self, fraction: float) -> tuple[int, float]:
        users = self.users if 0.4 <= fraction < 0.6 else max(1, self.users // 10)
        return users, float(self.users)


class SoakShape(_SuiteShape):
    """Reach the peak in the first tenth, then hold it for the rest."""

    def at(self, fraction: float) -> tuple[int, float]:
        return self.users, self.rate(self.users, self.seconds / 10)


SHAPE_CLASSES: dict[str, type[_SuiteShape]] = {
    "ramp": RampShape,
    "step": StepShape,
    "spike": SpikeShape,
    "soak": SoakShape,
}


def make_shape(options: LoadOptions) -> LoadTestShape | None:
    shape_class = SHAPE_CLASSES.get(options.shape)
    if shape_class is None:
        return None
    return shape_class(options.shape_users, options.shape_seconds)


def on_init(environment: Any, **_: Any) -> None:
    """Install the shape named by ``--shape`` (master or single process only)."""
    options = LoadOptions.from_parsed(environment.parsed_options)
    if environment.available_shape_classes is not None:
        for name, shape_class in SHAPE_CLASSES.items():
            instance = shape_class(options.shape_users, options.shape_seconds)
            instance.runner = environment.runner
            environment.available_shape_classes.setdefault(f"wsharness-{name}", instance)
    if isinstance(environment.runner, WorkerRunner) or environment.shape_class is not None:
        return
    shape = make_shape(options)
    if shape is not None:
        shape.runner = environment.runner
        environment.shape_class = shape
