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
"""

from __future__ import annotations

import csv
import time
from typing import Any

import gevent
from locust.runners import MasterRunner, WorkerRunner

from wsharness.loadclient import gauge
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
    return summed


class DeliveryTotals:
    """The latest snapshot of each process holding users."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.workers: dict[str, dict[str, Any]] = {}

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        if REPORT_KEY in data:
            self.workers[client_id] = data[REPORT_KEY]

    def snapshots(self) -> dict[str, dict[str, Any]]:
        if isinstance(self.runner, MasterRunner):
            return dict(self.workers)
        return {LOCAL: PROCESS.snapshot()}

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
    environment.events.worker_report.add_listener(totals.on_worker_report)
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if prefix:
        writer = DeliveryWriter(totals, prefix + CSV_SUFFIX)
        environment.events.quit.add_listener(writer.close)
        gevent.spawn(writer.run)
    gauge.WEB_ROWS.append(totals.web_rows)
