"""The WebSocket users of the suite (abstract; ``loadtests/*.py`` make them concrete).

:class:`WebSocketUser` is the base to copy: it connects (reporting ``connect``),
subscribes, and spends its time in :meth:`WebSocketUser.hold`, which waits on the
socket's close so a drop is noticed at once.  A close the user caused (a drop it
made, a token it let expire) is not a failure; any other close is reported as
``disconnect`` with its code.  Either way the user reconnects with jittered
exponential backoff, resumes every topic with ``since`` = the last id seen, and
reports ``reconnect`` (or ``reauth`` after a 4001) from the drop to resubscribed.

``--protocol`` picks the client a user holds (:data:`CLIENTS`), not the user classes:
with ``relay`` and ``socketio`` every user that subscribes receives stamped
notifications (active users too, having no echo to time), publishers publish stamped
payloads through the backend (``--publish-via pubsub`` or ``http``) or, on Socket.IO,
by emitting the event, and record each publish in the process's book; drops users
drop and reconnect as with this project's server (a new account each time, no
resume).
"""

from __future__ import annotations

import itertools
import random
import socket
import time
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import gevent
import requests
from locust import User, constant, task

from wsharness.contract.protocol import CloseCode, TokenExpiring
from wsharness.contract.tokens import PUBLISH_SCOPE
from wsharness.loadclient import report
from wsharness.loadclient.addresses import SourceAddresses
from wsharness.loadclient.auth import TokenSource, new_subject
from wsharness.loadclient.book import BOOK
from wsharness.loadclient.client import ProtocolClient, websocket_url
from wsharness.loadclient.http_publish import HttpPublisher
from wsharness.loadclient.options import LoadOptions
from wsharness.loadclient.pubsub_rest import PubSubRestPublisher
from wsharness.loadclient.relay import RelayClient
from wsharness.loadclient.report import Reporter, WsFailure
from wsharness.loadclient.sequence import stamp
from wsharness.loadclient.socketio_client import SocketIOUserClient
from wsharness.loadclient.socketio_codec import socketio_url
from wsharness.loadclient.stamp import new_stamp, stamped_payload
from wsharness.loadclient.tracing import client_span, record_span

CLIENTS: dict[str, type[ProtocolClient]] = {
    "wsharness": ProtocolClient,
    "echo": ProtocolClient,
    "relay": RelayClient,
    "socketio": SocketIOUserClient,
}
"""The client a user holds, per ``--protocol``."""

_HOLD_SLICE_S = 60.0
_SMALL_RECEIVE_BUFFER = 8192


def load_options(environment: Any) -> LoadOptions:
    """The suite's options for this environment (parsed once per process)."""
    cached = getattr(environment, "_wsh_options", None)
    if cached is None:
        cached = LoadOptions.from_parsed(environment.parsed_options)
        environment._wsh_options = cached
    return cached


def source_addresses(environment: Any, options: LoadOptions) -> SourceAddresses | None:
    """The process's round-robin of ``--source-addresses`` (None when unset)."""
    if not options.source_addresses:
        return None
    cached = getattr(environment, "_wsh_sources", None)
    if cached is None:
        cached = SourceAddresses(options.source_addresses)
        environment._wsh_sources = cached
    return cached


Backend = PubSubRestPublisher | HttpPublisher


def backend_publisher(environment: Any, options: LoadOptions) -> Backend | None:
    """The process's publisher with ``--publish-via pubsub`` or ``http``; None: server."""
    if options.publish_via == "server":
        return None
    cached = getattr(environment, "_wsh_pubsub", None)
    if cached is None:
        if options.publish_via == "http":
            url, token_in = options.chosen.publish_url or "", options.chosen.token_in
            cached = HttpPublisher(url, token_in=token_in)
        else:
            cached = PubSubRestPublisher.from_env(options.pubsub_topic)
        environment._wsh_pubsub = cached
    return cached


def websocket_url_for(host: str, options: LoadOptions) -> str:
    """Where a user's socket goes: ``--host`` and the path, as the protocol wants."""
    if options.protocol.name == "socketio":  # a query on --host goes along (?room=x)
        query = dict(parse_qsl(urlsplit(host).query))
        return socketio_url(host, options.socket_path, query)
    return websocket_url(host, options.socket_path)


def forget_options(environment: Any, **_: Any) -> None:
    """Drop everything built from the options (the web UI may change them per swarm)."""
    environment._wsh_options = None
    environment._wsh_tokens = None
    environment._wsh_sources = None
    environment._wsh_pubsub = None


def token_source(environment: Any, options: LoadOptions) -> TokenSource | None:
    """The process's token source; ``None`` without one where none is required."""
    if not options.protocol.token_required and not options.has_token_source:
        return None
    cached = getattr(environment, "_wsh_tokens", None)
    if cached is None:
        cached = TokenSource(options)
        environment._wsh_tokens = cached
    return cached


def backoff_seconds(attempt: int, options: LoadOptions) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(max, base * 2**attempt)]."""
    ceiling = min(options.reconnect_max_ms, options.reconnect_base_ms * 2**attempt)
    return random.uniform(0, ceiling) / 1000.0


class WebSocketUser(User):
    """A virtual user holding one socket to the ``/ws`` contract (or a raw echo)."""

    abstract = True
    wait_time = constant(0)  # tasks pace themselves with hold()
    subject_prefix: ClassVar[str] = "locust"
    scope: ClassVar[str | None] = None
    subscribes: ClassVar[bool] = True
    receive_buffer: ClassVar[int | None] = None

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.options = load_options(environment)
        self.reporter = Reporter(environment)
        host = self.host or environment.host
        if not host:
            raise ValueError(
                "set --host, e.g. ws://127.0.0.1:8080 or wss://staging.example"
            )
        client_class = CLIENTS[self.options.protocol.name]
        extra = {"user_class": type(self).__name__}
        if client_class is ProtocolClient:
            extra = {}
        self.client = client_class(
            websocket_url_for(host, self.options),
            self.options,
            self.reporter,
            token_source(environment, self.options),
            new_subject(self.subject_prefix),
            scope=self.scope,
            ttl=self.token_ttl(),
            sockopt=self.socket_options(),
            source_addresses=source_addresses(environment, self.options),
            **extra,
        )

    def token_ttl(self) -> float:
        return self.options.token_ttl

    def socket_options(self) -> list[tuple[int, int, int]]:
        if self.receive_buffer is None:
            return []
        return [(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)]

    @property
    def topics(self) -> list[str]:
        if self.options.echo_only or not self.subscribes:
            return []
        return self.options.topic_list

    # --- life cycle -----------------------------------------------------------

    def on_start(self) -> None:
        self.establish()

    def on_stop(self) -> None:
        if self.client.session is not None:
            self.client.session.close()

    def establish(self, name: str | None = None, dropped_at: float | None = None) -> None:
        """Connect and subscribe, retrying with backoff; report ``name`` when given."""
        started = time.perf_counter() if dropped_at is None else dropped_at
        for attempt in itertools.count():
            if attempt or name == report.RECONNECT:  # jittered; a re-auth goes at once
                self.pause(backoff_seconds(attempt, self.options))
            if not self.client.connect():
                self._discard_session()
                continue
            lost = self.client.subscribe(self.topics, name or report.CONNECT)
            if lost is None:
                self._discard_session()
                continue
            if name is not None:
                self._report_resumed(name, report.elapsed_ms(started), lost)
            return

    def _report_resumed(self, name: str, elapsed: float, lost: list[str]) -> None:
        gap = report.Gap("gap: recovered false") if lost else None
        if gap is not None:
            self.reporter.failure(name, elapsed, gap)
        else:
            self.reporter.success(name, elapsed)
        # reconnect or reauth, linked to the new socket's connect span
        record_span(name, elapsed, link=self.client.upgrade_traceparent, error=gap)

    def _discard_session(self) -> None:
        session = self.client.session
        if session is not None and session.is_open:
            session.intended = True
            session.kill()

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` (Locust's own :meth:`wait` sleeps ``wait_time``)."""
        if seconds > 0:
            gevent.sleep(seconds)

    def hold_forever(self) -> None:
        """Keep the socket until the user stops, recovering each time it closes.

        No timer while waiting: an idle user costs its greenlet and its socket.
        """
        while True:
            session = self.client.session
            if session is not None:
                session.closed.wait()
            self.recover()

    def hold(self, seconds: float) -> None:
        """Keep the socket for ``seconds``; recover at once if it closes meanwhile."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            session = self.client.session
            if session is None or session.closed.wait(min(remaining, _HOLD_SLICE_S)):
                self.recover()

    def is_intended(self, code: int | None) -> bool:
        """Whether a server close with ``code`` is part of this user's plan."""
        return False

    def recover(self) -> None:
        """Report an unexpected close, then reconnect and resume."""
        session = self.client.session
        if session is None:
            self.establish(report.RECONNECT)
            return
        dropped_at = session.closed_at or time.perf_counter()
        name = report.RECONNECT
        code = session.close_code
        if code == CloseCode.TOKEN_EXPIRED and self.is_intended(code):
            name = report.REAUTH
        elif not session.intended:
            self.reporter.failure(report.DISCONNECT, None, report.UnexpectedClose(code))
        self.establish(name, dropped_at)


class IdleUser(WebSocketUser):
    """Connect, subscribe, hold for a long time (thousands of these)."""

    abstract = True
    weight = 10

    @task
    def idle(self) -> None:
        self.hold_forever()


class ActiveUser(WebSocketUser):
    """Subscribe and echo at ``--echo-rate`` with ``--payload-bytes`` payloads.

    On a protocol without echoes (``relay``, ``socketio``) it is a receiver.
    """

    abstract = True
    weight = 3

    @task
    def echo(self) -> None:
        if not self.options.protocol.echoes:
            self.hold_forever()
        started = time.monotonic()
        self.client.echo("x" * self.options.payload_bytes)
        interval = 1.0 / self.options.echo_rate if self.options.echo_rate > 0 else 1.0
        self.hold(interval - (time.monotonic() - started))


class PublisherUser(WebSocketUser):
    """Publish at ``--publish-rate``, stamping a sequence per topic.

    Through the server's socket (``--publish-via server``: a ``publish`` frame, or a
    Socket.IO emit), or straight to the backend (``pubsub``, ``http``).  With
    ``--protocol relay`` and ``socketio`` the payload is the harness's stamp
    (:mod:`wsharness.loadclient.stamp`), and each publish that may have gone out is
    recorded in the process's book, against which receivers' completeness is assessed.
    """

    abstract = True
    weight = 1
    subject_prefix = "publisher"
    scope = PUBLISH_SCOPE
    subscribes = False

    def on_start(self) -> None:
        self.sequences = dict.fromkeys(self.options.topic_list, 0)
        self.topic_cycle = itertools.cycle(self.options.topic_list)
        self.stamped = self.options.protocol.deliveries == "stamp"
        self.backend = backend_publisher(self.environment, self.options)
        if self.backend is None:
            super().on_start()  # publishing through a socket of its own

    @task
    def publish(self) -> None:
        started = time.monotonic()
        topic = next(self.topic_cycle)
        sequence = self.sequences[topic] + 1
        pad = "x" * self.options.payload_bytes
        if self.stamped:
            stamp_ = new_stamp(self.client.sub, sequence, topic)
            data = stamped_payload(stamp_, pad)
        else:
            data = stamp(self.client.sub, sequence, pad)
        if self.backend is None:
            outcome = self.client.publish(topic, data)
        else:
            outcome = self.publish_to_backend(self.backend, topic, data)
        if outcome is not False:  # published, or unknown (a later receiver judges)
            self.sequences[topic] = sequence
            if self.stamped:
                BOOK.published(stamp_.stream, sequence, stamp_.published_at_ms)
        interval = 1.0 / self.options.publish_rate if self.options.publish_rate > 0 else 1.0
        remaining = interval - (time.monotonic() - started)
        if self.backend is None:
            self.hold(remaining)
        else:
            self.pause(remaining)

    def publish_to_backend(
        self, backend: Backend, topic: str, data: dict[str, Any]
    ) -> bool | None:
        """One REST publish or POST, reported as ``publish``; None when unknown."""
        started = time.perf_counter()
        with client_span(report.PUBLISH) as span:
            try:
                if isinstance(backend, HttpPublisher):
                    backend.publish(data, self.client.token(), span.traceparent)
                else:
                    backend.publish(topic, data, span.traceparent)
            except WsFailure as refused:  # an HTTP error: nothing was published
                self.reporter.failure(report.PUBLISH, report.elapsed_ms(started), refused)
                return False
            except requests.RequestException as error:
                failure = report.ConnectFailed(error)
                self.reporter.failure(report.PUBLISH, report.elapsed_ms(started), failure)
                return None
        self.reporter.success(report.PUBLISH, report.elapsed_ms(started))
        return True


class DropsUser(WebSocketUser):
    """Subscribed; every ``--drop-interval`` (jittered) it aborts, resets or stalls."""

    abstract = True
    weight = 2
    subject_prefix = "drops"
    receive_buffer = _SMALL_RECEIVE_BUFFER  # so a read stall fills the server's queue

    @task
    def drop(self) -> None:
        self.hold(random.uniform(0.5, 1.5) * self.options.drop_interval)
        session = self.client.session
        if session is None or not session.is_open:
            return
        weights = self.options.drop_weights
        kind = random.choices(list(weights), weights=list(weights.values()))[0]
        if kind == "stall":
            session.stall(self.options.stall_seconds)  # a server close is seen in hold()
            return
        dropped_at = time.perf_counter()
        session.abort() if kind == "abort" else session.reset()
        self.establish(report.RECONNECT, dropped_at)


class ExpiryUser(WebSocketUser):
    """Short-lived tokens: refresh in-band on ``token_expiring``, or expire, reconnect."""

    abstract = True
    weight = 2
    subject_prefix = "expiry"
    modes: ClassVar[itertools.count] = itertools.count()

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        mode = self.options.expiry_mode
        if mode == "mix":
            mode = "refresh" if next(self.modes) % 2 == 0 else "reconnect"
        self.mode = mode
        if mode == "refresh":
            self.client.on_token_expiring = self.on_token_expiring

    def on_token_expiring(self, _warning: TokenExpiring) -> None:
        """Refresh at once, unless the token is younger than half its lifetime.

        A server whose warning window is longer than the token's whole life warns
        as soon as a token arrives; refreshing on every warning would then loop as
        fast as the network allows.  Such a refresh waits, and is timed from its send.
        """
        age = time.monotonic() - self.client.token_issued_at
        hold_back = self.token_ttl() / 2 - age
        if hold_back <= 0:
            self.client.refresh(time.perf_counter())
        else:
            gevent.spawn_later(hold_back, self.client.refresh)

    def token_ttl(self) -> float:
        return self.options.expiry_token_ttl

    def is_intended(self, code: int | None) -> bool:
        return self.mode == "reconnect" and code == CloseCode.TOKEN_EXPIRED

    @task
    def live(self) -> None:
        self.hold(_HOLD_SLICE_S)
