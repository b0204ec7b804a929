"""Real WebSocket clients for tests (the ``websockets`` library, asyncio)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.support.servers import token
from wsharness.contract.protocol import ServerType


async def open_socket(url: str, sub: str = "alice", **claims: Any) -> ClientConnection:
    """Connect with a Bearer token and consume the ``welcome`` frame."""
    ws = await connect(
        url, additional_headers={"Authorization": f"Bearer {token(sub, **claims)}"}
    )
    welcome = await receive(ws)
    assert welcome["type"] == ServerType.WELCOME
    return ws


async def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(frame, dict)
    return frame


async def send(ws: ClientConnection, frame_type: str, **fields: Any) -> None:
    await ws.send(json.dumps({"type": frame_type, **fields}))


async def subscribe(
    ws: ClientConnection, topic: str, since: str | None = None
) -> dict[str, Any]:
    fields: dict[str, Any] = {"topic": topic}
    if since is not None:
        fields["since"] = since
    await send(ws, "subscribe", **fields)
    reply = await receive(ws)
    assert reply["type"] == ServerType.SUBSCRIBED, reply
    return reply


async def closed_code(ws: ClientConnection, timeout: float = 5.0) -> int | None:
    """Wait for the server to close; return the close code it sent."""
    await asyncio.wait_for(ws.wait_closed(), timeout)
    return ws.close_code


def stalled_socket(
    port: int, sub: str = "stalled", receive_buffer: int = 4096
) -> socket.socket:
    """Upgrade over a raw TCP socket, then never read again (and never answer pings).

    A small receive buffer makes the server's writes back up quickly, as they do
    for a phone that went into a tunnel with the socket still open.
    """
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.settimeout(5)
    raw.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token(sub)}\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += raw.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return raw
