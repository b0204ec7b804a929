"""The shell around :class:`~wsharness.loadclient.conversation.Conversation`.

:class:`ProtocolClient` owns one virtual user's current socket and carries out what
its conversation decides: it sends the frames, waits for replies on gevent
``AsyncResult`` objects (one per awaited key), times requests and reports them to
Locust, and records client spans.  Incoming text frames arrive in the gevent loop
(see :mod:`~wsharness.loadclient.session`); a ``message`` is judged and counted
there exactly, and its delivery timed when the process's sampler takes it
(:mod:`~wsharness.loadclient.deliveries`).  In raw mode it speaks to any RFC 6455
echo endpoint (``--protocol echo``, ``--raw``): no token needed, no welcome, no
subscriptions, echoes matched by their ``id`` field.  The servers of ``--protocol
relay`` and ``socketio`` have clients of their own built on this one
(:mod:`~wsharness.loadclient.relay`, :mod:`~wsharness.loadclient.socketio_client`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent
import websocket
from gevent.event import AsyncResult

from wsharness.contract.clock import now_ms
from wsharness.contract.protocol import TRACEPARENT, ServerEvent, TokenExpiring
from wsharness.loadclient import limits, report, tracing
from wsharness.loadclient.addresses import SourceAddresses
from wsharness.loadclient.auth import TokenSource
from wsharness.loadclient.conversation import (
    WELCOME,
    Conversation,
    RefreshDone,
    Refused,
    Reply,
    Stamped,
    StrayError,
    TokenWarning,
    read_event,
)
from wsharness.loadclient.options import LoadOptions
from wsharness.loadclient.protocols import place_token
from wsharness.loadclient.report import Reporter
from wsharness.loadclient.sequence import Verdict
from wsharness.loadclient.session import WsSession
from wsharness.loadclient.tracing import client_span, record_span

_SEND_ERRORS = (OSError, websocket.WebSocketException, report.WsFailure)


@functools.lru_cache(maxsize=64)  # one string for all the users of a host
def websocket_url(host: str, path: str) -> str:
    """``--host`` (ws, wss, http or https) joined with ``--ws-path``."""
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if host.startswith(plain):
            host = secure + host[len(plain) :]
    return host.rstrip("/") + "/" + path.lstrip("/")


def describe_connect_error(error: BaseException) -> report.WsFailure:
    """Name why an upgrade did not happen."""
    if isinstance(error, websocket.WebSocketBadStatusException):
        return report.UpgradeRefused(error.status_code)
    if isinstance(error, TimeoutError | websocket.WebSocketTimeoutException):
        return report.ReplyTimeout("upgrade response")
    if limits.is_out_of_descriptors(error):
        return report.ConnectFailed(error, limits.describe_limit())
    return report.ConnectFailed(error)


class ProtocolClient:
    """One virtual user's conversation with the server, across reconnects."""

    __slots__ = (
        "_waiters",
        "conversation",
        "last_error",
        "on_token_expiring",
        "options",
        "reporter",
        "scope",
        "session",
        "sockopt",
        "source_addresses",
        "sub",
        "token_issued_at",
        "tokens",
        "ttl",
        "upgrade_traceparent",
        "url",
    )

    def __init__(
        self,
        url: str,
        options: LoadOptions,
        reporter: Reporter,
        tokens: TokenSource | None,
        sub: str,
        scope: str | None = None,
        ttl: float | None = None,
        sockopt: Sequence[tuple[int, int, int]] = (),
        source_addresses: SourceAddresses | None = None,
    ) -> None:
        self.url = url
        self.source_addresses = source_addresses
        self.options = options
        self.reporter = reporter
        self.tokens = tokens
        self.sub = sub
        self.scope = scope
        self.ttl = options.token_ttl if ttl is None else ttl
        self.sockopt = tuple(sockopt)
        self.session: WsSession | None = None
        self.conversation = Conversation(options.echo_only)
        self.on_token_expiring: Callable[[TokenExpiring], None] | None = None
        self._waiters: dict[str, AsyncResult] = {}
        self.last_error: Exception | None = None
        self.token_issued_at = 0.0  # time.monotonic() of the last token sent
        self.upgrade_traceparent: str | None = None  # of the last upgrade that succeeded

    # --- connecting -------------------------------------------------------

    @property
    def raw(self) -> bool:
        """``--protocol echo``: no welcome, no subscriptions, echoes matched by ``id``."""
        return self.options.echo_only

    @property
    def expires_at(self) -> float:
        return self.conversation.expires_at

    @property
    def last_ids(self) -> dict[str, str]:
        """The resume cursor per topic: the last message ``id`` seen."""
        return self.conversation.cursors

    def token(self) -> str | None:
        if self.tokens is None:
            return None
        return self.tokens.token(self.sub, self.ttl, self.scope)

    def connect(self) -> bool:
        """Open a socket and wait for ``welcome``; report ``connect`` once (True: done).

        ``connect`` is a success only with the handshake done (the upgrade, and the
        ``welcome`` where the protocol has one), timed from the start of the upgrade.
        """
        welcome = None if self.raw else self._expect(WELCOME)
        started = time.perf_counter()
        if not self._open(started, self._on_text):
            self._unexpect(WELCOME)
            return False
        if welcome is not None and self._await(welcome, "welcome", report.CONNECT) is None:
            return False
        self.reporter.success(report.CONNECT, report.elapsed_ms(started))
        return True

    def _open(self, started: float, on_text: Callable[[bytes], None]) -> bool:
        """The upgrade, ``on_text`` reading the frames; failures reported as ``connect``."""
        with client_span(report.CONNECT) as span:
            try:
                url, headers = self._upgrade_request(span.traceparent)
                self.session = WsSession.connect(
                    url,
                    headers,
                    self.options.ws_timeout,
                    on_text,
                    self._on_close,
                    self.sockopt,
                    self.source_addresses.next() if self.source_addresses else None,
                )
            except Exception as error:
                failure = describe_connect_error(error)
                span.fail(failure)
                self.reporter.failure(report.CONNECT, report.elapsed_ms(started), failure)
                return False
        self.upgrade_traceparent = span.traceparent
        return True

    def _upgrade_request(self, traceparent: str) -> tuple[str, list[str]]:
        """The URL and headers of the upgrade: the token where ``--token-in`` says."""
        self.token_issued_at = time.monotonic()
        url, placed = place_token(self.url, self.token(), self.options.chosen.token_in)
        headers = [f"{TRACEPARENT}: {traceparent}"]
        headers.extend(f"{name}: {value}" for name, value in placed.items())
        return url, headers

    def subscribe(self, topics: Sequence[str], name: str) -> list[str] | None:
        """Join ``topics`` resuming from the last id seen.

        Returns the topics the server could not recover (``recovered: false``), or
        ``None`` when a ``subscribed`` reply did not come (reported under ``name``).
        """
        pending = {}
        for topic in topics:
            key, text = self.conversation.subscribe(topic)
            pending[topic] = self._waiter(key)
            self.send(text)
        lost = []
        for topic, waiter in pending.items():
            event = self._await(waiter, "subscribed", name)
            if event is None:
                return None
            if not getattr(event, "recovered", True):
                lost.append(topic)
        return lost

    # --- requests ---------------------------------------------------------

    def send(self, text: str) -> None:
        if self.session is None:
            raise report.UnexpectedClose(None)
        self.session.send(text)

    def echo(self, payload: str) -> None:
        """One round trip; reports ``echo``."""
        key, text = self.conversation.echo(payload)
        waiter = self._waiter(key)
        started = time.perf_counter()
        try:
            self.send(text)
        except _SEND_ERRORS:
            self._unexpect(key)
            return
        if self._await(waiter, "echo reply", report.ECHO) is not None:
            elapsed = report.elapsed_ms(started)
            self.reporter.success(report.ECHO, elapsed, len(text))
            record_span(report.ECHO, elapsed, link=self.upgrade_traceparent)

    def publish(self, topic: str, data: dict[str, Any]) -> bool | None:
        """Publish through the socket and wait for the ack; reports ``publish``.

        True when acknowledged, False when refused (an ``error`` frame: not
        published), None when unknown (timeout or close: it may have gone out).
        """
        started = time.perf_counter()
        with client_span(report.PUBLISH) as span:
            key, text = self.conversation.publish(topic, data, span.traceparent)
            waiter = self._waiter(key)
            try:
                self.send(text)
            except _SEND_ERRORS:
                self._unexpect(key)
                return False
            ack = self._await(waiter, "published ack", report.PUBLISH)
        if ack is None:
            return False if isinstance(self.last_error, report.ServerError) else None
        self.reporter.success(report.PUBLISH, report.elapsed_ms(started), len(text))
        return True

    def refresh(self, started: float | None = None) -> None:
        """Send a fresh token in-band; ``refreshed`` (in the reader) reports ``refresh``.

        ``started`` (a ``perf_counter`` value, default now) is when the refresh was
        asked for, i.e. when ``token_expiring`` arrived.
        """
        asked = time.perf_counter() if started is None else started
        self.token_issued_at = time.monotonic()
        text = self.conversation.refresh(self.token() or "", asked)
        try:
            self.send(text)
        except _SEND_ERRORS:
            self.conversation.refresh_unsent()  # the socket is gone; its close is reported

    # --- waiting for replies ----------------------------------------------

    def _expect(self, key: str) -> AsyncResult:
        return self._waiter(self.conversation.expect(key))

    def _waiter(self, key: str) -> AsyncResult:
        waiter: AsyncResult = AsyncResult()
        self._waiters[key] = waiter
        return waiter

    def _unexpect(self, key: str) -> None:
        self.conversation.forget(key)
        self._waiters.pop(key, None)

    def _await(self, waiter: AsyncResult, what: str, name: str) -> ServerEvent | None:
        """The reply, or ``None`` after reporting why it did not come."""
        started = time.perf_counter()
        try:
            reply: ServerEvent = waiter.get(timeout=self.options.ws_timeout)  # type: ignore[assignment]  # gevent's AsyncResult is untyped
            return reply
        except gevent.Timeout:
            error: Exception = report.ReplyTimeout(what)
        except report.WsFailure as failure:
            error = failure
        finally:
            for key, value in list(self._waiters.items()):
                if value is waiter:
                    self._unexpect(key)
        self.last_error = error
        if not isinstance(error, report.UnexpectedClose):  # the close is reported once
            self.reporter.failure(name, report.elapsed_ms(started), error)
        return None

    def _on_close(self, session: WsSession) -> None:
        self.conversation.socket_closed()
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.set_exception(report.UnexpectedClose(session.close_code))

    # --- incoming frames, in the gevent loop ----------------------------------

    def _on_text(self, payload: bytes) -> None:
        event = read_event(payload)
        if isinstance(event, Stamped):
            self._on_message(event, len(payload))
            return
        if event is None:
            return
        outcome = self.conversation.receive(event)
        if isinstance(outcome, Reply):
            waiter = self._waiters.pop(outcome.key, None)
            if waiter is not None:
                waiter.set(outcome.event)
        elif isinstance(outcome, Refused):
            waiter = self._waiters.pop(outcome.key, None)
            if waiter is not None:
                waiter.set_exception(report.ServerError(outcome.code))
        elif isinstance(outcome, RefreshDone):
            self._on_refresh_done(outcome)
        elif isinstance(outcome, TokenWarning):
            if self.on_token_expiring is not None:
                gevent.spawn(self.on_token_expiring, outcome.event)  # it sends
        elif isinstance(outcome, StrayError):
            self.reporter.failure("error", None, report.ServerError(outcome.code))

    def _on_message(self, stamped: Stamped, length: int) -> None:
        verdict = self.conversation.deliver(stamped)
        if verdict is not Verdict.IN_ORDER and verdict is not Verdict.FIRST:
            if verdict is Verdict.DUPLICATE:
                self.reporter.failure(report.DELIVER, None, report.Duplicate())
                return
            if verdict is Verdict.GAP:
                gap = report.Gap("gap: missing sequence number")
                self.reporter.failure(report.DELIVER, None, gap)
            elif verdict is Verdict.OUT_OF_ORDER:
                self.reporter.failure(report.DELIVER, None, report.OutOfOrder())
        message = stamped.message
        published_at = message.published_at
        if published_at is not None and self.conversation.process.sampler.take():
            lag = max(0.0, now_ms() - published_at)
            self.reporter.success(report.DELIVER, lag, length)
            if tracing.tracing_enabled():
                record_span(report.DELIVER, lag, link=message.traceparent)

    def _on_refresh_done(self, done: RefreshDone) -> None:
        elapsed = report.elapsed_ms(done.started)
        if done.refused is None:
            self.reporter.success(report.REFRESH, elapsed)
            record_span(report.REFRESH, elapsed, link=self.upgrade_traceparent)
            return
        failure = report.ServerError(done.refused)
        self.reporter.failure(report.REFRESH, elapsed, failure)
        record_span(report.REFRESH, elapsed, link=self.upgrade_traceparent, error=failure)
