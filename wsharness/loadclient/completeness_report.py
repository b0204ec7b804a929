"""Completeness in a Locust run: the book's clock, its messages, the summary at the end.

The Locust shell around :data:`wsharness.loadclient.book.BOOK`, in every process:

- ``test_start``: the book starts over, with ``--completeness-grace``;
- every second: skips open for the grace period are confirmed as gaps; every
  :data:`ASSESS_EVERY_S` the sockets are assessed so far (the completeness columns of
  ``_deliveries.csv``); a worker sends the publishes of its publishers to the master
  (message ``wsh_publishes``), which passes them on to every other worker, so each
  process assesses its sockets against every publisher's messages;
- ``test_stop``: the final verdict.  A single process assesses its own book.  The
  master asks each worker for its accounts and publishes (``wsh_final_request``,
  answered by ``wsh_final``), waits for them (at most :data:`FINAL_WAIT_S`) and
  assesses the whole run: each worker's sockets until the moment it answered, so a
  message still in flight then is not missing;
- ``quit`` (the master or the single process): the verdict is printed after Locust's
  summary, and written per socket to ``<--csv prefix>_completeness.csv``
  (:data:`CSV_COLUMNS`).

Nothing runs for ``--protocol wsharness`` or ``echo`` beyond an empty check a second.
"""

from __future__ import annotations

import csv
import logging
from typing import Any

import gevent
from gevent.event import Event
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from wsharness.contract.clock import now_ms
from wsharness.loadclient.book import BOOK, SocketVerdict
from wsharness.loadclient.completeness import RunCompleteness
from wsharness.loadclient.delivery_report import LOCAL
from wsharness.loadclient.options import LoadOptions

logger = logging.getLogger(__name__)

ASSESS_EVERY_S = 5
FINAL_WAIT_S = 10.0
PUBLISHES = "wsh_publishes"
FINAL_REQUEST = "wsh_final_request"
FINAL = "wsh_final"
CSV_SUFFIX = "_completeness.csv"
CSV_COLUMNS = (
    "Socket",
    "User Class",
    "Process",
    "Subscribed At",
    "Closed At",
    "Expected",
    "Received",
    "Missing",
    "Extra",
    "Duplicates",
    "Out Of Order",
    "Gaps",
    "Completeness",
)


def percent(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{100.0 * ratio:.2f}%"


def summary_line(verdict: RunCompleteness, grace_s: float) -> str:
    """The verdict as the run summary prints it."""
    return (
        f"Completeness: {verdict.received} of {verdict.expected} expected messages "
        f"received ({percent(verdict.ratio)}) on {verdict.sockets} sockets; "
        f"{verdict.complete_sockets} complete, lowest socket {percent(verdict.lowest)} "
        f"(expected: published from a socket's subscription + {grace_s:g} s to its end "
        f"- {grace_s:g} s; later ones were still in flight)"
    )


def socket_row(verdict: SocketVerdict) -> list[Any]:
    result = verdict.result
    counts = result.counts
    closed = verdict.closed_at_ms
    ratio = result.ratio
    return [
        result.socket_id,
        verdict.user_class,
        verdict.process,
        round(verdict.subscribed_at_ms / 1000.0, 3),
        "" if closed is None else round(closed / 1000.0, 3),
        result.expected,
        result.received,
        result.missing,
        result.extra,
        counts.duplicates,
        counts.out_of_order,
        counts.gaps,
        "" if ratio is None else round(ratio, 6),
    ]


def write_sockets(path: str, sockets: list[SocketVerdict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(socket_row(verdict) for verdict in sockets)


class Bookkeeper:
    """This process's part: the clock of the book, the messages, the final verdict."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.runner = environment.runner
        self.finals: dict[str, dict[str, Any]] = {}
        self.all_in = Event()
        self.waiting_for: set[str] = set()
        self.seconds = 0  # since the test started (the live verdicts keep its pace)

    @property
    def options(self) -> LoadOptions:
        return LoadOptions.from_parsed(self.environment.parsed_options)

    @property
    def grace_s(self) -> float:
        return float(self.options.chosen.completeness_grace)

    def on_test_start(self, **_: Any) -> None:
        BOOK.reset(grace_ms=1000.0 * self.grace_s)
        self.seconds = 0

    def keep(self) -> None:
        """Once a second: gaps confirmed, publishes passed on; now and then assessed."""
        while True:
            gevent.sleep(1.0)
            self.seconds += 1
            now = now_ms()
            BOOK.settle(now)
            if isinstance(self.runner, WorkerRunner):
                unsent = BOOK.take_unsent()
                if unsent:
                    self.runner.send_message(PUBLISHES, {"publishes": unsent})
            if BOOK.accounts and self.seconds % ASSESS_EVERY_S == 0:
                BOOK.assess(now)

    # --- messages ---------------------------------------------------------------------

    def on_publishes(self, environment: Any, msg: Any, **_: Any) -> None:
        """A worker's publishes: the master passes them on; a worker learns them."""
        if isinstance(self.runner, MasterRunner):
            for client in self.runner.clients.all:
                if client.id != msg.node_id:
                    self.runner.send_message(PUBLISHES, msg.data, client_id=client.id)
        else:
            BOOK.learn(msg.data["publishes"])

    def on_final_request(self, environment: Any, msg: Any, **_: Any) -> None:
        """The master asks for this worker's accounts and publishes."""
        now = now_ms()
        BOOK.settle(now)
        self.runner.send_message(FINAL, BOOK.final_report(now))

    def on_final(self, environment: Any, msg: Any, **_: Any) -> None:
        self.finals[msg.node_id] = msg.data
        self.waiting_for.discard(msg.node_id)
        if not self.waiting_for:
            self.all_in.set()

    # --- the end ----------------------------------------------------------------------

    def on_test_stop(self, **_: Any) -> None:
        now = now_ms()
        if isinstance(self.runner, MasterRunner):
            if self.options.protocol.deliveries == "stamp":
                self._gather_workers()
                BOOK.conclude(self.finals, now)
        elif not isinstance(self.runner, WorkerRunner):
            BOOK.settle(now)
            if BOOK.in_use:
                BOOK.conclude({LOCAL: BOOK.final_report(now)}, now)

    def _gather_workers(self) -> None:
        workers = {c.id for c in self.runner.clients.all if c.state != STATE_MISSING}
        self.finals, self.waiting_for = {}, set(workers)
        self.all_in.clear()
        if not workers:
            return
        for worker in workers:
            self.runner.send_message(FINAL_REQUEST, None, client_id=worker)
        if not self.all_in.wait(FINAL_WAIT_S):
            logger.warning(
                "completeness: no final accounts from %s within %.0f s; assessed without",
                ", ".join(sorted(self.waiting_for)),
                FINAL_WAIT_S,
            )

    def on_quit(self, **_: Any) -> None:
        final = BOOK.final
        if final is None or not final.sockets:
            return
        print(summary_line(final, self.grace_s), flush=True)
        prefix = getattr(self.environment.parsed_options, "csv_prefix", None)
        if prefix:
            write_sockets(prefix + CSV_SUFFIX, BOOK.final_sockets)


def on_init(environment: Any, **_: Any) -> None:
    """Keep this process's book and take part in the final verdict."""
    keeper = Bookkeeper(environment)
    events = environment.events
    events.test_start.add_listener(keeper.on_test_start)
    events.test_stop.add_listener(keeper.on_test_stop)
    runner = environment.runner
    if runner is None:
        return
    if isinstance(runner, MasterRunner | WorkerRunner):
        runner.register_message(PUBLISHES, keeper.on_publishes)
    if isinstance(runner, WorkerRunner):
        runner.register_message(FINAL_REQUEST, keeper.on_final_request)
    else:
        if isinstance(runner, MasterRunner):
            runner.register_message(FINAL, keeper.on_final)
        events.quit.add_listener(keeper.on_quit)
    if not isinstance(runner, MasterRunner):
        gevent.spawn(keeper.keep)
