"""What a run is judged against: the objective, the production profile, the verdict.

:class:`Objective` holds the service-level objective (p99 of one request name and an
error rate, judged per step), and the production profile the plan is made for
(instance CPUs, memory, open files and server processes; notifications, reconnects
and inbound frames per socket; target utilisation, headroom, peak).  Profile rates
left ``None`` are taken from the run itself (and labelled so in the report).
:class:`Judgement` is what a window and a step share: their requests, judged.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Objective:
    """The service-level objective and planning inputs a report is judged against."""

    p99_ms: float = 250.0
    error_rate: float = 0.001
    request_name: str = "deliver"
    headroom: float = 0.3
    window_s: int = 10
    instance_memory_bytes: int = 1024 * 1024 * 1024
    peak: int | None = None
    # The production profile (None: as measured in the run).
    instance_cpus: float = 1.0
    processes: int = 1
    instance_open_files: int | None = None  # per server process
    target_utilisation: float = 0.8
    notifications_per_socket_minute: float | None = None
    reconnects_per_socket_hour: float | None = None
    inbound_per_socket_minute: float | None = None


@dataclass(frozen=True)
class Percentiles:
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def allowed_failures(requests: int, error_rate: float) -> float:
    """Failures a step may have: the rate, but at least one failure in a small step.

    A step with fewer than ``1 / error_rate`` requests cannot measure that rate (one
    failure in 200 requests is 0.5%, yet says little about 0.1%), so it is allowed the
    failures of a step of ``1 / error_rate`` requests.
    """
    if error_rate <= 0:
        return 0.0
    return error_rate * max(requests, 1 / error_rate)


def judge(
    p99_ms: float | None, requests: int, failures: int, objective: Objective
) -> tuple[bool, str]:
    """Whether a step or window is within the objective, and if not, why."""
    if p99_ms is not None and p99_ms > objective.p99_ms:
        limit = f"{objective.p99_ms:g} ms"
        return False, f"p99 {objective.request_name} {p99_ms:g} ms > {limit}"
    if failures > allowed_failures(requests, objective.error_rate):
        rate = failures / requests if requests else 1.0
        return False, (
            f"error rate {rate:.2%} > {objective.error_rate:.2%} "
            f"({failures} failures in {requests} requests)"
        )
    return True, ""


@dataclass(frozen=True, kw_only=True)
class Judgement:
    """A window's or a step's requests, judged: counts, percentiles, verdict and why."""

    requests: int
    failures: int
    latency: dict[str, Percentiles]
    objective_p99_ms: float | None
    within_objective: bool
    reason: str
    server_lag_p99_ms: float | None = None
    fanout_p99_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def judge_latency(
    latency: dict[str, Percentiles], requests: int, failures: int, objective: Objective
) -> tuple[float | None, bool, str]:
    """The p99 of the objective's request in ``latency`` (None: none) and its verdict."""
    target = latency.get(objective.request_name)
    p99 = target.p99_ms if target else None
    return (p99, *judge(p99, requests, failures, objective))
