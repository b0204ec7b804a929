"""What telemetry costs the server: echo throughput and fan-out time, four ways.

Runs the real ``wsharness serve`` in a subprocess with telemetry off, on with
``parentbased_traceidratio`` 0.1 (as shipped, with its budget of message spans a second,
and with that budget lifted), and on with ``always_on``, all exporting traces and
metrics to an OTLP/HTTP receiver in a process of its own, in one run, alternating the
order each round; prints the figures, each mode's cost relative to "off", and the
issue's target (under 10% at ratio 0.1) as PASS or MISS.

    .venv/bin/python benchmarks/telemetry_cost.py [--rounds 2] [--seconds 5]

Measured: echo round trips per second (client-bound on a small machine, so also the
server's CPU microseconds per round trip, which is what telemetry adds to), and the
server's own mean fan-out duration (``wsh_fanout_duration``) over many notifications to
hundreds of sockets, the server's CPU per notification, and the time for every socket
to receive them all.  CPU is counted until the server has exported what each phase
recorded (``SETTLE_S`` after it ends).
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

from wsharness.contract import names
from wsharness.contract.protocol import ClientType, ServerType
from wsharness.contract.tokens import mint
from wsharness.localserver import LocalServer

SECRET = "benchmark-secret-0123456789abcdef-0123456789"
ECHO_SOCKETS = 32
SUBSCRIBERS = 400
NOTIFICATIONS = 1000
# After each phase the server gets this long to export what the phase recorded (the
# batch processor exports at least every OTEL_BSP_SCHEDULE_DELAY, set below), so
# that export counts against the phase that caused it.
SETTLE_S = 1.5
SCHEDULE_DELAY_MS = "500"
TOPIC = "bench"
RATIO = "ratio 0.1"
# Ratio 0.1 with the per-second budget of message spans lifted: every message the ratio
# keeps is recorded, which shows what one sampled span costs.
NO_BUDGET = "ratio 0.1 no budget"
TARGET_COST = 0.10


@dataclass
class Figures:
    """One mode's measurements over every round."""

    echoes_per_s: list[float] = field(default_factory=list)
    cpu_us_per_echo: list[float] = field(default_factory=list)
    fanout_ms: list[float] = field(default_factory=list)
    fanout_cpu_ms: list[float] = field(default_factory=list)
    delivery_s: list[float] = field(default_factory=list)


class SinkProcess:
    """``python -m telemetry.otlp_sink`` in its own process, so decoding what the
    server exports costs neither the server nor the load-generating client."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wsharness.telemetry.otlp_sink"],
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
        "OTEL_BSP_SCHEDULE_DELAY": SCHEDULE_DELAY_MS,
    }
    if mode.startswith(RATIO):
        env |= {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}
        env |= {"OTEL_TRACES_SAMPLER_ARG": "0.1"}
    else:
        env |= {"OTEL_TRACES_SAMPLER": "always_on"}
    if mode == NO_BUDGET:
        env |= {"WSH_MESSAGE_SPANS_PER_SECOND": "0"}
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
    await asyncio.sleep(SETTLE_S)  # the warm-up's spans leave before the count starts
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    counts = await asyncio.gather(*(echo_for(ws, seconds) for ws in sockets))
    elapsed = time.perf_counter() - started
    for ws in sockets:
        await ws.close()
    await asyncio.sleep(SETTLE_S)
    cpu = server.cpu_seconds() - cpu_before
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
) -> tuple[float, float, float]:
    """Mean fan-out duration (ms, the server's own histogram), server CPU per
    notification (ms, publish frame in to every frame out), and the time until every
    subscriber has every notification (s)."""
    subscribers = [
        await connect(session, server.ws_url, f"sub{i}") for i in range(SUBSCRIBERS)
    ]
    subscribe = json.dumps({"type": ClientType.SUBSCRIBE.value, "topic": TOPIC})
    for ws in subscribers:
        await ws.send_str(subscribe)
        await ws.receive(timeout=10)
    publisher = await connect(session, server.ws_url, "publisher")
    await asyncio.sleep(SETTLE_S)  # the handshakes' spans leave before the count starts
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    receivers = [asyncio.create_task(drain(ws, NOTIFICATIONS)) for ws in subscribers]
    for n in range(NOTIFICATIONS):
        frame = {"type": ClientType.PUBLISH.value, "topic": TOPIC, "data": {"n": n}}
        await publisher.send_str(json.dumps(frame))
    await asyncio.gather(*receivers)
    delivery = time.perf_counter() - started
    for ws in [*subscribers, publisher]:
        await ws.close()
    await asyncio.sleep(SETTLE_S)
    cpu_ms = (server.cpu_seconds() - cpu_before) / NOTIFICATIONS * 1000
    mean_fanout = await server.fanout_mean_s(session)
    return mean_fanout * 1000, cpu_ms, delivery


async def run_mode(mode: str, sink: SinkProcess, seconds: float, figures: Figures) -> None:
    server = Server(mode_env(mode, sink))
    try:
        connector = aiohttp.TCPConnector(limit=0)  # every socket stays open
        async with aiohttp.ClientSession(connector=connector) as session:
            rate, cpu_us = await measure_echo(server, session, seconds)
            fanout_ms, fanout_cpu_ms, delivery_s = await measure_fanout(server, session)
    finally:
        server.stop()
    figures.echoes_per_s.append(rate)
    figures.cpu_us_per_echo.append(cpu_us)
    figures.fanout_ms.append(fanout_ms)
    figures.fanout_cpu_ms.append(fanout_cpu_ms)
    figures.delivery_s.append(delivery_s)
    print(
        f"  {mode:<22} {rate:9.0f} echo/s  {cpu_us:7.1f} us CPU/echo  "
        f"fan-out {fanout_ms:6.3f} ms, {fanout_cpu_ms:6.3f} ms CPU  "
        f"all delivered in {delivery_s:5.2f} s",
        flush=True,
    )


# Each figure: its column title, where it is kept, and whether more is better.
COLUMNS = (
    ("echo/s", "echoes_per_s", True),
    ("us CPU/echo", "cpu_us_per_echo", False),
    ("fan-out ms", "fanout_ms", False),
    ("fan-out CPU ms", "fanout_cpu_ms", False),
)


def cost(figures: Figures, base: Figures, attribute: str, more_is_better: bool) -> float:
    """How much worse than ``base`` the median is, as a fraction (negative: better)."""
    ours = statistics.median(getattr(figures, attribute))
    theirs = statistics.median(getattr(base, attribute))
    return 1 - ours / theirs if more_is_better else ours / theirs - 1


def report(results: dict[str, Figures], spans: int) -> None:
    base = results["off"]
    print("\nmedian over rounds (cost relative to telemetry off):")
    print(f"{'mode':<20}" + "".join(f" {title:>14} {'cost':>7}" for title, *_ in COLUMNS))
    for mode, figures in results.items():
        cells = [
            f" {statistics.median(getattr(figures, attribute)):14.3f}"
            f" {cost(figures, base, attribute, better):+7.1%}"
            for _title, attribute, better in COLUMNS
        ]
        print(f"{mode:<20}" + "".join(cells))
    print(f"\nspans received by the OTLP receiver process: {spans}")
    for title, attribute, better in COLUMNS:
        found = cost(results[RATIO], base, attribute, better)
        verdict = "PASS" if found < TARGET_COST else "MISS"
        print(f"{verdict}  {RATIO}: {title} cost {found:+.1%} (target < {TARGET_COST:.0%})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="echo phase length")
    args = parser.parse_args()
    for key in [key for key in os.environ if key.startswith("OTEL_")]:
        del os.environ[key]  # "off" means off, whatever the calling shell exports
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20_000), hard))
    modes = ["off", RATIO, NO_BUDGET, "always_on"]
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
