"""A notification's trace crosses Pub/Sub: published on one instance, its message
frame on another instance carries a ``traceparent`` of the publisher's trace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp

from tests.pubsub.pubsub_emulator import Emulator
from tests.support.clients import open_socket, receive, subscribe
from tests.support.servers import RunningServer, token
from wsharness.contract.protocol import TRACEPARENT, ServerType

CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_TRACEPARENT = f"00-{CALLER_TRACE_ID}-00f067aa0ba902b7-01"


async def test_message_on_the_other_instance_continues_the_publishers_trace(
    make_server: Callable[..., Awaitable[RunningServer]],
    pubsub_env: Emulator,
    pubsub_topic: str,
):
    publishing = await make_server(broker="pubsub", pubsub_topic=pubsub_topic)
    receiving = await make_server(broker="pubsub", pubsub_topic=pubsub_topic)
    ws = await open_socket(receiving.ws_url, "alice")
    await subscribe(ws, "news")
    headers = {
        "Authorization": f"Bearer {token('backend', scope='publish')}",
        TRACEPARENT: CALLER_TRACEPARENT,
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            publishing.http_url + "/publish",
            json={"topic": "news", "data": {"n": 1}},
            headers=headers,
        ) as reply,
    ):
        assert reply.status == 202
        published_id = (await reply.json())["id"]

    frame = await receive(ws, timeout=10)
    assert (frame["type"], frame["id"], frame["data"]) == (
        ServerType.MESSAGE,
        published_id,
        {"n": 1},
    )
    assert frame[TRACEPARENT].split("-")[1] == CALLER_TRACE_ID
    await ws.close()
