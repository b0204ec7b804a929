"""What each client frame gets back, decided without I/O: the server's sans-I/O core.

As in the ``websockets`` library, where ``protocol.py`` decides and
``asyncio/connection.py`` only moves bytes: :class:`Core` takes one socket's state
(its :class:`~wsharness.server.session.Session`, its subscriptions in the
:class:`~wsharness.server.hub.Hub`) and one client frame, and returns an
:data:`Outcome`: send a reply, an ``error`` or a replay; wait for a resume cursor;
start a publish or a token check; close with a code.
:mod:`wsharness.server.connection` carries it out, and reports what the I/O
answered back here (:meth:`Core.published`, :meth:`Core.refresh`).

Outcomes are small mutable records, built once per frame: the hot paths (echo,
fan-out) allocate no more than before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from wsharness.contract.clock import now_ms_int
from wsharness.contract.protocol import (
    ClientType,
    CloseCode,
    ErrorCode,
    ProtocolError,
    ServerType,
    encode,
    parse_client_frame,
)
from wsharness.contract.tokens import Identity
from wsharness.server import policy
from wsharness.server.history import Entry, Replay
from wsharness.server.hub import Hub
from wsharness.server.session import Deadline, Session

# -- outcomes ------------------------------------------------------------------


@dataclass(slots=True)
class Reply:
    """Send one text frame of ``frame_type``."""

    text: str
    frame_type: ServerType


@dataclass(slots=True)
class Refuse:
    """Send an ``error`` frame (``text``); the socket stays.  ``reason``: why, the
    refused-frame metric label (more precise than ``code``)."""

    text: str
    code: ErrorCode
    reason: str


@dataclass(slots=True)
class Close:
    """Close the socket with ``code``.  ``reason``: the refused-frame metric label
    when the close refuses what the client sent, empty otherwise."""

    code: CloseCode
    reason: str = ""


@dataclass(slots=True)
class Subscribed:
    """Send ``subscribed`` (``text``), then the replayed ``entries``.

    ``resume``: the resume's outcome (``recovered`` / ``not_recovered``) when the
    subscribe carried a cursor, else ``None``.
    """

    text: str
    entries: tuple[Entry, ...]
    resume: str | None


@dataclass(slots=True)
class AwaitCursor:
    """The resume cursor may still be on its way: after ``seconds``, ask
    :meth:`Core.give_up` (which answers unless the cursor arrived meanwhile)."""

    topic: str
    seconds: float


@dataclass(slots=True)
class Publish:
    """Hand ``data`` to the broker; then tell :meth:`Core.published` or
    :meth:`Core.publish_failed`."""

    topic: str
    data: Any


@dataclass(slots=True)
class Verify:
    """Verify a refresh ``token``; then tell :meth:`Core.refresh` or
    :meth:`Core.refresh_refused`."""

    token: str


@dataclass(slots=True)
class Refreshed:
    """Send ``replies`` (an ``unsubscribed`` per topic the new token no longer
    allows, then ``refreshed``) and re-arm the token deadlines."""

    replies: tuple[Reply, ...]


# What the shell carries out at once; a publish waits for the broker.
Immediate = Reply | Refuse | Close | Subscribed | AwaitCursor | Verify | Refreshed
Outcome = Immediate | Publish
# What :meth:`Core.accept` gives: a frame to handle, or the answer already.
Accepted = tuple[ClientType, dict[str, Any]] | Refuse | Close

RATE_LIMITED = Close(CloseCode.POLICY_VIOLATION, "rate_limit")
CONTROL_RATE_LIMITED = Close(CloseCode.POLICY_VIOLATION, "control_rate_limit")
BINARY_FRAME = Close(CloseCode.UNSUPPORTED_DATA, "binary_frame")
INTERNAL_ERROR = Close(CloseCode.INTERNAL_ERROR)  # counted as an internal error
TOKEN_EXPIRED = Close(CloseCode.TOKEN_EXPIRED)

# Closes the reader itself makes (aiohttp's frame parser, or the mask check), by code.
TRANSPORT_REFUSALS: dict[int, str] = {
    CloseCode.PROTOCOL_ERROR: "protocol_error",
    CloseCode.INVALID_PAYLOAD: "invalid_utf8",
    CloseCode.MESSAGE_TOO_BIG: "message_too_big",
}


class Peer(Hashable, Protocol):
    """What the core knows of a socket: its session.  The peer itself is the key
    its subscriptions are kept under in the hub (fan-out hands it the frames)."""

    session: Session


P = TypeVar("P", bound=Peer)


class Core(Generic[P]):
    """The decisions of one server instance, for every socket (state is passed in).

    ``resume_wait_seconds``: how long a resume may wait for a cursor still on its
    way (0: answer at once); ``wall_ms``: the clock histories are kept by.
    """

    def __init__(
        self,
        hub: Hub[P],
        limits: policy.Limits,
        resume_wait_seconds: float = 0.0,
        wall_ms: Callable[[], int] = now_ms_int,
    ) -> None:
        self.hub = hub
        self.limits = limits
        self.resume_wait_seconds = resume_wait_seconds
        self._wall_ms = wall_ms

    # -- frames in -----------------------------------------------------------------

    def welcome(self, session: Session) -> Reply:
        text = encode(
            ServerType.WELCOME,
            connection_id=session.connection_id,
            sub=session.identity.sub,
            expires_at=session.expires_at_ms,
        )
        return Reply(text, ServerType.WELCOME)

    def accept(self, peer: P, text: str, now: float) -> Accepted:
        """The rate budget and the frame's shape: the parsed frame, or the answer.

        ``now``: monotonic seconds, for the rate budget.
        """
        if not peer.session.allow_message(now):
            return RATE_LIMITED
        try:
            return parse_client_frame(text)
        except ProtocolError as exc:
            return refuse(exc.code, str(exc), exc.reason)

    def handle(
        self, peer: P, frame_type: ClientType, frame: dict[str, Any], text: str
    ) -> Outcome:
        """What one accepted frame gets (``text``: the frame as received)."""
        if frame_type is ClientType.ECHO:
            return Reply(text, ServerType.ECHO)  # the very text: a round-trip probe
        if frame_type is ClientType.SUBSCRIBE:
            return self._subscribe(peer, frame["topic"], frame.get("since"))
        if frame_type is ClientType.UNSUBSCRIBE:
            return self._unsubscribe(peer, frame["topic"])
        if frame_type is ClientType.PUBLISH:
            return self._publish(peer.session.identity, frame["topic"], frame["data"])
        return Verify(frame["token"])  # refresh

    def receive_text(self, peer: P, text: str, now: float) -> Outcome:
        """:meth:`accept` then :meth:`handle`, in one step."""
        accepted = self.accept(peer, text, now)
        if isinstance(accepted, tuple):
            return self.handle(peer, accepted[0], accepted[1], text)
        return accepted

    def receive_control(self, peer: P, now: float) -> Close | None:
        """A ping or pong costs the same budget as any frame (a flood closes 1008)."""
        return None if peer.session.allow_message(now) else CONTROL_RATE_LIMITED

    def receive_binary(self) -> Close:
        return BINARY_FRAME

    # -- subscriptions -------------------------------------------------------------

    def _subscribe(self, peer: P, topic: str, since: str | None) -> Outcome:
        followed = self.hub.topics_of(peer)
        denial = policy.check_subscribe(
            peer.session.identity, topic, len(followed), topic in followed, self.limits
        )
        if denial is not None:
            return deny(denial)
        wait = self.resume_wait_seconds
        replay = self.hub.subscribe(peer, topic, since, self._wall_ms(), may_wait=wait > 0)
        if replay is None:  # the cursor may still be on its way: wait for it, bounded
            return AwaitCursor(topic, wait)
        return self.answer(topic, replay, resumed=since is not None)

    def answer(self, topic: str, replay: Replay, resumed: bool = True) -> Subscribed:
        """``subscribed`` and what is replayed (also for a resume settled later)."""
        text = encode(
            ServerType.SUBSCRIBED,
            topic=topic,
            recovered=replay.recovered,
            replayed=len(replay.entries),
        )
        resume = None
        if resumed:
            resume = "recovered" if replay.recovered else "not_recovered"
        return Subscribed(text, replay.entries, resume)

    def give_up(self, peer: P, topic: str) -> Subscribed | None:
        """The wait for a resume cursor is over: answer, unless already answered."""
        replay = self.hub.give_up(peer, topic)
        return None if replay is None else self.answer(topic, replay)

    def _unsubscribe(self, peer: P, topic: str) -> Outcome:
        if not self.hub.unsubscribe(peer, topic):
            return refuse(ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {topic[:256]!r}")
        return unsubscribed(topic)

    # -- publishing ----------------------------------------------------------------

    def _publish(self, identity: Identity, topic: str, data: Any) -> Outcome:
        denial = policy.check_publish(identity, topic, self.limits)
        return Publish(topic, data) if denial is None else deny(denial)

    def published(self, topic: str, message_id: str) -> Reply:
        return Reply(encode(ServerType.PUBLISHED, topic=topic, id=message_id),
                     ServerType.PUBLISHED)  # fmt: skip

    def publish_failed(self, message: str) -> Refuse:
        return refuse(ErrorCode.BROKER_UNAVAILABLE, message)

    # -- tokens ----------------------------------------------------------------------

    def refresh(self, peer: P, identity: Identity) -> Refreshed | Refuse:
        """A verified refresh token: extend the session, drop what it no longer allows."""
        outcome = peer.session.refresh(identity, self.hub.topics_of(peer))
        if not outcome.accepted:
            return self.refresh_refused(outcome.reason)
        replies = []
        for topic in outcome.dropped_topics:
            self.hub.unsubscribe(peer, topic)
            replies.append(unsubscribed(topic))
        expires_at = peer.session.expires_at_ms
        replies.append(Reply(encode(ServerType.REFRESHED, expires_at=expires_at),
                             ServerType.REFRESHED))  # fmt: skip
        return Refreshed(tuple(replies))

    def refresh_refused(self, message: str) -> Refuse:
        return refuse(ErrorCode.REFRESH_REFUSED, message)

    def next_deadline(self, session: Session, now: float) -> float:
        """When (epoch seconds) to call :meth:`on_deadline` next."""
        return session.next_deadline(now)[0]

    def on_deadline(self, session: Session, now: float) -> Reply | Close:
        """``token_expiring`` ahead of expiry (then re-arm), a 4001 close at it."""
        if session.next_deadline(now)[1] is Deadline.EXPIRE:
            return TOKEN_EXPIRED
        session.mark_warned()
        text = encode(ServerType.TOKEN_EXPIRING, expires_at=session.expires_at_ms)
        return Reply(text, ServerType.TOKEN_EXPIRING)


# -- answers ------------------------------------------------------------------------


def refuse(code: ErrorCode, message: str, reason: str = "") -> Refuse:
    text = encode(ServerType.ERROR, code=code.value, message=message)
    return Refuse(text, code, reason or code.value)


def deny(denial: policy.Denial) -> Refuse | Close:
    """A policy denial on the socket: a close where it has a close code, else ``error``."""
    if denial.close_code is not None:
        return Close(denial.close_code, denial.reason)
    return refuse(denial.error_code, denial.message, denial.reason)


def unsubscribed(topic: str) -> Reply:
    return Reply(encode(ServerType.UNSUBSCRIBED, topic=topic), ServerType.UNSUBSCRIBED)
