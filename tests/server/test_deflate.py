"""``--compress``: real clients receive compressed frames (RSV1 set) and decode them.

A tap on loopback sits between client and server and records every frame the server
sends, so the tests see what went over the wire, not what the client reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from tests.support.chromium import Browser
from tests.support.clients import receive, subscribe
from tests.support.servers import RunningServer, token, wait_until
from wsharness.server import deflate

# About 6 KB of JSON that compresses well, like most notifications.
BIG = {
    "items": [{"id": n, "status": "delivered", "note": "parcel left"} for n in range(120)]
}


@dataclass
class ServerFrame:
    rsv1: bool
    opcode: int
    payload: bytes


@dataclass
class Stream:
    """What the server sent on one connection: its response head, then its frames."""

    head: bytes = b""
    frames: list[ServerFrame] = field(default_factory=list)
    _buffer: bytes = b""

    def feed(self, data: bytes) -> None:
        buffer = self._buffer + data
        if not self.head:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buffer
                return
            self.head, buffer = buffer[: end + 4], buffer[end + 4 :]
        while len(buffer) >= 2:
            length, offset = buffer[1] & 0x7F, 2
            if length == 126:
                length, offset = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                length, offset = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < offset + length:
                break
            first = buffer[0]
            payload = buffer[offset : offset + length]
            self.frames.append(ServerFrame(bool(first & 0x40), first & 0x0F, payload))
            buffer = buffer[offset + length :]
        self._buffer = buffer

    def compressed(self) -> list[ServerFrame]:
        return [f for f in self.frames if f.rsv1]


class FrameTap:
    """A TCP relay on loopback that records the server-to-client frames."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.streams: list[Stream] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> FrameTap:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()

    async def _relay(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await asyncio.open_connection(
            "127.0.0.1", self.upstream_port
        )
        stream = Stream()
        self.streams.append(stream)
        pumps = [
            asyncio.create_task(self._pump(client_reader, server_writer, None)),
            asyncio.create_task(self._pump(server_reader, client_writer, stream)),
        ]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        client_writer.close()
        server_writer.close()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: Stream | None,
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if record is not None:
                    record.feed(data)
                writer.write(data)
                await writer.drain()


@pytest.fixture
async def compressing(make_server) -> AsyncIterator[tuple[RunningServer, FrameTap]]:  # type: ignore[no-untyped-def]
    running = await make_server(compress=True)
    tap = await FrameTap(running.port).start()
    yield running, tap
    await tap.stop()


async def open_via(tap: FrameTap, sub: str) -> ClientConnection:
    ws = await connect(
        f"ws://127.0.0.1:{tap.port}/ws",
        additional_headers={"Authorization": f"Bearer {token(sub)}"},
    )  # the websockets library offers permessage-deflate by default
    assert (await receive(ws))["type"] == "welcome"
    return ws


async def test_websockets_client_gets_compressed_frames_and_decodes_them(
    compressing: tuple[RunningServer, FrameTap],
) -> None:
    running, tap = compressing
    sockets = [await open_via(tap, f"reader-{n}") for n in range(3)]
    assert sockets[0].response is not None
    extension = sockets[0].response.headers["Sec-WebSocket-Extensions"]
    assert "permessage-deflate" in extension and "server_no_context_takeover" in extension
    for ws in sockets:
        await subscribe(ws, "parcels")
    deflater = deflate.shared_deflaters()[15]
    compressed_before = deflater.compressed
    await running.server.publish("parcels", BIG, {})
    for ws in sockets:
        assert (await receive(ws))["data"] == BIG  # decoded by the library
    await wait_until(lambda: all(s.compressed() for s in tap.streams))
    on_the_wire = [stream.compressed()[-1] for stream in tap.streams]
    plain = len(json.dumps(BIG))
    assert all(frame.opcode == 0x1 for frame in on_the_wire)
    assert all(len(frame.payload) < plain / 4 for frame in on_the_wire)
    # One compression for the fan-out: the same bytes went to every socket.
    assert deflater.compressed - compressed_before == 1
    assert len({frame.payload for frame in on_the_wire}) == 1
    # Each message stands alone: a second one decodes as well (no shared context).
    await running.server.publish("parcels", {**BIG, "n": 2}, {})
    for ws in sockets:
        assert (await receive(ws))["data"]["n"] == 2
        await ws.close()


async def test_small_frames_and_uncompressing_clients_stay_plain(
    compressing: tuple[RunningServer, FrameTap],
) -> None:
    running, tap = compressing
    plain_ws = await connect(
        f"ws://127.0.0.1:{tap.port}/ws",
        additional_headers={"Authorization": f"Bearer {token('plain')}"},
        compression=None,
    )
    assert (await receive(plain_ws))["type"] == "welcome"
    await subscribe(plain_ws, "parcels")
    await running.server.publish("parcels", BIG, {})
    assert (await receive(plain_ws))["data"] == BIG
    await plain_ws.close()
    assert b"permessage-deflate" not in tap.streams[0].head
    assert tap.streams[0].compressed() == []
    deflating = await open_via(tap, "small")
    await subscribe(deflating, "tiny")
    await running.server.publish("tiny", "hi", {})
    assert (await receive(deflating))["data"] == "hi"
    await deflating.close()
    assert tap.streams[1].compressed() == []  # under 128 bytes: not worth it


async def test_chromium_gets_compressed_frames_and_decodes_them(
    compressing: tuple[RunningServer, FrameTap],
) -> None:
    running, tap = compressing
    url = f"ws://127.0.0.1:{tap.port}/ws?access_token={token('browser')}"
    async with Browser() as browser:
        await browser.navigate(running.http_url + "/healthz")
        await browser.evaluate(
            f"""
            window.got = [];
            const ws = new WebSocket({json.dumps(url)});
            ws.onmessage = (event) => {{
              const frame = JSON.parse(event.data);
              window.got.push(frame);
              if (frame.type === "welcome")
                ws.send(JSON.stringify({{type: "subscribe", topic: "parcels"}}));
            }};
            window.extensions = () => ws.extensions;
            """
        )
        await browser.wait_for("window.got.some((f) => f.type === 'subscribed')")
        assert "permessage-deflate" in await browser.evaluate("window.extensions()")
        await running.server.publish("parcels", BIG, {})
        await browser.wait_for("window.got.some((f) => f.type === 'message')")
        data = await browser.evaluate("window.got.find((f) => f.type === 'message').data")
        assert data == BIG
        assert browser.console_errors == []
    (stream,) = tap.streams
    (frame,) = stream.compressed()
    assert frame.opcode == 0x1 and len(frame.payload) < len(json.dumps(BIG)) / 4


async def test_a_smaller_window_offer_gets_a_deflater_of_its_own(
    compressing: tuple[RunningServer, FrameTap],
) -> None:
    running, tap = compressing
    offer = ClientPerMessageDeflateFactory(
        server_max_window_bits=10, client_no_context_takeover=True
    )
    ws = await connect(
        f"ws://127.0.0.1:{tap.port}/ws",
        additional_headers={"Authorization": f"Bearer {token('small-window')}"},
        compression=None,
        extensions=[offer],
    )
    assert ws.response is not None
    assert "server_max_window_bits=10" in ws.response.headers["Sec-WebSocket-Extensions"]
    assert (await receive(ws))["type"] == "welcome"
    await subscribe(ws, "parcels")
    await running.server.publish("parcels", BIG, {})
    assert (await receive(ws))["data"] == BIG
    await ws.close()
    assert tap.streams[0].compressed()
    assert 10 in deflate.shared_deflaters()


async def test_a_replay_to_many_resuming_sockets_is_compressed_once(
    compressing: tuple[RunningServer, FrameTap],
) -> None:
    running, tap = compressing
    first = await open_via(tap, "first")
    await subscribe(first, "parcels")
    await running.server.publish("parcels", {"n": 0}, {})
    cursor = (await receive(first))["id"]
    await running.server.publish("parcels", BIG, {})
    assert (await receive(first))["data"] == BIG
    deflater = deflate.shared_deflaters()[15]
    compressed_before = deflater.compressed
    for n in range(3):  # three clients come back and resume from the same cursor
        ws = await open_via(tap, f"resumer-{n}")
        reply = await subscribe(ws, "parcels", since=cursor)
        assert reply["recovered"] is True and reply["replayed"] == 1
        assert (await receive(ws))["data"] == BIG
        await ws.close()
    assert deflater.compressed == compressed_before  # served from what was compressed
    assert all(stream.compressed() for stream in tap.streams)
    await first.close()
