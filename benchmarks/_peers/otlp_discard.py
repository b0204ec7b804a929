"""An OTLP/HTTP sink that accepts every export and discards it (optionally counting spans).

The "telemetry on" variants of ``server_vs_peers.py`` and ``telemetry_cost.py`` point
``OTEL_EXPORTER_OTLP_ENDPOINT`` here, so the server pays for recording, batching,
serialising and sending its spans and metrics, but no collector's cost is measured.
An empty body is a valid empty ``Export*ServiceResponse``.  With ``--count-spans`` the
trace exports are decoded and their spans counted (in this process, not the
server's); on SIGTERM or SIGINT it prints ``{"spans": n, "requests": m}`` and exits.

    python benchmarks/_peers/otlp_discard.py PORT [--count-spans]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

TRACES_PATH = "/v1/traces"


class Counts:
    """What arrived so far."""

    def __init__(self, count_spans: bool) -> None:
        self.count_spans = count_spans
        self.spans = 0
        self.requests = 0

    async def accept(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp undoes a Content-Encoding (gzip)
        self.requests += 1
        if self.count_spans and request.path == TRACES_PATH:
            self.spans += spans_in(body)
        return web.Response(body=b"", content_type="application/x-protobuf")


def spans_in(body: bytes) -> int:
    export = ExportTraceServiceRequest.FromString(body)
    return sum(
        len(scope.spans)
        for resource in export.resource_spans
        for scope in resource.scope_spans
    )


async def main(port: int, count_spans: bool) -> None:
    counts = Counts(count_spans)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/{path:.*}", counts.accept)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print(json.dumps({"event": "listening", "port": port}), flush=True)
    await stop.wait()
    await runner.cleanup()
    print(json.dumps({"spans": counts.spans, "requests": counts.requests}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--count-spans", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.port, args.count_spans))
