"""Who follows which topic, what each topic remembers, and what a fan-out reaches.

No I/O: :meth:`Hub.route` turns a notification into one ready-to-send frame (built
once, whatever the number of sockets) and the set of subscribers to hand it to.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Generic, TypeVar

from websockets.frames import Frame, Opcode

from server.brokers.base import Notification
from server.history import Entry, Replay, TopicHistory
from wsharness.protocol import TRACEPARENT, ServerType

S = TypeVar("S", bound=Hashable)


def text_frame(payload: bytes) -> bytes:
    """A complete unmasked server text frame (RFC 6455 section 5.2)."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


def message_payload(notification: Notification, traceparent: str | None) -> bytes:
    """The ``message`` frame's JSON, serialised once per notification."""
    body = {
        "type": ServerType.MESSAGE.value,
        "topic": notification.topic,
        "id": notification.id,
        "data": notification.data,
        "published_at": notification.published_at,
    }
    if traceparent:
        body[TRACEPARENT] = traceparent
    return json.dumps(body, separators=(",", ":")).encode()


class Hub(Generic[S]):
    """Subscriptions and histories of one instance."""

    def __init__(self, history_size: int, history_seconds: float) -> None:
        self._subscribers: dict[str, set[S]] = {}
        self._histories: dict[str, TopicHistory] = {}
        self._history_size = history_size
        self._history_ms = int(history_seconds * 1000)

    def subscribers(self, topic: str) -> set[S]:
        return self._subscribers.get(topic, set())

    def subscribe(
        self, subscriber: S, topic: str, since: str | None, now_ms: int
    ) -> Replay:
        """Add a subscription; with ``since``, also what was missed after that cursor."""
        self._subscribers.setdefault(topic, set()).add(subscriber)
        if since is None:
            return Replay(recovered=True, entries=())
        history = self._histories.get(topic)
        if history is None:
            return Replay(recovered=False, entries=())
        return history.replay_since(since, now_ms)

    def unsubscribe(self, subscriber: S, topic: str) -> bool:
        followers = self._subscribers.get(topic)
        if not followers or subscriber not in followers:
            return False
        followers.discard(subscriber)
        if not followers:
            del self._subscribers[topic]
        return True

    def remove(self, subscriber: S, topics: set[str]) -> None:
        for topic in topics:
            self.unsubscribe(subscriber, topic)

    def route(
        self, notification: Notification, now_ms: int, traceparent: str | None = None
    ) -> tuple[bytes, list[S]]:
        """Remember a notification; return its frame and who must receive it.

        ``traceparent`` is the fan-out's context, passed on to the receivers.
        """
        frame = text_frame(message_payload(notification, traceparent))
        history = self._histories.get(notification.topic)
        if history is None:
            history = TopicHistory(self._history_size, self._history_ms)
            self._histories[notification.topic] = history
        history.append(Entry(notification.id, frame, notification.published_at), now_ms)
        return frame, list(self._subscribers.get(notification.topic, ()))
