"""Who may subscribe and publish to what: the checks, decided once.

The socket (:mod:`wsharness.server.core`) and ``POST /publish``
(:mod:`wsharness.server.app`) ask the same functions and get the same
:class:`Denial`; each then answers in its own terms: an ``error`` frame or a close
on the socket, an HTTP status on ``/publish``.  Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from wsharness.contract.protocol import CloseCode, ErrorCode
from wsharness.contract.tokens import Identity


@dataclass(frozen=True, slots=True)
class Limits:
    """What one socket may hold: how many topics, how long a topic name."""

    max_subscriptions: int = 100
    max_topic_bytes: int = 256


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a subscribe or publish is refused, and how each transport says so.

    ``reason`` is the metric label; on the socket a denial with ``close_code``
    closes it, any other is an ``error`` frame with ``error_code``.
    """

    reason: str
    message: str
    http_status: int
    error_code: ErrorCode
    close_code: CloseCode | None = None


NO_PUBLISH_SCOPE = Denial(
    "forbidden", "publishing needs scope 'publish'", 403, ErrorCode.FORBIDDEN
)
TOPIC_NOT_ALLOWED = Denial(
    "topic_not_allowed",
    "topic not allowed",
    403,
    ErrorCode.FORBIDDEN,
    CloseCode.TOPIC_NOT_ALLOWED,
)
TOPIC_NOT_UTF8 = Denial(
    "topic_not_utf8", "a topic must be valid UTF-8", 400, ErrorCode.BAD_MESSAGE
)


def check_topic(topic: str, limits: Limits) -> Denial | None:
    """A name within ``max_topic_bytes`` of UTF-8 (lone surrogates are not UTF-8)."""
    if len(topic) > limits.max_topic_bytes:  # at least one byte per character
        return _topic_too_long(limits)
    try:
        size = len(topic.encode())
    except UnicodeEncodeError:
        return TOPIC_NOT_UTF8
    return _topic_too_long(limits) if size > limits.max_topic_bytes else None


def check_publish(identity: Identity, topic: str, limits: Limits) -> Denial | None:
    """Scope ``publish``, a well-formed topic name, and the token's topic patterns."""
    if not identity.can_publish:
        return NO_PUBLISH_SCOPE
    return check_topic(topic, limits) or _check_patterns(identity, topic)


def check_subscribe(
    identity: Identity, topic: str, followed: int, already: bool, limits: Limits
) -> Denial | None:
    """A well-formed name the token allows, within ``max_subscriptions``.

    ``followed``: how many topics the socket follows now; ``already``: whether
    ``topic`` is one of them (subscribing again takes no new place).
    """
    denial = check_topic(topic, limits) or _check_patterns(identity, topic)
    if denial is None and not already and followed >= limits.max_subscriptions:
        return Denial(
            "too_many_subscriptions",
            f"a socket may follow at most {limits.max_subscriptions} topics",
            400,
            ErrorCode.TOO_MANY_SUBSCRIPTIONS,
        )
    return denial


def _check_patterns(identity: Identity, topic: str) -> Denial | None:
    return None if identity.may_use(topic) else TOPIC_NOT_ALLOWED


def _topic_too_long(limits: Limits) -> Denial:
    return Denial(
        "topic_too_long",
        f"topic names are limited to {limits.max_topic_bytes} bytes",
        400,
        ErrorCode.TOPIC_TOO_LONG,
    )
