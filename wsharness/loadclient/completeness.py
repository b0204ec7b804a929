"""Did every socket receive every message it should have?  Exact per-socket accounting.

Three pieces, all pure (no I/O, no clock of their own: every time is passed in, in
milliseconds since the epoch, the unit of the stamps' publish times):

- :class:`SocketAccount`, one per socket: which sequence numbers it received from
  each stream, a stream being (topic, publisher).  :meth:`SocketAccount.observe` judges
  each arrival as it comes (first, in order, gap, late, duplicate), in constant time
  on the usual in-order path, so a fast receive path can feed it every message; a
  skip is confirmed as a gap by :meth:`SocketAccount.settle` only if the numbers are
  still missing a grace period later (otherwise they were only out of order).
- :class:`PublishLedger`: what the publishers published, (sequence number, publish
  time) per stream.
- :func:`assess`: joins the two.  A message is *expected* on a socket when it was
  published at or after the socket's subscription plus a grace period (the time a
  server needs to attach the socket) and at or before the end of its window minus
  the grace period: the end of the run, or the socket's close, whichever is first; so
  what is still in flight when the run stops is not counted as missing.  A socket's
  *completeness* is the share of its expected messages it received; the run's is the
  sum of received over the sum of expected.

Received numbers are held as sorted disjoint intervals: one interval per stream for a
socket that misses nothing.  Accounts and ledgers have a wire form (plain lists and
dicts) so Locust workers can send them to the master, which assesses the whole run.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

Stream = tuple[str, str]
"""(topic, publisher): the key a sequence number counts in."""

DEFAULT_GRACE_MS = 2000.0


class Arrival(Enum):
    """What one received message says about its stream on this socket."""

    FIRST = "first"  # the first number from this stream: the socket's baseline
    IN_ORDER = "in order"
    GAP = "gap"  # numbers skipped (missing, unless they arrive late)
    LATE = "out of order"  # arrived after a higher number
    DUPLICATE = "duplicate"


class _Hole(NamedTuple):
    """Numbers ``low..high`` of ``stream`` skipped by an arrival at ``opened_at_ms``."""

    opened_at_ms: float
    stream: Stream
    low: int
    high: int


_FIRST = (Arrival.FIRST, 0)
_IN_ORDER = (Arrival.IN_ORDER, 0)
_DUPLICATE = (Arrival.DUPLICATE, 0)
_LATE = (Arrival.LATE, 0)


class SequenceSet:
    """Distinct sequence numbers as sorted, disjoint, non-adjacent intervals."""

    __slots__ = ("_ends", "_starts", "count")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self.count = 0

    @property
    def highest(self) -> int:
        return self._ends[-1]

    @property
    def lowest(self) -> int:
        return self._starts[0]

    def __len__(self) -> int:
        return self.count

    def __contains__(self, number: int) -> bool:
        index = bisect_right(self._starts, number) - 1
        return index >= 0 and number <= self._ends[index]

    def add(self, number: int) -> bool:
        """Add ``number``; False when it was already there."""
        starts, ends = self._starts, self._ends
        if starts and number == ends[-1] + 1:  # the usual case: next in order
            ends[-1] = number
        elif not starts or number > ends[-1] + 1:
            starts.append(number)
            ends.append(number)
        else:
            index = bisect_right(starts, number) - 1
            if index >= 0 and number <= ends[index]:
                return False
            self._insert(index, number)
        self.count += 1
        return True

    def _insert(self, index: int, number: int) -> None:
        """Insert a number that falls between interval ``index`` and the next."""
        starts, ends = self._starts, self._ends
        joins_left = index >= 0 and ends[index] + 1 == number
        joins_right = index + 1 < len(starts) and starts[index + 1] - 1 == number
        if joins_left and joins_right:
            ends[index] = ends[index + 1]
            del starts[index + 1], ends[index + 1]
        elif joins_left:
            ends[index] = number
        elif joins_right:
            starts[index + 1] = number
        else:
            starts.insert(index + 1, number)
            ends.insert(index + 1, number)

    def count_between(self, low: int, high: int) -> int:
        """How many numbers in ``[low, high]``."""
        if high < low or not self._starts:
            return 0
        total = 0
        first = max(bisect_right(self._starts, low) - 1, 0)
        for index in range(first, len(self._starts)):
            start, end = self._starts[index], self._ends[index]
            if start > high:
                break
            total += max(0, min(end, high) - max(start, low) + 1)
        return total

    @property
    def holes(self) -> int:
        """Numbers missing between the lowest and the highest received."""
        return self.highest - self.lowest + 1 - self.count if self.count else 0

    def intervals(self) -> list[list[int]]:
        return [[start, end] for start, end in zip(self._starts, self._ends, strict=True)]

    @classmethod
    def from_intervals(cls, intervals: Iterable[Iterable[int]]) -> SequenceSet:
        """The set back from :meth:`intervals` (any order, overlaps merged)."""
        made = cls()
        for low, high in sorted((int(low), int(high)) for low, high in intervals):
            if high < low:
                raise ValueError(f"interval [{low}, {high}] is reversed")
            if made._starts and low <= made._ends[-1] + 1:
                made.count += max(0, high - made._ends[-1])
                made._ends[-1] = max(made._ends[-1], high)
                continue
            made._starts.append(low)
            made._ends.append(high)
            made.count += high - low + 1
        return made


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """Exact counts of one socket (or, summed, of a process)."""

    delivered: int = 0  # distinct messages received
    duplicates: int = 0
    out_of_order: int = 0
    gaps: int = 0  # holes confirmed: still open one grace period after they appeared
    missing: int = 0  # numbers still missing between the lowest and highest received

    def __add__(self, other: DeliveryCounts) -> DeliveryCounts:
        return DeliveryCounts(
            self.delivered + other.delivered,
            self.duplicates + other.duplicates,
            self.out_of_order + other.out_of_order,
            self.gaps + other.gaps,
            self.missing + other.missing,
        )


class SocketAccount:
    """What one socket received, per stream, from its subscription on."""

    __slots__ = (
        "_pending",
        "_received",
        "closed_at_ms",
        "duplicates",
        "gaps",
        "out_of_order",
        "socket_id",
        "subscribed_at_ms",
        "topics",
    )

    def __init__(
        self,
        socket_id: str,
        subscribed_at_ms: float,
        topics: Iterable[str] | None = None,
    ) -> None:
        """``topics``: the topics it subscribed to (None: every stream is for it)."""
        self.socket_id = socket_id
        self.subscribed_at_ms = subscribed_at_ms
        self.topics = None if topics is None else frozenset(topics)
        self.closed_at_ms: float | None = None
        self._received: dict[Stream, SequenceSet] = {}
        self._pending: deque[_Hole] | None = None  # holes to confirm, oldest first
        self.duplicates = 0
        self.out_of_order = 0
        self.gaps = 0

    def observe(self, stream: Stream, sequence: int, at_ms: float) -> tuple[Arrival, int]:
        """Judge one arrival at ``at_ms``; the verdict and how many numbers it skipped.

        A skip is provisional: the numbers may still arrive out of order (Pub/Sub
        does not keep order without ordering keys).  :meth:`settle` confirms it.
        """
        seen = self._received.get(stream)
        if seen is None:
            seen = self._received[stream] = SequenceSet()
            seen.add(sequence)
            return _FIRST
        ends = seen._ends
        highest = ends[-1]
        if sequence == highest + 1:  # the usual case, inlined
            ends[-1] = sequence
            seen.count += 1
            return _IN_ORDER
        if sequence > highest:
            seen.add(sequence)
            if self._pending is None:  # made on the first skip: most sockets never skip
                self._pending = deque()
            self._pending.append(_Hole(at_ms, stream, highest + 1, sequence - 1))
            return Arrival.GAP, sequence - highest - 1
        if not seen.add(sequence):
            self.duplicates += 1
            return _DUPLICATE
        self.out_of_order += 1
        return _LATE

    def settle(self, now_ms: float, grace_ms: float) -> list[tuple[Stream, int]]:
        """Confirm the holes open for ``grace_ms``: (stream, numbers missing) of each.

        Call it every second or so, and once at the end; each confirmed hole is one
        gap (report it then), a hole filled meanwhile was only out of order.
        """
        confirmed: list[tuple[Stream, int]] = []
        pending = self._pending
        while pending and pending[0].opened_at_ms <= now_ms - grace_ms:
            hole = pending.popleft()
            filled = self._received[hole.stream].count_between(hole.low, hole.high)
            missing = hole.high - hole.low + 1 - filled
            if missing > 0:
                self.gaps += 1
                confirmed.append((hole.stream, missing))
        return confirmed

    @property
    def unsettled(self) -> bool:
        """Whether a skip waits for :meth:`settle` to confirm it (or not)."""
        return bool(self._pending)

    def close(self, at_ms: float) -> None:
        """The socket closed: its window ends here (a reconnect gets a new account)."""
        if self.closed_at_ms is None:
            self.closed_at_ms = at_ms

    def received(self, stream: Stream) -> SequenceSet | None:
        return self._received.get(stream)

    @property
    def streams(self) -> Iterator[Stream]:
        return iter(self._received)

    def wants(self, stream: Stream) -> bool:
        return self.topics is None or stream[0] in self.topics

    def counts(self) -> DeliveryCounts:
        sets = self._received.values()
        return DeliveryCounts(
            delivered=sum(s.count for s in sets),
            duplicates=self.duplicates,
            out_of_order=self.out_of_order,
            gaps=self.gaps,
            missing=sum(s.holes for s in sets),
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "socket": self.socket_id,
            "subscribed_at": self.subscribed_at_ms,
            "closed_at": self.closed_at_ms,
            "topics": None if self.topics is None else sorted(self.topics),
            "received": [[t, p, s.intervals()] for (t, p), s in self._received.items()],
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "gaps": self.gaps,
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> SocketAccount:
        account = cls(wire["socket"], float(wire["subscribed_at"]), wire["topics"])
        account.closed_at_ms = wire["closed_at"]
        for topic, publisher, intervals in wire["received"]:
            account._received[(topic, publisher)] = SequenceSet.from_intervals(intervals)
        account.duplicates = int(wire["duplicates"])
        account.out_of_order = int(wire["out_of_order"])
        account.gaps = int(wire["gaps"])
        return account


class PublishLedger:
    """Every publish: (publish time, sequence number) per stream, in time order."""

    __slots__ = ("_streams",)

    def __init__(self) -> None:
        self._streams: dict[Stream, tuple[list[float], list[int]]] = {}

    def record(self, stream: Stream, sequence: int, published_at_ms: float) -> None:
        """One publish that may have reached the server (refused ones are not)."""
        times, sequences = self._streams.setdefault(stream, ([], []))
        if not times or published_at_ms >= times[-1]:
            times.append(published_at_ms)
            sequences.append(sequence)
            return
        index = bisect_right(times, published_at_ms)
        times.insert(index, published_at_ms)
        sequences.insert(index, sequence)

    @property
    def streams(self) -> list[Stream]:
        return list(self._streams)

    def published(self) -> int:
        return sum(len(times) for times, _ in self._streams.values())

    def window(
        self, stream: Stream, start_ms: float, end_ms: float
    ) -> tuple[int, int, int]:
        """(first, last sequence number, count) published in ``[start_ms, end_ms]``.

        A publisher numbers its publishes in time order, so the numbers of a window are
        the run from the first to the last; (0, -1, 0) for an empty window.
        """
        entry = self._streams.get(stream)
        if entry is None or end_ms < start_ms:
            return (0, -1, 0)
        times, sequences = entry
        low, high = bisect_left(times, start_ms), bisect_right(times, end_ms)
        if low >= high:
            return (0, -1, 0)
        return (sequences[low], sequences[high - 1], high - low)

    def to_wire(self) -> list[list[Any]]:
        return [
            [topic, publisher, [[s, t] for t, s in zip(times, seqs, strict=True)]]
            for (topic, publisher), (times, seqs) in self._streams.items()
        ]

    def merge_wire(self, wire: list[list[Any]]) -> None:
        """Add the publishes of another process's ledger."""
        for topic, publisher, entries in wire:
            for sequence, published_at in entries:
                self.record((topic, publisher), int(sequence), float(published_at))


@dataclass(frozen=True, slots=True)
class SocketCompleteness:
    """One socket's verdict: of what it should have received, how much it did."""

    socket_id: str
    expected: int
    received: int  # of the expected
    extra: int  # received but outside its window (too early, or still in flight)
    counts: DeliveryCounts

    @property
    def missing(self) -> int:
        return self.expected - self.received

    @property
    def ratio(self) -> float | None:
        """``received / expected``; None when nothing was expected."""
        return self.received / self.expected if self.expected else None


@dataclass(frozen=True, slots=True)
class RunCompleteness:
    """The run's verdict over every socket assessed."""

    sockets: int
    expected: int
    received: int
    complete_sockets: int  # received everything expected (and expected something)
    lowest: float | None  # the worst socket's ratio

    @property
    def missing(self) -> int:
        return self.expected - self.received

    @property
    def ratio(self) -> float | None:
        return self.received / self.expected if self.expected else None

    def to_wire(self) -> dict[str, Any]:
        return {
            "sockets": self.sockets,
            "expected": self.expected,
            "received": self.received,
            "complete_sockets": self.complete_sockets,
            "lowest": self.lowest,
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> RunCompleteness:
        lowest = wire.get("lowest")
        return cls(
            int(wire.get("sockets", 0)),
            int(wire.get("expected", 0)),
            int(wire.get("received", 0)),
            int(wire.get("complete_sockets", 0)),
            None if lowest is None else float(lowest),
        )


NOTHING_ASSESSED = RunCompleteness(0, 0, 0, 0, None)


def combine(parts: Iterable[RunCompleteness]) -> RunCompleteness:
    """Several processes' verdicts as one: sums, and the worst socket of all."""
    total = NOTHING_ASSESSED
    for part in parts:
        lows = [low for low in (total.lowest, part.lowest) if low is not None]
        total = RunCompleteness(
            total.sockets + part.sockets,
            total.expected + part.expected,
            total.received + part.received,
            total.complete_sockets + part.complete_sockets,
            min(lows) if lows else None,
        )
    return total


def assess(
    account: SocketAccount,
    ledger: PublishLedger,
    until_ms: float,
    grace_ms: float = DEFAULT_GRACE_MS,
) -> SocketCompleteness:
    """One socket's completeness at ``until_ms`` (the run's end, or now)."""
    start = account.subscribed_at_ms + grace_ms
    end = until_ms if account.closed_at_ms is None else min(until_ms, account.closed_at_ms)
    end -= grace_ms
    expected = received = 0
    for stream in ledger.streams:
        if not account.wants(stream):
            continue
        first, last, count = ledger.window(stream, start, end)
        if not count:
            continue
        expected += count
        seen = account.received(stream)
        if seen is not None:
            received += min(seen.count_between(first, last), count)
    counts = account.counts()
    return SocketCompleteness(
        account.socket_id, expected, received, counts.delivered - received, counts
    )


def summarise(results: Iterable[SocketCompleteness]) -> RunCompleteness:
    """The run's completeness: sums over sockets, and the worst socket."""
    sockets = expected = received = complete = 0
    lowest: float | None = None
    for result in results:
        sockets += 1
        expected += result.expected
        received += result.received
        ratio = result.ratio
        if ratio is None:
            continue
        complete += ratio == 1.0
        lowest = ratio if lowest is None else min(lowest, ratio)
    return RunCompleteness(sockets, expected, received, complete, lowest)
