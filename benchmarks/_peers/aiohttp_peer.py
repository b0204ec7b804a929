"""Bare aiohttp WebSocket server: the baseline peer of ``server_vs_peers.py``.

Accepts sockets on ``/ws`` (every open socket counts as subscribed, no token) and on
``POST /broadcast`` sends the request body as one text frame to every socket by
looping ``send_str``.  No compression, and no heartbeat unless a second argument
gives its interval: aiohttp as a user would write it in twenty lines.

    python benchmarks/_peers/aiohttp_peer.py PORT [HEARTBEAT_SECONDS]
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiohttp import web

from wsharness.openfiles import raise_open_file_limit

SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])
HEARTBEAT = web.AppKey("heartbeat", float)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, heartbeat=request.app[HEARTBEAT] or None)
    await ws.prepare(request)
    sockets = request.app[SOCKETS]
    sockets.add(ws)
    try:
        async for _message in ws:
            pass
    finally:
        sockets.discard(ws)
    return ws


async def broadcast(request: web.Request) -> web.Response:
    text = await request.text()
    sockets: list[web.WebSocketResponse] = [*request.app[SOCKETS]]
    for ws in sockets:
        await ws.send_str(text)
    return web.Response(text=str(len(sockets)))


async def main(port: int, heartbeat: float) -> None:
    app = web.Application()
    app[SOCKETS] = set()
    app[HEARTBEAT] = heartbeat
    app.router.add_get("/ws", websocket)
    app.router.add_post("/broadcast", broadcast)
    runner = web.AppRunner(app, handle_signals=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    print(json.dumps({"event": "listening", "port": port}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    raise_open_file_limit()
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0))
