"""Deliveries counted exactly, per socket and per process, and a fair sample timed.

Every ``message`` a virtual user receives is judged by its sequence tracker and
counted in two :class:`DeliveryCounts`: the user's own (its socket, across
reconnects) and the process's (:data:`PROCESS`).  Counting is a few integer
additions; what costs is timing a delivery (a Locust request event, a span), so the
process times every delivery while it receives at most ``--deliver-timings-per-second``
(2,000) a second, and above that an unbiased sample: each delivery is timed with
probability ``bound / deliveries in the last second`` (:class:`DeliverySampler`).
The ratio is written beside the counts, so Locust's ``deliver`` request count can be
read against the exact ``Delivered``.

Counts: ``delivered`` = messages received that were not duplicates; ``missing`` =
sequence numbers skipped and not (yet) arrived; ``duplicate`` = numbers received
again; ``out_of_order`` = numbers that arrived after a later one (they leave
``missing``).  Locust-free: :mod:`wsharness.loadclient.delivery_report` writes them.

With ``--protocol relay`` or ``socketio`` the process also assesses completeness
(:mod:`wsharness.loadclient.book`); :func:`run_completeness` is the run's figure as
this process knows it (on the master: all workers').
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from wsharness.loadclient.book import BOOK
from wsharness.loadclient.completeness import RunCompleteness
from wsharness.loadclient.sequence import Verdict

DEFAULT_TIMINGS_PER_SECOND = 2000


class DeliveryCounts:
    """Exact delivery counts of one socket or one process."""

    __slots__ = ("delivered", "duplicate", "missing", "out_of_order")

    def __init__(self) -> None:
        self.delivered = 0
        self.missing = 0
        self.duplicate = 0
        self.out_of_order = 0

    def count(self, verdict: Verdict, missing: int) -> None:
        """Add one judged message (``missing`` as :meth:`SequenceTracker.observe` says)."""
        if verdict is Verdict.DUPLICATE:
            self.duplicate += 1
            return
        self.delivered += 1
        if missing:
            self.missing += missing
            if verdict is Verdict.OUT_OF_ORDER:
                self.out_of_order += 1

    def as_dict(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "missing": self.missing,
            "duplicate": self.duplicate,
            "out_of_order": self.out_of_order,
        }


class DeliverySampler:
    """Chooses the deliveries to time: all up to ``bound`` a second, then a sample.

    The ratio for the coming second is ``bound / deliveries of the last second``; each
    delivery is then timed with that probability, whatever its socket, topic or
    latency, so the timed ones are an unbiased sample of the second's deliveries.
    """

    __slots__ = ("_random", "bound", "ratio", "timed")

    def __init__(self, bound: int = DEFAULT_TIMINGS_PER_SECOND) -> None:
        self.bound = bound  # 0: time every delivery
        self.ratio = 1.0
        self.timed = 0
        self._random = random.random

    def take(self) -> bool:
        """Whether to time this delivery (counts it when so)."""
        if self.ratio >= 1.0 or self._random() < self.ratio:
            self.timed += 1
            return True
        return False

    def retune(self, delivered_per_second: float) -> None:
        """Set the ratio for the next second from the rate of the last one."""
        if self.bound <= 0 or delivered_per_second <= self.bound:
            self.ratio = 1.0
        else:
            self.ratio = self.bound / delivered_per_second


@dataclass
class ProcessDeliveries:
    """This process's counts, sampler, and the rate of its last second."""

    counts: DeliveryCounts
    sampler: DeliverySampler
    sockets_with_gaps: int = 0
    per_second: float = 0.0
    _last_delivered: int = 0
    _last_at: float | None = None

    def tick(self, now: float) -> None:
        """Once a second (``now`` monotonic): the rate, and the sampler's next ratio."""
        if self._last_at is not None and now > self._last_at:
            delivered = self.counts.delivered - self._last_delivered
            self.per_second = delivered / (now - self._last_at)
            self.sampler.retune(self.per_second)
        self._last_at = now
        self._last_delivered = self.counts.delivered

    def snapshot(self) -> dict[str, Any]:
        """What a worker sends to the master, and what a CSV row is made of."""
        return {
            **self.counts.as_dict(),
            "timed": self.sampler.timed,
            "ratio": self.sampler.ratio,
            "per_second": self.per_second,
            "sockets_with_gaps": self.sockets_with_gaps,
            "completeness": None if BOOK.live is None else BOOK.live.to_wire(),
        }


PROCESS = ProcessDeliveries(DeliveryCounts(), DeliverySampler())


def run_completeness() -> RunCompleteness | None:
    """The run's completeness: final once the test stopped, else the latest so far.

    On the master (or a single process) it covers every socket of the run; on a
    worker only its own.  ``None`` when nothing was assessed (``--protocol
    wsharness`` and ``echo`` keep no accounts).  ``.ratio`` is received / expected.
    """
    return BOOK.final if BOOK.final is not None else BOOK.live
