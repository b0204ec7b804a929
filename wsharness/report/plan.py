"""The capacity plan: sockets per instance each resource allows, and the one that binds.

For the production profile (:class:`~wsharness.report.objective.Objective`), at the
target utilisation ``u``, with ``P`` server processes per instance:

- latency: the measured knee (the most open sockets of a step within the objective,
  below the first server-bound step that broke it), or, if no server-bound step broke
  it, at least the highest step within it (a lower bound);
- CPU (projected from the cost model): ``min(P, instance CPUs) * u`` cores over the
  CPU one socket costs at the profile's rates (one process uses at most one core);
- memory: ``(instance memory * u - P * baseline) / memory per socket`` (projected
  beyond the sockets the run held, measured within them);
- file descriptors (projected): ``P * (open-file limit * u - 100)``, one per socket.

Without server metrics the CPU and memory bounds are unknown (``basis`` ``unknown``,
the detail says the run has no server metrics); the plan rests on latency and file
descriptors.

The recommendation is the smallest bound less the headroom; ``limited_by`` names it
(``latency``, ``cpu``, ``memory``, ``file_descriptors``), or ``generator`` when the
latency bound is a lower bound because the load generator saturated first.
Profile rates not given are the run's own, per socket, at its reference step (the
highest server-bound step within the objective, else the highest step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wsharness.report.costs import UnitCosts
from wsharness.report.inputs import NO_SERVER_METRICS
from wsharness.report.objective import Objective
from wsharness.report.steps import Step

DEFAULT_OPEN_FILES = 1_048_576  # a common container nofile limit
FD_RESERVE = 100  # per process: listening socket, logs, broker, telemetry
KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Knee:
    max_sockets_within_slo: float
    lower_bound: bool
    first_violation_sockets: float | None
    first_violation_reason: str


@dataclass(frozen=True)
class MemoryFit:
    """``rss = intercept + slope * sockets`` over ``points``."""

    slope_bytes: float
    intercept_bytes: float
    r_squared: float
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Rate:
    """A per-socket rate of the profile and where it came from."""

    value: float
    source: str  # "given" or "as measured at N sockets"


@dataclass(frozen=True)
class Profile:
    notifications_per_socket_minute: Rate
    reconnects_per_socket_hour: Rate
    inbound_per_socket_minute: Rate
    open_files: Rate


@dataclass(frozen=True)
class Bound:
    """Sockets per instance one resource allows; ``basis`` says how it is known."""

    resource: str  # latency | cpu | memory | file_descriptors
    sockets: float | None  # None: this resource does not bound (or is unknown)
    basis: str  # measured | projected | lower bound | unknown
    detail: str


@dataclass(frozen=True)
class Plan:
    profile: Profile
    bounds: tuple[Bound, ...]
    limited_by: str
    connections_per_instance: int
    instances_for_peak: int | None
    lower_bound: bool
    measured_max_sockets: float
    saturation_sockets: float | None  # one process at 100% of a core, at the run's mix

    def bound(self, resource: str) -> Bound:
        return next(b for b in self.bounds if b.resource == resource)

    @property
    def memory_bound_sockets(self) -> float | None:
        return self.bound("memory").sockets


def reference_step(steps: Sequence[Step], knee: Knee) -> Step | None:
    """The step whose per-socket rates stand for the run: the knee's, else the highest."""
    within = [
        s
        for s in steps
        if s.within_objective
        and not s.generator_bound
        and s.open_sockets <= knee.max_sockets_within_slo
    ]
    candidates = within or list(steps)
    busy = [s for s in candidates if s.open_sockets > 0]
    return max(busy, key=lambda s: s.open_sockets, default=None)


def _per_socket(step: Step | None, rate: float | None, per: float) -> float:
    if step is None or rate is None or step.open_sockets <= 0:
        return 0.0
    return rate / step.open_sockets * per


def resolve_profile(
    objective: Objective, reference: Step | None, run_info: dict[str, Any]
) -> Profile:
    measured = f"as measured at {reference.open_sockets:.0f} sockets" if reference else ""

    def rate(given: float | None, load_rate: float | None, per: float) -> Rate:
        if given is not None:
            return Rate(given, "given")
        return Rate(_per_socket(reference, load_rate, per), measured or "not measured")

    load = reference.load if reference else None
    deliveries = load.deliveries_per_s if load else None
    handshakes = load.handshakes_per_s if load else None
    inbound = load.inbound_per_s if load else None
    limit = run_info.get("server", {}).get("open_files_limit")
    if objective.instance_open_files is not None:
        open_files = Rate(objective.instance_open_files, "given")
    elif limit:
        open_files = Rate(float(limit), "the run's server limit")
    else:
        open_files = Rate(DEFAULT_OPEN_FILES, "assumed")
    return Profile(
        rate(objective.notifications_per_socket_minute, deliveries, 60),
        rate(objective.reconnects_per_socket_hour, handshakes, 3600),
        rate(objective.inbound_per_socket_minute, inbound, 60),
        open_files,
    )


def socket_cores(costs: UnitCosts, profile: Profile) -> float:
    """CPU cores one socket costs at the profile's rates."""
    return costs.cores(
        1.0,
        profile.notifications_per_socket_minute.value / 60,
        profile.reconnects_per_socket_hour.value / 3600,
        profile.inbound_per_socket_minute.value / 60,
    )


def latency_bound(knee: Knee) -> Bound:
    sockets = knee.max_sockets_within_slo
    if knee.lower_bound:
        return Bound(
            "latency",
            sockets,
            "lower bound",
            f"the objective held at every server-bound step: at least {sockets:.0f}",
        )
    return Bound(
        "latency",
        sockets,
        "measured",
        f"knee: within the objective at {sockets:.0f}, broken at "
        f"{knee.first_violation_sockets:.0f} ({knee.first_violation_reason})",
    )


def cpu_bound(
    costs: UnitCosts | None,
    profile: Profile,
    objective: Objective,
    measured_max: float,
    server_metrics: bool = True,
) -> Bound:
    if not server_metrics:
        return Bound("cpu", None, "unknown", NO_SERVER_METRICS)
    if costs is None:
        return Bound(
            "cpu", None, "unknown", "too few steps with server CPU to fit unit costs"
        )
    per_socket = socket_cores(costs, profile)
    if per_socket <= 0:
        return Bound("cpu", None, "unknown", "the fitted cost per socket is zero")
    cores = min(objective.processes, objective.instance_cpus) * objective.target_utilisation
    sockets = cores / per_socket
    where = "beyond" if sockets > measured_max else "within"
    return Bound(
        "cpu",
        sockets,
        "projected",
        f"{cores:g} cores ({objective.target_utilisation:.0%} of "
        f"{min(objective.processes, objective.instance_cpus):g}) at "
        f"{per_socket * 1e6:.1f} µs/s per socket (cost model, R² "
        f"{costs.r_squared:.3f}); {where} the measured range (up to {measured_max:.0f})",
    )


def memory_bound(
    memory: MemoryFit | None, objective: Objective, measured_max: float
) -> Bound:
    if memory is None:
        return Bound("memory", None, "unknown", NO_SERVER_METRICS)
    if memory.slope_bytes <= 0:
        return Bound("memory", None, "measured", "memory did not grow with open sockets")
    usable = objective.instance_memory_bytes * objective.target_utilisation
    spare = usable - objective.processes * memory.intercept_bytes
    sockets = max(spare, 0.0) / memory.slope_bytes
    basis = "projected" if sockets > measured_max else "measured"
    return Bound(
        "memory",
        sockets,
        basis,
        f"{objective.target_utilisation:.0%} of "
        f"{objective.instance_memory_bytes / MIB:.0f} MiB at "
        f"{memory.slope_bytes / KIB:.1f} KiB per socket above {objective.processes} "
        f"process(es) of {memory.intercept_bytes / MIB:.0f} MiB baseline",
    )


def file_descriptor_bound(profile: Profile, objective: Objective) -> Bound:
    per_process = profile.open_files.value * objective.target_utilisation - FD_RESERVE
    sockets = max(per_process, 0.0) * objective.processes
    return Bound(
        "file_descriptors",
        sockets,
        "projected",
        f"{objective.target_utilisation:.0%} of {profile.open_files.value:.0f} open files "
        f"({profile.open_files.source}) per process, one per socket",
    )


def binding(bounds: Sequence[Bound], steps: Sequence[Step], knee: Knee) -> str:
    """The resource of the smallest bound, or ``generator`` for a starved lower bound."""
    known = [b for b in bounds if b.sockets is not None]
    smallest = min(known, key=lambda b: b.sockets or 0.0)
    if smallest.resource == "latency" and knee.lower_bound and starved(steps, knee):
        return "generator"
    return smallest.resource


def starved(steps: Sequence[Step], knee: Knee) -> bool:
    """Whether generator-bound steps stopped the run from going past the lower bound."""
    return any(
        s.generator_bound and s.open_sockets >= knee.max_sockets_within_slo * 0.95
        for s in steps
    )


def make_plan(
    steps: Sequence[Step],
    knee: Knee,
    memory: MemoryFit | None,
    costs: UnitCosts | None,
    objective: Objective,
    run_info: dict[str, Any],
    server_metrics: bool = True,
) -> Plan:
    reference = reference_step(steps, knee)
    profile = resolve_profile(objective, reference, run_info)
    measured_max = knee.max_sockets_within_slo
    reached = max((s.open_sockets for s in steps), default=0.0)
    bounds = (
        latency_bound(knee),
        cpu_bound(costs, profile, objective, reached, server_metrics),
        memory_bound(memory, objective, reached),
        file_descriptor_bound(profile, objective),
    )
    limited_by = binding(bounds, steps, knee)
    limit = min(b.sockets for b in bounds if b.sockets is not None)
    per_instance = math.floor(limit * (1 - objective.headroom))
    instances = None
    if objective.peak is not None and per_instance > 0:
        instances = math.ceil(objective.peak / per_instance)
    saturation = None
    if costs is not None and reference is not None:
        own_mix = resolve_profile(Objective(), reference, run_info)
        per_socket = socket_cores(costs, own_mix)
        saturation = 1.0 / per_socket if per_socket > 0 else None
    return Plan(
        profile=profile,
        bounds=bounds,
        limited_by=limited_by,
        connections_per_instance=per_instance,
        instances_for_peak=instances,
        lower_bound=knee.lower_bound,
        measured_max_sockets=measured_max,
        saturation_sockets=saturation,
    )
