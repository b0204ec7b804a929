"""Every frame of the wire contract and every close code, over real sockets."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.clients import closed_code, open_socket, receive, send, subscribe
from tests.support.servers import RunningServer, token, wait_until
from wsharness.contract.protocol import CloseCode, ErrorCode, ServerType


async def test_welcome_names_the_subject_and_expiry(server: RunningServer) -> None:
    from websockets.asyncio.client import connect

    before = time.time()
    headers = {"Authorization": f"Bearer {token('dana', ttl=120)}"}
    async with connect(server.ws_url, additional_headers=headers) as ws:
        welcome = await receive(ws)
    assert welcome["type"] == ServerType.WELCOME and welcome["sub"] == "dana"
    assert welcome["connection_id"]
    assert before + 119 <= welcome["expires_at"] / 1000 <= time.time() + 121


async def test_echo_returns_the_same_object(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url)
    await send(ws, "echo", id=7, payload={"nested": [1, 2, 3]})
    assert await receive(ws) == {"type": "echo", "id": 7, "payload": {"nested": [1, 2, 3]}}
    await ws.close()


async def test_publish_reaches_subscribers_with_id_and_timestamp(
    server: RunningServer,
) -> None:
    reader = await open_socket(server.ws_url, "reader")
    publisher = await open_socket(server.ws_url, "writer", scope="publish")
    assert await subscribe(reader, "news") == {
        "type": "subscribed",
        "topic": "news",
        "recovered": True,
        "replayed": 0,
    }
    await send(publisher, "publish", topic="news", data={"headline": "hello"})
    ack = await receive(publisher)
    message = await receive(reader)
    assert ack["type"] == ServerType.PUBLISHED and ack["id"] == message["id"]
    assert message["type"] == ServerType.MESSAGE and message["data"] == {
        "headline": "hello"
    }
    assert abs(message["published_at"] / 1000 - time.time()) < 5


async def test_publish_without_scope_is_an_error_and_the_socket_stays(
    server: RunningServer,
) -> None:
    ws = await open_socket(server.ws_url)
    await send(ws, "publish", topic="news", data=1)
    error = await receive(ws)
    assert error["type"] == ServerType.ERROR and error["code"] == ErrorCode.FORBIDDEN
    await send(ws, "echo", id=1)
    assert (await receive(ws))["type"] == ServerType.ECHO


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", ErrorCode.BAD_JSON),
        ("[1, 2]", ErrorCode.BAD_MESSAGE),
        ('{"type": "dance"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "subscribe"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "subscribe", "topic": "t", "since": 5}', ErrorCode.BAD_MESSAGE),
    ],
)
async def test_malformed_frames_get_an_error_and_the_socket_stays(
    server: RunningServer, raw: str, code: ErrorCode
) -> None:
    ws = await open_socket(server.ws_url)
    await ws.send(raw)
    error = await receive(ws)
    assert error["type"] == ServerType.ERROR and error["code"] == code and error["message"]
    await send(ws, "echo", id=2)
    assert (await receive(ws))["id"] == 2
    assert server.metric("wsh_protocol_errors_total", code=code.value) == 1


async def test_unsubscribe_stops_delivery(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url)
    await subscribe(ws, "a")
    await subscribe(ws, "b")
    await send(ws, "unsubscribe", topic="a")
    assert await receive(ws) == {"type": "unsubscribed", "topic": "a"}
    await server.server.publish("a", "not for you", {})
    await server.server.publish("b", "for you", {})
    assert (await receive(ws))["data"] == "for you"
    await send(ws, "unsubscribe", topic="a")
    assert (await receive(ws))["code"] == ErrorCode.NOT_SUBSCRIBED


async def test_topic_outside_token_patterns_closes_4003(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url, topics=["news.*"])
    await subscribe(ws, "news.sport")
    await send(ws, "subscribe", topic="payroll")
    assert await closed_code(ws) == CloseCode.TOPIC_NOT_ALLOWED
    await wait_until(
        lambda: server.metric("wsh_closes_total", code="4003") == 1,
        what="the close counted",
    )


async def test_binary_frame_closes_1003(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url)
    await ws.send(b"\x00\x01")
    assert await closed_code(ws) == CloseCode.UNSUPPORTED_DATA


async def test_invalid_utf8_closes_1007(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url)
    await ws.send(b'{"type": "echo", "x": "\xff\xfe"}', text=True)
    assert await closed_code(ws) == CloseCode.INVALID_PAYLOAD
    await wait_until(
        lambda: server.metric("wsh_closes_total", code="1007") == 1,
        what="the close counted",
    )


async def test_message_over_the_limit_closes_1009(server: RunningServer) -> None:
    assert server.server.settings.max_message_bytes == 64 * 1024
    ws = await open_socket(server.ws_url)
    await send(ws, "echo", id=1, pad="x" * (64 * 1024))
    assert await closed_code(ws) == CloseCode.MESSAGE_TOO_BIG
    await wait_until(
        lambda: server.metric("wsh_closes_total", code="1009") == 1,
        what="the close counted",
    )


async def test_flooding_past_the_rate_limit_closes_1008(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(rate_limit_per_second=5, rate_limit_burst=5)
    ws = await open_socket(running.ws_url)
    for number in range(20):
        await send(ws, "echo", id=number)
    assert await closed_code(ws) == CloseCode.POLICY_VIOLATION
    await wait_until(
        lambda: running.metric("wsh_closes_total", code="1008", initiator="server") == 1,
        what="the close counted",
    )


async def test_short_token_warns_then_closes_4001(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url, ttl=1.5)
    warning = await receive(ws)
    assert warning["type"] == ServerType.TOKEN_EXPIRING
    assert warning["expires_at"] / 1000 > time.time()
    assert await closed_code(ws) == CloseCode.TOKEN_EXPIRED
    await wait_until(
        lambda: server.metric("wsh_closes_total", code="4001") == 1,
        what="the close counted",
    )


async def test_in_band_refresh_extends_the_session(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url, "erin", ttl=1.5)
    warning = await receive(ws)
    await send(ws, "refresh", token=token("erin", ttl=60))
    refreshed = await receive(ws)
    assert refreshed["type"] == ServerType.REFRESHED
    assert refreshed["expires_at"] > warning["expires_at"] + 50_000
    # Nothing arrives (and no close) past the old expiry.
    wait = warning["expires_at"] / 1000 - time.time() + 0.5
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), timeout=wait)
    await send(ws, "echo", id=3)
    assert (await receive(ws))["id"] == 3


async def test_refresh_with_another_users_token_is_refused(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url, "frank", ttl=1.5)
    await receive(ws)  # token_expiring
    await send(ws, "refresh", token=token("mallory", ttl=60))
    error = await receive(ws)
    assert error["type"] == ServerType.ERROR and error["code"] == ErrorCode.REFRESH_REFUSED
    assert await closed_code(ws) == CloseCode.TOKEN_EXPIRED


async def test_refresh_to_narrower_topics_unsubscribes_them(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url, "gina", ttl=60)
    await subscribe(ws, "news.a")
    await subscribe(ws, "sport.b")
    await send(ws, "refresh", token=token("gina", ttl=120, topics=["news.*"]))
    assert await receive(ws) == {"type": "unsubscribed", "topic": "sport.b"}
    assert (await receive(ws))["type"] == ServerType.REFRESHED
