"""Fan-out under real conditions: slow consumers, vanished peers, resume, heartbeats."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.support.clients import open_socket, receive, send, stalled_socket, subscribe
from tests.support.servers import RunningServer, token, wait_until
from wsharness.server.brokers.memory import MemoryBroker


async def test_slow_consumer_is_closed_1013_while_others_receive_everything(
    make_server,  # type: ignore[no-untyped-def]
) -> None:
    running = await make_server(send_queue_messages=50, write_buffer_high_bytes=16 * 1024)
    healthy = await open_socket(running.ws_url, "healthy")
    await subscribe(healthy, "firehose")
    stalled = await asyncio.to_thread(stalled_socket, running.port)
    stalled.sendall(_masked_text_frame(b'{"type":"subscribe","topic":"firehose"}'))
    await wait_until(lambda: len(running.server.hub.subscribers("firehose")) == 2)
    payload = "x" * 8000  # enough to fill the kernel buffers of the stalled peer
    for number in range(1000):
        await running.server.publish("firehose", {"n": number, "pad": payload}, {})
        received = await receive(healthy)
        assert received["data"]["n"] == number  # on time: each one before the next publish
    await wait_until(lambda: running.metric("wsh_send_queue_drops_total") == 1)
    await wait_until(
        lambda: running.metric("wsh_closes_total", code="1013", initiator="server") == 1
    )
    assert running.metric("wsh_open_connections") == 1
    stalled.close()


async def test_abrupt_drop_then_resume_loses_nothing(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url)
    await subscribe(ws, "orders")
    await server.server.publish("orders", 1, {})
    last_seen = (await receive(ws))["id"]
    ws.transport.abort()  # TCP gone, no close frame
    await wait_until(
        lambda: server.metric("wsh_closes_total", code="1006", initiator="peer") == 1
    )
    for number in (2, 3, 4):
        await server.server.publish("orders", number, {})
    resumed = await open_socket(server.ws_url)
    reply = await subscribe(resumed, "orders", since=last_seen)
    assert reply["recovered"] is True and reply["replayed"] == 3
    assert [(await receive(resumed))["data"] for _ in range(3)] == [2, 3, 4]
    await server.server.publish("orders", 5, {})
    assert (await receive(resumed))["data"] == 5
    assert server.metric("wsh_replays_total", outcome="recovered") == 1


async def test_unknown_cursor_says_not_recovered(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url)
    reply = await subscribe(ws, "orders", since="no-such-id")
    assert reply["recovered"] is False and reply["replayed"] == 0
    assert server.metric("wsh_replays_total", outcome="not_recovered") == 1


async def test_cursor_older_than_history_says_not_recovered(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(history_size=3)
    first_id = await running.server.publish("t", 0, {})
    for number in range(1, 6):
        await running.server.publish("t", number, {})
    await wait_until(lambda: running.metric("wsh_fanout_duration_seconds_count") == 6)
    ws = await open_socket(running.ws_url)
    assert (await subscribe(ws, "t", since=first_id))["recovered"] is False


class SharedMemoryBroker(MemoryBroker):
    """The embedded broker posing as one stream shared with other instances."""

    shared = True

    def next_id(self) -> str:
        return f"{self._boot}-{self._sequence + 1}"


async def test_resume_waits_for_a_cursor_another_instance_delivered_first(
    make_server,  # type: ignore[no-untyped-def]
) -> None:
    broker = SharedMemoryBroker()
    running = await make_server(broker_object=broker, resume_wait_seconds=5.0)
    mover = await open_socket(running.ws_url, "mover")
    cursor = broker.next_id()  # seen on the old instance, not yet arrived here
    await send(mover, "subscribe", topic="t", since=cursor)
    await wait_until(lambda: running.metric("wsh_messages_in_total", type="subscribe") == 1)
    await running.server.publish("t", "the cursor", {})
    await running.server.publish("t", "after it", {})
    assert await receive(mover) == {
        "type": "subscribed", "topic": "t", "recovered": True, "replayed": 0,
    }  # fmt: skip
    assert (await receive(mover))["data"] == "after it"
    assert running.metric("wsh_replays_total", outcome="recovered") == 1


async def test_a_stale_cursor_is_reported_after_the_bounded_wait(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(broker_object=SharedMemoryBroker(), resume_wait_seconds=0.2)
    ws = await open_socket(running.ws_url)
    await send(ws, "subscribe", topic="t", since="long-gone")
    reply = await receive(ws)
    assert (reply["type"], reply["recovered"]) == ("subscribed", False)


async def test_peer_that_stops_answering_pings_is_closed(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(heartbeat_seconds=0.3)
    silent = await asyncio.to_thread(stalled_socket, running.port, "silent", 65536)
    await wait_until(lambda: running.metric("wsh_heartbeat_timeouts_total") == 1, timeout=5)
    await wait_until(lambda: running.metric("wsh_open_connections") == 0)
    assert running.metric("wsh_closes_total", initiator="heartbeat") == 1
    silent.close()


async def test_peers_that_answer_pings_survive_many_rounds(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(heartbeat_seconds=0.1)
    ws = await open_socket(running.ws_url)  # the websockets client answers pings
    with pytest.raises(TimeoutError):  # ten heartbeat rounds pass without a close
        await asyncio.wait_for(ws.recv(), timeout=1.0)
    await send(ws, "echo", id=1)
    assert (await receive(ws))["id"] == 1
    assert running.metric("wsh_heartbeat_timeouts_total") == 0


async def test_http_publish_endpoint(server: RunningServer) -> None:
    ws = await open_socket(server.ws_url)
    await subscribe(ws, "alerts")
    url = server.http_url + "/publish"
    async with aiohttp.ClientSession() as http:
        publisher = {"Authorization": f"Bearer {token('svc', scope='publish')}"}
        async with http.post(
            url, json={"topic": "alerts", "data": [1]}, headers=publisher
        ) as r:
            assert r.status == 202
            message_id = (await r.json())["id"]
        reader = {"Authorization": f"Bearer {token('svc')}"}
        async with http.post(url, json={"topic": "alerts", "data": 1}, headers=reader) as r:
            assert r.status == 403
        async with http.post(url, json={"topic": "alerts", "data": 1}) as r:
            assert r.status == 401
        async with http.post(url, data=b"{oops", headers=publisher) as r:
            assert r.status == 400 and (await r.json())["error"] == "bad_request"
    message = await receive(ws)
    assert (message["id"], message["data"]) == (message_id, [1])


def _masked_text_frame(payload: bytes) -> bytes:
    """A client text frame (masked, RFC 6455 section 5.3) for the raw socket."""
    from websockets.frames import Frame, Opcode

    return Frame(Opcode.TEXT, payload).serialize(mask=True)
