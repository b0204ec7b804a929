"""Hostile frames over real sockets: each a precise answer, counted, nothing harmed.

Every case runs against a real server on loopback and ends by checking that a fresh
client still connects, subscribes and receives a notification within a second.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import time
import uuid
from typing import Any, cast

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from tests.support.clients import (
    closed_code,
    open_socket,
    receive,
    send,
    stalled_socket,
    subscribe,
)
from tests.support.servers import RunningServer, token, wait_until
from wsharness.contract.protocol import CloseCode, ErrorCode, ServerType
from wsharness.server.brokers.memory import MemoryBroker

REFUSED = "wsh_frames_refused_total"
QUICK_DRAIN = {"drain_seconds": 0.1}  # sockets left open close fast at teardown


@pytest.fixture
async def server(make_server) -> RunningServer:  # type: ignore[no-untyped-def]
    return await make_server(**QUICK_DRAIN)  # type: ignore[no-any-return]


async def assert_service_unharmed(running: RunningServer) -> None:
    """A fresh client connects, subscribes and gets a notification within a second."""
    ws = await open_socket(running.ws_url, "fresh")
    topic = f"health-{uuid.uuid4().hex[:8]}"
    await subscribe(ws, topic)
    await running.server.publish(topic, {"ok": True}, {})
    message = await receive(ws, timeout=1.0)
    assert (message["type"], message["data"]) == (ServerType.MESSAGE, {"ok": True})
    await ws.close()


def strict_json(text: str | bytes) -> Any:
    """Parse as a browser's JSON.parse would: NaN and Infinity are errors."""

    def refuse(name: str) -> None:
        raise AssertionError(f"the server sent non-standard JSON ({name})")

    return json.loads(text, parse_constant=refuse)


async def error_then_still_open(ws: Any, raw: str) -> dict[str, Any]:
    """Send ``raw``; return the ``error`` frame and check the socket still echoes."""
    await ws.send(raw)
    error = strict_json(await asyncio.wait_for(ws.recv(), 5))
    assert error["type"] == ServerType.ERROR, error
    await send(ws, "echo", id="still-there")
    assert (await receive(ws))["id"] == "still-there"
    return dict(error)


async def post_publish(running: RunningServer, body: bytes) -> tuple[int, dict[str, Any]]:
    headers = {
        "Authorization": f"Bearer {token('svc', scope='publish')}",
        "Content-Type": "application/json",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(running.http_url + "/publish", data=body, headers=headers) as reply,
    ):
        return reply.status, await reply.json()


# -- 1. JSON nested too deeply; unexpected exceptions ------------------------------


async def test_deeply_nested_json_is_bad_json_and_the_socket_stays(
    server: RunningServer,
) -> None:
    ws = await open_socket(server.ws_url)
    error = await error_then_still_open(ws, "[" * 1200 + "]" * 1200)
    assert error["code"] == ErrorCode.BAD_JSON and "deep" in error["message"]
    deep_data = '{"type":"publish","topic":"t","data":' + "[" * 100 + "]" * 100 + "}"
    publisher = await open_socket(server.ws_url, "writer", scope="publish")
    assert (await error_then_still_open(publisher, deep_data))["code"] == ErrorCode.BAD_JSON
    assert server.metric(REFUSED, reason="json_too_deep") == 2
    assert server.metric("wsh_protocol_errors_total", code="bad_json") == 2
    await assert_service_unharmed(server)


async def test_deeply_nested_json_on_http_publish_is_400(server: RunningServer) -> None:
    status, body = await post_publish(server, b"[" * 1200 + b"]" * 1200)
    assert (status, body["code"]) == (400, "bad_json")
    deep = b'{"topic": "t", "data": ' + b"[" * 100 + b"]" * 100 + b"}"
    assert (await post_publish(server, deep))[0] == 400
    assert server.metric("wsh_http_publishes_total", outcome="json_too_deep") == 2
    await assert_service_unharmed(server)


class FaultyBroker(MemoryBroker):
    """The embedded broker, with a bug that fires for one topic."""

    async def publish(
        self, topic: str, data: Any, trace_context: dict[str, str] | None = None
    ) -> str:
        if topic == "boom":
            raise RuntimeError("a bug in the broker")
        return await super().publish(topic, data, trace_context)


async def test_an_unexpected_exception_closes_1011_logged_once_and_counted(
    make_server,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = await make_server(broker_object=FaultyBroker(), **QUICK_DRAIN)
    bystander = await open_socket(running.ws_url, "bystander")
    await subscribe(bystander, "news")
    caplog.set_level(logging.ERROR, logger="wsharness.server")
    for attempt in range(2):
        ws = await open_socket(running.ws_url, f"victim{attempt}", scope="publish")
        await send(ws, "publish", topic="boom", data=1)
        assert await closed_code(ws) == CloseCode.INTERNAL_ERROR
    await wait_until(lambda: running.metric("wsh_closes_total", code="1011") == 2)
    assert running.metric("wsh_internal_errors_total") == 2
    records = [r for r in caplog.records if r.name.startswith("wsharness.server")]
    assert len(records) == 1 and records[0].exc_info is not None  # once, with traceback
    await running.server.publish("news", "still here", {})
    assert (await receive(bystander, timeout=1.0))["data"] == "still here"
    await assert_service_unharmed(running)


# -- 2. traceparent of the wrong type -----------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "echo", "id": 1},
        {"type": "subscribe", "topic": "t"},
        {"type": "unsubscribe", "topic": "t"},
        {"type": "publish", "topic": "t", "data": 1},
        {"type": "refresh", "token": "x"},
    ],
    ids=lambda frame: frame["type"],
)
async def test_a_non_string_traceparent_is_bad_message_on_every_frame_type(
    server: RunningServer, frame: dict[str, Any]
) -> None:
    ws = await open_socket(server.ws_url, scope="publish")
    for value in (1, None, ["00-x"], {"a": 1}):
        error = await error_then_still_open(ws, json.dumps({**frame, "traceparent": value}))
        assert error["code"] == ErrorCode.BAD_MESSAGE and "traceparent" in error["message"]
    assert server.metric(REFUSED, reason="bad_traceparent") == 4
    await send(ws, "echo", id=2, traceparent="not-a-valid-traceparent")  # ignored
    assert (await receive(ws))["id"] == 2
    await assert_service_unharmed(server)


# -- 3. NaN and Infinity ------------------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_nan_and_infinity_are_refused_and_never_sent(
    server: RunningServer, constant: str
) -> None:
    reader = await open_socket(server.ws_url, "reader")
    await subscribe(reader, "prices")
    publisher = await open_socket(server.ws_url, "writer", scope="publish")
    raw = f'{{"type": "publish", "topic": "prices", "data": {{"p": {constant}}}}}'
    assert (await error_then_still_open(publisher, raw))["code"] == ErrorCode.BAD_JSON
    echo = f'{{"type": "echo", "id": {constant}}}'
    if constant != "1e999":  # a valid JSON number, echoed as sent
        assert (await error_then_still_open(publisher, echo))["code"] == ErrorCode.BAD_JSON
    status, body = await post_publish(
        server, b'{"topic": "prices", "data": %b}' % constant.encode()
    )
    assert (status, body["code"]) == (400, "bad_json")
    # A publisher that reached the broker some other way: the server drops it.
    await server.server.publish("prices", float(constant.replace("1e999", "inf")), {})
    await server.server.publish("prices", 42, {})
    assert strict_json(await asyncio.wait_for(reader.recv(), 5))["data"] == 42
    assert server.metric("wsh_notifications_dropped_total", reason="non_standard_json") == 1
    refused_frames = 1 if constant == "1e999" else 2  # the publish, and the echo
    assert server.metric(REFUSED, reason="non_standard_json") == refused_frames
    assert server.metric("wsh_http_publishes_total", outcome="non_standard_json") == 1
    await assert_service_unharmed(server)


# -- 4. topic histories are bounded ---------------------------------------------------


async def publish_to_user_topics(publisher: ClientConnection, count: int) -> list[str]:
    """One publish on each of ``user.0`` .. ``user.{count - 1}``; their message ids."""
    ids = []
    for number in range(count):
        await send(publisher, "publish", topic=f"user.{number}", data=number)
        ids.append((await receive(publisher))["id"])
    return ids


async def test_expired_topic_histories_are_evicted(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(history_seconds=0.3, **QUICK_DRAIN)
    publisher = await open_socket(running.ws_url, "writer", scope="publish")
    ids = await publish_to_user_topics(publisher, 5)
    await wait_until(
        lambda: running.metric("wsh_topic_histories_evicted_total", reason="expired") == 5,
        what="the expired histories evicted",
    )
    assert running.metric("wsh_topic_histories") == 0
    late = await open_socket(running.ws_url, "late")
    assert (await subscribe(late, "user.0", since=ids[0]))["recovered"] is False
    await assert_service_unharmed(running)


async def test_past_the_topic_bound_the_stalest_history_goes(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(history_max_topics=5, **QUICK_DRAIN)
    publisher = await open_socket(running.ws_url, "writer", scope="publish")
    ids = await publish_to_user_topics(publisher, 8)
    await wait_until(lambda: running.metric("wsh_fanout_duration_seconds_count") == 8)
    assert running.metric("wsh_topic_histories") == 5
    assert running.metric("wsh_topic_histories_evicted_total", reason="limit") == 3
    resumer = await open_socket(running.ws_url, "resumer")
    assert (await subscribe(resumer, "user.0", since=ids[0]))["recovered"] is False
    assert (await subscribe(resumer, "user.7", since=ids[7]))["recovered"] is True
    await assert_service_unharmed(running)
    assert running.metric("wsh_topic_histories") == 5


# -- 5. subscriptions per socket and topic names ---------------------------------------


async def test_subscriptions_per_socket_are_bounded(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(rate_limit_burst=1000, **QUICK_DRAIN)
    assert running.server.settings.max_subscriptions == 100
    ws = await open_socket(running.ws_url)
    for number in range(100):
        await subscribe(ws, f"t{number}")
    error = await error_then_still_open(
        ws, json.dumps({"type": "subscribe", "topic": "t100"})
    )
    assert error["code"] == ErrorCode.TOO_MANY_SUBSCRIPTIONS
    await subscribe(ws, "t5")  # again: takes no new place
    await send(ws, "unsubscribe", topic="t0")
    assert (await receive(ws))["type"] == ServerType.UNSUBSCRIBED
    await subscribe(ws, "t100")
    assert running.metric(REFUSED, reason="too_many_subscriptions") == 1
    await assert_service_unharmed(running)


async def test_topic_names_are_bounded_in_bytes(server: RunningServer) -> None:
    assert server.server.settings.max_topic_bytes == 256
    ws = await open_socket(server.ws_url, scope="publish")
    await subscribe(ws, "x" * 256)
    await subscribe(ws, "é" * 128)  # 256 bytes of UTF-8
    for topic in ("x" * 257, "é" * 129, "x" * 60_000):
        for frame_type in ("subscribe", "publish"):
            frame = {"type": frame_type, "topic": topic, "data": 1}
            error = await error_then_still_open(ws, json.dumps(frame))
            assert error["code"] == ErrorCode.TOPIC_TOO_LONG and len(error["message"]) < 100
    surrogate = '{"type": "subscribe", "topic": "\\ud800"}'
    assert (await error_then_still_open(ws, surrogate))["code"] == ErrorCode.BAD_MESSAGE
    status, body = await post_publish(
        server, json.dumps({"topic": "x" * 257, "data": 1}).encode()
    )
    assert (status, body["error"]) == (400, "topic_too_long")
    assert server.metric(REFUSED, reason="topic_too_long") == 6
    assert server.metric("wsh_http_publishes_total", outcome="topic_too_long") == 1
    await assert_service_unharmed(server)


# -- 7. pings count against the inbound budget ---------------------------------------


async def test_a_ping_flood_closes_1008(server: RunningServer) -> None:
    settings = server.server.settings
    ws = await open_socket(server.ws_url)
    pongs: list[asyncio.Future[float]] = []  # websockets' ping() awaits to a future
    started = time.monotonic()
    with pytest.raises(ConnectionClosed):
        for _ in range(20_000):
            pongs.append(cast(asyncio.Future[float], await ws.ping()))
            await asyncio.sleep(0)  # let the in-process server read meanwhile
    elapsed = time.monotonic() - started
    assert await closed_code(ws) == CloseCode.POLICY_VIOLATION
    await asyncio.gather(*pongs, return_exceptions=True)
    answered = sum(1 for pong in pongs if not pong.exception())
    assert answered <= settings.rate_limit_burst + settings.rate_limit_per_second * elapsed
    await wait_until(lambda: server.metric(REFUSED, reason="control_rate_limit") == 1)
    assert server.metric("wsh_closes_total", code="1008") == 1
    await assert_service_unharmed(server)


# -- 8b. unmasked client frames --------------------------------------------------------


def read_frame(raw: socket.socket) -> tuple[int, bytes]:
    """One unmasked server frame from a raw socket: (opcode, payload)."""
    first, second = read_exactly(raw, 2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(read_exactly(raw, 2), "big")
    elif length == 127:
        length = int.from_bytes(read_exactly(raw, 8), "big")
    return first & 0x0F, read_exactly(raw, length)


def read_exactly(raw: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = raw.recv(count - len(data))
        assert chunk, "connection closed mid-frame"
        data += chunk
    return data


def unmasked_close_code(port: int) -> int:
    """Upgrade, echo once with masked frames (one sent byte by byte), then send an
    unmasked frame; return the close code the server answers with."""
    raw = stalled_socket(port, "raw", receive_buffer=65536)
    try:
        assert read_frame(raw)[0] == Opcode.TEXT  # welcome
        masked = Frame(Opcode.TEXT, b'{"type":"echo","id":1}').serialize(mask=True)
        for byte in masked:  # headers split across reads must still be followed
            raw.sendall(bytes([byte]))
        assert json.loads(read_frame(raw)[1]) == {"type": "echo", "id": 1}
        raw.sendall(Frame(Opcode.TEXT, b'{"type":"echo","id":2}').serialize(mask=False))
        opcode, payload = read_frame(raw)
        assert opcode == Opcode.CLOSE
        return int.from_bytes(payload[:2], "big")
    finally:
        raw.close()


def early_unmasked_close_code(port: int) -> int:
    """Send the upgrade request and an unmasked frame in one write, before the 101."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token('early')}\r\n\r\n"
    ).encode()
    frame = Frame(Opcode.TEXT, b'{"type":"echo"}').serialize(mask=False)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(request + frame)
        response = b""
        while b"\r\n\r\n" not in response:
            response += read_exactly(raw, 1)
        assert response.startswith(b"HTTP/1.1 101"), response
        while True:
            opcode, payload = read_frame(raw)
            if opcode == Opcode.CLOSE:
                return int.from_bytes(payload[:2], "big")
            assert json.loads(payload)["type"] == ServerType.WELCOME


async def test_an_unmasked_client_frame_closes_1002(server: RunningServer) -> None:
    assert await asyncio.to_thread(unmasked_close_code, server.port) == 1002
    assert await asyncio.to_thread(early_unmasked_close_code, server.port) == 1002
    await wait_until(lambda: server.metric("wsh_closes_total", code="1002") == 2)
    assert server.metric(REFUSED, reason="unmasked_frame") == 2
    await assert_service_unharmed(server)


# -- 9. the message size limit is inclusive ---------------------------------------------


async def test_a_message_of_exactly_max_message_bytes_is_accepted(
    server: RunningServer,
) -> None:
    limit = server.server.settings.max_message_bytes
    ws = await open_socket(server.ws_url)
    envelope = '{"type":"echo","pad":""}'
    exact = envelope.replace('""', '"' + "x" * (limit - len(envelope)) + '"')
    assert len(exact.encode()) == limit
    await ws.send(exact)
    assert len(await asyncio.wait_for(ws.recv(), 5)) == limit
    await ws.send(exact.replace('"x', '"xx'))  # one byte more
    assert await closed_code(ws) == CloseCode.MESSAGE_TOO_BIG
    await wait_until(lambda: server.metric(REFUSED, reason="message_too_big") == 1)
    await assert_service_unharmed(server)
