"""Failures are reported by cause when the server misbehaves visibly.

The server here is deliberately wrong and tiny (aiohttp, in the test): it speaks
just enough of the contract for the suite, silently drops every fourth publish and
refuses every token refresh.  The run must say so: a ``deliver`` gap and a
``refresh`` failure, and a non-zero exit code.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web

from tests.loadtests.runs import locustfiles, run_locust
from tests.support.servers import free_port
from wsharness.contract.protocol import ClientType, ErrorCode, ServerType, encode

DROP_EVERY = 4
LOSSY_RUN_OPTIONS = (
    "--expiry-mode", "refresh", "--expiry-token-ttl", "2", "--publish-rate", "20",
)  # fmt: skip


class LossyServer:
    """Fans out publishes but loses every ``DROP_EVERY``-th; refuses refreshes."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[web.WebSocketResponse]] = {}
        self.publishes = itertools.count(1)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        expires = int(time.time() * 1000) + 60_000
        welcome = encode(ServerType.WELCOME, connection_id="x", sub="s", expires_at=expires)
        await ws.send_str(welcome)
        await ws.send_str(encode(ServerType.TOKEN_EXPIRING, expires_at=expires))
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                await self.on_frame(ws, json.loads(message.data))
        for sockets in self.subscribers.values():
            sockets.discard(ws)
        return ws

    async def on_frame(self, ws: web.WebSocketResponse, frame: dict) -> None:
        kind = frame.get("type")
        if kind == ClientType.SUBSCRIBE:
            topic = frame["topic"]
            self.subscribers.setdefault(topic, set()).add(ws)
            await ws.send_str(
                encode(ServerType.SUBSCRIBED, topic=topic, recovered=True, replayed=0)
            )
        elif kind == ClientType.PUBLISH:
            await self.publish(ws, frame)
        elif kind == ClientType.REFRESH:
            await ws.send_str(
                encode(ServerType.ERROR, code=ErrorCode.REFRESH_REFUSED, message="no")
            )

    async def publish(self, ws: web.WebSocketResponse, frame: dict) -> None:
        number = next(self.publishes)
        topic = frame["topic"]
        await ws.send_str(encode(ServerType.PUBLISHED, topic=topic, id=str(number)))
        if number % DROP_EVERY == 0:
            return  # the bug under test: lost without a word
        out = encode(
            ServerType.MESSAGE,
            topic=topic,
            id=str(number),
            data=frame["data"],
            published_at=int(time.time() * 1000),
        )
        for subscriber in list(self.subscribers.get(topic, ())):
            await subscriber.send_str(out)


@pytest.fixture
async def lossy_server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/ws", LossyServer().handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"ws://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_lost_message_and_a_refused_refresh_are_reported(
    lossy_server: str, tmp_path: Path
) -> None:
    run = await asyncio.to_thread(
        run_locust,
        locustfiles("idle", "publisher", "expiry"),
        lossy_server,
        tmp_path,
        users=6,
        seconds=4,
        extra=LOSSY_RUN_OPTIONS,
    )

    assert run.returncode == 1, run.output
    errors = run.errors()
    gaps = sum(n for (name, e), n in errors.items() if name == "deliver" and "gap:" in e)
    refused = [e for (name, e) in errors if name == "refresh"]
    assert gaps > 0, errors
    assert refused and all("error frame: refresh_refused" in e for e in refused)
    assert run.failure_count("connect") == 0
