"""The client side of the ``/ws`` contract, reporting every timing to Locust.

:class:`ProtocolClient` owns one virtual user's current socket and everything that
outlives a socket: the resume cursor per topic (last message ``id``), the sequence
tracker, and the waiters for replies.  Replies are matched in the receive greenlet
(``welcome``, ``subscribed``, ``echo`` by id, ``published``, ``refreshed``);
deliveries are timed there from ``published_at``.  In raw mode it speaks to any RFC
6455 echo endpoint: no token needed, no welcome, no subscriptions, echoes matched by
their ``id`` field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent
import websocket
from gevent.event import AsyncResult

from wsharness.contract.clock import now_ms
from wsharness.contract.protocol import (
    TRACEPARENT,
    ClientType,
    ErrorCode,
    ServerType,
    encode,
)
from wsharness.loadclient import limits, report
from wsharness.loadclient.addresses import SourceAddresses
from wsharness.loadclient.auth import TokenSource
from wsharness.loadclient.options import LoadOptions
from wsharness.loadclient.report import Reporter
from wsharness.loadclient.sequence import SequenceTracker, Verdict
from wsharness.loadclient.session import WsSession
from wsharness.loadclient.tracing import client_span, record_span

WELCOME = "welcome"
PUBLISHED = "published"
SUBSCRIBED = "subscribed:"
ECHOED = "echo:"


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
        self.last_ids: dict[str, str] = {}
        self.tracker = SequenceTracker()
        self.expires_at = 0.0
        self.on_token_expiring: Callable[[dict[str, Any]], None] | None = None
        self._waiters: dict[str, AsyncResult] = {}
        self._echo_counter = 0
        self._refresh_started: float | None = None
        self.last_error: Exception | None = None
        self.token_issued_at = 0.0  # time.monotonic() of the last token sent
        self.upgrade_traceparent: str | None = None  # of the last upgrade that succeeded

    # --- connecting -------------------------------------------------------

    @property
    def raw(self) -> bool:
        return self.options.raw

    def token(self) -> str | None:
        if self.tokens is None:
            return None
        return self.tokens.token(self.sub, self.ttl, self.scope)

    def connect(self) -> bool:
        """Open a socket and wait for ``welcome``; report ``connect``.  True on success."""
        welcome = None if self.raw else self._expect(WELCOME)
        started = time.perf_counter()
        with client_span(report.CONNECT) as span:
            try:
                headers = self._headers(span.traceparent)
                self.session = WsSession.connect(
                    self.url,
                    headers,
                    self.options.ws_timeout,
                    self._on_text,
                    self._on_close,
                    self.sockopt,
                    self.source_addresses.next() if self.source_addresses else None,
                )
            except Exception as error:
                failure = describe_connect_error(error)
                span.fail(failure)
                self._waiters.pop(WELCOME, None)
                self.reporter.failure(report.CONNECT, report.elapsed_ms(started), failure)
                return False
        self.upgrade_traceparent = span.traceparent
        self.reporter.success(report.CONNECT, report.elapsed_ms(started))
        if welcome is None:
            return True
        return self._await(welcome, WELCOME, report.CONNECT) is not None

    def _headers(self, traceparent: str) -> list[str]:
        self.token_issued_at = time.monotonic()
        headers = [f"{TRACEPARENT}: {traceparent}"]
        token = None if self.raw and self.tokens is None else self.token()
        if token:
            headers.append(f"Authorization: Bearer {token}")
        return headers

    def subscribe(self, topics: Sequence[str], name: str) -> list[str] | None:
        """Join ``topics`` resuming from the last id seen.

        Returns the topics the server could not recover (``recovered: false``), or
        ``None`` when a ``subscribed`` reply did not come (reported under ``name``).
        """
        pending = {}
        for topic in topics:
            pending[topic] = self._expect(SUBSCRIBED + topic)
            since = self.last_ids.get(topic)
            fields = {"topic": topic} if since is None else {"topic": topic, "since": since}
            self.send(encode(ClientType.SUBSCRIBE, **fields))
        lost = []
        for topic, waiter in pending.items():
            frame = self._await(waiter, "subscribed", name)
            if frame is None:
                return None
            if frame.get("recovered") is False:
                lost.append(topic)
                self.tracker.forget_topic(topic)
        return lost

    # --- requests ---------------------------------------------------------

    def send(self, text: str) -> None:
        if self.session is None:
            raise report.UnexpectedClose(None)
        self.session.send(text)

    def echo(self, payload: str) -> None:
        """One round trip; reports ``echo``."""
        self._echo_counter += 1
        echo_id = self._echo_counter
        waiter = self._expect(f"{ECHOED}{echo_id}")
        text = encode(ClientType.ECHO, id=echo_id, payload=payload)
        started = time.perf_counter()
        try:
            self.send(text)
        except (OSError, websocket.WebSocketException, report.WsFailure):
            self._waiters.pop(f"{ECHOED}{echo_id}", None)
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
        waiter = self._expect(PUBLISHED)
        started = time.perf_counter()
        with client_span(report.PUBLISH) as span:
            fields = {"topic": topic, "data": data, TRACEPARENT: span.traceparent}
            text = encode(ClientType.PUBLISH, **fields)
            try:
                self.send(text)
            except (OSError, websocket.WebSocketException, report.WsFailure):
                self._waiters.pop(PUBLISHED, None)
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
        self._refresh_started = time.perf_counter() if started is None else started
        self.token_issued_at = time.monotonic()
        try:
            self.send(encode(ClientType.REFRESH, token=self.token() or ""))
        except (OSError, websocket.WebSocketException, report.WsFailure):
            self._refresh_started = None  # the socket is gone; its close is reported

    # --- waiting for replies ----------------------------------------------

    def _expect(self, key: str) -> AsyncResult:
        waiter = AsyncResult()
        self._waiters[key] = waiter
        return waiter

    def _await(self, waiter: AsyncResult, what: str, name: str) -> dict[str, Any] | None:
        """The reply, or ``None`` after reporting why it did not come."""
        started = time.perf_counter()
        try:
            return waiter.get(timeout=self.options.ws_timeout)
        except gevent.Timeout:
            error: Exception = report.ReplyTimeout(what)
        except report.WsFailure as failure:
            error = failure
        finally:
            for key, value in list(self._waiters.items()):
                if value is waiter:
                    del self._waiters[key]
        self.last_error = error
        if not isinstance(error, report.UnexpectedClose):  # the close is reported once
            self.reporter.failure(name, report.elapsed_ms(started), error)
        return None

    def _resolve(self, key: str, frame: dict[str, Any]) -> None:
        waiter = self._waiters.pop(key, None)
        if waiter is not None:
            waiter.set(frame)

    def _on_close(self, session: WsSession) -> None:
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.set_exception(report.UnexpectedClose(session.close_code))

    # --- the receive greenlet -----------------------------------------------

    def _on_text(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            return
        if not isinstance(frame, dict):
            return
        frame_type = frame.get("type")
        if frame_type == ServerType.MESSAGE:
            self._on_message(frame, len(text))
        elif frame_type == ServerType.ECHO or (self.raw and "id" in frame):
            self._resolve(f"{ECHOED}{frame.get('id')}", frame)
        elif frame_type == ServerType.SUBSCRIBED:
            self._resolve(SUBSCRIBED + str(frame.get("topic")), frame)
        elif frame_type == ServerType.WELCOME:
            self.expires_at = float(frame.get("expires_at") or 0)
            self._resolve(WELCOME, frame)
        elif frame_type == ServerType.PUBLISHED:
            self._resolve(PUBLISHED, frame)
        elif frame_type == ServerType.TOKEN_EXPIRING:
            if self.on_token_expiring is not None:
                self.on_token_expiring(frame)
        elif frame_type == ServerType.REFRESHED:
            self._on_refreshed(frame)
        elif frame_type == ServerType.ERROR:
            self._on_error(frame)

    def _on_message(self, frame: dict[str, Any], length: int) -> None:
        topic = str(frame.get("topic"))
        message_id = frame.get("id")
        if isinstance(message_id, str):
            self.last_ids[topic] = message_id
        verdict, _missing = self.tracker.observe(topic, frame.get("data"))
        if verdict is Verdict.DUPLICATE:
            self.reporter.failure(report.DELIVER, None, report.Duplicate())
            return
        if verdict is Verdict.GAP:
            gap = report.Gap("gap: missing sequence number")
            self.reporter.failure(report.DELIVER, None, gap)
        published_at = frame.get("published_at")
        if isinstance(published_at, int | float):
            lag = max(0.0, now_ms() - float(published_at))
            self.reporter.success(report.DELIVER, lag, length)
            record_span(report.DELIVER, lag, link=frame.get(TRACEPARENT))

    def _on_refreshed(self, frame: dict[str, Any]) -> None:
        self.expires_at = float(frame.get("expires_at") or self.expires_at)
        if self._refresh_started is not None:
            elapsed = report.elapsed_ms(self._refresh_started)
            self._refresh_started = None
            self.reporter.success(report.REFRESH, elapsed)
            record_span(report.REFRESH, elapsed, link=self.upgrade_traceparent)

    def _on_error(self, frame: dict[str, Any]) -> None:
        code = str(frame.get("code"))
        failure = report.ServerError(code)
        if code == ErrorCode.REFRESH_REFUSED and self._refresh_started is not None:
            elapsed = report.elapsed_ms(self._refresh_started)
            self._refresh_started = None
            self.reporter.failure(report.REFRESH, elapsed, failure)
            record_span(
                report.REFRESH, elapsed, link=self.upgrade_traceparent, error=failure
            )
            return
        waiter = self._waiters.pop(PUBLISHED, None)
        if waiter is not None:
            waiter.set_exception(failure)
            return
        self.reporter.failure("error", None, failure)
