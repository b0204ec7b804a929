"""Who follows which topic, what each topic remembers, and what a fan-out reaches.

No I/O: :meth:`Hub.route` turns a notification into one ready-to-send frame (built
once, whatever the number of sockets) and the set of subscribers to hand it to.
The hub is the one place subscriptions are kept: by topic (for fan-out) and by
subscriber (for limits, refresh and close), both changed only by its own methods.

Histories are bounded too: one that has outlived the window is evicted
(:meth:`Hub.evict_expired`), and past ``max_topics`` the history published to
least recently makes room for a new one.  Resuming from an evicted history says
``recovered: false``, as for any cursor the instance no longer remembers.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from websockets.frames import Frame, Opcode

from wsharness.contract.notification import Notification
from wsharness.contract.protocol import TRACEPARENT, ServerType
from wsharness.server.history import Entry, Replay, TopicHistory

S = TypeVar("S", bound=Hashable)


def text_frame(payload: bytes) -> bytes:
    """A complete unmasked server text frame (RFC 6455 section 5.2)."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


class UnsendableData(ValueError):
    """A notification's data is not standard JSON (NaN, Infinity, nested too deep)."""


def message_payload(notification: Notification, traceparent: str | None) -> bytes:
    """The ``message`` frame's JSON, serialised once per notification.

    Standard JSON only: data no client could parse raises :class:`UnsendableData`.
    """
    body = {
        "type": ServerType.MESSAGE.value,
        "topic": notification.topic,
        "id": notification.id,
        "data": notification.data,
        "published_at": notification.published_at,
    }
    if traceparent:
        body[TRACEPARENT] = traceparent
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except (ValueError, RecursionError) as exc:
        raise UnsendableData(str(exc)) from None


@dataclass(slots=True)
class PendingResume(Generic[S]):
    """A resume whose cursor this instance has not seen yet, but may any moment.

    With a shared broker another instance can deliver a message to its sockets a few
    milliseconds before this instance receives it; a client that moves here in that
    gap resumes from a cursor that is still on its way.  Every instance sees a topic
    in the same order, so what arrives before the cursor is what the client has seen.
    """

    subscriber: S
    cursor: str
    held: list[Entry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Resolved(Generic[S]):
    """A pending resume answered because its cursor arrived."""

    subscriber: S
    topic: str
    replay: Replay


@dataclass(frozen=True, slots=True)
class Routed(Generic[S]):
    """One notification ready to send: the frame, its receivers, resumes it settled."""

    frame: bytes
    targets: list[S]
    resolved: list[Resolved[S]]


EXPIRED = "expired"  # eviction reasons (the metric label)
AT_LIMIT = "limit"


class Hub(Generic[S]):
    """Subscriptions and histories of one instance.

    ``on_evict(reason, count)`` hears of every history evicted (``expired`` or
    ``limit``), e.g. to count it.
    """

    def __init__(
        self,
        history_size: int,
        history_seconds: float,
        max_topics: int = 100_000,
        on_evict: Callable[[str, int], None] | None = None,
    ) -> None:
        self._subscribers: dict[str, set[S]] = {}
        self._topics_of: dict[S, set[str]] = {}  # includes pending resumes
        # Least recently published first: the front is what expires or makes room.
        self._histories: OrderedDict[str, TopicHistory] = OrderedDict()
        self._pending: dict[str, list[PendingResume[S]]] = {}
        self._history_size = history_size
        self._history_ms = int(history_seconds * 1000)
        self._max_topics = max(max_topics, 1)
        self._on_evict = on_evict

    def subscribers(self, topic: str) -> set[S]:
        return self._subscribers.get(topic, set())

    def topics_of(self, subscriber: S) -> AbstractSet[str]:
        """The topics ``subscriber`` follows or waits to resume."""
        return self._topics_of.get(subscriber, _NO_TOPICS)

    @property
    def history_count(self) -> int:
        """How many topic histories the instance keeps."""
        return len(self._histories)

    def _follow(self, subscriber: S, topic: str) -> None:
        self._subscribers.setdefault(topic, set()).add(subscriber)
        self._topics_of.setdefault(subscriber, set()).add(topic)

    def _note_topic(self, subscriber: S, topic: str) -> None:
        self._topics_of.setdefault(subscriber, set()).add(topic)

    def _drop_topic(self, subscriber: S, topic: str) -> None:
        topics = self._topics_of.get(subscriber)
        if topics is not None:
            topics.discard(topic)
            if not topics:
                del self._topics_of[subscriber]

    def subscribe(
        self,
        subscriber: S,
        topic: str,
        since: str | None,
        now_ms: int,
        may_wait: bool = False,
    ) -> Replay | None:
        """Add a subscription; with ``since``, also what was missed after that cursor.

        With ``may_wait``, a cursor not in the history leaves the subscription pending
        (``None``) until the cursor arrives (see :meth:`route`) or :meth:`give_up`.
        """
        replay = self._replay(topic, since, now_ms)
        if not replay.recovered and since is not None and may_wait:
            self._pending.setdefault(topic, []).append(PendingResume(subscriber, since))
            self._note_topic(subscriber, topic)
            return None
        self._follow(subscriber, topic)
        return replay

    def _replay(self, topic: str, since: str | None, now_ms: int) -> Replay:
        if since is None:
            return Replay(recovered=True, entries=())
        history = self._histories.get(topic)
        if history is None:
            return Replay(recovered=False, entries=())
        return history.replay_since(since, now_ms)

    def give_up(self, subscriber: S, topic: str) -> Replay | None:
        """End a pending resume: not recovered, with everything held meanwhile."""
        pending = self._take_pending(subscriber, topic)
        if pending is None:
            return None
        self._follow(subscriber, topic)
        return Replay(recovered=False, entries=tuple(pending.held))

    def _take_pending(self, subscriber: S, topic: str) -> PendingResume[S] | None:
        waiting = self._pending.get(topic, [])
        for pending in waiting:
            if pending.subscriber == subscriber:
                waiting.remove(pending)
                if not waiting:
                    del self._pending[topic]
                return pending
        return None

    def unsubscribe(self, subscriber: S, topic: str) -> bool:
        """End a subscription (or a pending resume); False when there was none."""
        if topic not in self.topics_of(subscriber):
            return False
        self._drop_topic(subscriber, topic)
        while self._take_pending(subscriber, topic) is not None:
            pass
        followers = self._subscribers.get(topic)
        if followers is not None:
            followers.discard(subscriber)
            if not followers:
                del self._subscribers[topic]
        return True

    def remove(self, subscriber: S) -> None:
        """Forget every subscription of a subscriber that is gone."""
        for topic in list(self.topics_of(subscriber)):
            self.unsubscribe(subscriber, topic)

    def route(
        self, notification: Notification, now_ms: int, traceparent: str | None = None
    ) -> Routed[S]:
        """Remember a notification; return its frame, who must receive it, and the
        pending resumes it settles.

        ``traceparent`` is the fan-out's context, passed on to the receivers.
        """
        topic = notification.topic
        frame = text_frame(message_payload(notification, traceparent))
        entry = Entry(notification.id, frame, notification.published_at)
        histories = self._histories
        history = histories.get(topic)
        if history is None:
            if len(histories) >= self._max_topics:
                histories.popitem(last=False)
                self._evicted(AT_LIMIT, 1)
            history = TopicHistory(self._history_size, self._history_ms)
            histories[topic] = history
        else:
            histories.move_to_end(topic)
        history.append(entry, now_ms)
        targets = list(self._subscribers.get(topic, ()))
        return Routed(frame, targets, self._settle_pending(topic, entry))

    def _settle_pending(self, topic: str, entry: Entry) -> list[Resolved[S]]:
        resolved: list[Resolved[S]] = []
        for pending in list(self._pending.get(topic, ())):
            if pending.cursor != entry.id:
                pending.held.append(entry)
                continue
            self._take_pending(pending.subscriber, topic)
            self._follow(pending.subscriber, topic)
            resolved.append(Resolved(pending.subscriber, topic, Replay(True, ())))
        return resolved

    def evict_expired(self, now_ms: int) -> int:
        """Drop the histories that have outlived the window; return how many."""
        histories = self._histories
        evicted = 0
        while histories:
            topic, history = next(iter(histories.items()))
            if not history.expired(now_ms):
                break
            del histories[topic]
            evicted += 1
        if evicted:
            self._evicted(EXPIRED, evicted)
        return evicted

    def _evicted(self, reason: str, count: int) -> None:
        if self._on_evict is not None:
            self._on_evict(reason, count)


_NO_TOPICS: frozenset[str] = frozenset()
