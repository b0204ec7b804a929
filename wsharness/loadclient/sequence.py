"""Exact loss and duplicate detection from the publishers' sequence numbers.

Each publisher stamps ``data`` with its id (``pub``) and a sequence number
(``seq``) counted per topic.  A receiver remembers the last number per (topic,
publisher): the next one must be exactly one more.  The first number seen is the
baseline (a subscriber joins mid-stream); a jump is a gap, a repeat a duplicate.
The numbers a gap skipped are remembered (as ranges, the last ``MAX_HOLES`` gaps per
publisher), so one that arrives after all is told apart from a duplicate: it is
out of order, and no longer missing.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

PUBLISHER_FIELD = "pub"
SEQUENCE_FIELD = "seq"


class Verdict(Enum):
    IN_ORDER = "in order"
    FIRST = "first"
    GAP = "gap"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out of order"
    UNSTAMPED = "unstamped"


MAX_HOLES = 64
"""Gaps remembered per (topic, publisher); a number from an older one is a duplicate."""


def stamp(publisher: str, sequence: int, payload: str = "") -> dict[str, Any]:
    """The ``data`` of one publish."""
    data: dict[str, Any] = {PUBLISHER_FIELD: publisher, SEQUENCE_FIELD: sequence}
    if payload:
        data["pad"] = payload
    return data


_IN_ORDER = (Verdict.IN_ORDER, 0)
_FIRST = (Verdict.FIRST, 0)
_UNSTAMPED = (Verdict.UNSTAMPED, 0)


def stamp_of(topic: str, data: Any) -> tuple[tuple[str, str] | None, int]:
    """The (topic, publisher) key and sequence number of a message (key None: none)."""
    if not isinstance(data, dict):
        return None, 0
    publisher, sequence = data.get(PUBLISHER_FIELD), data.get(SEQUENCE_FIELD)
    if not isinstance(publisher, str) or not isinstance(sequence, int):
        return None, 0
    return (topic, publisher), sequence


class SequenceTracker:
    """The last sequence number seen per (topic, publisher), and the gaps before it."""

    __slots__ = ("_holes", "_last")

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}
        self._holes: dict[tuple[str, str], list[list[int]]] | None = None  # lazily

    def observe(self, topic: str, data: Any) -> tuple[Verdict, int]:
        """Judge one message; returns the verdict and how many numbers went missing.

        The count is positive for a gap, ``-1`` for a late arrival (one number fewer
        missing), else 0.
        """
        key, sequence = stamp_of(topic, data)
        if key is None:
            return _UNSTAMPED
        return self.observe_stamp(key, sequence)

    def observe_stamp(self, key: tuple[str, str], sequence: int) -> tuple[Verdict, int]:
        """:meth:`observe` for a stamp already read (see :func:`stamp_of`)."""
        last = self._last.get(key)
        if last is not None and sequence == last + 1:  # the common case, first
            self._last[key] = sequence
            return _IN_ORDER
        if last is None:
            self._last[key] = sequence
            return _FIRST
        if sequence <= last:
            if self._fill(key, sequence):
                return Verdict.OUT_OF_ORDER, -1
            return Verdict.DUPLICATE, 0
        self._last[key] = sequence
        self._remember(key, last + 1, sequence - 1)
        return Verdict.GAP, sequence - last - 1

    def _remember(self, key: tuple[str, str], low: int, high: int) -> None:
        if self._holes is None:
            self._holes = {}
        holes = self._holes.setdefault(key, [])
        holes.append([low, high])
        if len(holes) > MAX_HOLES:
            del holes[0]

    def _fill(self, key: tuple[str, str], sequence: int) -> bool:
        """Take ``sequence`` out of a remembered gap; False when it was in none."""
        holes = self._holes.get(key) if self._holes is not None else None
        if not holes:
            return False
        for index, (low, high) in enumerate(holes):
            if low <= sequence <= high:
                if low == high:
                    del holes[index]
                elif sequence == low:
                    holes[index][0] = low + 1
                elif sequence == high:
                    holes[index][1] = high - 1
                else:
                    holes[index : index + 1] = [[low, sequence - 1], [sequence + 1, high]]
                return True
        return False

    def forget_topic(self, topic: str) -> None:
        """Start over on ``topic`` (after a gap the server already admitted)."""
        for key in [k for k in self._last if k[0] == topic]:
            del self._last[key]
            if self._holes is not None:
                self._holes.pop(key, None)
