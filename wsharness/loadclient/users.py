"""The WebSocket users of the suite (abstract; ``loadtests/*.py`` make them concrete).

:class:`WebSocketUser` is the base to copy: it connects (reporting ``connect``),
subscribes, and spends its time in :meth:`WebSocketUser.hold`, which waits on the
socket's close so a drop is noticed at once.  A close the user caused (a drop it
made, a token it let expire) is not a failure; any other close is reported as
``disconnect`` with its code.  Either way the user reconnects with jittered
exponential backoff, resumes every topic with ``since`` = the last id seen, and
reports ``reconnect`` (or ``reauth`` after a 4001) from the drop to resubscribed.
"""

from __future__ import annotations

import itertools
import random
import socket
import time
from typing import Any, ClassVar

import gevent
import requests
from locust import User, constant, task

from wsharness.contract.protocol import CloseCode
from wsharness.contract.tokens import PUBLISH_SCOPE
from wsharness.loadclient import report
from wsharness.loadclient.addresses import SourceAddresses
from wsharness.loadclient.auth import TokenSource, new_subject
from wsharness.loadclient.client import ProtocolClient, websocket_url
from wsharness.loadclient.options import LoadOptions
from wsharness.loadclient.pubsub_rest import PubSubPublishFailed, PubSubRestPublisher
from wsharness.loadclient.report import Reporter
from wsharness.loadclient.sequence import stamp
from wsharness.loadclient.tracing import client_span, record_span

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


def pubsub_publisher(environment: Any, options: LoadOptions) -> PubSubRestPublisher | None:
    """The process's Pub/Sub REST publisher with ``--publish-via pubsub``, else None."""
    if options.publish_via != "pubsub":
        return None
    cached = getattr(environment, "_wsh_pubsub", None)
    if cached is None:
        cached = PubSubRestPublisher.from_env(options.pubsub_topic)
        environment._wsh_pubsub = cached
    return cached


def forget_options(environment: Any, **_: Any) -> None:
    """Drop the cached options and tokens (the web UI may change options per swarm)."""
    environment._wsh_options = None
    environment._wsh_tokens = None
    environment._wsh_sources = None


def token_source(environment: Any, options: LoadOptions) -> TokenSource | None:
    """The process's token source, or ``None`` in raw mode without one."""
    has_source = options.jwt_secret or options.token_file or options.token_command
    if options.raw and not has_source:
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
        self.client = ProtocolClient(
            websocket_url(host, self.options.ws_path),
            self.options,
            self.reporter,
            token_source(environment, self.options),
            new_subject(self.subject_prefix),
            scope=self.scope,
            ttl=self.token_ttl(),
            sockopt=self.socket_options(),
            source_addresses=source_addresses(environment, self.options),
        )

    def token_ttl(self) -> float:
        return self.options.token_ttl

    def socket_options(self) -> list[tuple[int, int, int]]:
        if self.receive_buffer is None:
            return []
        return [(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)]

    @property
    def topics(self) -> list[str]:
        return [] if self.options.raw or not self.subscribes else self.options.topic_list

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
                self.wait(backoff_seconds(attempt, self.options))
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

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            gevent.sleep(seconds)

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
        self.hold(_HOLD_SLICE_S)


class ActiveUser(WebSocketUser):
    """Subscribe and echo at ``--echo-rate`` with ``--payload-bytes`` payloads."""

    abstract = True
    weight = 3

    @task
    def echo(self) -> None:
        started = time.monotonic()
        self.client.echo("x" * self.options.payload_bytes)
        interval = 1.0 / self.options.echo_rate if self.options.echo_rate > 0 else 1.0
        self.hold(interval - (time.monotonic() - started))


class PublisherUser(WebSocketUser):
    """Publish at ``--publish-rate`` through the server, stamping a sequence per topic."""

    abstract = True
    weight = 1
    subject_prefix = "publisher"
    scope = PUBLISH_SCOPE
    subscribes = False

    def on_start(self) -> None:
        self.sequences = dict.fromkeys(self.options.topic_list, 0)
        self.topic_cycle = itertools.cycle(self.options.topic_list)
        self.pubsub = pubsub_publisher(self.environment, self.options)
        if self.pubsub is None:
            super().on_start()  # publishing through a socket of its own

    @task
    def publish(self) -> None:
        started = time.monotonic()
        topic = next(self.topic_cycle)
        sequence = self.sequences[topic] + 1
        data = stamp(self.client.sub, sequence, "x" * self.options.payload_bytes)
        if self.pubsub is None:
            outcome = self.client.publish(topic, data)
        else:
            outcome = self.publish_to_pubsub(self.pubsub, topic, data)
        if outcome is not False:  # published, or unknown (a later receiver judges)
            self.sequences[topic] = sequence
        interval = 1.0 / self.options.publish_rate if self.options.publish_rate > 0 else 1.0
        remaining = interval - (time.monotonic() - started)
        if self.pubsub is None:
            self.hold(remaining)
        else:
            self.wait(remaining)

    def publish_to_pubsub(
        self, pubsub: PubSubRestPublisher, topic: str, data: dict[str, Any]
    ) -> bool | None:
        """One REST publish, reported as ``publish``; None when the outcome is unknown."""
        started = time.perf_counter()
        with client_span(report.PUBLISH) as span:
            try:
                pubsub.publish(topic, data, span.traceparent)
            except PubSubPublishFailed as refused:
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

    def on_token_expiring(self, _frame: dict[str, Any]) -> None:
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
