"""Generator health: is the load generator, not the server, what bounds the run?

Every Locust process (standalone, ``--processes`` children, master and workers)
samples itself once a second: its CPU share (CPU seconds over wall seconds, 100 =
one core), the lag of its gevent loop (the longest a 100 ms timer fired late in the
second: callbacks and greenlets that hold the loop delay every socket), its open
sockets and its deliveries per second.  Workers send their samples with each stats
report (``report_to_master``); the master (or the single process) appends every
sample to ``<--csv prefix>_generators.csv`` with the columns :data:`CSV_COLUMNS`,
shows the latest in the web UI's WebSockets tab, and logs a warning when a process
passes :data:`CPU_WARNING_PERCENT` or :data:`LAG_WARNING_MS` (once, until it is
back below).
"""

from __future__ import annotations

import csv
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import gevent
from locust.runners import WorkerRunner

from wsharness.loadclient import gauge
from wsharness.loadclient.deliveries import PROCESS
from wsharness.loadclient.delivery_report import process_name
from wsharness.loadclient.gauge import GAUGE

logger = logging.getLogger(__name__)

REPORT_KEY = "wsh_generators"
CSV_SUFFIX = "_generators.csv"
CSV_COLUMNS = (
    "time",
    "process",
    "cpu_percent",
    "loop_lag_ms",
    "sockets",
    "deliveries_per_s",
)
CPU_WARNING_PERCENT = 85.0
LAG_WARNING_MS = 50.0
TICK_S = 0.1
SAMPLE_S = 1.0
_UNSENT_LIMIT = 600  # samples a worker keeps while the master does not hear it


@dataclass(frozen=True, slots=True)
class Sample:
    """One second of one process (field names are the CSV columns)."""

    time: float
    process: str
    cpu_percent: float
    loop_lag_ms: float
    sockets: int
    deliveries_per_s: float

    def row(self) -> list[Any]:
        return [
            round(self.time, 3),
            self.process,
            round(self.cpu_percent, 1),
            round(self.loop_lag_ms, 1),
            self.sockets,
            round(self.deliveries_per_s, 1),
        ]

    @property
    def overloaded(self) -> bool:
        return self.cpu_percent > CPU_WARNING_PERCENT or self.loop_lag_ms > LAG_WARNING_MS


class HealthSampler:
    """Measures this process one second at a time (no I/O: the loop feeds it)."""

    def __init__(
        self,
        process: str,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self.process = process
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._window_start = clock()
        self._cpu_start = cpu_clock()
        self._worst_lag = 0.0

    def tick(self, slept: float, planned: float) -> Sample | None:
        """A ``planned`` s timer fired after ``slept`` s; a sample once a second is up."""
        self._worst_lag = max(self._worst_lag, slept - planned)
        now = self._clock()
        elapsed = now - self._window_start
        if elapsed < SAMPLE_S:
            return None
        cpu = self._cpu_clock()
        PROCESS.tick(now)
        sample = Sample(
            time=time.time(),
            process=self.process,
            cpu_percent=100.0 * (cpu - self._cpu_start) / elapsed,
            loop_lag_ms=1000.0 * self._worst_lag,
            sockets=GAUGE.open,
            deliveries_per_s=PROCESS.per_second,
        )
        self._window_start, self._cpu_start, self._worst_lag = now, cpu, 0.0
        return sample


class HealthLog:
    """The master's record of every process: CSV rows, UI rows, overload warnings."""

    def __init__(self, path: str | None) -> None:
        self.latest: dict[str, Sample] = {}
        self._warned: set[str] = set()
        self.handle = open(path, "w", newline="", encoding="utf-8") if path else None  # noqa: SIM115
        self.writer = csv.writer(self.handle) if self.handle else None
        if self.writer is not None and self.handle is not None:
            self.writer.writerow(CSV_COLUMNS)
            self.handle.flush()

    def record(self, sample: Sample) -> None:
        self.latest[sample.process] = sample
        self._warn(sample)
        if self.writer is not None and self.handle is not None and not self.handle.closed:
            self.writer.writerow(sample.row())
            self.handle.flush()

    def _warn(self, sample: Sample) -> None:
        if not sample.overloaded:
            self._warned.discard(sample.process)
            return
        if sample.process in self._warned:
            return
        self._warned.add(sample.process)
        logger.warning(
            "load generator %s is busy: CPU %.0f%% (warning above %.0f%%), loop lag "
            "%.0f ms (above %.0f ms): the run may measure the generator, not the server",
            sample.process, sample.cpu_percent, CPU_WARNING_PERCENT, sample.loop_lag_ms,
            LAG_WARNING_MS,
        )  # fmt: skip

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        for fields in data.get(REPORT_KEY, ()):
            self.record(Sample(**fields))

    def web_rows(self) -> list[dict[str, Any]]:
        rows = []
        for name, sample in sorted(self.latest.items()):
            value = f"CPU {sample.cpu_percent:.0f}%, loop lag {sample.loop_lag_ms:.0f} ms"
            rows.append({"name": f"generator {name}", "value": value})
        return rows

    def close(self, **_: Any) -> None:
        if self.handle is not None:
            self.handle.close()


def _sample_forever(sampler: HealthSampler, record: Callable[[Sample], None]) -> None:
    while True:
        started = time.monotonic()
        gevent.sleep(TICK_S)
        sample = sampler.tick(time.monotonic() - started, TICK_S)
        if sample is not None:
            record(sample)


def on_init(environment: Any, **_: Any) -> None:
    """Sample this process every second; the master also records every process."""
    runner = environment.runner
    sampler = HealthSampler(process_name(runner))
    if isinstance(runner, WorkerRunner):
        unsent: deque[dict[str, Any]] = deque(maxlen=_UNSENT_LIMIT)

        def send(client_id: str, data: dict[str, Any], **_: Any) -> None:
            data[REPORT_KEY] = list(unsent)
            unsent.clear()

        environment.events.report_to_master.add_listener(send)
        gevent.spawn(_sample_forever, sampler, lambda sample: unsent.append(asdict(sample)))
        return
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    log = HealthLog(prefix + CSV_SUFFIX if prefix else None)
    environment.events.worker_report.add_listener(log.on_worker_report)
    environment.events.quit.add_listener(log.close)
    gauge.WEB_ROWS.append(log.web_rows)
    gevent.spawn(_sample_forever, sampler, log.record)
