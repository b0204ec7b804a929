"""Server-side metrics for a run: scrape ``/metrics`` into ``RUN_DIR/server_metrics.csv``.

Two ways to get them, both writing the same file:

- :class:`MetricsSampler` scrapes the server's Prometheus text every ``interval_s``
  seconds while a load test runs.  It uses a plain ``threading.Thread``,
  ``threading.Event`` and ``urllib``; under Locust's gevent monkey-patching those become
  a greenlet, a gevent event and a cooperative socket, so the same code works in both
  worlds.  It stops when told (:meth:`MetricsSampler.stop`) or after ``max_duration_s``.
- :func:`query_prometheus` asks a Prometheus server's HTTP API (``/api/v1/query_range``)
  for the same series after a run that went through the compose stack.

File format (long, one row per sample): ``timestamp,series,labels,value`` where
``timestamp`` is Unix seconds, ``series`` the Prometheus sample name (for example
``wsh_open_connections`` or ``wsh_publish_lag_seconds_bucket``), ``labels`` the sample's
labels as ``key=value`` pairs sorted by key and joined with ``;`` (empty when none), and
``value`` a float.  OpenTelemetry scope labels (``otel_scope_*``) are dropped.

:class:`GeneratorSampler` watches the load generator from outside: every second it
writes the CPU of a Locust process and of each process it forked (``--processes``)
into ``RUN_DIR/generator_processes.csv``, with the columns of Locust's own
``<prefix>_generators.csv`` (``time, process, cpu_percent, loop_lag_ms, sockets,
deliveries_per_s``; what cannot be seen from outside is left empty), plus
``runnable_percent``: the share of the second the process's main thread (the gevent
loop) was running or waiting for a CPU (``/proc/PID/schedstat``), which shows a
starved process even when a busy machine gives it little CPU.  The report reads it
when the Locust processes did not record their own health.  In the same second it
writes the whole machine's CPU into ``RUN_DIR/machine.csv`` (``time, busy_cores,
steal_cores, cpus``: cores busy, stolen time included, of the ``cpus`` the machine
has), from which the report tells how much CPU processes other than the server and
the load generator took while the run was measured.
"""

from __future__ import annotations

import csv
import http.client
import json
import math
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families

from wsharness.contract import names

METRICS_FILE = "server_metrics.csv"
GENERATOR_FILE = "generator_processes.csv"
MACHINE_FILE = "machine.csv"
MACHINE_COLUMNS = ("time", "busy_cores", "steal_cores", "cpus")
GENERATOR_COLUMNS = (
    "time", "process", "cpu_percent", "loop_lag_ms", "sockets", "deliveries_per_s",
    "runnable_percent",
)  # fmt: skip
CSV_HEADER = ("timestamp", "series", "labels", "value")
SERIES_PREFIX = "wsh_"
MAX_POINTS_PER_SERIES = 10_000  # Prometheus refuses more than 11,000 per series
_DROPPED_LABEL_PREFIXES = ("otel_scope_",)
_DROPPED_SAMPLE_SUFFIXES = ("_created",)

# What the report reads, queried one by one from Prometheus (histograms by bucket).
PROMETHEUS_QUERIES = (
    names.PROM_OPEN_CONNECTIONS,
    names.PROM_PROCESS_MEMORY,
    names.PROM_PROCESS_CPU,
    names.PROM_CLOSES,
    names.PROM_HANDSHAKES,
    names.PROM_MESSAGES_IN,
    names.PROM_MESSAGES_OUT,
    names.PROM_SEND_QUEUE_DROPS,
    names.PROM_FANOUT_DURATION + "_bucket",
    names.PROM_PUBLISH_LAG + "_bucket",
)


@dataclass(frozen=True)
class Sample:
    """One value of one series at one time."""

    timestamp: float
    series: str
    labels: tuple[tuple[str, str], ...]
    value: float


def format_labels(labels: Iterable[tuple[str, str]]) -> str:
    return ";".join(f"{key}={value}" for key, value in sorted(labels))


def parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    if not text:
        return ()
    pairs = (item.split("=", 1) for item in text.split(";"))
    return tuple(sorted((key, value) for key, value in pairs))


def _kept_labels(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            (key, value)
            for key, value in labels.items()
            if not key.startswith(_DROPPED_LABEL_PREFIXES)
        )
    )


def parse_metrics_text(text: str, timestamp: float) -> list[Sample]:
    """The ``wsh_*`` samples of one Prometheus text exposition."""
    samples = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith(SERIES_PREFIX):
                continue
            if sample.name.endswith(_DROPPED_SAMPLE_SUFFIXES):
                continue
            labels = _kept_labels(sample.labels)
            samples.append(Sample(timestamp, sample.name, labels, float(sample.value)))
    return samples


def scrape_once(url: str, timeout_s: float = 5.0) -> list[Sample]:
    """Fetch ``url`` (a ``/metrics`` endpoint) and parse it."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode("utf-8")
    return parse_metrics_text(text, time.time())


class SampleWriter:
    """Appends samples to ``RUN_DIR/server_metrics.csv``, flushing after each batch."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / METRICS_FILE
        is_new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = self.path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if is_new:
            self._writer.writerow(CSV_HEADER)

    def write(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            self._writer.writerow(
                (
                    f"{sample.timestamp:.3f}",
                    sample.series,
                    format_labels(sample.labels),
                    repr(sample.value),
                )
            )
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class MetricsSampler:
    """Scrapes a ``/metrics`` URL every ``interval_s`` seconds into the run directory.

    ``MetricsSampler(url, run_dir, interval_s).start()`` ... ``.stop()``, or use it as a
    context manager.  A failed scrape is counted in ``errors`` and retried at the next
    tick; the sampler never raises into the load test.
    """

    def __init__(
        self,
        url: str,
        run_dir: str | Path,
        interval_s: float = 1.0,
        max_duration_s: float = 3600.0,
        timeout_s: float = 2.0,
    ) -> None:
        self.url = url
        self.run_dir = Path(run_dir)
        self.interval_s = interval_s
        self.max_duration_s = max_duration_s
        self.timeout_s = timeout_s
        self.scrapes = 0
        self.errors = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> Path:
        return self.run_dir / METRICS_FILE

    def start(self) -> MetricsSampler:
        writer = SampleWriter(self.run_dir)
        self._thread = threading.Thread(
            target=self._run, args=(writer,), name="wsharness-sampler", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the loop to end (after one final scrape) and wait for it (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> MetricsSampler:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self, writer: SampleWriter) -> None:
        deadline = time.monotonic() + self.max_duration_s
        try:
            self._tick(writer)
            while not self._stop.wait(self.interval_s):
                if time.monotonic() >= deadline:
                    return
                self._tick(writer)
            self._tick(writer)  # told to stop: one last look at the end state
        finally:
            writer.close()

    def _tick(self, writer: SampleWriter) -> None:
        try:
            samples = scrape_once(self.url, self.timeout_s)
        except (OSError, ValueError, http.client.HTTPException) as error:
            self.errors += 1
            self.last_error = str(error)
            return
        writer.write(samples)
        self.scrapes += 1


class MachineCpu:
    """Cores the whole machine kept busy between two readings (stolen time included)."""

    def __init__(self) -> None:
        self.cpus = psutil.cpu_count() or 1
        self._last = (time.monotonic(), psutil.cpu_times())

    def read(self) -> tuple[float, float]:
        """``(busy_cores, steal_cores)`` since the last reading."""
        now, times = time.monotonic(), psutil.cpu_times()
        then, before = self._last
        self._last = (now, times)
        elapsed = max(now - then, 1e-9)
        return (
            (_busy_seconds(times) - _busy_seconds(before)) / elapsed,
            (getattr(times, "steal", 0.0) - getattr(before, "steal", 0.0)) / elapsed,
        )


def _busy_seconds(times: Any) -> float:
    """CPU seconds spent on anything but idling (``guest`` is inside ``user``)."""
    idle = times.idle + getattr(times, "iowait", 0.0)
    guests = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    return float(sum(times) - idle - guests)


class GeneratorSampler:
    """CPU of a Locust process tree, sampled from outside into ``generator_processes.csv``.

    The root process is ``locust`` (or ``master`` once it has forked workers); its
    children are ``worker-1``, ``worker-2``, ... in the order they were first seen.
    The machine's CPU goes to ``machine.csv`` in the same second.
    """

    def __init__(
        self, pid: int, run_dir: str | Path, interval_s: float = 1.0, max_duration_s=3600.0
    ) -> None:
        self.pid = pid
        self.path = Path(run_dir) / GENERATOR_FILE
        self.machine_path = Path(run_dir) / MACHINE_FILE
        self.interval_s = interval_s
        self.max_duration_s = max_duration_s
        self.rows = 0
        self._names: dict[int, str] = {}
        self._processes: dict[int, psutil.Process] = {}
        self._schedstat: dict[int, tuple[float, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> GeneratorSampler:
        self._thread = threading.Thread(
            target=self._run, name="wsharness-generator-sampler", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_duration_s
        with (
            self.path.open("w", newline="", encoding="utf-8") as handle,
            self.machine_path.open("w", newline="", encoding="utf-8") as machine_handle,
        ):
            writer, machine_writer = csv.writer(handle), csv.writer(machine_handle)
            writer.writerow(GENERATOR_COLUMNS)
            machine_writer.writerow(MACHINE_COLUMNS)
            handle.flush()  # a reader during the run finds the headers at least
            machine_handle.flush()
            self._cpu_percents()  # the first reading of each process only primes it
            machine = MachineCpu()
            while not self._stop.wait(self.interval_s) and time.monotonic() < deadline:
                now = time.time()
                for pid, name, percent in self._cpu_percents():
                    runnable = self._runnable_percent(pid, now)
                    shown = "" if runnable is None else f"{runnable:.1f}"
                    row = [f"{now:.3f}", name, f"{percent:.1f}", "", "", "", shown]
                    writer.writerow(row)
                    self.rows += 1
                busy, steal = machine.read()
                machine_writer.writerow(
                    [f"{now:.3f}", f"{busy:.3f}", f"{steal:.3f}", machine.cpus]
                )
                handle.flush()
                machine_handle.flush()

    def _runnable_percent(self, pid: int, now: float) -> float | None:
        """Share of the time since the last reading the main thread ran or queued."""
        try:
            fields = Path(f"/proc/{pid}/schedstat").read_text().split()
            busy_ns = int(fields[0]) + int(fields[1])
        except (OSError, ValueError, IndexError):
            return None
        previous = self._schedstat.get(pid)
        self._schedstat[pid] = (now, busy_ns)
        if previous is None or now <= previous[0]:
            return None
        return (busy_ns - previous[1]) / 1e9 / (now - previous[0]) * 100

    def _cpu_percents(self) -> list[tuple[int, str, float]]:
        """(pid, name, CPU % of one core since the last call) of every live process."""
        try:
            root = self._processes.setdefault(self.pid, psutil.Process(self.pid))
            children = root.children(recursive=True)
        except psutil.Error:
            return []
        new = [child for child in children if child.pid not in self._processes]
        for child in new:
            self._processes[child.pid] = child
            self._names[child.pid] = f"worker-{len(self._names) + 1}"
            child.cpu_percent(None)  # primes it: read from the next call on
        readings = []
        primed = {child.pid for child in new}
        for pid, process in list(self._processes.items()):
            if pid in primed:
                continue
            name = self._names.get(pid) or ("master" if self._names else "locust")
            try:
                readings.append((pid, name, process.cpu_percent(None)))
            except psutil.Error:
                del self._processes[pid]
        return readings


def _query_range(
    prometheus_url: str, query: str, start: float, end: float, step_s: float
) -> list[dict]:
    params = urllib.parse.urlencode(
        {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step_s}
    )
    url = f"{prometheus_url.rstrip('/')}/api/v1/query_range?{params}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise ValueError(f"Prometheus query {query!r} failed: {body.get('error', body)}")
    return body["data"]["result"]


def prometheus_samples(result: list[dict], series: str) -> list[Sample]:
    """Turn one ``query_range`` matrix result into samples (``job`` label dropped)."""
    samples = []
    for stream in result:
        metric = {k: v for k, v in stream["metric"].items() if k not in ("__name__", "job")}
        labels = _kept_labels(metric)
        name = stream["metric"].get("__name__", series)
        for timestamp, value in stream["values"]:
            samples.append(Sample(float(timestamp), name, labels, float(value)))
    return samples


def query_prometheus(
    prometheus_url: str, run_dir: str | Path, start: float, end: float, step_s: float = 1.0
) -> Path:
    """Write the run's series from a Prometheus HTTP API into ``server_metrics.csv``."""
    step_s = max(step_s, (end - start) / MAX_POINTS_PER_SERIES)
    end = start + math.ceil((end - start) / step_s) * step_s  # a step at or after end
    writer = SampleWriter(Path(run_dir))
    try:
        for query in PROMETHEUS_QUERIES:
            result = _query_range(prometheus_url, query, start, end, step_s)
            writer.write(prometheus_samples(result, query))
    finally:
        writer.close()
    return writer.path
