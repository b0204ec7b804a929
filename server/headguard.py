"""Connections that have not sent their request head yet: a deadline, a bound, a log.

aiohttp waits for a request head as long as the peer keeps the socket open, and such
connections count against nothing, so a few hundred sockets sending one byte a second
(slowloris) hold the instance's memory and file descriptors.  :class:`HeadGuard`
wraps the server's protocol factory:

- each new connection must finish its request head (the blank line after the headers)
  within ``--header-timeout-seconds``, like nginx's ``client_header_timeout``; past
  it the peer gets ``408`` and the socket is closed;
- at most ``--max-pending-connections`` connections may be waiting for their head at
  once; one more evicts the oldest waiting one (``503``), so a slow attacker cannot
  lock out clients that send their head at once;
- a malformed request head, which aiohttp logs at ERROR with a full traceback each
  time, is logged as one line, at most one every :data:`LOG_INTERVAL_SECONDS`.

Each refusal is counted in ``wsh_http_refused_total{reason}``.  Once the head is in,
the guard steps out of the data path (``transport.set_protocol``): upgraded sockets
pay nothing for it.  Later heads on a keep-alive connection are bounded by aiohttp's
keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from wsharness.contract import names
from wsharness.telemetry.setup import INSTRUMENTATION_SCOPE

HEADER_TIMEOUT = "header_timeout"
PENDING_LIMIT = "pending_limit"
MALFORMED = "malformed"
REASONS = (HEADER_TIMEOUT, PENDING_LIMIT, MALFORMED)

LOG_INTERVAL_SECONDS = 10.0
# After a refusal: how long the peer may keep sending before the socket is aborted.
# Closing at once with its bytes unread would send a reset that can destroy the answer.
LINGER_SECONDS = 1.0
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)
EVICTED_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
    b"Content-Length: 0\r\n\r\n"
)

log = logging.getLogger("wsharness.server.http")


class HeadGuard:
    """The deadline and the bound for request heads, and what they refused.

    Connections wait in accept order, which is also deadline order (one timeout for
    all), so a single timer, set for the oldest one's deadline, serves them all.
    """

    def __init__(
        self,
        timeout_seconds: float,
        max_pending: int,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.max_pending = max(max_pending, 1)
        self.refused: dict[str, int] = dict.fromkeys(REASONS, 0)
        # Insertion-ordered: the first key is the connection waiting longest.
        self.pending: dict[GuardedConnection, float] = {}  # -> its deadline (loop time)
        self.malformed_log = RateLimitedLog(log, LOG_INTERVAL_SECONDS)
        self._logger: HeadErrorLogger | None = None
        self._timer: asyncio.TimerHandle | None = None
        if meter_provider is not None:
            self._register(meter_provider)

    def wrap(self, factory: Callable[[], Any]) -> Callable[[], asyncio.Protocol]:
        """The protocol factory to listen with: ``factory``'s protocols, guarded."""

        def guarded() -> asyncio.Protocol:
            inner = factory()
            if self._logger is None:  # aiohttp gives every connection the same logger
                self._logger = HeadErrorLogger(inner.logger, self)
            inner.logger = self._logger
            return GuardedConnection(self, inner)

        return guarded

    def waiting(self, connection: GuardedConnection) -> None:
        """A new connection starts waiting for its head; evict the oldest if full."""
        while len(self.pending) >= self.max_pending:
            oldest = next(iter(self.pending))
            oldest.refuse(PENDING_LIMIT, EVICTED_RESPONSE)
        loop = asyncio.get_running_loop()
        self.pending[connection] = loop.time() + self.timeout_seconds
        if self._timer is None:
            self._timer = loop.call_at(self.pending[connection], self._expire)

    def done_waiting(self, connection: GuardedConnection) -> None:
        self.pending.pop(connection, None)

    def _expire(self) -> None:
        """Refuse every connection past its deadline; wake again for the next one."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self.pending:
            oldest, deadline = next(iter(self.pending.items()))
            if deadline > now:
                self._timer = loop.call_at(deadline, self._expire)
                return
            oldest.refuse(HEADER_TIMEOUT, TIMEOUT_RESPONSE)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def count(self, reason: str) -> None:
        self.refused[reason] += 1

    def _register(self, provider: MeterProvider) -> None:
        meter = provider.get_meter(INSTRUMENTATION_SCOPE)
        meter.create_observable_counter(
            names.METRIC_HTTP_REFUSED,
            callbacks=[self._observe_refused],
            description="Connections closed before any request was handled: "
            "header_timeout, pending_limit, malformed",
        )
        meter.create_observable_up_down_counter(
            names.METRIC_PENDING_CONNECTIONS,
            callbacks=[self._observe_pending],
            description="Connections accepted whose request head has not arrived",
        )

    def _observe_refused(self, _options: CallbackOptions) -> Iterable[Observation]:
        for reason, value in list(self.refused.items()):
            yield Observation(value, {names.LABEL_REASON: reason})

    def _observe_pending(self, _options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(len(self.pending))


GUARD_KEY = web.AppKey("head_guard", HeadGuard)


class GuardedConnection(asyncio.Protocol):
    """Stands in front of aiohttp's protocol until the request head is complete."""

    __slots__ = ("_linger", "_refused", "_tail", "guard", "inner", "transport")

    def __init__(self, guard: HeadGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._tail = b""  # the last bytes seen, for a head end split across reads
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.guard.waiting(self)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: read and drop
        seen = self._tail + data
        if b"\r\n\r\n" in seen or b"\n\n" in seen:  # the blank line ending the head
            self._step_out()
        else:
            self._tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.done_waiting(self)
        if self._linger is not None:
            self._linger.cancel()
        self.inner.connection_lost(exc)

    def refuse(self, reason: str, response: bytes) -> None:
        """Answer ``response`` and close: the head did not arrive in time or room.

        A lingering close, as nginx does: send the answer and a FIN, drop whatever the
        peer still sends, abort after :data:`LINGER_SECONDS` (or when the peer closes).
        """
        self.guard.done_waiting(self)
        self._refused = True
        self.guard.count(reason)
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(response)
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._linger = asyncio.get_running_loop().call_later(
            LINGER_SECONDS, transport.abort
        )

    def _step_out(self) -> None:
        """The head is in: stop timing, and hand the transport to aiohttp for good."""
        self.guard.done_waiting(self)
        if self.transport is not None:
            self.transport.set_protocol(self.inner)


class HeadErrorLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's per-connection logger: malformed heads counted, logged once a while.

    Everything else (a handler's exception, a debug line) passes through unchanged.
    """

    def __init__(self, logger: logging.Logger, guard: HeadGuard) -> None:
        super().__init__(logger, {})
        self.guard = guard

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError):
            self.guard.count(MALFORMED)
            remote = args[0] if args else "?"
            self.guard.malformed_log.warning(
                "malformed HTTP request from %s: %s", remote, _one_line(error)
            )
            return
        self.logger.log(level, msg, *args, **kwargs)


class RateLimitedLog:
    """At most one warning per ``interval`` seconds, saying how many were left out."""

    def __init__(self, logger: logging.Logger, interval: float) -> None:
        self.logger = logger
        self.interval = interval
        self.suppressed = 0
        self._last = -float("inf")

    def warning(self, msg: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            self.suppressed += 1
            return
        if self.suppressed:
            msg += f" ({self.suppressed} more in the last {self.interval:.0f} s not logged)"
        self._last, self.suppressed = now, 0
        self.logger.warning(msg, *args)


def _one_line(error: HttpProcessingError) -> str:
    text = f"{error.code} {error.message}" if error.message else str(error.code)
    return " ".join(text.split())[:200]


class GuardedSite(web.BaseSite):
    """A TCP site whose connections pass the app's :class:`HeadGuard` first.

    The same as ``web.TCPSite(runner, host, port, ssl_context=..., backlog=...)``;
    the TLS handshake is bounded by the same header timeout.
    """

    __slots__ = ("_guard", "_host", "_port")

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        *,
        ssl_context: Any = None,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._guard = runner.app[GUARD_KEY]
        self._host = host
        self._port = port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.wrap(server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            ssl_handshake_timeout=self._guard.timeout_seconds
            if self._ssl_context
            else None,
        )
