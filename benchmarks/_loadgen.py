"""Cheap WebSocket load generator worker for ``server_vs_peers.py``.

One worker process holds thousands of client sockets on a raw asyncio protocol (a
hand-written RFC 6455 client: upgrade request, unmasked server frames, masked client
frames, pong for every ping) so that the clients cost far less CPU than the servers
they measure.  Sockets belong to named groups (one per server under test).  The
orchestrator drives the worker with JSON lines on stdin and reads JSON lines on stdout:

- ``{"cmd": "open", "group": g, ...}``: open ``count`` sockets (``concurrency`` in
  flight) from ``source``, with a JWT per socket when ``secret`` is given (with
  ``reuse_tokens``, the same token as the last time for the same socket name) and a
  subscribe frame when ``subscribe`` is; replies with how many opened and the
  monotonic times of the first attempt and the last success (``time.monotonic()`` is
  system-wide on Linux, so comparable across processes).
- ``{"cmd": "await_pings", "group": g, "timeout": s}``: replies once the group has
  answered as many pings as it has sockets (one heartbeat round), or at the timeout.
- ``{"cmd": "arm", "group": g, "timeout": s}``: replies ``armed``, then ``delivered``
  once every socket of the group has received one notification (or at the timeout),
  with the receipt time of the last one.
- ``{"cmd": "close", "group": g}`` (abort its sockets), ``{"cmd": "exit"}``.

A notification is any text frame whose JSON has ``"type":"message"``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wsharness.contract.tokens import mint
from wsharness.openfiles import raise_open_file_limit

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA
NOTIFICATION_MARK = b'"type":"message"'
SUBSCRIBED_MARK = b'"type":"subscribed"'
HEADER_END = b"\r\n\r\n"


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A complete masked client frame (clients must mask, RFC 6455 section 5.3)."""
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, 0x80 | size])
    else:
        header = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    key = os.urandom(4)
    stream = (key * (size // 4 + 1))[:size]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(
        size, "big"
    )
    return header + key + body


def upgrade_request(host: str, port: int, path: str, token: str | None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Client(asyncio.Protocol):
    """One client socket: upgrade, then count notifications and answer pings."""

    __slots__ = (
        "_buffer",
        "_request",
        "aborted",
        "group",
        "ready",
        "subscribing",
        "transport",
        "upgraded",
    )

    def __init__(self, group: Group, request: bytes, subscribing: bool) -> None:
        self.group = group
        self.aborted = False  # closed on purpose by this worker
        self._request = request
        self._buffer = b""
        self.subscribing = subscribing
        loop = asyncio.get_running_loop()
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ready.done() and not self.aborted:
            self.group.lost += 1
        self._settle_failed(f"closed before ready: {exc}")

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        if not self.upgraded.done():
            end = buffer.find(HEADER_END)
            if end < 0:
                self._buffer = buffer
                return
            status_line = buffer[: buffer.find(b"\r\n")]
            if b" 101 " not in status_line + b" ":
                self._fail(status_line.decode(errors="replace"))
                return
            self.upgraded.set_result(None)
            if not self.subscribing:
                self.ready.set_result(None)
            buffer = buffer[end + 4 :]
        self._buffer = self._parse_frames(buffer)

    def _fail(self, why: str) -> None:
        self._settle_failed(why)
        if self.transport is not None:
            self.transport.abort()

    def _settle_failed(self, why: str) -> None:
        for future in (self.upgraded, self.ready):
            if not future.done():
                future.set_exception(ConnectionError(why))
                future.exception()  # retrieved: the opener may be waiting on the other

    def _parse_frames(self, buffer: bytes) -> bytes:
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            size = buffer[1] & 0x7F
            start = 2
            if size == 126:
                if len(buffer) < 4:
                    break
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    break
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + size:
                break
            self._on_frame(opcode, buffer[start : start + size])
            buffer = buffer[start + size :]
        return buffer

    def _on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_TEXT:
            if NOTIFICATION_MARK in payload:
                self.group.on_notification()
            elif self.subscribing and SUBSCRIBED_MARK in payload:
                self.subscribing = False
                if not self.ready.done():
                    self.ready.set_result(None)
        elif opcode == OP_PING and self.transport is not None:
            self.group.on_ping()
            self.transport.write(masked_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            self._fail("server sent close")


class Group:
    """The sockets held for one server, and what they have received."""

    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.pings = 0
        self.lost = 0  # sockets the server closed after they were ready
        self.ping_target = 0
        self.pinged = asyncio.Event()
        self.received = 0
        self.expected = 0
        self.last_receipt = self.first_receipt = 0.0
        self.all_received = asyncio.Event()

    def on_ping(self) -> None:
        self.pings += 1
        if self.ping_target and self.pings >= self.ping_target:
            self.pinged.set()

    async def await_pings(self, timeout: float) -> dict[str, Any]:
        """Until as many pings were answered as there are sockets, or timeout."""
        self.ping_target = len(self.clients)
        if self.pings >= self.ping_target:
            self.pinged.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.pinged.wait(), timeout)
        return {
            "event": "pinged",
            "pings": self.pings,
            "open": len(self.clients),
            "lost": self.lost,
        }

    def on_notification(self) -> None:
        self.received += 1
        self.last_receipt = time.monotonic()
        if self.received == 1:
            self.first_receipt = self.last_receipt
        if self.received >= self.expected:
            self.all_received.set()

    def arm(self) -> None:
        self.received = 0
        self.expected = len(self.clients)
        self.last_receipt = self.first_receipt = 0.0
        self.all_received = asyncio.Event()
        if self.expected == 0:
            self.all_received.set()

    async def delivered(self, timeout: float) -> dict[str, Any]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_received.wait(), timeout)
        return {
            "event": "delivered",
            "received": self.received,
            "expected": self.expected,
            "first": self.first_receipt,
            "last": self.last_receipt,
            "lost": self.lost,
        }

    def close(self) -> int:
        for client in self.clients:
            client.aborted = True
            if client.transport is not None:
                client.transport.abort()
        closed, self.clients = len(self.clients), []
        return closed

    async def open(self, spec: dict[str, Any]) -> dict[str, Any]:
        host, port, path = spec["host"], int(spec["port"]), spec["path"]
        count, prefix = int(spec["count"]), spec.get("sub_prefix", "bench")
        secret = spec.get("secret")
        reuse = bool(spec.get("reuse_tokens"))  # a reconnect presents the same token
        requests = [
            upgrade_request(
                host,
                port,
                path,
                token_for(secret, f"{prefix}-{i}", reuse) if secret else None,
            )
            for i in range(count)
        ]
        subscribe = spec.get("subscribe")
        subscribe_frame = masked_frame(OP_TEXT, subscribe.encode()) if subscribe else None
        target = (host, port, spec.get("source", "127.0.0.1"))
        gate = asyncio.Semaphore(int(spec.get("concurrency", 64)))
        errors: list[str] = []
        started = time.monotonic()

        async def one(request: bytes) -> bool:
            async with gate:
                return await self._open_one(target, request, subscribe_frame, errors)

        try:
            async with asyncio.timeout(float(spec.get("timeout", 120))):
                outcomes = await asyncio.gather(*(one(r) for r in requests))
        except TimeoutError:
            outcomes = []
            errors.append("open phase timed out")
        opened = sum(outcomes)
        return {
            "event": "opened",
            "opened": opened,
            "failed": count - opened,
            "started": started,
            "finished": time.monotonic(),
            "errors": errors[:5],
        }

    async def _open_one(
        self,
        target: tuple[str, int, str],
        request: bytes,
        subscribe: bytes | None,
        errors: list[str],
    ) -> bool:
        host, port, source = target
        loop = asyncio.get_running_loop()
        try:
            _, client = await loop.create_connection(
                lambda: Client(self, request, subscribe is not None),
                host,
                port,
                local_addr=(source, 0),
            )
            async with asyncio.timeout(30):
                if subscribe is not None:
                    await client.upgraded
                    assert client.transport is not None
                    client.transport.write(subscribe)
                await client.ready
        except (OSError, TimeoutError, ConnectionError) as exc:
            errors.append(repr(exc))
            return False
        self.clients.append(client)
        return True


MINTED: dict[str, str] = {}


def token_for(secret: str, sub: str, reuse: bool) -> str:
    """A token for ``sub``: a new one, or with ``reuse`` the one minted for it before."""
    if not reuse:
        return mint(secret, sub)
    if sub not in MINTED:
        MINTED[sub] = mint(secret, sub)
    return MINTED[sub]


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve_commands() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    groups: dict[str, Group] = {}
    pending: set[asyncio.Task[None]] = set()
    while line := await reader.readline():
        command = json.loads(line)
        name = command["cmd"]
        if name == "exit":
            break
        group = groups.setdefault(command.get("group", ""), Group())
        if name == "open":
            reply(await group.open(command))
        elif name == "await_pings":
            reply(await group.await_pings(float(command["timeout"])))
        elif name == "arm":
            group.arm()
            reply({"event": "armed"})
            task = loop.create_task(_report_delivery(group, float(command["timeout"])))
            pending.add(task)
            task.add_done_callback(pending.discard)
        elif name == "close":
            reply({"event": "closed", "closed": group.close()})
    for group in groups.values():
        group.close()


async def _report_delivery(group: Group, timeout: float) -> None:
    reply(await group.delivered(timeout))


if __name__ == "__main__":
    raise_open_file_limit()
    asyncio.run(serve_commands())
