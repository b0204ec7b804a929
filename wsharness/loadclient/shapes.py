"""Load shapes (ramp, step, spike, soak, capacity) chosen with ``--shape``; none by default.

Locust makes any ``LoadTestShape`` found in a locustfile active for every run, so
the shapes live here, outside ``loadtests/``, and the one named by ``--shape`` is
installed on the ``init`` event.  Each reads ``--shape-users`` (peak) and
``--shape-seconds`` (duration); they are also offered in the web UI's shape picker
(``--class-picker``).

``--shape capacity`` is the one the capacity report judges: it steps the users through
``--capacity-steps`` (default: doubling up to ``--shape-users``), each step a ramp at
``--capacity-spawn-rate`` users/s and a hold of ``--step-seconds``, then ends the run.
As each hold ends it appends the step's planned times to ``<--csv prefix>_steps.csv``
(``step, users, ramp_start, hold_start, hold_end``, Unix seconds), so the report
judges each hold's steady part and never a ramp.

The per-socket workload stays the same at every step when the publishers are fixed
(``--config-users`` with a ``fixed_count`` for ``PublisherUser``): every socket then
receives ``fixed_count * --publish-rate`` notifications per second on the one topic,
while echoes, drops and expiry grow with their users' share.  Weighted publishers
would multiply each socket's notifications with every step.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import gevent
from locust import LoadTestShape
from locust.runners import WorkerRunner

from wsharness.loadclient.options import LoadOptions

logger = logging.getLogger(__name__)

STEPS_SUFFIX = "_steps.csv"
STEPS_COLUMNS = ("step", "users", "ramp_start", "hold_start", "hold_end")
DEFAULT_CAPACITY_STEPS = 5  # doubling: peak/16, peak/8, peak/4, peak/2, peak
SETTLE_S = 2.0  # after a ramp's last spawn, before the hold starts


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


@dataclass(frozen=True)
class CapacityStep:
    """One planned step: times in seconds since the shape started."""

    index: int
    users: int
    ramp_start: float
    hold_start: float
    hold_end: float


def step_users(options: LoadOptions) -> list[int]:
    """The users of each step: ``--capacity-steps``, or doubling up to ``--shape-users``.

    Raises ``ValueError`` with a one-line message for a list that is not increasing
    positive integers.
    """
    if options.capacity_steps:
        try:
            parts = options.capacity_steps.split(",")
            users = [int(part) for part in parts if part.strip()]
        except ValueError:
            raise ValueError(
                f"--capacity-steps {options.capacity_steps!r}: expected integers, "
                "e.g. 500,1000,2000"
            ) from None
        if not users or users[0] < 1 or any(b <= a for a, b in itertools.pairwise(users)):
            raise ValueError(
                f"--capacity-steps {options.capacity_steps!r}: expected increasing "
                "positive user counts"
            )
        return users
    peak = max(1, options.shape_users)
    divisors = (2**k for k in range(DEFAULT_CAPACITY_STEPS - 1, -1, -1))
    return sorted({max(1, round(peak / divisor)) for divisor in divisors})


def plan_steps(
    users: list[int], step_seconds: float, spawn_rate: float
) -> list[CapacityStep]:
    """Each step ramps from the previous count at ``spawn_rate``, settles, then holds."""
    steps, clock, previous = [], 0.0, 0
    for index, count in enumerate(users):
        ramp = math.ceil((count - previous) / max(spawn_rate, 1e-9)) + SETTLE_S
        steps.append(
            CapacityStep(index, count, clock, clock + ramp, clock + ramp + step_seconds)
        )
        clock, previous = clock + ramp + step_seconds, count
    return steps


class CapacityShape(LoadTestShape):
    """Steps of open sockets, each a ramp and a hold; logs each finished hold."""

    def __init__(self, options: LoadOptions, steps_path: str | None = None) -> None:
        super().__init__()
        self.spawn_rate = max(options.capacity_spawn_rate, 1.0)
        self.steps = plan_steps(step_users(options), options.step_seconds, self.spawn_rate)
        self.steps_path = steps_path
        self.logged = 0
        self.wall_start: float | None = None

    def reset_time(self) -> None:
        super().reset_time()
        self.wall_start, self.logged = None, 0

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        if self.wall_start is None:
            self.wall_start = time.time() - elapsed
        self.log_finished(elapsed)
        current = next((s for s in self.steps if elapsed < s.hold_end), None)
        if current is None:
            return None
        return current.users, self.spawn_rate

    def log_finished(self, elapsed: float) -> None:
        """Append the steps whose hold ended by ``elapsed`` to the steps file."""
        assert self.wall_start is not None
        finished = [s for s in self.steps[self.logged :] if s.hold_end <= elapsed]
        if not finished or self.steps_path is None:
            self.logged += len(finished)
            return
        new_file = self.logged == 0
        with open(self.steps_path, "w" if new_file else "a", newline="") as handle:
            writer = csv.writer(handle)
            if new_file:
                writer.writerow(STEPS_COLUMNS)
            for step in finished:
                times = (step.ramp_start, step.hold_start, step.hold_end)
                writer.writerow(
                    [step.index, step.users, *(f"{self.wall_start + t:.3f}" for t in times)]
                )
                logger.info(
                    "capacity step %d (%d users) held %.0f s",
                    step.index,
                    step.users,
                    step.hold_end - step.hold_start,
                )
        self.logged += len(finished)


SHAPE_CLASSES: dict[str, type[_SuiteShape]] = {
    "ramp": RampShape,
    "step": StepShape,
    "spike": SpikeShape,
    "soak": SoakShape,
}


def make_shape(options: LoadOptions, csv_prefix: str | None = None) -> LoadTestShape | None:
    if options.shape == "capacity":
        path = csv_prefix + STEPS_SUFFIX if csv_prefix else None
        return CapacityShape(options, path)
    shape_class = SHAPE_CLASSES.get(options.shape)
    if shape_class is None:
        return None
    return shape_class(options.shape_users, options.shape_seconds)


def _refuse(environment: Any, message: str) -> None:
    logger.error("wsharness: %s", message)
    environment.process_exit_code = 2
    gevent.spawn(environment.runner.quit)


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
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    try:
        shape = make_shape(options, prefix)
    except ValueError as error:
        _refuse(environment, str(error))
        return
    if shape is not None:
        shape.runner = environment.runner
        environment.shape_class = shape
