"""Steps: the steady parts of a run, each judged as one point (pure functions).

A capacity run (``--shape capacity``) lists its steps in ``<prefix>_steps.csv``; each
step's hold (its ramp left out) is one point.  Any other run has no steps: its
windows stand in for them (ramps included, and the report says so).

Each step gets:

- the client's view: per request name, Locust's current percentiles at the last
  history row inside the hold (they cover the preceding ~10 s, so a hold of at least
  10 s is judged on its steady part only), requests and failures counted over the
  hold, and the verdict against the objective (a step in which no request of the
  objective's name completed breaks it: nothing was delivered);
- the server's view: mean open sockets, the p99 of publish-to-socket lag and fan-out
  (bucket increases over the hold), CPU cores, deliveries/s (``message`` frames
  sent), handshakes/s, inbound frames/s (all counter rates over the hold) and
  resident memory;
- the generators' health: per Locust process, the mean CPU and median loop lag over
  the hold; a process past 85% CPU or 50 ms lag makes the step *generator-bound*,
  and such a step never sets the knee.  Sampled from outside (no loop lag), a process
  whose main thread was runnable (running or queued for a CPU) more than 85% of the
  hold counts as saturated too: on a busy machine it wanted more CPU than it got.
  ``None`` when health was not recorded;
- the machine's view (when the runner recorded ``machine.csv``): the cores the whole
  machine kept busy, and of those the *other* cores, taken by neither the server nor
  the load generators.  Server and generators on one machine share its CPUs, so a
  step in which other processes took much CPU measured the server on a busier
  machine than the plan assumes.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from wsharness.contract import names
from wsharness.report.histograms import BucketTimeline, histogram_quantile
from wsharness.report.inputs import (
    AGGREGATED,
    GeneratorRow,
    HistoryRow,
    MachineRow,
    RunInputs,
)
from wsharness.report.objective import Judgement, Objective, Percentiles, judge_latency
from wsharness.report.series import counter_timeline, mean_over, rate_over, value_at
from wsharness.sampler import Sample

SATURATED_CPU_PERCENT = 85.0
SATURATED_LAG_MS = 50.0
LOCUST_PERCENTILE_WINDOW_S = 10  # Locust's "current" percentiles cover this long


@dataclass(frozen=True)
class Span:
    """A stretch of the run judged as one point (Unix seconds)."""

    index: int
    kind: str  # "step" (a capacity step's hold) or "window"
    start: float
    end: float
    users: int | None = None
    ramp_start: float | None = None


@dataclass(frozen=True)
class ServerLoad:
    """What the server did over a span (None: not measured)."""

    open_sockets: float
    cpu_cores: float | None
    deliveries_per_s: float | None
    handshakes_per_s: float | None
    inbound_per_s: float | None
    memory_bytes: float | None

    def work(self) -> tuple[float, float, float, float]:
        """Sockets and the rates the cost model prices (a rate not measured: 0)."""
        return (
            self.open_sockets,
            self.deliveries_per_s or 0.0,
            self.handshakes_per_s or 0.0,
            self.inbound_per_s or 0.0,
        )


BUSY_MACHINE_CORES = 0.25  # other processes' CPU past which a step's CPU is suspect


@dataclass(frozen=True)
class GeneratorHealth:
    """The load generators over a span: whether any of them was saturated."""

    recorded: bool
    bound: bool
    busiest_cpu_percent: float | None
    worst_lag_ms: float | None
    processes: int
    saturated: tuple[str, ...] = ()
    cpu_cores: float | None = None  # all generator processes together


@dataclass(frozen=True)
class MachineLoad:
    """The whole machine over a span, and what of it neither server nor generator took."""

    busy_cores: float  # stolen time included
    steal_cores: float
    other_cores: float | None  # None: the server's or the generators' CPU is unknown


NOT_RECORDED = GeneratorHealth(False, False, None, None, 0)


@dataclass(frozen=True)
class Step(Judgement):
    """One judged point of the run."""

    span: Span
    load: ServerLoad
    generator: GeneratorHealth
    machine: MachineLoad | None = None  # None: the machine's CPU was not recorded

    @property
    def open_sockets(self) -> float:
        return self.load.open_sockets

    @property
    def generator_bound(self) -> bool:
        return self.generator.bound

    @property
    def other_cores(self) -> float | None:
        """Cores other processes took on the machine (None: not recorded)."""
        return None if self.machine is None else self.machine.other_cores

    @property
    def busy_machine(self) -> bool:
        """Other processes took more than :data:`BUSY_MACHINE_CORES` during the step."""
        other = self.other_cores
        return other is not None and other > BUSY_MACHINE_CORES


# --- spans ----------------------------------------------------------------------


def step_spans(inputs: RunInputs) -> list[Span]:
    """The holds of a capacity run's steps (empty for any other run)."""
    return [
        Span(
            step.index, "step", step.hold_start, step.hold_end, step.users, step.ramp_start
        )
        for step in inputs.planned_steps
    ]


def ramp_spans(inputs: RunInputs) -> list[Span]:
    """The ramps of a capacity run's steps (the cost model's handshake-heavy points)."""
    return [
        Span(step.index, "ramp", step.ramp_start, step.hold_start, step.users)
        for step in inputs.planned_steps
    ]


# --- server and generator views ---------------------------------------------------


class ServerSeries:
    """The server's series a span is measured on, read once per run."""

    def __init__(self, samples: Sequence[Sample], sockets: Sequence[tuple[float, float]]):
        self.sockets = list(sockets)
        self.cpu = counter_timeline(samples, names.PROM_PROCESS_CPU)
        self.deliveries = counter_timeline(
            samples, names.PROM_MESSAGES_OUT, {names.LABEL_TYPE: "message"}
        )
        self.handshakes = counter_timeline(samples, names.PROM_HANDSHAKES)
        self.inbound = counter_timeline(samples, names.PROM_MESSAGES_IN)
        self.memory = [
            (s.timestamp, s.value) for s in samples if s.series == names.PROM_PROCESS_MEMORY
        ]
        self.lag = BucketTimeline(samples, names.PROM_PUBLISH_LAG + "_bucket")
        self.fanout = BucketTimeline(samples, names.PROM_FANOUT_DURATION + "_bucket")

    def load(self, start: float, end: float) -> ServerLoad:
        return ServerLoad(
            open_sockets=value_at(self.sockets, start, end),
            cpu_cores=rate_over(self.cpu, start, end),
            deliveries_per_s=rate_over(self.deliveries, start, end),
            handshakes_per_s=rate_over(self.handshakes, start, end),
            inbound_per_s=rate_over(self.inbound, start, end),
            memory_bytes=mean_over(self.memory, start, end),
        )

    def p99_ms(self, timeline: BucketTimeline, start: float, end: float) -> float | None:
        value = histogram_quantile(0.99, timeline.increase(start, end))
        return None if value is None else value * 1000


def generator_health(
    rows: Sequence[GeneratorRow], start: float, end: float, recorded: bool
) -> GeneratorHealth:
    """Mean CPU and median loop lag per process over [start, end]; saturated ones named."""
    if not recorded:
        return NOT_RECORDED
    cpu: dict[str, list[float]] = defaultdict(list)
    lag: dict[str, list[float]] = defaultdict(list)
    runnable: dict[str, list[float]] = defaultdict(list)
    per_source: dict[str, set[str]] = defaultdict(set)
    source_of: dict[str, str] = {}
    for row in rows:
        if start <= row.time <= end:
            name = f"{row.process} ({row.source})" if row.source else row.process
            per_source[row.source].add(row.process)
            source_of[name] = row.source
            for values, value in (
                (cpu, row.cpu_percent),
                (lag, row.loop_lag_ms),
                (runnable, row.runnable_percent),
            ):
                if value is not None:
                    values[name].append(value)
    processes = sorted(set(cpu) | set(lag))
    if not processes:
        return GeneratorHealth(True, False, None, None, 0)
    # Two files may sample the same processes (from inside and from outside).
    process_count = max(len(names) for names in per_source.values())
    mean_cpu = {p: statistics.fmean(v) for p, v in cpu.items()}
    median_lag = {p: statistics.median(v) for p, v in lag.items()}
    mean_runnable = {p: statistics.fmean(v) for p, v in runnable.items()}
    percent_by_source: dict[str, float] = defaultdict(float)
    for name, percent in mean_cpu.items():
        percent_by_source[source_of[name]] += percent
    saturated = tuple(
        p
        for p in processes
        if mean_cpu.get(p, 0.0) > SATURATED_CPU_PERCENT
        or median_lag.get(p, 0.0) > SATURATED_LAG_MS
        or mean_runnable.get(p, 0.0) > SATURATED_CPU_PERCENT
    )
    return GeneratorHealth(
        recorded=True,
        bound=bool(saturated),
        busiest_cpu_percent=max(mean_cpu.values(), default=None),
        worst_lag_ms=max(median_lag.values(), default=None),
        processes=process_count,
        saturated=saturated,
        cpu_cores=max(percent_by_source.values()) / 100 if percent_by_source else None,
    )


def machine_load(
    rows: Sequence[MachineRow],
    start: float,
    end: float,
    server_cores: float | None,
    generator_cores: float | None,
) -> MachineLoad | None:
    """Mean busy cores over [start, end]; other: less the server's and generators'."""
    inside = [row for row in rows if start <= row.time <= end]
    if not inside:
        return None
    busy = statistics.fmean(row.busy_cores for row in inside)
    steal = statistics.fmean(row.steal_cores for row in inside)
    other = None
    if server_cores is not None and generator_cores is not None:
        other = max(busy - server_cores - generator_cores, 0.0)
    return MachineLoad(busy, steal, other)


# --- the client's view --------------------------------------------------------------


def _last_rows_by(history: Sequence[HistoryRow], moment: float) -> dict[str, HistoryRow]:
    """Per request name, the last history row at or before ``moment``."""
    last: dict[str, HistoryRow] = {}
    for row in history:
        if row.timestamp <= moment:
            previous = last.get(row.name)
            if previous is None or row.timestamp >= previous.timestamp:
                last[row.name] = row
    return last


def client_view(
    history: Sequence[HistoryRow], start: float, end: float
) -> tuple[int, int, dict[str, Percentiles]]:
    """Requests, failures and per-name percentiles of the requests made in [start, end]."""
    before, after = _last_rows_by(history, start), _last_rows_by(history, end)
    latency = {}
    for name, row in after.items():
        earlier = before.get(name)
        new = row.total_requests - (earlier.total_requests if earlier else 0)
        if name != AGGREGATED and new > 0 and row.p99_ms is not None:
            latency[name] = Percentiles(row.p50_ms, row.p95_ms, row.p99_ms)
    total, earlier = after.get(AGGREGATED), before.get(AGGREGATED)
    if total is None:
        return 0, 0, latency
    requests = total.total_requests - (earlier.total_requests if earlier else 0)
    failures = total.total_failures - (earlier.total_failures if earlier else 0)
    return requests, failures, latency


# --- steps ----------------------------------------------------------------------------


def measure(
    span: Span,
    inputs: RunInputs,
    server: ServerSeries,
    objective: Objective,
    judged: tuple[int, int, dict[str, Percentiles]] | None = None,
) -> Step:
    """One step judged: the client's view (or ``judged``), the server's, the generators'."""
    requests, failures, latency = judged or client_view(
        inputs.history, span.start, span.end
    )
    p99, within, reason = judge_latency(latency, requests, failures, objective)
    if objective.request_name not in latency and span.kind == "step":  # none delivered
        within, reason = False, f"no '{objective.request_name}' completed in the step"
    load = server.load(span.start, span.end)
    generator = generator_health(
        inputs.generators, span.start, span.end, bool(inputs.generator_source)
    )
    return Step(
        span=span,
        requests=requests,
        failures=failures,
        latency=latency,
        objective_p99_ms=p99,
        within_objective=within,
        reason=reason,
        load=load,
        generator=generator,
        machine=machine_load(
            inputs.machine, span.start, span.end, load.cpu_cores, generator.cpu_cores
        ),
        server_lag_p99_ms=server.p99_ms(server.lag, span.start, span.end),
        fanout_p99_ms=server.p99_ms(server.fanout, span.start, span.end),
    )
