"""What telemetry costs the server: echo throughput and fan-out time, four ways.

Runs the real ``wsharness serve`` in a subprocess with telemetry off, on with
``parentbased_traceidratio`` 0.1 (as shipped, with its budget of message spans a second,
and with that budget lifted), and on with ``always_on``, all exporting traces and
metrics to an OTLP/HTTP receiver in a process of its own, in one run, alternating the
order each round; prints the figures, each mode's cost relative to "off", and the
issue's target (under 10% at ratio 0.1) as PASS or MISS.

    .venv/bin/python benchmarks/telemetry_cost.py [--rounds 3] [--seconds 4] [--json F]
    .venv/bin/python benchmarks/telemetry_cost.py --quick      # one short round, ~30 s

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
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import psutil
from _common import (
    Children,
    OtlpReceiver,
    Target,
    format_table,
    histogram_mean,
    scrape,
    warn_if_busy,
    write_json,
)

from wsharness.contract import names
from wsharness.contract.protocol import ClientType, ServerType
from wsharness.contract.tokens import mint
from wsharness.localserver import LocalServer
from wsharness.openfiles import raise_open_file_limit

SECRET = "benchmark-secret-0123456789abcdef-0123456789"
ECHO_SOCKETS = 32
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


def mode_env(mode: str, sink: OtlpReceiver) -> dict[str, str]:
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
        limits = {"WSH_RATE_LIMIT_PER_SECOND": "1000000", "WSH_RATE_LIMIT_BURST": "1000000"}
        self.local = LocalServer(SECRET, **limits, **otel_env).start()
        assert self.local.process is not None
        self.psutil = psutil.Process(self.local.process.pid)

    @property
    def ws_url(self) -> str:
        return self.local.ws_url

    def cpu_seconds(self) -> float:
        times = self.psutil.cpu_times()
        return float(times.user + times.system)

    async def fanout_mean_s(self, session: aiohttp.ClientSession) -> float:
        samples = await scrape(session, self.local.http_url + "/metrics")
        return histogram_mean(samples, names.PROM_FANOUT_DURATION)

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
    server: Server, session: aiohttp.ClientSession, args: argparse.Namespace
) -> tuple[float, float, float]:
    """Mean fan-out duration (ms, the server's own histogram), server CPU per
    notification (ms, publish frame in to every frame out), and the time until every
    subscriber has every notification (s)."""
    subscribers = [
        await connect(session, server.ws_url, f"sub{i}") for i in range(args.subscribers)
    ]
    subscribe = json.dumps({"type": ClientType.SUBSCRIBE.value, "topic": TOPIC})
    for ws in subscribers:
        await ws.send_str(subscribe)
        await ws.receive(timeout=10)
    publisher = await connect(session, server.ws_url, "publisher")
    await asyncio.sleep(SETTLE_S)  # the handshakes' spans leave before the count starts
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    receivers = [asyncio.create_task(drain(ws, args.notifications)) for ws in subscribers]
    for n in range(args.notifications):
        frame = {"type": ClientType.PUBLISH.value, "topic": TOPIC, "data": {"n": n}}
        await publisher.send_str(json.dumps(frame))
    await asyncio.gather(*receivers)
    delivery = time.perf_counter() - started
    for ws in [*subscribers, publisher]:
        await ws.close()
    await asyncio.sleep(SETTLE_S)
    cpu_ms = (server.cpu_seconds() - cpu_before) / args.notifications * 1000
    mean_fanout = await server.fanout_mean_s(session)
    return mean_fanout * 1000, cpu_ms, delivery


async def run_mode(
    mode: str, sink: OtlpReceiver, args: argparse.Namespace, figures: Figures
) -> None:
    server = Server(mode_env(mode, sink))
    try:
        connector = aiohttp.TCPConnector(limit=0)  # every socket stays open
        async with aiohttp.ClientSession(connector=connector) as session:
            rate, cpu_us = await measure_echo(server, session, args.seconds)
            fanout = await measure_fanout(server, session, args)
            fanout_ms, fanout_cpu_ms, delivery_s = fanout
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


def targets(results: dict[str, Figures]) -> list[Target]:
    """The issue's target for each figure: under 10% cost at ratio 0.1."""
    base = results["off"]
    return [
        Target(
            f"{RATIO}: {title} cost",
            cost(results[RATIO], base, attribute, better),
            TARGET_COST,
            at_most=True,
            percent=True,
        )
        for title, attribute, better in COLUMNS
    ]


def report(results: dict[str, Figures], found: list[Target], spans: int) -> None:
    base = results["off"]
    header = ["mode"] + [cell for title, *_ in COLUMNS for cell in (title, "cost")]
    rows = [
        [mode]
        + [
            cell
            for _title, attribute, better in COLUMNS
            for cell in (
                f"{statistics.median(getattr(figures, attribute)):.3f}",
                f"{cost(figures, base, attribute, better):+.1%}",
            )
        ]
        for mode, figures in results.items()
    ]
    print("\nmedian over rounds (cost relative to telemetry off):")
    print(format_table(header, rows))
    print(f"\nspans received by the OTLP receiver process: {spans}")
    for target in found:
        print(target.line())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="echo phase length")
    parser.add_argument("--subscribers", type=int, default=400, help="fan-out sockets")
    parser.add_argument("--notifications", type=int, default=1000, help="per fan-out phase")
    parser.add_argument("--quick", action="store_true", help="one short round (~30 s)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.subscribers, args.notifications = 1, 1.0, 50, 100
    return args


async def main() -> None:
    args = parse_args()
    started, load_at_start = time.monotonic(), warn_if_busy()
    for key in [key for key in os.environ if key.startswith("OTEL_")]:
        del os.environ[key]  # "off" means off, whatever the calling shell exports
    raise_open_file_limit(ceiling=20_000)
    modes = ["off", RATIO, NO_BUDGET, "always_on"]
    results = {mode: Figures() for mode in modes}
    children = Children()
    try:
        sink = await OtlpReceiver.start(children, count_spans=True)
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}", flush=True)
            order = modes if round_number % 2 == 0 else list(reversed(modes))
            for mode in order:
                await run_mode(mode, sink, args, results[mode])
        spans = await sink.stop()
    finally:
        await children.kill_all()
    found = targets(results)
    report(results, found, spans)
    if args.json is not None:
        figures = {
            "rounds": args.rounds,
            "echo_seconds": args.seconds,
            "echo_sockets": ECHO_SOCKETS,
            "subscribers": args.subscribers,
            "notifications": args.notifications,
            "spans_received": spans,
            "modes": {mode: asdict(figures) for mode, figures in results.items()},
            "targets": [target.as_json() for target in found],
        }
        write_json(args.json, figures, started, load_at_start)


if __name__ == "__main__":
    asyncio.run(main())
