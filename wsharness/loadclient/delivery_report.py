"""The delivery counts of every process, in ``<--csv prefix>_deliveries.csv`` and the UI.

Each process counts its deliveries exactly (:mod:`wsharness.loadclient.deliveries`);
workers send their latest counts with each stats report (``report_to_master``) and
the master (or the single process) writes one row a second per process holding
users, plus a ``total`` row, to ``<prefix>_deliveries.csv``:

``Timestamp`` (unix s), ``Process`` (``local``, a worker's id, or ``total``),
``Delivered``, ``Missing``, ``Duplicate``, ``Out Of Order``, ``Timed`` (deliveries
whose timing went to Locust), ``Sampling Ratio`` (the share of the last second's
deliveries timed), ``Deliveries/s``, ``Sockets With Gaps`` (sockets that missed at
least one message).  Counts are totals since the start, like Locust's.  The same
figures are rows of the web UI's WebSockets tab.

With ``--protocol relay`` or ``socketio`` (:mod:`wsharness.loadclient.book`):
``Expected`` (messages the sockets should have received: published from a socket's
subscription plus the grace period to its end minus the grace period),
``Received Expected`` (of those, received), ``Completeness`` (their ratio),
``Sockets Assessed``, ``Sockets Complete`` (received all they were expected to) and
``Lowest Socket Completeness``; assessed every few seconds during the run, and in the
rows written at the end (the last ``total`` row is the run's verdict) from every
process's accounts at the stop.  Empty cells for the other protocols.
"""

from __future__ import annotations

import csv
import time
from typing import Any

import gevent
from locust.runners import MasterRunner, WorkerRunner

from wsharness.loadclient import gauge
from wsharness.loadclient.book import BOOK
from wsharness.loadclient.completeness import NOTHING_ASSESSED, RunCompleteness, combine
from wsharness.loadclient.deliveries import PROCESS

REPORT_KEY = "wsh_deliveries"
CSV_SUFFIX = "_deliveries.csv"
CSV_COLUMNS = (
    "Timestamp",
    "Process",
    "Delivered",
    "Missing",
    "Duplicate",
    "Out Of Order",
    "Timed",
    "Sampling Ratio",
    "Deliveries/s",
    "Sockets With Gaps",
    "Expected",
    "Received Expected",
    "Completeness",
    "Sockets Assessed",
    "Sockets Complete",
    "Lowest Socket Completeness",
)
TOTAL = "total"
LOCAL = "local"
_COUNTS = (
    "delivered",
    "missing",
    "duplicate",
    "out_of_order",
    "timed",
    "sockets_with_gaps",
)


def process_name(runner: Any) -> str:
    """How this process is named in the CSVs: ``local``, ``master`` or the worker id."""
    if isinstance(runner, WorkerRunner):
        return str(runner.client_id)
    if isinstance(runner, MasterRunner):
        return "master"
    return LOCAL


def total(snapshots: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run-wide counts of several processes' snapshots."""
    summed: dict[str, Any] = {
        key: sum(s.get(key, 0) for s in snapshots.values()) for key in _COUNTS
    }
    rate = sum(s.get("per_second", 0.0) for s in snapshots.values())
    timed_rate = sum(
        s.get("per_second", 0.0) * s.get("ratio", 1.0) for s in snapshots.values()
    )
    summed["per_second"] = rate
    summed["ratio"] = timed_rate / rate if rate else 1.0
    parts = [s["completeness"] for s in snapshots.values() if s.get("completeness")]
    verdict = combine(RunCompleteness.from_wire(part) for part in parts)
    summed["completeness"] = verdict.to_wire() if parts else None
    return summed


class DeliveryTotals:
    """The latest snapshot of each process holding users."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.workers: dict[str, dict[str, Any]] = {}

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        if REPORT_KEY in data:
            self.workers[client_id] = data[REPORT_KEY]
            workers = self.workers.values()
            parts = [s["completeness"] for s in workers if s.get("completeness")]
            if parts:  # the run so far, for deliveries.run_completeness() on the master
                BOOK.live = combine(RunCompleteness.from_wire(part) for part in parts)

    def snapshots(self) -> dict[str, dict[str, Any]]:
        if isinstance(self.runner, MasterRunner):
            snapshots = {name: dict(s) for name, s in self.workers.items()}
        else:
            snapshots = {LOCAL: PROCESS.snapshot()}
        if BOOK.final is not None:  # after the stop: the final verdict of each process
            for name, snapshot in snapshots.items():
                final = BOOK.final_by_process.get(name, NOTHING_ASSESSED)
                snapshot["completeness"] = final.to_wire() if final.sockets else None
        return snapshots

    def rows(self) -> list[list[Any]]:
        now = int(time.time())
        snapshots = self.snapshots()
        named = [*sorted(snapshots.items()), (TOTAL, total(snapshots))]
        return [[now, name, *_cells(snapshot)] for name, snapshot in named]

    def web_rows(self) -> list[dict[str, Any]]:
        counts = total(self.snapshots())
        return [
            {"name": "delivered", "value": counts["delivered"]},
            {"name": "missing", "value": counts["missing"]},
            {"name": "duplicate", "value": counts["duplicate"]},
            {"name": "out of order", "value": counts["out_of_order"]},
            {"name": "deliveries/s", "value": round(counts["per_second"])},
            {"name": "deliver timings sampled", "value": f"{counts['ratio']:.3f}"},
            {"name": "completeness", "value": _completeness_text(counts["completeness"])},
        ]


def _completeness_text(wire: dict[str, Any] | None) -> str:
    if not wire:
        return "n/a"
    verdict = RunCompleteness.from_wire(wire)
    ratio = verdict.ratio
    share = "n/a" if ratio is None else f"{100.0 * ratio:.2f}%"
    return f"{share} ({verdict.received} of {verdict.expected}, {verdict.sockets} sockets)"


def _completeness_cells(wire: dict[str, Any] | None) -> list[Any]:
    if not wire:
        return ["", "", "", "", "", ""]
    verdict = RunCompleteness.from_wire(wire)
    ratio, lowest = verdict.ratio, verdict.lowest
    return [
        verdict.expected,
        verdict.received,
        "" if ratio is None else round(ratio, 6),
        verdict.sockets,
        verdict.complete_sockets,
        "" if lowest is None else round(lowest, 6),
    ]


def _cells(snapshot: dict[str, Any]) -> list[Any]:
    return [
        snapshot.get("delivered", 0),
        snapshot.get("missing", 0),
        snapshot.get("duplicate", 0),
        snapshot.get("out_of_order", 0),
        snapshot.get("timed", 0),
        round(float(snapshot.get("ratio", 1.0)), 4),
        round(float(snapshot.get("per_second", 0.0)), 1),
        snapshot.get("sockets_with_gaps", 0),
        *_completeness_cells(snapshot.get("completeness")),
    ]


class DeliveryWriter:
    """Appends the rows of each second to ``<prefix>_deliveries.csv``."""

    def __init__(self, totals: DeliveryTotals, path: str) -> None:
        self.totals = totals
        self.handle = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self.writer = csv.writer(self.handle)
        self.writer.writerow(CSV_COLUMNS)
        self.handle.flush()

    def write_rows(self, **_: Any) -> None:
        if not self.handle.closed:
            self.writer.writerows(self.totals.rows())
            self.handle.flush()

    def run(self) -> None:
        while not self.handle.closed:
            gevent.sleep(1.0)
            self.write_rows()

    def close(self, **_: Any) -> None:
        self.write_rows()
        self.handle.close()


RUN_TOTALS: list[DeliveryTotals] = []  # the master's (or single process's) totals


def run_counts() -> dict[str, Any] | None:
    """The run's exact delivery counts so far (``delivered``, ``missing``, …) as the
    master (or the single process) sees them; None in a worker or before ``init``."""
    return total(RUN_TOTALS[0].snapshots()) if RUN_TOTALS else None


def _send_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data[REPORT_KEY] = PROCESS.snapshot()


def set_timing_bound(environment: Any, **_: Any) -> None:
    """``--deliver-timings-per-second`` for this process's sampler (read per test)."""
    bound = getattr(environment.parsed_options, "deliver_timings_per_second", None)
    if bound is not None:
        PROCESS.sampler.bound = int(bound)


def on_init(environment: Any, **_: Any) -> None:
    """Wire the delivery counts into this process's runner, CSV output and web UI."""
    set_timing_bound(environment)
    environment.events.test_start.add_listener(set_timing_bound)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        environment.events.report_to_master.add_listener(_send_to_master)
        return
    totals = DeliveryTotals(runner)
    RUN_TOTALS[:] = [totals]
    environment.events.worker_report.add_listener(totals.on_worker_report)
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if prefix:
        writer = DeliveryWriter(totals, prefix + CSV_SUFFIX)
        environment.events.quit.add_listener(writer.close)
        gevent.spawn(writer.run)
    gauge.WEB_ROWS.append(totals.web_rows)
