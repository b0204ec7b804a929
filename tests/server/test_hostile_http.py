"""Hostile HTTP before the upgrade, over real sockets against a real server.

Each case: the refusal is precise (a status, or a close) and counted, and afterwards a
fresh client still connects, subscribes and receives a notification within a second.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time

import aiohttp
import pytest

from tests.support.clients import open_socket, receive, subscribe
from tests.support.servers import RunningServer, ServerProcess, token, wait_until
from wsharness.contract import names

REFUSED = names.PROM_HTTP_REFUSED
PENDING = names.PROM_PENDING_CONNECTIONS


async def assert_service_unharmed(running: RunningServer) -> None:
    """A fresh client connects, subscribes and gets a notification within a second."""
    started = time.monotonic()
    ws = await open_socket(running.ws_url, "fresh-client")
    await subscribe(ws, "after-attack")
    publisher = {"Authorization": f"Bearer {token('svc', scope='publish')}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            running.http_url + "/publish",
            json={"topic": "after-attack", "data": "still here"},
            headers=publisher,
        ) as response,
    ):
        assert response.status == 202
    message = await receive(ws, timeout=1.0)
    assert message["data"] == "still here"
    assert time.monotonic() - started < 1.0 + 1.0  # the whole round, with slack
    await ws.close()


async def raw_exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes; return the server's answer (one response, or all until EOF)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    try:
        async with asyncio.timeout(5):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as short:
                return short.partial  # closed without a full response
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                None,
            )
            body = await (reader.readexactly(length) if length else reader.read())
            return head + body
    finally:
        writer.close()


def upgrade_head(port: int, version: str = "1.1", key: str | None = None) -> bytes:
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws HTTP/{version}\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token()}\r\n\r\n"
    ).encode()


# -- item 6: request heads that never finish ------------------------------------------


class SlowPeer:
    """A peer sending its upgrade head one byte at a time (slowloris)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.head = upgrade_head(port)
        self.answer = b""
        self.closed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self, interval: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.task = asyncio.create_task(self._run(reader, writer, interval))

    async def _run(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, interval: float
    ) -> None:
        read = asyncio.create_task(reader.read())
        try:
            for index in range(len(self.head) - 4):  # never the final blank line
                if read.done():
                    break
                writer.write(self.head[index : index + 1])
                await asyncio.wait([read], timeout=interval)
            self.answer = await asyncio.wait_for(read, 10)
        except (ConnectionError, TimeoutError):
            pass
        finally:
            self.closed.set()
            read.cancel()
            writer.close()


async def test_slowloris_head_is_closed_408_and_counted(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(header_timeout_seconds=0.5)
    peer = SlowPeer(running.port)
    started = time.monotonic()
    await peer.start(interval=0.1)
    await asyncio.wait_for(peer.closed.wait(), 10)
    assert peer.answer.startswith(b"HTTP/1.1 408 "), peer.answer
    assert time.monotonic() - started < 3.0  # the deadline, not the whole head
    assert running.metric(REFUSED, reason="header_timeout") == 1
    assert running.metric(PENDING) == 0
    await assert_service_unharmed(running)


async def test_waiting_heads_are_bounded_oldest_evicted_first(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(header_timeout_seconds=30, max_pending_connections=20)
    peers = [SlowPeer(running.port) for _ in range(50)]
    for index, peer in enumerate(peers):
        await peer.start(interval=0.2)
        await wait_until(  # accepted by the server before the next one connects
            lambda index=index: (
                running.metric(PENDING)  # type: ignore[misc]
                + running.metric(REFUSED, reason="pending_limit")
                == index + 1
            )
        )
    await wait_until(lambda: running.metric(REFUSED, reason="pending_limit") == 30)
    oldest, newest = peers[:30], peers[30:]
    await asyncio.wait_for(asyncio.gather(*(p.closed.wait() for p in oldest)), 10)
    assert all(p.answer.startswith(b"HTTP/1.1 503 ") for p in oldest)
    assert not any(p.closed.is_set() for p in newest)
    assert running.metric(PENDING) == 20
    # A client that sends its head at once still gets in (it evicts one slow peer).
    await assert_service_unharmed(running)
    assert running.metric(REFUSED, reason="pending_limit") >= 31
    for peer in peers:
        assert peer.task is not None
        peer.task.cancel()


async def test_upgraded_socket_is_not_timed(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(header_timeout_seconds=0.3)
    ws = await open_socket(running.ws_url)
    await subscribe(ws, "t")
    await asyncio.sleep(0.6)  # past the head deadline on purpose: it must not apply
    await running.server.publish("t", "late", {})
    assert (await receive(ws))["data"] == "late"
    assert running.metric(REFUSED, reason="header_timeout") == 0


# -- item 8: an HTTP/1.0 upgrade ------------------------------------------------------


async def test_http_1_0_upgrade_is_refused_400_not_101(server: RunningServer) -> None:
    answer = await raw_exchange(server.port, upgrade_head(server.port, version="1.0"))
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 400 " in status_line, answer
    assert b'"error": "http_version"' in answer and b"HTTP/1.1 or later" in answer
    assert server.metric(names.PROM_HANDSHAKES, outcome="http_version") == 1
    assert server.metric(names.PROM_HANDSHAKES, outcome="accepted") == 0
    await assert_service_unharmed(server)


# -- item 10: malformed keys and heads ------------------------------------------------


@pytest.mark.parametrize(
    "key", ["not-base64!!", "c2hvcnQ=", base64.b64encode(b"x" * 17).decode()]
)
async def test_malformed_key_is_400_and_counted(server: RunningServer, key: str) -> None:
    answer = await raw_exchange(server.port, upgrade_head(server.port, key=key))
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b'"error": "bad_key"' in answer
    assert server.metric(names.PROM_HANDSHAKES, outcome="bad_key") == 1
    await assert_service_unharmed(server)


GARBAGE_HEADS = [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(40) + b"\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n",
    b"GET /ws HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
]


async def test_malformed_heads_are_counted_and_logged_as_one_line(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(5):
        for head in GARBAGE_HEADS:
            answer = await raw_exchange(server.port, head)
            assert answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), answer
    assert server.metric(REFUSED, reason="malformed") == 5 * len(GARBAGE_HEADS)
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]
    lines = [r for r in caplog.records if r.name == "wsharness.server.http"]
    assert len(lines) == 1  # rate limited: one line for the whole burst
    assert "malformed HTTP request from 127.0.0.1" in lines[0].getMessage()
    assert "\n" not in lines[0].getMessage()
    await assert_service_unharmed(server)


async def test_wsharness_serve_times_heads_out_too() -> None:
    """The command's own listener (not only the test harness's) carries the guard."""
    process = ServerProcess(WSH_HEADER_TIMEOUT_SECONDS="0.5")
    process.start()
    try:
        peer = SlowPeer(process.port)
        await peer.start(interval=0.1)
        await asyncio.wait_for(peer.closed.wait(), 10)
        assert peer.answer.startswith(b"HTTP/1.1 408 "), peer.answer
        assert process.metric(REFUSED, reason="header_timeout") == 1
    finally:
        process.stop()
