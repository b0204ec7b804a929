"""The broker interface: how notifications reach a server instance.

A broker publishes a notification and delivers every notification of the shared
stream to the instance's ``deliver`` callback, on the event loop, in order per topic.
The embedded in-memory broker is the default; Google Cloud Pub/Sub is the production
backend.  Notification ids are opaque strings and are the clients' resume cursors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from wsharness.contract.notification import Notification

Deliver = Callable[[Notification], None]


class BrokerUnavailable(RuntimeError):
    """The broker cannot take a publish right now."""


class Broker(Protocol):
    """What the server needs from a broker."""

    name: str
    # True when other instances receive the same stream (a resume cursor from one of
    # them may reach this instance a moment after the client does).
    shared: bool

    @property
    def healthy(self) -> bool:
        """False while the broker is unreachable (``/readyz`` reports it)."""
        ...

    async def start(self, deliver: Deliver) -> None:
        """Begin delivering notifications to ``deliver`` (called on the event loop)."""
        ...

    async def publish(
        self, topic: str, data: Any, trace_context: dict[str, str] | None = None
    ) -> str:
        """Publish one notification; return its id.  Raise BrokerUnavailable."""
        ...

    async def stop(self) -> None:
        """Stop delivering and release what :meth:`start` created."""
        ...
