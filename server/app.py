"""The aiohttp application: routes, the upgrade, fan-out and the instance's life.

``build_app(settings)`` gives a ready ``web.Application``; ``run`` serves it until
SIGTERM or SIGINT, then drains.
"""

from __future__ import annotations

import asyncio
import itertools
import json
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
from wsharness.contract.protocol import WS_PATH, ServerType
from wsharness.contract.tokens import Identity, TokenVerifier
from wsharness.server import handshake
from wsharness.server.brokers.base import Broker, BrokerUnavailable
from wsharness.server.brokers.memory import MemoryBroker
from wsharness.server.config import Settings
from wsharness.server.connection import Connection
from wsharness.server.drain import drain
from wsharness.server.handshake import Capacity, Refusal
from wsharness.server.hub import Hub
from wsharness.server.session import Session
from wsharness.telemetry import spans
from wsharness.telemetry.setup import Telemetry, setup_telemetry

SERVER_KEY = web.AppKey("server", "Server")


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
        )
        self.hub: Hub[Connection] = Hub(settings.history_size, settings.history_seconds)
        self.connections: set[Connection] = set()
        self._connection_ids = itertools.count(1)
        self._instance = uuid.uuid4().hex[:8]
        self.draining = False
        # With a shared broker, a resume cursor may still be on its way to us.
        self.resume_wait_seconds = settings.resume_wait_seconds if broker.shared else 0.0

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
            handshake.check_websocket_request(request.method, headers)
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
        self.hub.remove(connection, connection.session.topics)

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
            routed = self.hub.route(notification, now_ms_int(), traceparent)
            cost_us = self.settings.test_delivery_cost_us  # tests only: a slowed build
            for connection in routed.targets:
                if cost_us:
                    _burn_cpu(cost_us)
                connection.send_frame(routed.frame)
            for resolved in routed.resolved:
                resolved.subscriber.answer_subscribe(resolved.topic, resolved.replay)
            targets = routed.targets
            spans.record_fanout(span, len(targets))
        self.metrics.fanout(time.perf_counter() - started)
        self.metrics.lag((now_ms_int() - notification.published_at) / 1000)
        if targets:
            self.metrics.message_out(ServerType.MESSAGE.value, len(targets))

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


def _burn_cpu(microseconds: float) -> None:
    """Spin for ``microseconds`` (``test_delivery_cost_us``: a deliberately slow build)."""
    deadline = time.perf_counter() + microseconds / 1e6
    while time.perf_counter() < deadline:
        pass


# -- handlers ----------------------------------------------------------------------


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    server = request.app[SERVER_KEY]
    span = spans.start_handshake(request.headers, request.remote)
    decision = server.admit(request)
    if isinstance(decision, Refusal):
        server.metrics.handshake(decision.reason)
        spans.finish_handshake(span, decision.reason, decision.status, decision.message)
        return refusal_response(decision)
    ws = web.WebSocketResponse(
        autoping=False,  # pings and pongs come to the reader: see Server.heartbeat
        max_msg_size=server.settings.max_message_bytes,
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
    """``POST /publish`` with a Bearer token of scope ``publish``: {"topic", "data"}."""
    server = request.app[SERVER_KEY]
    identity = handshake.authenticate(
        handshake.bearer_token(request.headers, {}), server.verifier
    )
    if isinstance(identity, Refusal):
        return refusal_response(identity)
    if not identity.can_publish:
        return refusal_response(
            Refusal(403, "forbidden", "publishing needs scope 'publish'")
        )
    body = await _json_body(request)
    if body is None or not isinstance(body.get("topic"), str) or "data" not in body:
        return refusal_response(
            Refusal(400, "bad_request", 'expected {"topic": str, "data": ...}')
        )
    if not identity.may_use(body["topic"]):
        return refusal_response(Refusal(403, "topic_not_allowed", "topic not allowed"))
    try:
        message_id = await server.publish(
            body["topic"], body["data"], spans.request_trace_context(request.headers)
        )
    except BrokerUnavailable as exc:
        return refusal_response(Refusal(503, "broker_unavailable", str(exc)))
    return web.json_response({"id": message_id, "topic": body["topic"]}, status=202)


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


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
    page = resources.files("server").joinpath("static/index.html").read_text()
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
    app.router.add_get(WS_PATH, websocket_handler)
    app.router.add_post("/publish", publish_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/", index)
    app.on_startup.append(_start_broker)
    app.cleanup_ctx.append(_run_heartbeat)
    app.on_shutdown.append(_drain_and_stop)
    return app


async def _start_broker(app: web.Application) -> None:
    server = app[SERVER_KEY]
    await server.broker.start(server.deliver)


async def _run_heartbeat(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(app[SERVER_KEY].heartbeat())
    yield
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
    site = web.TCPSite(
        runner,
        settings.host,
        settings.port,
        ssl_context=ssl_context(settings),
        backlog=4096,
    )
    await site.start()
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
