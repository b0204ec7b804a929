"""The ``websockets`` library's asyncio server: a peer of ``server_vs_peers.py``.

Accepts sockets on ``/ws`` (every open socket counts as subscribed, no token); a
small HTTP listener on a second port takes ``POST /broadcast`` (the library's server
answers only GET) and hands the body to ``websockets.asyncio.server.broadcast()``.
Library defaults except permessage-deflate, which is turned off like every peer.

    python benchmarks/_peers/websockets_peer.py PORT CONTROL_PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

from wsharness.openfiles import raise_open_file_limit

SOCKETS: set[ServerConnection] = set()


async def hold(ws: ServerConnection) -> None:
    SOCKETS.add(ws)
    try:
        await ws.wait_closed()
    finally:
        SOCKETS.discard(ws)


async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One ``POST /broadcast`` per HTTP/1.1 request; the body is the frame's text."""
    try:
        while head := await reader.readuntil(b"\r\n\r\n"):
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            text = (await reader.readexactly(length)).decode()
            count = len(SOCKETS)
            broadcast(SOCKETS, text)
            body = str(count).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int, control_port: int) -> None:
    listener = await asyncio.start_server(control, "127.0.0.1", control_port)
    async with listener, serve(hold, "127.0.0.1", port, compression=None, backlog=4096):
        print(json.dumps({"event": "listening", "port": port}), flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    raise_open_file_limit()
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
