"""A collector that is down, refusing or hanging: the service keeps serving.

The real server exports every span (always_on) to a collector that refuses
connections or accepts them and never answers.  Echo round trips must keep
succeeding with flat latency, memory must stay bounded, the lost spans must be
counted at ``/metrics``, the log must not flood, and shutdown must stay quick.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import psutil
import pytest
from websockets.asyncio.client import ClientConnection

from tests.support.clients import open_socket, receive, send
from tests.support.servers import ServerProcess
from tests.telemetry.conftest import Blackhole
from wsharness.contract import names
from wsharness.contract.protocol import ClientType

SOCKETS = 20
WARMUP_ECHOES = 20  # per socket
LOAD_ECHOES = 150  # per socket, i.e. 3,000 round trips
LOAD_DEADLINE_S = 30.0
MAX_RSS_GROWTH_BYTES = 40 * 1024 * 1024
MAX_LOG_LINES = 12
MAX_SHUTDOWN_S = 8.0


def dead_collector_env(port: int, protocol: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_BSP_MAX_QUEUE_SIZE": "256",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "WSH_RATE_LIMIT_PER_SECOND": "100000",
        "WSH_RATE_LIMIT_BURST": "100000",
    }


async def echo_round_trips(sockets: list[ClientConnection], per_socket: int) -> list[float]:
    """Sequential echoes on every socket at once; each round trip's seconds."""

    async def one_socket(ws: ClientConnection, index: int) -> list[float]:
        timings = []
        for probe in range(per_socket):
            started = time.perf_counter()
            await send(ws, ClientType.ECHO, id=f"{index}-{probe}")
            reply = await receive(ws)
            assert reply["id"] == f"{index}-{probe}"
            timings.append(time.perf_counter() - started)
        return timings

    per_socket_timings = await asyncio.wait_for(
        asyncio.gather(*(one_socket(ws, i) for i, ws in enumerate(sockets))),
        LOAD_DEADLINE_S,
    )
    return [t for timings in per_socket_timings for t in timings]


@pytest.mark.parametrize(
    ("collector", "protocol"),
    [("refusing", "http/protobuf"), ("hanging", "http/protobuf"), ("refusing", "grpc")],
)
async def test_service_keeps_serving_when_the_collector_is_gone(
    collector: str, protocol: str, closed_port: int, blackhole: Blackhole
) -> None:
    port = closed_port if collector == "refusing" else blackhole.port
    server = ServerProcess(**dead_collector_env(port, protocol)).start()
    try:
        sockets = [await open_socket(server.ws_url, sub=f"u{i}") for i in range(SOCKETS)]
        warmup = await echo_round_trips(sockets, WARMUP_ECHOES)
        rss_before = psutil.Process(server.process.pid).memory_info().rss  # type: ignore[union-attr]
        load = await echo_round_trips(sockets, LOAD_ECHOES)
        rss_after = psutil.Process(server.process.pid).memory_info().rss  # type: ignore[union-attr]
        dropped = server.metric(names.PROM_SPANS_DROPPED)
        for ws in sockets:
            await ws.close()
    finally:
        shutdown_s = timed_stop(server)
    late = load[-len(warmup) :]
    assert len(load) == SOCKETS * LOAD_ECHOES
    assert statistics.median(late) <= max(3 * statistics.median(warmup), 0.005)
    assert rss_after - rss_before < MAX_RSS_GROWTH_BYTES
    assert dropped > 0, "spans were lost but /metrics does not count them"
    log_lines = [line for line in server.log_path.read_text().splitlines() if line.strip()]
    assert len(log_lines) <= MAX_LOG_LINES, "\n".join(log_lines)
    assert shutdown_s < MAX_SHUTDOWN_S
    if collector == "hanging":
        assert blackhole.accepted > 0, "the exporter never reached the hanging collector"


def timed_stop(server: ServerProcess) -> float:
    started = time.monotonic()
    server.stop()
    return time.monotonic() - started
