"""``--slo``: objectives that decide a Locust run's exit code (the Locust shell).

Importing this module (``wsharness.loadclient.suite`` does) adds its listeners:

- ``init_command_line_parser``: ``--slo OBJECTIVE``, repeatable (grammar in
  :mod:`wsharness.loadclient.slo`);
- ``test_start`` (master or standalone): every objective parsed; a malformed one
  stops the run at once with one line naming it and exit code 2;
- ``quitting`` (master or standalone; Locust picks the exit code right after it):
  the objectives judged on the whole run's statistics (the master's hold every
  worker's), ``<csv prefix>_slo.csv`` written with ``--csv``, and
  exit code 3 (:data:`~wsharness.loadclient.slo.EXIT_CODE_OBJECTIVE_FAILED`) when one
  failed;
- ``quit`` (after Locust's summary tables): the table and one line naming what failed.

When every objective holds the exit code is Locust's own (``--exit-code-on-error``
still applies to failed requests; pass ``--exit-code-on-error 0`` to let the
objectives alone decide).
"""

from __future__ import annotations

import csv
import logging
from typing import Any

import gevent
from locust import events
from locust.runners import WorkerRunner
from locust.stats import RequestStats, StatsEntry

from wsharness.loadclient import deliveries, delivery_report, report, slo

logger = logging.getLogger(__name__)
console = logging.getLogger("locust.stats_logger")  # where Locust prints its summary
SUFFIX = "_slo.csv"
_judged: list[slo.Verdict] = []  # judged at ``quitting``, printed at ``quit``


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--slo",
        action="append",
        default=None,
        metavar="OBJECTIVE",
        include_in_web_ui=False,
        help="objective deciding the exit code (repeatable), e.g. 'deliver:p99<250ms', "
        f"'errors<0.1%%', 'completeness>99.9%%'; exit {slo.EXIT_CODE_OBJECTIVE_FAILED} "
        "when one fails",
    )


class LocustMeasurements:
    """:class:`wsharness.loadclient.slo.Measurements` over Locust's ``RequestStats``."""

    def __init__(self, stats: RequestStats) -> None:
        self._stats = stats

    def _entry(self, request: str | None) -> StatsEntry | None:
        if request is None:
            return self._stats.total
        entries = [e for (name, _), e in self._stats.entries.items() if name == request]
        if len(entries) == 1:
            return entries[0]
        if not entries:
            return None
        merged = StatsEntry(self._stats, request, "", use_response_times_cache=False)
        for entry in entries:
            merged.extend(entry)
        return merged

    def requests(self, request: str | None) -> int:
        entry = self._entry(request)
        return entry.num_requests if entry else 0

    def failures(self, request: str | None) -> int:
        entry = self._entry(request)
        return entry.num_failures if entry else 0

    def percentile_ms(self, request: str, quantile: float) -> float | None:
        entry = self._entry(request)
        if entry is None or not entry.response_times:
            return None
        return float(entry.get_response_time_percentile(quantile))

    def max_ms(self, request: str) -> float | None:
        entry = self._entry(request)
        return float(entry.max_response_time) if entry and entry.response_times else None

    def completeness(self) -> slo.Completeness | None:
        return measured_completeness(self._stats)


def measured_completeness(stats: RequestStats) -> slo.Completeness | None:
    """Delivered / expected for ``completeness`` objectives, from the best count the
    run has: per-socket accounts (``--protocol relay`` and ``socketio``: messages
    published after each socket subscribed), else the exact delivery counts of the
    sequence numbers (``wsharness``), else ``deliver`` successes against the sequence
    gaps (a lower bound on what went missing)."""
    accounts = deliveries.run_completeness()
    if accounts is not None and accounts.expected:
        return slo.Completeness(accounts.received, accounts.expected, "per-socket accounts")
    counts = delivery_report.run_counts()
    if counts is not None and counts["delivered"] + counts["missing"] > 0:
        delivered = int(counts["delivered"])
        expected = delivered + int(counts["missing"])
        return slo.Completeness(delivered, expected, "exact delivery counts")
    deliver = stats.entries.get((report.DELIVER, report.REQUEST_TYPE))
    if deliver is None:
        return None
    gaps = sum(
        error.occurrences
        for error in stats.errors.values()
        if error.name == report.DELIVER and slo.GAP_MARKER in str(error.error)
    )
    return slo.completeness_from_counts(deliver.num_requests - deliver.num_failures, gaps)


def _is_worker(environment: Any) -> bool:
    return isinstance(environment.runner, WorkerRunner)


def _objectives(environment: Any) -> list[slo.Objective]:
    return slo.parse_objectives(getattr(environment.parsed_options, "slo", None))


def refuse_malformed(environment: Any, **_: Any) -> None:
    """Stop the run at once when an ``--slo`` value is not an objective."""
    if _is_worker(environment):
        return
    try:
        _objectives(environment)
    except slo.ObjectiveError as error:
        logger.error("wsharness: %s", error)
        environment.process_exit_code = slo.EXIT_CODE_BAD_OBJECTIVE
        headless = getattr(environment.parsed_options, "headless", False)
        gevent.spawn(environment.runner.quit if headless else environment.runner.stop)


def judge_at_quit(environment: Any, **_: Any) -> None:
    """Judge the objectives on the whole run, print and write them, set the exit code."""
    if _is_worker(environment) or environment.runner is None:
        return
    try:
        objectives = _objectives(environment)
    except slo.ObjectiveError:
        return  # refused at start already
    if not objectives:
        return
    verdicts = slo.evaluate(objectives, LocustMeasurements(environment.runner.stats))
    write_csv(environment, verdicts)
    code = slo.exit_code(verdicts)
    if code is not None and not environment.process_exit_code:
        environment.process_exit_code = code
    _judged[:] = verdicts


def print_after_summary(**_: Any) -> None:
    """The table and a one-line verdict, after Locust's own summary tables."""
    if not _judged:
        return
    console.info("")
    console.info("Objectives (--slo)")
    for line in slo.table(_judged):
        console.info(line)
    console.info("")
    failed = slo.exit_code(_judged) is not None
    (logger.error if failed else logger.info)(slo.summary(_judged))


def write_csv(environment: Any, verdicts: list[slo.Verdict]) -> None:
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix:
        return
    with open(f"{prefix}{SUFFIX}", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(slo.csv_rows(verdicts))


events.init_command_line_parser.add_listener(add_arguments)
events.test_start.add_listener(refuse_malformed)
events.quitting.add_listener(judge_at_quit)
events.quit.add_listener(print_after_summary)
