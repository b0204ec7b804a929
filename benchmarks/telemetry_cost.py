"""What telemetry costs the server: echo throughput and fan-out time, four ways.

Runs the real ``wsharness serve`` in a subprocess with telemetry off, on with
``parentbased_traceidratio`` 0.1 (with and without OTLP metrics export), and on with
``always_on``, all exporting to an OTLP/HTTP receiver in a process of its own, in one
run, alternating the order each round; prints the figures and each mode's cost
relative to "off".

    .venv/bin/python benchmarks/telemetry_cost.py [--rounds 2] [--seconds 5]

Measured: echo round trips per second (client-bound on a small machine, so also the
server's CPU microseconds per round trip, which is what telemetry adds to), and the
server's own mean fan-out duration (``wsh_fanout_duration``) over many notifications to
hundreds of sockets, plus the time for every socket to receive them all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

from telemetry import names
from wsharness.localserver import LocalServer
from wsharness.protocol import ClientType, ServerType
from wsharness.tokens import mint

SECRET = "benchmark-secret-0123456789abcdef-0123456789"
ECHO_SOCKETS = 32
SUBSCRIBERS = 400
NOTIFICATIONS = 200
TOPIC = "bench"
# Ratio 0.1 without OTLP metrics: each metric reader keeps its own aggregation in the
# SDK, so exporting metrics over OTLP next to /metrics doubles every measurement's cost;
# this mode shows the tracing cost on its own.
TRACES_ONLY = "ratio 0.1 traces only"


@dataclass
class Figures:
    """One mode's measurements over every round."""

    echoes_per_s: list[float] = field(default_factory=list)
    cpu_us_per_echo: list[float] = field(default_factory=list)
    fanout_ms: list[float] = field(default_factory=list)
    delivery_s: list[float] = field(default_factory=list)


class SinkProcess:
    """``python -m telemetry.otlp_sink`` in its own process, so decoding what the
    server exports costs neither the server nor the load-generating client."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "telemetry.otlp_sink"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.endpoint = str(json.loads(self.process.stdout.readline())["endpoint"])

    def stop(self) -> int:
        """Stop it; return how many spans it received."""
        self.process.send_signal(signal.SIGINT)
        output, _ = self.process.communicate(timeout=30)
        return int(json.loads(output.strip().splitlines()[-1])["spans"])


def mode_env(mode: str, sink: SinkProcess) -> dict[str, str]:
    if mode == "off":
        return {}
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
    }
    if mode.startswith("ratio 0.1"):
        env |= {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}
        env |= {"OTEL_TRACES_SAMPLER_ARG": "0.1"}
    else:
        env |= {"OTEL_TRACES_SAMPLER": "always_on"}
    if mode == TRACES_ONLY:
        env |= {"OTEL_METRICS_EXPORTER": "none"}
    return env


class Server:
    """``wsharness serve`` (the shared :class:`LocalServer`) with OTEL_* variables."""

    def __init__(self, otel_env: dict[str, str]) -> None:
        self.local = LocalServer(
            SECRET,
            WSH_RATE_LIMIT_PER_SECOND="1000000",
            WSH_RATE_LIMIT_BURST="1000000",
            **otel_env,
        ).start()
        assert self.local.process is not None
        self.psutil = psutil.Process(self.local.process.pid)

    @property
    def ws_url(self) -> str:
        return self.local.ws_url

    def cpu_seconds(self) -> float:
        times = self.psutil.cpu_times()
        return float(times.user + times.system)

    async def fanout_mean_s(self, session: aiohttp.ClientSession) -> float:
        async with session.get(self.local.http_url + "/metrics") as response:
            text = await response.text()
        values = {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name.startswith(names.PROM_FANOUT_DURATION)
        }
        total = values.get(f"{names.PROM_FANOUT_DURATION}_sum", 0.0)
        count = values.get(f"{names.PROM_FANOUT_DURATION}_count", 0.0)
        return total / count if count else float("nan")

    def stop(self) -> None:
        self.local.stop()


async def connect(
    session: aiohttp.ClientSession, url: str, sub: str
) -> aiohttp.ClientWebSocketResponse:
    headers = {"Authorization": f"Bearer {mint(SECRET, sub, scope='publish')}"}
    ws = await session.ws_connect(url, headers=headers, max_msg_size=0)
    welcome = await ws.receive_json(timeout=10)
    assert welcome["type"] == ServerType.WELCOME
    return ws


async def echo_for(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> int:
    """Sequential echo round trips until ``seconds`` pass; how many completed."""
    deadline = time.perf_counter() + seconds
    done = 0
    frame = json.dumps({"type": ClientType.ECHO.value, "id": 0, "pad": "x" * 64})
    while time.perf_counter() < deadline:
        await ws.send_str(frame)
        await ws.receive(timeout=10)
        done += 1
    return done


async def measure_echo(
    server: Server, session: aiohttp.ClientSession, seconds: float
) -> tuple[float, float]:
    sockets = [
        await connect(session, server.ws_url, f"echo{i}") for i in range(ECHO_SOCKETS)
    ]
    await asyncio.gather(*(echo_for(ws, 0.5) for ws in sockets))  # warm-up
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    counts = await asyncio.gather(*(echo_for(ws, seconds) for ws in sockets))
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    for ws in sockets:
        await ws.close()
    total = sum(counts)
    return total / elapsed, cpu / total * 1e6


async def drain(ws: aiohttp.ClientWebSocketResponse, expected: int) -> None:
    received = 0
    while received < expected:
        message = await ws.receive(timeout=30)
        if json.loads(message.data)["type"] == ServerType.MESSAGE:
            received += 1


async def measure_fanout(
    server: Server, session: aiohttp.ClientSession
) -> tuple[float, float]:
    subscribers = [
        await connect(session, server.ws_url, f"sub{i}") for i in range(SUBSCRIBERS)
    ]
    subscribe = json.dumps({"type": ClientType.SUBSCRIBE.value, "topic": TOPIC})
    for ws in subscribers:
        await ws.send_str(subscribe)
        await ws.receive(timeout=10)
    publisher = await connect(session, server.ws_url, "publisher")
    started = time.perf_counter()
    receivers = [asyncio.create_task(drain(ws, NOTIFICATIONS)) for ws in subscribers]
    for n in range(NOTIFICATIONS):
        frame = {"type": ClientType.PUBLISH.value, "topic": TOPIC, "data": {"n": n}}
        await publisher.send_str(json.dumps(frame))
    await asyncio.gather(*receivers)
    delivery = time.perf_counter() - started
    mean_fanout = await server.fanout_mean_s(session)
    for ws in [*subscribers, publisher]:
        await ws.close()
    return mean_fanout * 1000, delivery


async def run_mode(mode: str, sink: SinkProcess, seconds: float, figures: Figures) -> None:
    server = Server(mode_env(mode, sink))
    try:
        connector = aiohttp.TCPConnector(limit=0)  # every socket stays open
        async with aiohttp.ClientSession(connector=connector) as session:
            rate, cpu_us = await measure_echo(server, session, seconds)
            fanout_ms, delivery_s = await measure_fanout(server, session)
    finally:
        server.stop()
    figures.echoes_per_s.append(rate)
    figures.cpu_us_per_echo.append(cpu_us)
    figures.fanout_ms.append(fanout_ms)
    figures.delivery_s.append(delivery_s)
    print(
        f"  {mode:<22} {rate:9.0f} echo/s  {cpu_us:7.1f} us CPU/echo  "
        f"fan-out {fanout_ms:6.3f} ms  all delivered in {delivery_s:5.2f} s",
        flush=True,
    )


def report(results: dict[str, Figures], spans: int) -> None:
    base = results["off"]
    print("\nmedian over rounds (cost relative to telemetry off):")
    print(f"{'mode':<22} {'echo/s':>9} {'cost':>7} {'us CPU/echo':>12} {'cost':>7} "
          f"{'fan-out ms':>11} {'cost':>7}")  # fmt: skip
    for mode, figures in results.items():
        rate = statistics.median(figures.echoes_per_s)
        cpu = statistics.median(figures.cpu_us_per_echo)
        fanout = statistics.median(figures.fanout_ms)
        rate_cost = 1 - rate / statistics.median(base.echoes_per_s)
        cpu_cost = cpu / statistics.median(base.cpu_us_per_echo) - 1
        fanout_cost = fanout / statistics.median(base.fanout_ms) - 1
        print(
            f"{mode:<22} {rate:9.0f} {rate_cost:+7.1%} {cpu:12.1f} {cpu_cost:+7.1%} "
            f"{fanout:11.3f} {fanout_cost:+7.1%}"
        )
    print(f"\nspans received by the OTLP receiver process: {spans}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="echo phase length")
    args = parser.parse_args()
    for key in [key for key in os.environ if key.startswith("OTEL_")]:
        del os.environ[key]  # "off" means off, whatever the calling shell exports
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20_000), hard))
    modes = ["off", "ratio 0.1", TRACES_ONLY, "always_on"]
    results = {mode: Figures() for mode in modes}
    sink = SinkProcess()
    try:
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}", flush=True)
            order = modes if round_number % 2 == 0 else list(reversed(modes))
            for mode in order:
                await run_mode(mode, sink, args.seconds, results[mode])
    finally:
        spans = sink.stop()
    report(results, spans)


if __name__ == "__main__":
    asyncio.run(main())
