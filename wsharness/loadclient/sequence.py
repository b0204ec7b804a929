"""Exact loss and duplicate detection from the publishers' sequence numbers.

Each publisher stamps ``data`` with its id (``pub``) and a sequence number
(``seq``) counted per topic.  A receiver remembers the last number per (topic,
publisher): the next one must be exactly one more.  The first number seen is the
baseline (a subscriber joins mid-stream); a jump is a gap, a repeat a duplicate.
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
    UNSTAMPED = "unstamped"


def stamp(publisher: str, sequence: int, payload: str = "") -> dict[str, Any]:
    """The ``data`` of one publish."""
    data: dict[str, Any] = {PUBLISHER_FIELD: publisher, SEQUENCE_FIELD: sequence}
    if payload:
        data["pad"] = payload
    return data


class SequenceTracker:
    """The last sequence number seen per (topic, publisher)."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}

    def observe(self, topic: str, data: Any) -> tuple[Verdict, int]:
        """Judge one message; returns the verdict and how many numbers are missing."""
        if not isinstance(data, dict):
            return Verdict.UNSTAMPED, 0
        publisher, sequence = data.get(PUBLISHER_FIELD), data.get(SEQUENCE_FIELD)
        if not isinstance(publisher, str) or not isinstance(sequence, int):
            return Verdict.UNSTAMPED, 0
        key = (topic, publisher)
        last = self._last.get(key)
        if last is None:
            self._last[key] = sequence
            return Verdict.FIRST, 0
        if sequence <= last:
            return Verdict.DUPLICATE, 0
        self._last[key] = sequence
        if sequence == last + 1:
            return Verdict.IN_ORDER, 0
        return Verdict.GAP, sequence - last - 1

    def forget_topic(self, topic: str) -> None:
        """Start over on ``topic`` (after a gap the server already admitted)."""
        for key in [k for k in self._last if k[0] == topic]:
            del self._last[key]
