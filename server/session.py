"""One socket's state and the decisions about it, with no I/O.

A :class:`Session` knows who holds the socket, how fast it may send, and when its
token warns and expires.  Which topics it follows is kept by the hub
(:mod:`wsharness.server.hub`), the one place subscriptions live; the core
(:mod:`wsharness.server.core`) reads both to decide what each frame gets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from wsharness.contract.tokens import Identity


class Deadline(Enum):
    """What happens at the session's next deadline."""

    WARN = "warn"  # send token_expiring
    EXPIRE = "expire"  # close 4001


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """The answer to a ``refresh``: accepted, or refused with a reason."""

    accepted: bool
    reason: str = ""
    dropped_topics: tuple[str, ...] = ()


class Session:
    """Identity, rate budget and token deadlines of one socket."""

    __slots__ = (
        "_allowance",
        "_checked_at",
        "_warned",
        "burst",
        "connection_id",
        "identity",
        "rate_per_second",
        "warning_seconds",
    )

    def __init__(
        self,
        connection_id: str,
        identity: Identity,
        now: float,
        rate_per_second: float,
        burst: int,
        warning_seconds: float,
    ) -> None:
        self.connection_id = connection_id
        self.identity = identity
        self.rate_per_second = rate_per_second
        self.burst = burst
        self.warning_seconds = warning_seconds
        self._allowance = float(burst)
        self._checked_at = now
        self._warned = False

    @property
    def expires_at_ms(self) -> int:
        return int(self.identity.expires_at * 1000)

    def allow_message(self, now: float) -> bool:
        """Token bucket: False when the client sends faster than its budget (close 1008)."""
        elapsed = max(now - self._checked_at, 0.0)
        self._checked_at = now
        self._allowance = min(self.burst, self._allowance + elapsed * self.rate_per_second)
        if self._allowance < 1.0:
            return False
        self._allowance -= 1.0
        return True

    def may_use(self, topic: str) -> bool:
        return self.identity.may_use(topic)

    def next_deadline(self, now: float) -> tuple[float, Deadline]:
        """When the next token event is due and which it is.

        The warning comes ``warning_seconds`` ahead of expiry, but never earlier than
        half the time left, so short-lived tokens are not warned the moment they connect.
        """
        expires_at = self.identity.expires_at
        if self._warned:
            return expires_at, Deadline.EXPIRE
        lead = min(self.warning_seconds, max(expires_at - now, 0.0) / 2)
        return expires_at - lead, Deadline.WARN

    def mark_warned(self) -> None:
        self._warned = True

    def refresh(
        self, new_identity: Identity, subscribed: Iterable[str] = ()
    ) -> RefreshOutcome:
        """Take a new token for the same subject; refuse one for anyone else.

        ``subscribed``: the socket's topics; those the new token no longer allows
        are returned as ``dropped_topics`` (the caller unsubscribes them).
        """
        if new_identity.sub != self.identity.sub:
            return RefreshOutcome(False, "token belongs to another subject")
        if new_identity.expires_at <= self.identity.expires_at:
            return RefreshOutcome(False, "token does not extend the session")
        self.identity = new_identity
        self._warned = False
        dropped = tuple(sorted(t for t in subscribed if not new_identity.may_use(t)))
        return RefreshOutcome(True, dropped_topics=dropped)
