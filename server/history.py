"""Per-topic history bounded by count and age, and the resume decision.

Ids are opaque strings (the broker's message ids), so a cursor is found by lookup.
A cursor that is not in the history can't be resumed from: the caller says
``recovered: false`` rather than leave a silent gap.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    """One remembered notification: id, ready-to-send frame, publish time."""

    id: str
    frame: bytes
    published_at: int  # ms epoch


@dataclass(frozen=True, slots=True)
class Replay:
    """What a resume from a cursor yields."""

    recovered: bool
    entries: tuple[Entry, ...]


class TopicHistory:
    """The last ``max_count`` notifications of one topic, none older than ``max_age_ms``."""

    __slots__ = ("_entries", "_max_age_ms", "_max_count", "_positions", "_removed")

    def __init__(self, max_count: int, max_age_ms: int) -> None:
        self._entries: deque[Entry] = deque()
        self._positions: dict[str, int] = {}
        self._removed = 0  # how many entries have left the front, ever
        self._max_age_ms = max_age_ms
        self._max_count = max_count

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, entry: Entry, now_ms: int) -> None:
        self._positions[entry.id] = self._removed + len(self._entries)
        self._entries.append(entry)
        self._prune(now_ms)

    def expired(self, now_ms: int) -> bool:
        """True when everything remembered is older than the window (or nothing is):
        the history can go, since no cursor in it could be resumed from anyway."""
        entries = self._entries
        return not entries or entries[-1].published_at < now_ms - self._max_age_ms

    def replay_since(self, cursor: str, now_ms: int) -> Replay:
        """Everything after ``cursor``, or ``recovered=False`` when it's not remembered."""
        self._prune(now_ms)
        position = self._positions.get(cursor)
        if position is None:
            return Replay(recovered=False, entries=())
        start = position - self._removed + 1
        return Replay(recovered=True, entries=tuple(list(self._entries)[start:]))

    def _prune(self, now_ms: int) -> None:
        oldest_allowed = now_ms - self._max_age_ms
        entries = self._entries
        while entries and (
            len(entries) > self._max_count or entries[0].published_at < oldest_allowed
        ):
            gone = entries.popleft()
            del self._positions[gone.id]
            self._removed += 1
