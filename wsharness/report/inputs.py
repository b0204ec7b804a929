"""Reading a run directory: Locust's ``--csv`` files and ``server_metrics.csv``.

Every problem with the inputs becomes a :class:`ReportInputError` whose message names
what is missing, so the command can print one line instead of a stack trace.

Locust 2.x writes ``<prefix>_stats.csv`` (totals per request name),
``<prefix>_stats_history.csv`` (one row per second: ``Timestamp``, ``User Count``,
``Type``, ``Name``, ``Requests/s``, ``Failures/s``, the percentiles ``50%`` ...
``100%``, then ``Total Request Count``, ``Total Failure Count`` ...; rows per request
name only with ``--csv-full-history``) and ``<prefix>_failures.csv``.  The project's
Locust suite adds ``<prefix>_sockets.csv`` (``Timestamp``, ``User Count``,
``Open Sockets``, ...), read when present.

Capacity runs add, each read when present:

- ``<prefix>_steps.csv`` (``--shape capacity``): ``step, users, ramp_start,
  hold_start, hold_end`` in Unix seconds, one row per finished step;
- ``<prefix>_generators.csv`` (the Locust processes' own health, one row per process
  per second: ``time, process, cpu_percent, loop_lag_ms, sockets, deliveries_per_s``)
  and ``generator_processes.csv`` (the Locust processes' CPU and time runnable,
  sampled from outside by the runner; no loop lag), both read when present;
- ``machine.csv`` (the whole machine's busy and stolen cores each second, written by
  the runner beside ``generator_processes.csv``): what else the machine was doing;
- ``run.json``: how the run was made (runner, machine, server settings, Locust
  options), written by ``make demo``.

``server_metrics.csv`` is optional too: a server without ``/metrics`` (a Node relay,
say) gives a report from the Locust CSVs alone, its server sections marked *not
measured* (:data:`NO_SERVER_METRICS`).

The load client's exact delivery counts, each read when present:

- ``<prefix>_deliveries.csv``: one row per second per process plus a ``total`` row
  (``Delivered``, ``Missing``, ``Duplicate``, ``Out Of Order``, ``Timed``,
  ``Sampling Ratio``, ... and, for ``--protocol relay``/``socketio``, ``Expected``,
  ``Received Expected``, ``Completeness``, ``Sockets Assessed``, ``Sockets Complete``,
  ``Lowest Socket Completeness``); the last ``total`` row (the latest, and of rows of
  one second the one written last) is the run's final figure;
- ``<prefix>_completeness.csv``: one row per socket (``Socket``, ``Expected``,
  ``Received``, ``Missing``, ``Completeness``, ...).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsharness.sampler import (
    GENERATOR_FILE,
    MACHINE_COLUMNS,
    MACHINE_FILE,
    METRICS_FILE,
    Sample,
    parse_labels,
)

AGGREGATED = "Aggregated"
HISTORY_SUFFIX = "_stats_history.csv"
STATS_SUFFIX = "_stats.csv"
FAILURES_SUFFIX = "_failures.csv"
SOCKETS_SUFFIX = "_sockets.csv"  # the Locust suite's open-socket gauge (optional)
SOCKETS_COLUMNS = ("Timestamp", "Open Sockets")
PERCENTILE_COLUMNS = ("50%", "95%", "99%")
HISTORY_COLUMNS = (
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Total Request Count",
    "Total Failure Count",
    *PERCENTILE_COLUMNS,
)
STATS_COLUMNS = ("Type", "Name", "Request Count", "Failure Count", "Max Response Time")
FAILURES_COLUMNS = ("Method", "Name", "Error", "Occurrences")
METRICS_COLUMNS = ("timestamp", "series", "labels", "value")
STEPS_SUFFIX = "_steps.csv"  # written by --shape capacity
STEPS_COLUMNS = ("step", "users", "ramp_start", "hold_start", "hold_end")
GENERATORS_SUFFIX = "_generators.csv"  # the Locust processes' own health
GENERATORS_COLUMNS = ("time", "process", "cpu_percent", "loop_lag_ms")
RUN_INFO_FILE = "run.json"
DELIVERIES_SUFFIX = "_deliveries.csv"  # the load client's exact delivery counts
DELIVERIES_COLUMNS = ("Timestamp", "Process", "Delivered", "Missing")
DELIVERIES_TOTAL = "total"
COMPLETENESS_SUFFIX = "_completeness.csv"  # per socket (--protocol relay, socketio)
COMPLETENESS_COLUMNS = ("Socket", "Expected", "Received", "Missing")
NO_SERVER_METRICS = "not measured: the run has no server metrics"


class ReportInputError(Exception):
    """The run directory cannot give a meaningful report; the message says why."""


@dataclass(frozen=True)
class HistoryRow:
    """One row of ``_stats_history.csv`` (percentiles in ms, ``None`` for N/A)."""

    timestamp: int
    user_count: int
    request_type: str
    name: str
    total_requests: int
    total_failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class StatsRow:
    """One row of ``_stats.csv``: whole-run figures of one request name."""

    request_type: str
    name: str
    requests: int
    failures: int
    median_ms: float | None
    max_ms: float
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class FailureRow:
    """One row of ``_failures.csv``."""

    method: str
    name: str
    error: str
    occurrences: int


@dataclass(frozen=True)
class PlannedStep:
    """One finished step of a capacity run (Unix seconds)."""

    index: int
    users: int
    ramp_start: float
    hold_start: float
    hold_end: float


@dataclass(frozen=True)
class GeneratorRow:
    """One second of one load-generator process (``None``: not recorded)."""

    time: float
    process: str
    cpu_percent: float | None
    loop_lag_ms: float | None
    runnable_percent: float | None = None  # outside samples only: ran or queued
    source: str = ""  # the file it came from: each file samples the same processes


@dataclass(frozen=True)
class MachineRow:
    """One second of the whole machine: cores busy (stolen time included), stolen."""

    time: float
    busy_cores: float
    steal_cores: float


@dataclass(frozen=True)
class DeliveryCounts:
    """The run's exact delivery counts: the last ``total`` row of ``_deliveries.csv``.

    The completeness fields are ``None`` where the file leaves them empty (protocols
    without per-socket accounts).  ``lowest_sampling_ratio`` is the smallest
    per-second ``Sampling Ratio`` of the ``total`` rows.
    """

    timestamp: float
    delivered: int
    missing: int
    duplicate: int
    out_of_order: int
    timed: int
    sampling_ratio: float | None
    lowest_sampling_ratio: float | None
    sockets_with_gaps: int | None
    expected: int | None
    received_expected: int | None
    completeness: float | None
    sockets_assessed: int | None
    sockets_complete: int | None
    lowest_socket_completeness: float | None

    @property
    def timed_share(self) -> float | None:
        """The share of the run's deliveries whose timing went to Locust."""
        return self.timed / self.delivered if self.delivered else None


@dataclass(frozen=True)
class SocketCompleteness:
    """One row of ``_completeness.csv``: one socket's account."""

    socket: str
    user_class: str
    process: str
    expected: int
    received: int
    missing: int
    completeness: float | None


@dataclass(frozen=True)
class RunInputs:
    """Everything the analysis needs, read from one run directory."""

    run_dir: Path
    prefix: str
    stats: tuple[StatsRow, ...]
    history: tuple[HistoryRow, ...]
    failures: tuple[FailureRow, ...]
    samples: tuple[Sample, ...]
    client_sockets: tuple[tuple[float, float], ...] = ()
    planned_steps: tuple[PlannedStep, ...] = ()
    generators: tuple[GeneratorRow, ...] = ()
    generator_source: str = ""  # which file, or "" when generator health is unknown
    machine: tuple[MachineRow, ...] = ()  # empty: the machine's CPU was not recorded
    run_info: dict[str, Any] = field(default_factory=dict)
    server_metrics: bool = True  # False: no server_metrics.csv (a server without /metrics)
    deliveries: DeliveryCounts | None = None
    socket_completeness: tuple[SocketCompleteness, ...] = ()


def find_prefix(run_dir: Path) -> str:
    """The ``--csv`` prefix used for the run (from ``*_stats_history.csv``)."""
    if not run_dir.is_dir():
        raise ReportInputError(f"{run_dir}: no such run directory")
    found = sorted(run_dir.glob("*" + HISTORY_SUFFIX))
    if not found:
        raise ReportInputError(
            f"{run_dir}: no Locust *{HISTORY_SUFFIX} (run locust with --csv "
            f"{run_dir}/<prefix> --csv-full-history)"
        )
    if len(found) > 1:
        listed = ", ".join(path.name for path in found)
        raise ReportInputError(f"{run_dir}: several Locust runs ({listed}); keep one")
    return found[0].name.removesuffix(HISTORY_SUFFIX)


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[dict[str, str]]:
    if not path.is_file():
        raise ReportInputError(f"{path}: missing")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in required if column not in (reader.fieldnames or [])]
        if missing:
            raise ReportInputError(f"{path}: missing column(s) {', '.join(missing)}")
        yield from reader


def _number(text: str) -> float | None:
    text = (text or "").strip()
    if text in ("", "N/A"):
        return None
    return float(text)


def _count(text: str) -> int:
    return int(_number(text) or 0)


def read_history(path: Path) -> tuple[HistoryRow, ...]:
    try:
        return tuple(
            HistoryRow(
                timestamp=_count(row["Timestamp"]),
                user_count=_count(row["User Count"]),
                request_type=row["Type"],
                name=row["Name"],
                total_requests=_count(row["Total Request Count"]),
                total_failures=_count(row["Total Failure Count"]),
                p50_ms=_number(row["50%"]),
                p95_ms=_number(row["95%"]),
                p99_ms=_number(row["99%"]),
            )
            for row in _rows(path, HISTORY_COLUMNS)
        )
    except ValueError as error:
        raise ReportInputError(f"{path}: not a Locust stats history ({error})") from None


def read_stats(path: Path) -> tuple[StatsRow, ...]:
    try:
        return tuple(
            StatsRow(
                request_type=row["Type"],
                name=row["Name"],
                requests=_count(row["Request Count"]),
                failures=_count(row["Failure Count"]),
                median_ms=_number(row.get("50%", "")),
                max_ms=_number(row["Max Response Time"]) or 0.0,
                p95_ms=_number(row.get("95%", "")),
                p99_ms=_number(row.get("99%", "")),
            )
            for row in _rows(path, STATS_COLUMNS)
        )
    except ValueError as error:
        raise ReportInputError(f"{path}: not a Locust stats file ({error})") from None


def read_failures(path: Path) -> tuple[FailureRow, ...]:
    try:
        return tuple(
            FailureRow(row["Method"], row["Name"], row["Error"], _count(row["Occurrences"]))
            for row in _rows(path, FAILURES_COLUMNS)
        )
    except ValueError as error:
        raise ReportInputError(f"{path}: not a Locust failures file ({error})") from None


def read_samples(path: Path) -> tuple[Sample, ...]:
    """The server's scrapes; empty when the run has none (no ``/metrics``)."""
    if not path.is_file():
        return ()
    try:
        return tuple(
            Sample(
                float(row["timestamp"]),
                row["series"],
                parse_labels(row["labels"]),
                float(row["value"]),
            )
            for row in _rows(path, METRICS_COLUMNS)
        )
    except ValueError as error:
        raise ReportInputError(f"{path}: not a server metrics file ({error})") from None


def read_client_sockets(path: Path) -> tuple[tuple[float, float], ...]:
    """(timestamp, open sockets) as the load generator counted them; empty if absent."""
    if not path.is_file():
        return ()
    try:
        return tuple(
            (float(row["Timestamp"]), float(row["Open Sockets"]))
            for row in _rows(path, SOCKETS_COLUMNS)
        )
    except ValueError as error:
        raise ReportInputError(f"{path}: not an open-sockets file ({error})") from None


def read_planned_steps(path: Path) -> tuple[PlannedStep, ...]:
    """The capacity shape's finished steps; empty when the run had none."""
    if not path.is_file():
        return ()
    try:
        return tuple(
            PlannedStep(
                int(row["step"]),
                int(row["users"]),
                float(row["ramp_start"]),
                float(row["hold_start"]),
                float(row["hold_end"]),
            )
            for row in _rows(path, STEPS_COLUMNS)
        )
    except ValueError as error:
        raise ReportInputError(f"{path}: not a capacity steps file ({error})") from None


def read_generators(path: Path) -> tuple[GeneratorRow, ...]:
    """Load-generator health rows; empty when the file is absent."""
    if not path.is_file():
        return ()
    try:
        return tuple(
            GeneratorRow(
                float(row["time"]),
                row["process"],
                _number(row["cpu_percent"]),
                _number(row["loop_lag_ms"]),
                _number(row.get("runnable_percent") or ""),
                path.name,
            )
            for row in _rows(path, GENERATORS_COLUMNS)
        )
    except ValueError as error:
        raise ReportInputError(f"{path}: not a generator health file ({error})") from None


def read_machine(path: Path) -> tuple[MachineRow, ...]:
    """The machine's CPU each second; empty when the file is absent."""
    if not path.is_file():
        return ()
    try:
        return tuple(
            MachineRow(
                float(row["time"]), float(row["busy_cores"]), float(row["steal_cores"])
            )
            for row in _rows(path, MACHINE_COLUMNS)
        )
    except ValueError as error:
        raise ReportInputError(f"{path}: not a machine CPU file ({error})") from None


def generator_health(run_dir: Path, prefix: str) -> tuple[tuple[GeneratorRow, ...], str]:
    """Every health sample of the run's load generators, and the files they came from.

    Locust's own ``_generators.csv`` (CPU and loop lag, from inside each process) and
    the runner's outside samples (``generator_processes.csv``: CPU and time runnable)
    are both evidence: a process saturated by either measure is saturated.
    """
    rows: list[GeneratorRow] = []
    sources: list[str] = []
    for path in (run_dir / f"{prefix}{GENERATORS_SUFFIX}", run_dir / GENERATOR_FILE):
        found = read_generators(path)
        if found:
            rows.extend(found)
            sources.append(path.name)
    return tuple(rows), " + ".join(sources)


def _optional_count(text: str | None) -> int | None:
    value = _number(text or "")
    return None if value is None else int(value)


def read_deliveries(path: Path) -> DeliveryCounts | None:
    """The run's final exact delivery counts; None when the file is absent or empty."""
    if not path.is_file():
        return None
    try:
        totals = [
            row
            for row in _rows(path, DELIVERIES_COLUMNS)
            if row["Process"] == DELIVERIES_TOTAL
        ]
        if not totals:
            return None
        # the latest row; of rows written in one second (a periodic write, then the
        # final one at the stop), the one written last
        last = max(
            enumerate(totals), key=lambda pair: (float(pair[1]["Timestamp"]), pair[0])
        )[1]
        ratios = [
            ratio
            for row in totals
            if (ratio := _number(row.get("Sampling Ratio") or "")) is not None
        ]
        return DeliveryCounts(
            timestamp=float(last["Timestamp"]),
            delivered=_count(last["Delivered"]),
            missing=_count(last["Missing"]),
            duplicate=_count(last.get("Duplicate") or ""),
            out_of_order=_count(last.get("Out Of Order") or ""),
            timed=_count(last.get("Timed") or last["Delivered"]),
            sampling_ratio=_number(last.get("Sampling Ratio") or ""),
            lowest_sampling_ratio=min(ratios, default=None),
            sockets_with_gaps=_optional_count(last.get("Sockets With Gaps")),
            expected=_optional_count(last.get("Expected")),
            received_expected=_optional_count(last.get("Received Expected")),
            completeness=_number(last.get("Completeness") or ""),
            sockets_assessed=_optional_count(last.get("Sockets Assessed")),
            sockets_complete=_optional_count(last.get("Sockets Complete")),
            lowest_socket_completeness=_number(
                last.get("Lowest Socket Completeness") or ""
            ),
        )
    except ValueError as error:
        raise ReportInputError(f"{path}: not a deliveries file ({error})") from None


def read_socket_completeness(path: Path) -> tuple[SocketCompleteness, ...]:
    """Each socket's account; empty when the file is absent."""
    if not path.is_file():
        return ()
    try:
        return tuple(
            SocketCompleteness(
                socket=row["Socket"],
                user_class=row.get("User Class") or "",
                process=row.get("Process") or "",
                expected=_count(row["Expected"]),
                received=_count(row["Received"]),
                missing=_count(row["Missing"]),
                completeness=_number(row.get("Completeness") or ""),
            )
            for row in _rows(path, COMPLETENESS_COLUMNS)
        )
    except ValueError as error:
        raise ReportInputError(f"{path}: not a completeness file ({error})") from None


def read_run_info(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except ValueError as error:
        raise ReportInputError(f"{path}: not JSON ({error})") from None
    return info if isinstance(info, dict) else {}


def load_run(run_dir: Path) -> RunInputs:
    """Read every input of the run in ``run_dir``."""
    prefix = find_prefix(run_dir)
    base = run_dir / prefix
    generators, generator_source = generator_health(run_dir, prefix)
    return RunInputs(
        run_dir=run_dir,
        prefix=prefix,
        stats=read_stats(Path(f"{base}{STATS_SUFFIX}")),
        history=read_history(Path(f"{base}{HISTORY_SUFFIX}")),
        failures=read_failures(Path(f"{base}{FAILURES_SUFFIX}")),
        samples=read_samples(run_dir / METRICS_FILE),
        server_metrics=(run_dir / METRICS_FILE).is_file(),
        client_sockets=read_client_sockets(Path(f"{base}{SOCKETS_SUFFIX}")),
        planned_steps=read_planned_steps(Path(f"{base}{STEPS_SUFFIX}")),
        generators=generators,
        generator_source=generator_source,
        machine=read_machine(run_dir / MACHINE_FILE),
        run_info=read_run_info(run_dir / RUN_INFO_FILE),
        deliveries=read_deliveries(Path(f"{base}{DELIVERIES_SUFFIX}")),
        socket_completeness=read_socket_completeness(Path(f"{base}{COMPLETENESS_SUFFIX}")),
    )


def history_span(run_dir: Path) -> tuple[float, float]:
    """First and last timestamp of the run's Locust history (for Prometheus queries)."""
    history = read_history(Path(f"{run_dir / find_prefix(run_dir)}{HISTORY_SUFFIX}"))
    if not history:
        raise ReportInputError(f"{run_dir}: the Locust stats history has no rows")
    stamps = [row.timestamp for row in history]
    return float(min(stamps)), float(max(stamps))
