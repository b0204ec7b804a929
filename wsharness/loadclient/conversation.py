"""The client side of the ``/ws`` contract, decided without I/O.

A :class:`Conversation` is what one virtual user knows of its exchange with the
server, across reconnects: the resume cursor per topic (the last message ``id``),
the sequence tracker and delivery counts, and which replies it waits for.  It turns
requests into frames to send and incoming events into outcomes
(:class:`Reply`, :class:`Refused`, :class:`RefreshDone`, ...); it never touches a
socket, a clock or Locust, so it is tested frame by frame
(``tests/loadtests/test_conversation.py``).  The shell,
:class:`wsharness.loadclient.client.ProtocolClient`, moves the bytes, waits on
greenlets, times and reports.

Replies are keyed: ``welcome``, ``published``, ``subscribed:<topic>``,
``echo:<id>``.  In raw mode (any RFC 6455 echo endpoint) an object with an ``id`` is
an echo reply whatever its type.

:func:`read_event` parses a text frame's payload into a typed event, remembering
the last few: in a fan-out every socket receives the very same bytes, so all but
the first of them cost a dictionary lookup instead of a JSON decode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsharness.contract.protocol import (
    TRACEPARENT,
    ClientType,
    Echoed,
    ErrorCode,
    Message,
    ProtocolError,
    Published,
    Refreshed,
    ServerErrorFrame,
    ServerEvent,
    Subscribed,
    TokenExpiring,
    UnknownFrame,
    Welcome,
    encode,
    parse_server_frame,
)
from wsharness.loadclient.deliveries import PROCESS, DeliveryCounts, ProcessDeliveries
from wsharness.loadclient.sequence import SequenceTracker, Verdict, stamp_of

WELCOME = "welcome"
PUBLISHED = "published"
SUBSCRIBED = "subscribed:"
ECHOED = "echo:"

_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class Stamped:
    """A ``message`` with its sequence stamp read once, for every socket it reaches."""

    message: Message
    key: tuple[str, str] | None  # (topic, publisher); None: not stamped
    sequence: int


_parsed: dict[bytes, ServerEvent | Stamped] = {}


def read_event(payload: bytes) -> ServerEvent | Stamped | None:
    """The event a text frame carries (a message as :class:`Stamped`), or None.

    None when the payload is not a JSON object.
    """
    event = _parsed.get(payload)
    if event is None:
        try:
            parsed = parse_server_frame(payload)
        except ProtocolError:
            return None
        event = parsed
        if type(parsed) is Message:
            event = Stamped(parsed, *stamp_of(parsed.topic, parsed.data))
        if len(_parsed) >= _CACHE_SIZE:
            _parsed.clear()
        _parsed[payload] = event
    return event


@dataclass(frozen=True, slots=True)
class Reply:
    """The reply awaited under ``key`` came."""

    key: str
    event: ServerEvent


@dataclass(frozen=True, slots=True)
class Refused:
    """The request awaited under ``key`` was answered with an ``error`` frame."""

    key: str
    code: str


@dataclass(frozen=True, slots=True)
class RefreshDone:
    """The in-band refresh asked for at ``started`` ended (``refused``: its error code)."""

    started: float
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class TokenWarning:
    """The server warned the token expires soon."""

    event: TokenExpiring


@dataclass(frozen=True, slots=True)
class StrayError:
    """An ``error`` frame that answers no request this user waits for."""

    code: str


Outcome = Reply | Refused | RefreshDone | TokenWarning | StrayError


class Conversation:
    """One virtual user's protocol state; no I/O."""

    __slots__ = (
        "_echo_counter",
        "_pending",
        "_refresh_started",
        "counts",
        "cursors",
        "expires_at",
        "process",
        "raw",
        "tracker",
    )

    def __init__(self, raw: bool = False, process: ProcessDeliveries = PROCESS) -> None:
        self.raw = raw
        self.cursors: dict[str, str] = {}
        self.tracker = SequenceTracker()
        self.counts = DeliveryCounts()
        self.process = process
        self.expires_at = 0.0
        self._pending: dict[str, None] = {}  # an ordered set, smaller than set()
        self._echo_counter = 0
        self._refresh_started: float | None = None

    # --- requests ---------------------------------------------------------

    def expect(self, key: str) -> str:
        """Wait for the reply ``key`` (returns it)."""
        self._pending[key] = None
        return key

    def forget(self, key: str) -> None:
        """Stop waiting for ``key`` (it timed out, or its request was not sent)."""
        self._pending.pop(key, None)

    @property
    def pending(self) -> frozenset[str]:
        return frozenset(self._pending)

    def subscribe(self, topic: str) -> tuple[str, str]:
        """The reply key and frame joining ``topic``, resuming from its cursor."""
        since = self.cursors.get(topic)
        fields = {"topic": topic} if since is None else {"topic": topic, "since": since}
        return self.expect(SUBSCRIBED + topic), encode(ClientType.SUBSCRIBE, **fields)

    def echo(self, payload: str) -> tuple[str, str]:
        """The reply key and frame of the next echo."""
        self._echo_counter += 1
        echo_id = self._echo_counter
        frame = encode(ClientType.ECHO, id=echo_id, payload=payload)
        return self.expect(f"{ECHOED}{echo_id}"), frame

    def publish(self, topic: str, data: Any, traceparent: str) -> tuple[str, str]:
        """The reply key and frame of a publish."""
        fields = {"topic": topic, "data": data, TRACEPARENT: traceparent}
        return self.expect(PUBLISHED), encode(ClientType.PUBLISH, **fields)

    def refresh(self, token: str, started: float) -> str:
        """The refresh frame; ``started`` is when the refresh was asked for."""
        self._refresh_started = started
        return encode(ClientType.REFRESH, token=token)

    def refresh_unsent(self) -> None:
        """The refresh frame could not be sent (the socket is gone)."""
        self._refresh_started = None

    def socket_closed(self) -> list[str]:
        """The socket closed: every reply still awaited is lost (their keys)."""
        lost, self._pending = sorted(self._pending), {}
        return lost

    # --- incoming -----------------------------------------------------------

    def deliver(self, stamped: Stamped) -> Verdict:
        """Judge and count one notification, and move the topic's cursor."""
        message = stamped.message
        if message.id is not None:
            self.cursors[message.topic] = message.id
        if stamped.key is None:
            verdict, missing = Verdict.UNSTAMPED, 0
        else:
            verdict, missing = self.tracker.observe_stamp(stamped.key, stamped.sequence)
            if verdict is Verdict.IN_ORDER:  # the common case: two additions
                self.counts.delivered += 1
                self.process.counts.delivered += 1
                return verdict
        self.counts.count(verdict, missing)
        process = self.process
        process.counts.count(verdict, missing)
        if verdict is Verdict.GAP and self.counts.missing == missing:
            process.sockets_with_gaps += 1  # this socket's first gap
        return verdict

    def receive(self, event: ServerEvent) -> Outcome | None:
        """What a non-``message`` event means for this user (None: nothing)."""
        if isinstance(event, Subscribed):
            if not event.recovered:
                self.tracker.forget_topic(event.topic)
            return self._reply(SUBSCRIBED + event.topic, event)
        if isinstance(event, Echoed):
            return self._reply(f"{ECHOED}{event.id}", event)
        if isinstance(event, Welcome):
            self.expires_at = event.expires_at
            return self._reply(WELCOME, event)
        if isinstance(event, Published):
            return self._reply(PUBLISHED, event)
        if isinstance(event, TokenExpiring):
            return TokenWarning(event)
        if isinstance(event, Refreshed):
            self.expires_at = event.expires_at or self.expires_at
            return self._refresh_ended(None)
        if isinstance(event, ServerErrorFrame):
            return self._error(event.code)
        if isinstance(event, UnknownFrame) and self.raw and "id" in event.fields:
            return self._reply(f"{ECHOED}{event.fields['id']}", Echoed(event.fields["id"]))
        return None

    def _reply(self, key: str, event: ServerEvent) -> Reply | None:
        if key not in self._pending:
            return None
        del self._pending[key]
        return Reply(key, event)

    def _refresh_ended(self, refused: str | None) -> RefreshDone | None:
        started, self._refresh_started = self._refresh_started, None
        return None if started is None else RefreshDone(started, refused)

    def _error(self, code: str) -> Outcome:
        if code == ErrorCode.REFRESH_REFUSED and self._refresh_started is not None:
            done = self._refresh_ended(code)
            assert done is not None
            return done
        if PUBLISHED in self._pending:
            del self._pending[PUBLISHED]
            return Refused(PUBLISHED, code)
        return StrayError(code)
