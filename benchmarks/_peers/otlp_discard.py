"""An OTLP/HTTP sink that accepts every export and discards it.

The "telemetry on" variant of ``server_vs_peers.py`` points
``OTEL_EXPORTER_OTLP_ENDPOINT`` here, so the server pays for recording, batching,
serialising and sending its spans and metrics, but no collector's cost is measured.
An empty body is a valid empty ``Export*ServiceResponse``.

    python benchmarks/_peers/otlp_discard.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=b"", content_type="application/x-protobuf")


async def main(port: int) -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/{path:.*}", accept)
    runner = web.AppRunner(app, handle_signals=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(json.dumps({"event": "listening", "port": port}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
