"""A server on ``--broker pubsub`` rides out a Pub/Sub outage (emulator stopped, back).

The server stays up, ``/readyz`` says not ready, sockets stay open, publishing is
refused with 503 rather than hanging, and streaming resumes by itself afterwards;
the outage is counted at ``/metrics``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from tests.pubsub.pubsub_emulator import Emulator
from tests.support.clients import open_socket, receive, send, subscribe
from tests.support.servers import RunningServer, token
from wsharness.contract.names import PROM_BROKER_OUTAGES
from wsharness.contract.protocol import ClientType, ServerType


async def readiness(http: aiohttp.ClientSession, server: RunningServer) -> int:
    async with http.get(server.http_url + "/readyz") as reply:
        return reply.status


async def wait_for_readiness(
    http: aiohttp.ClientSession, server: RunningServer, status: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while await readiness(http, server) != status:
        assert time.monotonic() < deadline, f"/readyz never answered {status}"
        await asyncio.sleep(0.1)


async def post_publish(
    http: aiohttp.ClientSession, server: RunningServer, data: Any
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token('backend', scope='publish')}"}
    body = {"topic": "news", "data": data}
    async with http.post(server.http_url + "/publish", json=body, headers=headers) as reply:
        return reply.status, await reply.json()


async def test_server_rides_out_a_pubsub_outage(
    make_server: Callable[..., Awaitable[RunningServer]],
    pubsub_env: Emulator,
    pubsub_topic: str,
):
    running = await make_server(broker="pubsub", pubsub_topic=pubsub_topic)
    ws = await open_socket(running.ws_url, "alice")
    await subscribe(ws, "news")
    async with aiohttp.ClientSession() as http:
        assert (await post_publish(http, running, "before"))[0] == 202
        assert (await receive(ws, timeout=10))["data"] == "before"

        await asyncio.to_thread(pubsub_env.stop)
        await wait_for_readiness(http, running, 503, timeout=15)
        started = time.monotonic()
        status, body = await post_publish(http, running, "during")
        assert (status, body["error"]) == (503, "broker_unavailable")
        assert time.monotonic() - started < 5
        await send(ws, ClientType.ECHO, id="still-there")
        assert (await receive(ws))["type"] == ServerType.ECHO  # the socket stayed open

        await asyncio.to_thread(pubsub_env.start)  # an empty emulator on the same port
        await wait_for_readiness(http, running, 200, timeout=30)
        assert (await post_publish(http, running, "after"))[0] == 202
        assert (await receive(ws, timeout=10))["data"] == "after"
    assert running.metric(PROM_BROKER_OUTAGES) == 1
    await ws.close()
