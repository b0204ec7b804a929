"""The capacity findings of a run, computed from its inputs (pure functions, no I/O).

- Steps: a capacity run's steps (see :mod:`wsharness.report.steps`), each hold one
  judged point; a run without steps is judged on its windows instead.  The knee is
  set by steps only where no load generator was saturated (*server-bound* steps).
- Cost model and plan: :mod:`wsharness.report.costs` and :mod:`wsharness.report.plan`.

- Open sockets: the server's ``wsh_open_connections`` gauge (the autoscaling signal);
  without it the Locust suite's ``_sockets.csv`` count, and last Locust's ``User Count``.
- Windows: the run is cut into windows of ``window_s`` seconds (a trailing piece
  shorter than half a window is left out).  Each window gets the
  mean open sockets, the latency percentiles per request name that Locust wrote at the
  window's last second (Locust's "current" percentiles cover the preceding ~10 s), and
  the error rate (failures / requests, both counted from Locust's running totals).
- Knee: steps sorted by open sockets; the first (lowest-socket) server-bound step that
  breaks the objective (p99 of the objective's request name above the limit, or the
  error rate above its limit) sets the knee; ``max_sockets_within_slo`` is the highest
  socket count of a passing step below it.  With no server-bound violation it is the
  highest passing step, flagged as a lower bound.
- Server latency: per window, the p99 of the server's publish-to-socket lag and fan-out
  histograms (bucket increases over the window), shown beside the client's view.
- Memory per socket: least-squares slope of resident memory against open sockets over
  the scrapes from the start of the run to the last scrape at the peak of open sockets
  (memory a process frees is rarely returned to the OS, so the ramp down is left out).
  Without server metrics (no ``server_metrics.csv``) there is no fit: ``memory`` is
  None and every server figure (memory, CPU, cost model, fan-out, lag) is *not
  measured*; the knee is judged on Locust's own statistics as usual.
- Recommendation: the smallest of the plan's bounds (latency, CPU, memory, file
  descriptors) ``* (1 - headroom)`` open connections per instance, rounded down;
  instances for a peak: ``ceil(peak / recommendation)``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from wsharness.contract import names
from wsharness.report.costs import CostPoint, UnitCosts, fit_unit_costs
from wsharness.report.histograms import BucketTimeline, window_quantiles_ms
from wsharness.report.inputs import AGGREGATED, HistoryRow, ReportInputError, RunInputs
from wsharness.report.jaeger import JaegerLink, JaegerTarget, jaeger_links
from wsharness.report.objective import (
    Judgement,
    Objective,
    Percentiles,
    allowed_failures,
    judge_latency,
)
from wsharness.report.plan import Knee, MemoryFit, Plan, make_plan
from wsharness.report.series import series_total, value_at
from wsharness.report.steps import ServerSeries, Span, Step, measure, ramp_spans, step_spans
from wsharness.sampler import Sample

__all__ = [
    "Findings",
    "Knee",
    "MemoryFit",
    "Objective",
    "Percentiles",
    "Plan",
    "Window",
    "allowed_failures",
    "analyse",
    "series_total",
    "value_at",
]

REQUEST_NAMES = ("connect", "echo", "deliver", "reconnect", "refresh")
MIN_WINDOWS = 3
MIN_SOCKET_SPREAD = 10
MIN_MEMORY_POINTS = 3


@dataclass(frozen=True)
class Window(Judgement):
    """One slice of the run, judged against the objective."""

    start: int
    end: int
    open_sockets: float


@dataclass(frozen=True)
class Recommendation:
    """The plan's headline, as the pages show it."""

    memory_bound_sockets: float | None
    limited_by: str
    connections_per_instance: int
    instances_for_peak: int | None


LIMITED_BY_PHRASES = {
    "latency": "latency objective",
    "cpu": "CPU",
    "memory": "memory",
    "file_descriptors": "file descriptors",
    "generator": "load generator (lower bound)",
}


@dataclass(frozen=True)
class Findings:
    """Everything the renderers show."""

    objective: Objective
    socket_source: str
    sockets: tuple[tuple[float, float], ...]
    users: tuple[tuple[float, float], ...]
    client_sockets: tuple[tuple[float, float], ...]
    windows: tuple[Window, ...]
    knee: Knee
    memory: MemoryFit | None  # None: the run has no server metrics
    memory_scrapes: tuple[tuple[float, float], ...]
    recommendation: Recommendation
    cpu_cores: tuple[tuple[float, float], ...]
    closes_by_code: dict[str, int]
    duration_s: int
    max_open_sockets: float
    total_requests: int
    total_failures: int
    jaeger_links: tuple[JaegerLink, ...] = field(default=())
    steps: tuple[Step, ...] = ()
    steps_from: str = "windows"  # "capacity steps" or "windows"
    unit_costs: UnitCosts | None = None
    plan: Plan | None = None
    generator_source: str = ""
    server_metrics: bool = True  # False: no server_metrics.csv, server figures unknown


# --- server series -----------------------------------------------------------


def open_sockets(inputs: RunInputs) -> tuple[list[tuple[float, float]], str]:
    """The open-socket timeline and where it came from."""
    server = series_total(inputs.samples, names.PROM_OPEN_CONNECTIONS)
    if server:
        return server, f"server gauge {names.PROM_OPEN_CONNECTIONS}"
    if inputs.client_sockets:
        return list(
            inputs.client_sockets
        ), "Locust suite's open-socket count (no server gauge)"
    return user_counts(
        inputs.history
    ), "Locust User Count (no server or client socket count)"


def user_counts(history: Sequence[HistoryRow]) -> list[tuple[float, float]]:
    return [
        (float(row.timestamp), float(row.user_count))
        for row in history
        if row.name == AGGREGATED
    ]


def cpu_cores(samples: Iterable[Sample]) -> list[tuple[float, float]]:
    """CPU used (in cores) between consecutive scrapes of the CPU-seconds counter."""
    cpu = series_total(samples, names.PROM_PROCESS_CPU)
    return [
        (t1, max(v1 - v0, 0.0) / (t1 - t0))
        for (t0, v0), (t1, v1) in itertools.pairwise(cpu)
        if t1 > t0
    ]


def closes_by_code(samples: Sequence[Sample]) -> dict[str, int]:
    """Connections closed during the run, per close code (counter increase)."""
    first_scrape = min((s.timestamp for s in samples), default=0.0)
    first: dict[tuple, float] = {}
    last: dict[tuple, float] = {}
    for sample in sorted(samples, key=lambda s: s.timestamp):
        if sample.series != names.PROM_CLOSES:
            continue
        key = sample.labels
        if key not in first:
            first[key] = sample.value if sample.timestamp == first_scrape else 0.0
        last[key] = sample.value
    by_code: dict[str, int] = defaultdict(int)
    for key, value in last.items():
        code = dict(key).get(names.LABEL_CODE, "?")
        by_code[code] += round(value - first[key])
    return dict(sorted(by_code.items()))


# --- windows and knee ----------------------------------------------------------


def _group_by_window(
    history: Sequence[HistoryRow], window_s: int
) -> list[list[HistoryRow]]:
    start = min(row.timestamp for row in history)
    groups: dict[int, list[HistoryRow]] = defaultdict(list)
    for row in history:
        groups[(row.timestamp - start) // window_s].append(row)
    return [groups[key] for key in sorted(groups)]


def _last_by_name(rows: Iterable[HistoryRow]) -> dict[str, HistoryRow]:
    last: dict[str, HistoryRow] = {}
    for row in sorted(rows, key=lambda r: r.timestamp):
        last[row.name] = row
    return last


def _latency(row: HistoryRow, previous: HistoryRow | None) -> Percentiles | None:
    """Locust's current percentiles of ``row``, or None when no request was new."""
    before = previous.total_requests if previous else 0
    if row.total_requests <= before or row.p99_ms is None:
        return None
    return Percentiles(row.p50_ms, row.p95_ms, row.p99_ms)


def build_windows(
    history: Sequence[HistoryRow],
    sockets: Sequence[tuple[float, float]],
    objective: Objective,
) -> list[Window]:
    windows = []
    previous: dict[str, HistoryRow] = {}
    for rows in _group_by_window(history, objective.window_s):
        last = _last_by_name(rows)
        covered = rows[-1].timestamp - rows[0].timestamp + 1
        if AGGREGATED not in last or covered * 2 < objective.window_s:
            continue
        total, before = last[AGGREGATED], previous.get(AGGREGATED)
        requests = total.total_requests - (before.total_requests if before else 0)
        failures = total.total_failures - (before.total_failures if before else 0)
        latency = {
            name: percentiles
            for name, row in last.items()
            if name != AGGREGATED and (percentiles := _latency(row, previous.get(name)))
        }
        p99, within, reason = judge_latency(latency, requests, failures, objective)
        start, end = rows[0].timestamp, rows[-1].timestamp
        windows.append(
            Window(
                start=start,
                end=end,
                open_sockets=value_at(sockets, start, end),
                requests=requests,
                failures=failures,
                latency=latency,
                objective_p99_ms=p99,
                within_objective=within,
                reason=reason,
            )
        )
        previous.update(last)
    return windows


def with_server_latency(
    windows: Sequence[Window], samples: Sequence[Sample]
) -> list[Window]:
    """Add the server's publish-lag and fan-out p99 of each window (from histograms)."""
    spans = [(w.start, w.end) for w in windows]
    lag = BucketTimeline(samples, names.PROM_PUBLISH_LAG + "_bucket")
    fanout = BucketTimeline(samples, names.PROM_FANOUT_DURATION + "_bucket")
    return [
        dataclasses.replace(w, server_lag_p99_ms=lag_ms, fanout_p99_ms=fanout_ms)
        for w, lag_ms, fanout_ms in zip(
            windows,
            window_quantiles_ms(lag, spans, 0.99),
            window_quantiles_ms(fanout, spans, 0.99),
            strict=True,
        )
    ]


class Judged(Protocol):
    """A window or a step: its open sockets and its verdict."""

    @property
    def open_sockets(self) -> float: ...
    @property
    def within_objective(self) -> bool: ...
    @property
    def reason(self) -> str: ...


def find_knee(points: Sequence[Judged]) -> Knee:
    """Where a server-bound point first breaks the objective, walking up the sockets.

    A point whose load generator was saturated (``generator_bound``) never sets the
    knee; with no server-bound violation the knee is the highest passing point,
    flagged as a lower bound.
    """
    ordered = sorted(points, key=lambda p: p.open_sockets)
    violation = next(
        (
            p
            for p in ordered
            if not p.within_objective and not getattr(p, "generator_bound", False)
        ),
        None,
    )
    if violation is None:
        passing = [p.open_sockets for p in ordered if p.within_objective]
        return Knee(max(passing, default=0.0), True, None, "")
    passing = [
        p.open_sockets
        for p in ordered
        if p.within_objective and p.open_sockets < violation.open_sockets
    ]
    return Knee(max(passing, default=0.0), False, violation.open_sockets, violation.reason)


# --- memory and recommendation -------------------------------------------------


def memory_scrapes(samples: Sequence[Sample]) -> list[tuple[float, float, float]]:
    """(time, open sockets, resident bytes) from scrapes that carry both series."""
    sockets = dict(series_total(samples, names.PROM_OPEN_CONNECTIONS))
    memory = dict(series_total(samples, names.PROM_PROCESS_MEMORY))
    return [(t, sockets[t], memory[t]) for t in sorted(sockets) if t in memory]


def memory_points(samples: Sequence[Sample]) -> list[tuple[float, float]]:
    """(open sockets, resident bytes) from the start to the last scrape at the peak."""
    scrapes = memory_scrapes(samples)
    if not scrapes:
        return []
    peak = max(count for _, count, _ in scrapes)
    peak_time = max(t for t, count, _ in scrapes if count == peak)  # end of the plateau
    return [(count, rss) for t, count, rss in scrapes if t <= peak_time]


def least_squares(points: Sequence[tuple[float, float]]) -> MemoryFit:
    """Ordinary least squares of y on x, with the coefficient of determination."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    syy = sum((y - mean_y) ** 2 for y in ys)
    slope = sxy / sxx
    r_squared = (sxy * sxy) / (sxx * syy) if syy else 1.0
    return MemoryFit(slope, mean_y - slope * mean_x, r_squared, tuple(points))


def fit_memory(samples: Sequence[Sample]) -> MemoryFit:
    points = memory_points(samples)
    if len(points) < MIN_MEMORY_POINTS:
        raise ReportInputError(
            f"too few scrapes with both {names.PROM_OPEN_CONNECTIONS} and "
            f"{names.PROM_PROCESS_MEMORY} ({len(points)}, need {MIN_MEMORY_POINTS})"
        )
    counts = [count for count, _ in points]
    if max(counts) - min(counts) < MIN_SOCKET_SPREAD:
        raise ReportInputError(
            f"run too small: open sockets only ranged {min(counts):g} to {max(counts):g} "
            f"(need a spread of at least {MIN_SOCKET_SPREAD} to fit memory per socket)"
        )
    return least_squares(points)


def recommendation(plan: Plan) -> Recommendation:
    return Recommendation(
        memory_bound_sockets=plan.memory_bound_sockets,
        limited_by=LIMITED_BY_PHRASES[plan.limited_by],
        connections_per_instance=plan.connections_per_instance,
        instances_for_peak=plan.instances_for_peak,
    )


# --- steps and cost model ----------------------------------------------------------


def judged_steps(
    inputs: RunInputs,
    windows: Sequence[Window],
    sockets: Sequence[tuple[float, float]],
    objective: Objective,
) -> tuple[list[Step], str]:
    """A capacity run's steps, else its windows as steps; and which they are."""
    server = ServerSeries(inputs.samples, sockets)
    spans = step_spans(inputs)
    if spans:
        return [
            measure(span, inputs, server, objective) for span in spans
        ], "capacity steps"
    steps = [
        dataclasses.replace(
            measure(
                Span(index, "window", w.start, w.end),
                inputs,
                server,
                objective,
                (w.requests, w.failures, w.latency),
            ),
            server_lag_p99_ms=w.server_lag_p99_ms,
            fanout_p99_ms=w.fanout_p99_ms,
        )
        for index, w in enumerate(windows)
    ]
    return steps, "windows"


def cost_points(
    inputs: RunInputs, steps: Sequence[Step], sockets: Sequence[tuple[float, float]]
) -> list[CostPoint]:
    """The steps' holds, and a capacity run's ramps, with the server's CPU and rates."""
    server = ServerSeries(inputs.samples, sockets)
    loads = [(f"{s.span.kind} {s.span.index}", s.load) for s in steps]
    loads += [
        (f"ramp {span.index}", server.load(span.start, span.end))
        for span in ramp_spans(inputs)
    ]
    return [
        CostPoint(label, *load.work(), load.cpu_cores)
        for label, load in loads
        if load.cpu_cores is not None
    ]


# --- whole run ------------------------------------------------------------------


def check_history(inputs: RunInputs, objective: Objective) -> None:
    """Refuse runs whose history cannot be judged against the objective."""
    aggregated = [row for row in inputs.history if row.name == AGGREGATED]
    if not aggregated:
        raise ReportInputError(
            f"{inputs.prefix}_stats_history.csv has no rows: run too short"
        )
    stamps = {row.timestamp for row in aggregated}
    needed = MIN_WINDOWS * objective.window_s
    seconds = max(stamps) - min(stamps) + 1
    if seconds < needed and not inputs.planned_steps:  # a capacity run needs one step
        raise ReportInputError(
            f"run too short: {seconds} s of Locust history, need at least {needed} s "
            f"({MIN_WINDOWS} windows of {objective.window_s} s)"
        )
    name = objective.request_name
    if inputs.planned_steps:  # a capacity step without any 'deliver' breaks the objective
        if not any(row.name != AGGREGATED for row in inputs.history):
            raise ReportInputError(
                f"{inputs.prefix}_stats_history.csv has no per-request rows: run locust "
                "with --csv-full-history"
            )
        return
    if not any(row.name == name and row.requests for row in inputs.stats):
        raise ReportInputError(
            f"no '{name}' requests in {inputs.prefix}_stats.csv: the latency objective "
            f"is judged on '{name}' (run a user class that produces it)"
        )
    if not any(row.name == name for row in inputs.history):
        raise ReportInputError(
            f"{inputs.prefix}_stats_history.csv has no per-request rows: run locust "
            "with --csv-full-history"
        )


def analyse(
    inputs: RunInputs, objective: Objective, jaeger: JaegerTarget | None = None
) -> Findings:
    check_history(inputs, objective)
    sockets, source = open_sockets(inputs)
    windows = with_server_latency(
        build_windows(inputs.history, sockets, objective), inputs.samples
    )
    if len(windows) < MIN_WINDOWS and not inputs.planned_steps:
        raise ReportInputError(f"run too short: {len(windows)} window(s) of history")
    memory = fit_memory(inputs.samples) if inputs.server_metrics else None
    steps, steps_from = judged_steps(inputs, windows, sockets, objective)
    if not steps:
        raise ReportInputError(f"{inputs.prefix}_steps.csv lists no finished step")
    knee = find_knee(steps)
    unit_costs = fit_unit_costs(cost_points(inputs, steps, sockets))
    plan = make_plan(
        steps,
        knee,
        memory,
        unit_costs,
        objective,
        inputs.run_info,
        server_metrics=inputs.server_metrics,
    )
    total = next((row for row in inputs.stats if row.name == AGGREGATED), None)
    if total is None:
        raise ReportInputError(f"{inputs.prefix}_stats.csv has no Aggregated row")
    stamps = [row.timestamp for row in inputs.history]
    return Findings(
        objective=objective,
        socket_source=source,
        sockets=tuple(sockets),
        users=tuple(user_counts(inputs.history)),
        client_sockets=inputs.client_sockets,
        windows=tuple(windows),
        knee=knee,
        memory=memory,
        memory_scrapes=tuple(
            (count, rss) for _, count, rss in memory_scrapes(inputs.samples)
        ),
        recommendation=recommendation(plan),
        cpu_cores=tuple(cpu_cores(inputs.samples)),
        closes_by_code=closes_by_code(inputs.samples),
        duration_s=max(stamps) - min(stamps) + 1,
        max_open_sockets=max(value for _, value in sockets),
        total_requests=total.requests,
        total_failures=total.failures,
        jaeger_links=tuple(jaeger_links(inputs.stats, min(stamps), max(stamps), jaeger))
        if jaeger
        else (),
        steps=tuple(steps),
        steps_from=steps_from,
        unit_costs=unit_costs,
        plan=plan,
        generator_source=inputs.generator_source,
        server_metrics=inputs.server_metrics,
    )
