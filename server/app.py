"""The aiohttp application: routes, the upgrade, fan-out and the instance's life.

``build_app(settings)`` gives a ready ``web.Application``; ``run`` serves it until
SIGTERM or SIGINT, then drains.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import logging
import signal
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from aiohttp import web

from wsharness.contract.clock import now_ms_int
from wsharness.contract.notification import Notification
from wsharness.contract.protocol import (
    WS_PATH,
    ProtocolError,
    ServerType,
    parse_publish_request,
)
from wsharness.contract.tokens import Identity, TokenVerifier
from wsharness.server import deflate, handshake, headguard, jwks, policy
from wsharness.server.brokers.base import Broker, BrokerUnavailable
from wsharness.server.brokers.memory import MemoryBroker
from wsharness.server.config import Settings
from wsharness.server.connection import Connection
from wsharness.server.core import Core
from wsharness.server.drain import drain
from wsharness.server.frame_guard import MaskCheckedResponse
from wsharness.server.handshake import Capacity, Refusal
from wsharness.server.hub import Hub, UnsendableData
from wsharness.server.rare_log import RareLog
from wsharness.server.session import Session
from wsharness.telemetry import spans
from wsharness.telemetry.setup import Telemetry, setup_telemetry

SERVER_KEY: web.AppKey[Server] = web.AppKey("server")
log = logging.getLogger(__name__)


def burn_cpu(seconds: float) -> None:
    """Spin for ``seconds`` of this thread's CPU (the test-only delivery cost)."""
    deadline = time.thread_time() + seconds
    while time.thread_time() < deadline:
        pass


class Server:
    """The instance: its sockets, subscriptions, broker and telemetry."""

    def __init__(self, settings: Settings, broker: Broker, telemetry: Telemetry) -> None:
        self.settings = settings
        self.broker = broker
        self.telemetry = telemetry
        self.metrics = telemetry.metrics
        self.verifier = TokenVerifier(
            secret=settings.jwt_secret,
            public_key=settings.jwt_public_key,
            jwks_url=settings.jwks_url,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            cache_size=settings.token_cache_size,
        )
        self.hub: Hub[Connection] = Hub(
            settings.history_size,
            settings.history_seconds,
            settings.history_max_topics,
            on_evict=self.metrics.topics_evicted,
        )
        self.metrics.topic_histories = lambda: self.hub.history_count
        self.limits = policy.Limits(settings.max_subscriptions, settings.max_topic_bytes)
        # With a shared broker, a resume cursor may still be on its way to us.
        resume_wait = settings.resume_wait_seconds if broker.shared else 0.0
        self.core: Core[Connection] = Core(self.hub, self.limits, resume_wait)
        self.rare_log = RareLog(log)
        self.connections: set[Connection] = set()
        self._connection_ids = itertools.count(1)
        self._instance = uuid.uuid4().hex[:8]
        self.draining = False

    # -- admission ---------------------------------------------------------------

    def admit(self, request: web.Request) -> Identity | Refusal:
        """Every check of the upgrade, cheapest first; no upgrade happens here."""
        headers = request.headers
        capacity = Capacity(
            open_connections=len(self.connections),
            max_connections=self.settings.max_connections,
            draining=self.draining,
        )
        refusal = (
            handshake.check_websocket_request(request.method, headers, request.version)
            or handshake.check_capacity(capacity)
            or handshake.check_origin(headers.get("Origin"), self.settings.allowed_origins)
        )
        if refusal is not None:
            return refusal
        token = handshake.bearer_token(headers, request.query)
        return handshake.authenticate(token, self.verifier)

    def next_connection_id(self) -> str:
        """Unique across instances (random instance prefix), cheap within one."""
        return f"{self._instance}-{next(self._connection_ids):x}"

    def forget(self, connection: Connection) -> None:
        self.connections.discard(connection)
        self.hub.remove(connection)

    # -- notifications -----------------------------------------------------------

    async def publish(self, topic: str, data: Any, trace_context: dict[str, str]) -> str:
        return await self.broker.publish(topic, data, trace_context)

    def deliver(self, notification: Notification) -> None:
        """Fan one notification out to this instance's subscribers (called on the loop)."""
        started = time.perf_counter()
        with spans.fanning_out(
            notification.topic, notification.id, notification.trace_context
        ) as span:
            traceparent = spans.current_trace_context().get("traceparent")
            try:
                routed = self.hub.route(notification, now_ms_int(), traceparent)
            except UnsendableData:
                self._drop(notification)
                return
            cost_s = self.settings.test_delivery_cost_us / 1e6  # tests only: slowed build
            for connection in routed.targets:
                if cost_s:  # before the send, so the delivery itself is late
                    burn_cpu(cost_s)
                connection.send_frame(routed.frame)
            for resolved in routed.resolved:
                resolved.subscriber.answer_subscribe(resolved.topic, resolved.replay)
            targets = routed.targets
            spans.record_fanout(span, len(targets))
        self.metrics.fanout(time.perf_counter() - started)
        self.metrics.lag((now_ms_int() - notification.published_at) / 1000)
        if targets:
            self.metrics.message_out(ServerType.MESSAGE.value, len(targets))

    def _drop(self, notification: Notification) -> None:
        """A notification no client could parse (NaN from a publisher that went
        straight to the broker): deliver nothing rather than invalid JSON."""
        self.metrics.notification_dropped("non_standard_json")
        self.rare_log.warning(
            "non_standard_json",
            "dropped notification %s on %r: data is not standard JSON",
            notification.id,
            notification.topic[:256],
        )

    async def sweep_histories(self) -> None:
        """Evict histories that have outlived the window, a few times per window."""
        interval = min(max(self.settings.history_seconds / 10, 0.05), 5.0)
        while True:
            await asyncio.sleep(interval)  # the sweep's period, not a synchronisation
            self.hub.evict_expired(now_ms_int())

    # -- heartbeat ---------------------------------------------------------------

    async def heartbeat(self) -> None:
        """Every interval, ping every socket; close those silent since the last ping.

        One loop for the instance instead of two timers per socket: idle sockets stay
        cheap, and a loop that lags under load does not misjudge live peers.
        """
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)  # the interval itself
            for connection in list(self.connections):
                connection.heartbeat()

    # -- drain -------------------------------------------------------------------

    async def drain(self) -> None:
        self.draining = True
        await drain(
            list(self.connections), self.settings.drain_seconds, self.settings.drain_batches
        )


# -- handlers ----------------------------------------------------------------------


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    server = request.app[SERVER_KEY]
    span = spans.start_handshake(request.headers, request.remote)
    decision = server.admit(request)
    if isinstance(decision, Refusal) and decision.reason == handshake.UNKNOWN_KEY:
        decision = await jwks.retry_with_fresh_keys(
            request.app, lambda: server.admit(request)
        )
    if isinstance(decision, Refusal):
        server.metrics.handshake(decision.reason)
        spans.finish_handshake(span, decision.reason, decision.status, decision.message)
        return refusal_response(decision)
    ws = MaskCheckedResponse(
        autoping=False,  # pings and pongs come to the reader: see Server.heartbeat
        # aiohttp refuses a message of exactly max_msg_size: allow that one.
        max_msg_size=server.settings.max_message_bytes + 1,
        compress=server.settings.compress,
        timeout=2.0,
    )
    stream = await ws.prepare(request)
    server.metrics.handshake("accepted")
    spans.finish_handshake(span, "accepted", 101)
    connection_trace = spans.start_connection(request.headers, span)
    connection_id = server.next_connection_id()
    session = Session(
        connection_id,
        decision,
        now=time.monotonic(),
        rate_per_second=server.settings.rate_limit_per_second,
        burst=server.settings.rate_limit_burst,
        warning_seconds=server.settings.token_warning_seconds,
    )
    transport = request.transport
    assert transport is not None
    connection = Connection(server, ws, stream, transport, session, connection_trace)  # type: ignore[arg-type]
    server.connections.add(connection)
    server.metrics.opened()
    await connection.serve()
    return ws


def refusal_response(refusal: Refusal) -> web.Response:
    body = {"error": refusal.reason, "message": refusal.message}
    return web.json_response(body, status=refusal.status, headers=refusal.headers)


async def publish_handler(request: web.Request) -> web.Response:
    """``POST /publish`` with a Bearer token of scope ``publish``: {"topic", "data"}.

    The same permission check as a ``publish`` frame (:func:`policy.check_publish`),
    answered in HTTP: 401, 403, 400 (bad body or topic), 503 (broker down), 202.
    """
    server = request.app[SERVER_KEY]
    identity = handshake.authenticate(
        handshake.bearer_token(request.headers, {}), server.verifier
    )
    if isinstance(identity, Refusal) and identity.reason == handshake.UNKNOWN_KEY:
        identity = await jwks.retry_with_fresh_keys(
            request.app,
            lambda: handshake.authenticate(
                handshake.bearer_token(request.headers, {}), server.verifier
            ),
        )
    if isinstance(identity, Refusal):
        server.metrics.http_publish(identity.reason)
        return refusal_response(identity)
    try:
        topic, data = parse_publish_request((await request.read()).decode())
    except ProtocolError as exc:
        server.metrics.http_publish(exc.reason)
        body = {"error": "bad_request", "code": exc.code.value, "message": str(exc)}
        return web.json_response(body, status=400)
    except UnicodeDecodeError:
        server.metrics.http_publish("bad_json")
        return refusal_response(Refusal(400, "bad_request", "the body is not UTF-8"))
    denial = policy.check_publish(identity, topic, server.limits)
    if denial is not None:
        server.metrics.http_publish(denial.reason)
        return refusal_response(Refusal(denial.http_status, denial.reason, denial.message))
    try:
        message_id = await server.publish(
            topic, data, spans.request_trace_context(request.headers)
        )
    except BrokerUnavailable as exc:
        server.metrics.http_publish("broker_unavailable")
        return refusal_response(Refusal(503, "broker_unavailable", str(exc)))
    server.metrics.http_publish("accepted")
    return web.json_response({"id": message_id, "topic": topic}, status=202)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    server = request.app[SERVER_KEY]
    checks = {"draining": server.draining, "broker_healthy": server.broker.healthy}
    ready = not server.draining and server.broker.healthy
    return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)


async def metrics_handler(request: web.Request) -> web.Response:
    text = request.app[SERVER_KEY].telemetry.prometheus_text()
    return web.Response(body=text, content_type="text/plain", charset="utf-8")


async def index(request: web.Request) -> web.Response:
    page = resources.files("wsharness.server").joinpath("static/index.html").read_text()
    return web.Response(text=page, content_type="text/html")


# -- assembly ----------------------------------------------------------------------


def make_broker(settings: Settings, telemetry: Telemetry) -> Broker:
    if settings.broker == "memory":
        return MemoryBroker()
    if settings.broker == "pubsub":
        from wsharness.server.brokers.pubsub import PubSubBroker

        return PubSubBroker.from_env(
            topic=settings.pubsub_topic, on_outage=telemetry.metrics.broker_outage
        )
    raise ValueError(f"unknown broker {settings.broker!r} (memory or pubsub)")


def build_app(settings: Settings, broker: Broker | None = None) -> web.Application:
    telemetry = setup_telemetry(message_spans_per_second=settings.message_spans_per_second)
    server = Server(settings, broker or make_broker(settings, telemetry), telemetry)
    app = web.Application()
    app[SERVER_KEY] = server
    app[headguard.GUARD_KEY] = headguard.HeadGuard(
        settings.header_timeout_seconds,
        settings.max_pending_connections,
        server.telemetry.meter_provider,
    )
    deflate.install(app, settings.compress)
    jwks.install(
        app,
        server.verifier,
        settings.jwks_refresh_seconds,
        settings.jwks_refetch_seconds,
        server.telemetry.meter_provider,
    )
    app.router.add_get(WS_PATH, websocket_handler)
    app.router.add_post("/publish", publish_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/", index)
    app.on_startup.append(_start_broker)
    app.cleanup_ctx.append(_run_background)
    app.on_shutdown.append(_drain_and_stop)
    return app


async def _start_broker(app: web.Application) -> None:
    server = app[SERVER_KEY]
    await server.broker.start(server.deliver)


async def _run_background(app: web.Application) -> AsyncIterator[None]:
    server = app[SERVER_KEY]
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(server.heartbeat()),
        loop.create_task(server.sweep_histories()),
    ]
    yield
    for task in tasks:
        task.cancel()


async def _drain_and_stop(app: web.Application) -> None:
    server = app[SERVER_KEY]
    await server.drain()
    await server.broker.stop()
    server.telemetry.shutdown()


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


async def serve_until_signalled(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; then fail /readyz, refuse upgrades and drain."""
    app = build_app(settings)
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=settings.drain_seconds
    )
    await runner.setup()
    site = headguard.GuardedSite(
        runner,
        settings.host,
        settings.port,
        ssl_context=ssl_context(settings),
        backlog=4096,
    )
    await site.start()
    # What start-up made (modules, settings, the app) lives as long as the process:
    # out of the collector's scans, a full collection walks only what serving made.
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scheme = "wss" if settings.tls_cert else "ws"
    print(
        json.dumps(
            {"event": "listening", "url": f"{scheme}://{settings.host}:{settings.port}"}
        ),
        flush=True,
    )
    await stop.wait()
    await app[SERVER_KEY].drain()  # listening still: new upgrades get 503 meanwhile
    await runner.cleanup()
