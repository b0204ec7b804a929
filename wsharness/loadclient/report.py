"""Reporting to Locust: one ``WS`` request event per measured operation.

Every timing goes through ``environment.events.request`` with request type ``WS``
and a float ``response_time`` in milliseconds; failures that are events rather than
operations (a gap, a duplicate, an unexpected close) carry ``None``, which Locust
counts without a time instead of a fake 0 ms.  Failures carry an exception whose
message names the cause and stays stable (Locust groups failures by message), so
the failures table reads like a diagnosis: refused upgrade and its status, close
code, gap, duplicate, out of order, timeout.
"""

from __future__ import annotations

import time
from typing import Any

from wsharness.contract.protocol import CLOSE_REASONS

REQUEST_TYPE = "WS"

# Request names (also the client span names after telemetry.names.SPAN_CLIENT_PREFIX).
CONNECT = "connect"
ECHO = "echo"
DELIVER = "deliver"
PUBLISH = "publish"
RECONNECT = "reconnect"
REFRESH = "refresh"
REAUTH = "reauth"
DISCONNECT = "disconnect"


class WsFailure(Exception):
    """A failure of the service as a user would notice it."""


class UpgradeRefused(WsFailure):
    def __init__(self, status: int) -> None:
        super().__init__(f"refused upgrade: HTTP {status}")
        self.status = status


class ConnectFailed(WsFailure):
    def __init__(self, error: BaseException, detail: str | None = None) -> None:
        super().__init__(f"connect failed: {detail or type(error).__name__}")


class UnexpectedClose(WsFailure):
    def __init__(self, code: int | None) -> None:
        if code is None:
            text = "closed: connection lost without a close frame"
        else:
            text = f"closed: {code} {CLOSE_REASONS.get(code, '')}".rstrip()
        super().__init__(text)
        self.code = code


class Gap(WsFailure):
    """Messages were lost: ``recovered: false`` or a missing sequence number."""


class Duplicate(WsFailure):
    def __init__(self) -> None:
        super().__init__("duplicate sequence number")


class OutOfOrder(WsFailure):
    """A sequence number that arrived after a later one (it was counted missing)."""

    def __init__(self) -> None:
        super().__init__("out-of-order sequence number")


class ReplyTimeout(WsFailure):
    def __init__(self, waiting_for: str) -> None:
        super().__init__(f"timeout: no {waiting_for}")


class ServerError(WsFailure):
    def __init__(self, code: str) -> None:
        super().__init__(f"error frame: {code}")


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` value)."""
    return (time.perf_counter() - started) * 1000.0


_NO_CONTEXT: dict[str, Any] = {}  # shared by every user without one (read-only)


class Reporter:
    """Fires the request events of one virtual user."""

    __slots__ = ("_context", "_fire")

    def __init__(self, environment: Any, context: dict[str, Any] | None = None) -> None:
        self._fire = environment.events.request.fire
        self._context = context or _NO_CONTEXT

    def success(self, name: str, response_time: float, length: int = 0) -> None:
        self._fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=response_time,
            response_length=length,
            exception=None,
            context=self._context,
        )

    def failure(
        self, name: str, response_time: float | None, error: BaseException, length: int = 0
    ) -> None:
        """A failure; ``response_time`` None for events without a duration (a gap)."""
        self._fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=response_time,
            response_length=length,
            exception=error,
            context=self._context,
        )
