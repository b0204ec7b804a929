"""The open-socket gauge: counted per process, summed on the master, shown everywhere.

Locust counts users, not sockets, and a WebSocket run is judged by how many sockets
are open (the server autoscales on it).  Every process counts its own sockets;
workers send their counts with each stats report (``report_to_master``) and the
master sums them (``worker_report``).  The master (or the single process) then

* writes ``<--csv prefix>_sockets.csv``, one row per second appended like Locust's
  ``_stats_history.csv``: Timestamp, User Count, Open Sockets, Opened, Closed;
* logs ``open sockets: N (opened X, closed Y)`` every ``--sockets-log-interval``;
* adds a "WebSockets" tab to the web UI and a CSV download next to Locust's own;
  other modules add their rows to the tab through :data:`WEB_ROWS`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

logger = logging.getLogger(__name__)

REPORT_KEY = "wsh_sockets"
CSV_SUFFIX = "_sockets.csv"
CSV_COLUMNS = ("Timestamp", "User Count", "Open Sockets", "Opened", "Closed")
TAB_KEY = "wsh-sockets"

WEB_ROWS: list[Callable[[], list[dict[str, Any]]]] = []
"""More rows of the WebSockets tab (``{"name": ..., "value": ...}``), asked per refresh."""


class SocketGauge:
    """Sockets opened and closed by this process."""

    __slots__ = ("closed", "opened")

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0

    @property
    def open(self) -> int:
        return self.opened - self.closed

    def socket_opened(self) -> None:
        self.opened += 1

    def socket_closed(self) -> None:
        self.closed += 1

    def snapshot(self) -> dict[str, int]:
        return {"opened": self.opened, "closed": self.closed}


GAUGE = SocketGauge()


class SocketTotals:
    """The run-wide counts: this process's, or the sum of the workers' latest."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.workers: dict[str, dict[str, int]] = {}

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        if REPORT_KEY in data:
            self.workers[client_id] = data[REPORT_KEY]

    def snapshot(self) -> dict[str, int]:
        if not isinstance(self.runner, MasterRunner):
            return GAUGE.snapshot()
        opened = sum(w.get("opened", 0) for w in self.workers.values())
        closed = sum(w.get("closed", 0) for w in self.workers.values())
        return {"opened": opened, "closed": closed}

    def row(self) -> list[int]:
        counts = self.snapshot()
        users = self.runner.user_count if self.runner is not None else 0
        opened, closed = counts["opened"], counts["closed"]
        return [int(time.time()), users, opened - closed, opened, closed]


def _send_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data[REPORT_KEY] = GAUGE.snapshot()


class HistoryWriter:
    """Appends one row a second to ``<prefix>_sockets.csv``, and a last one at stop."""

    def __init__(self, totals: SocketTotals, path: str) -> None:
        self.totals = totals
        self.handle = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self.writer = csv.writer(self.handle)
        self.writer.writerow(CSV_COLUMNS)
        self.handle.flush()

    def write_row(self, **_: Any) -> None:
        if not self.handle.closed:
            self.writer.writerow(self.totals.row())
            self.handle.flush()

    def run(self) -> None:
        while not self.handle.closed:
            self.write_row()
            gevent.sleep(CSV_STATS_INTERVAL_SEC)

    def close(self, **_: Any) -> None:
        self.write_row()
        self.handle.close()


def _log_counts(totals: SocketTotals, interval: float) -> None:
    while True:
        gevent.sleep(interval)
        _, _, open_now, opened, closed = totals.row()
        logger.info("open sockets: %d (opened %d, closed %d)", open_now, opened, closed)


def _csv_text(totals: SocketTotals) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerow(totals.row())
    return buffer.getvalue()


def _extend_web_ui(web_ui: Any, totals: SocketTotals) -> None:
    from flask import Response, request  # Locust's web UI is Flask

    web_ui.template_args["extended_tabs"] = [{"title": "WebSockets", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {
            "key": TAB_KEY,
            "structure": [
                {"key": "name", "title": "Gauge"},
                {"key": "value", "title": "Value"},
            ],
        }
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "./wsharness/sockets/csv", "title": "Download open sockets CSV"}
    ]

    @web_ui.app.after_request
    def add_socket_stats(response: Any) -> Any:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        _, _, open_now, opened, closed = totals.row()
        rows = [
            {"name": "open sockets", "value": open_now},
            {"name": "opened", "value": opened},
            {"name": "closed", "value": closed},
        ]
        rows += [row for more in WEB_ROWS for row in more()]
        body = {**response.json, "extended_stats": [{"key": TAB_KEY, "data": rows}]}
        response.set_data(json.dumps(body))
        return response

    @web_ui.app.route("/wsharness/sockets/csv")
    def sockets_csv() -> Any:
        return Response(_csv_text(totals), mimetype="text/csv")


def on_init(environment: Any, **_: Any) -> None:
    """Wire the gauge into this process's runner, CSV output, log and web UI."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        environment.events.report_to_master.add_listener(_send_to_master)
        return
    totals = SocketTotals(runner)
    environment.events.worker_report.add_listener(totals.on_worker_report)
    options = environment.parsed_options
    prefix = getattr(options, "csv_prefix", None)
    if prefix:
        history = HistoryWriter(totals, prefix + CSV_SUFFIX)
        environment.events.test_stop.add_listener(history.write_row)
        environment.events.quit.add_listener(history.close)
        gevent.spawn(history.run)
    interval = float(getattr(options, "sockets_log_interval", 0) or 0)
    if interval > 0:
        gevent.spawn(_log_counts, totals, interval)
    if environment.web_ui is not None:
        _extend_web_ui(environment.web_ui, totals)
