"""Publish-to-socket lag through the Pub/Sub emulator against the embedded broker.

One run, on loopback: a real Pub/Sub emulator (``gcloud beta emulators pubsub``) and,
for each broker, two ``wsharness serve`` processes with ``--sockets`` WebSocket clients
spread over both (this process holds the clients).  The clients subscribe to
``--topics`` logical topics (every topic has sockets on both instances), and
notifications are published at ``--rate`` per second for ``--seconds``, round-robin
over the topics, so each socket receives ``rate / topics`` messages per second.

- ``pubsub``: the backend publishes straight to the Pub/Sub topic (ordering key = the
  logical topic); both instances pull from their own subscriptions and fan out.
- ``memory``: the embedded broker lives inside each server, so the same notifications
  are published to each instance over a ``publish`` frame.

Lag = receipt time at the client minus the notification's ``published_at`` (same
clock).  Printed per broker: p50, p99, max and how many expected deliveries arrived,
then the servers' own publish-to-fan-out lag from their ``/metrics`` histogram (which
leaves out this process's own client-side delays).

    .venv/bin/python benchmarks/pubsub_lag.py [--rate 1000] [--sockets 1000] [--seconds 10]
    .venv/bin/python benchmarks/pubsub_lag.py --quick     # 100 sockets, 2 s of 100 msg/s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from _common import (
    Children,
    PubSubEmulator,
    bucket_quantile,
    format_table,
    histogram_buckets,
    scrape,
    warn_if_busy,
    write_json,
)

from wsharness.contract.names import PROM_PUBLISH_LAG
from wsharness.contract.protocol import ClientType, ServerType
from wsharness.contract.tokens import mint
from wsharness.localserver import LocalServer
from wsharness.openfiles import raise_open_file_limit
from wsharness.server.brokers.pubsub import PubSubBroker, PubSubConfig

SECRET = "benchmark-secret-0123456789abcdef-0123456789"
WARMUP_S = 1.0  # notifications of the first second are not counted (things settle)
DRAIN_TIMEOUT_S = 15.0


@dataclass
class Lags:
    """Lag samples (seconds) and delivery counts for one broker."""

    samples: list[float] = field(default_factory=list)
    received: int = 0
    first_published_ms: float | None = None
    expected: float = float("inf")
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def expect(self, expected: int) -> None:
        self.expected = expected
        if self.received >= expected:
            self.complete.set()

    def record(self, frame: dict[str, Any]) -> None:
        now = time.time()
        self.received += 1
        if self.received >= self.expected:
            self.complete.set()
        published_ms = float(frame["published_at"])
        if self.first_published_ms is None:
            self.first_published_ms = published_ms
        if published_ms >= self.first_published_ms + WARMUP_S * 1000:
            self.samples.append(now - published_ms / 1000)


def token(sub: str, **claims: Any) -> str:
    return mint(SECRET, sub, ttl=3600, **claims)


def server_env(broker: str, emulator: PubSubEmulator, topic: str) -> dict[str, str]:
    return {
        "WSH_BROKER": broker,
        "WSH_PUBSUB_TOPIC": topic,
        "WSH_RATE_LIMIT_PER_SECOND": "100000",
        "WSH_RATE_LIMIT_BURST": "100000",
        "WSH_HEARTBEAT_SECONDS": "60",
        **emulator.env,
    }


async def follow(
    http: aiohttp.ClientSession, url: str, topic: str, lags: Lags
) -> tuple[aiohttp.ClientWebSocketResponse, asyncio.Task[None]]:
    ws = await http.ws_connect(url, headers={"Authorization": f"Bearer {token('bench')}"})
    await ws.receive_json()  # welcome
    await ws.send_json({"type": ClientType.SUBSCRIBE, "topic": topic})
    await ws.receive_json()  # subscribed
    return ws, asyncio.create_task(_receive(ws, lags))


async def _receive(ws: aiohttp.ClientWebSocketResponse, lags: Lags) -> None:
    async for message in ws:
        if message.type is not aiohttp.WSMsgType.TEXT:
            break
        frame = json.loads(message.data)
        if frame["type"] == ServerType.MESSAGE:
            lags.record(frame)


async def pace(rate: float, seconds: float, publish_one: Callable[[int], None]) -> int:
    """Call ``publish_one(n)`` ``rate`` times a second for ``seconds``; return the count."""
    total = int(rate * seconds)
    started = time.monotonic()
    sent = 0
    while sent < total:
        due = min(total, int((time.monotonic() - started) * rate) + 1)
        while sent < due:
            publish_one(sent)
            sent += 1
        await asyncio.sleep(0.005)  # the publishing tick, not a synchronisation
    return sent


async def run_broker(
    broker: str, args: argparse.Namespace, emulator: PubSubEmulator
) -> dict[str, Any]:
    pubsub_topic = f"bench-{secrets.token_hex(4)}"
    env = server_env(broker, emulator, pubsub_topic)
    instances = [LocalServer(SECRET, **env), LocalServer(SECRET, **env)]
    await asyncio.gather(*(asyncio.to_thread(i.start, 30.0) for i in instances))
    lags = Lags()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            followers = await open_followers(http, instances, lags, args)
            if broker == "pubsub":
                sent = await publish_from_backend_process(args, pubsub_topic)
            else:
                sent = await publish_frames(http, instances, args)
            expected = sent * args.sockets // args.topics
            await wait_for_deliveries(lags, expected)
            figures = lag_figures(broker, lags, expected, sent)
            figures |= server_lag(await server_lag_buckets(http, instances))
            await asyncio.gather(*(ws.close() for ws, _ in followers))
    finally:
        for instance in instances:
            await asyncio.to_thread(instance.stop)
    return figures


async def open_followers(
    http: aiohttp.ClientSession,
    instances: list[LocalServer],
    lags: Lags,
    args: argparse.Namespace,
) -> list[tuple[aiohttp.ClientWebSocketResponse, asyncio.Task[None]]]:
    """Socket ``i`` follows topic ``i % topics`` on instance ``(i // topics) % 2``."""
    followers = []
    for first in range(0, args.sockets, 100):
        batch = range(first, min(first + 100, args.sockets))
        followers += await asyncio.gather(
            *(
                follow(
                    http, instances[(i // args.topics) % 2].ws_url, topic_of(i, args), lags
                )
                for i in batch
            )
        )
    return followers


def topic_of(n: int, args: argparse.Namespace) -> str:
    return f"t{n % args.topics}"


async def publish_from_backend_process(args: argparse.Namespace, pubsub_topic: str) -> int:
    """The backend: another process publishing straight to the Pub/Sub topic."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--backend-publisher", pubsub_topic,
        "--rate", str(args.rate), "--seconds", str(args.seconds),
        "--topics", str(args.topics),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"backend publisher failed ({process.returncode})")
    return int(output.decode().split()[-1])


async def backend_publisher(args: argparse.Namespace) -> None:
    """``--backend-publisher TOPIC``: publish at the rate, print how many were sent."""
    backend = PubSubBroker(PubSubConfig.from_env(topic=args.backend_publisher))
    pending: set[asyncio.Task[str]] = set()

    def publish_one(n: int) -> None:
        task = asyncio.create_task(backend.publish(topic_of(n, args), {"n": n}))
        pending.add(task)
        task.add_done_callback(pending.discard)

    sent = await pace(args.rate, args.seconds, publish_one)
    await asyncio.gather(*pending)
    await backend.stop()
    print(sent, flush=True)


async def publish_frames(
    http: aiohttp.ClientSession, instances: list[LocalServer], args: argparse.Namespace
) -> int:
    """Embedded brokers: the same notifications, as ``publish`` frames to each instance."""
    headers = {"Authorization": f"Bearer {token('backend', scope='publish')}"}
    feeds = [await http.ws_connect(i.ws_url, headers=headers) for i in instances]
    for feed in feeds:
        await feed.receive_json()  # welcome
    pending: set[asyncio.Task[None]] = set()

    def publish_one(n: int) -> None:
        frame = {"type": ClientType.PUBLISH, "topic": topic_of(n, args), "data": {"n": n}}
        for feed in feeds:
            task = asyncio.create_task(feed.send_json(frame))
            pending.add(task)
            task.add_done_callback(pending.discard)

    sent = await pace(args.rate, args.seconds, publish_one)
    await asyncio.gather(*pending)
    await asyncio.gather(*(feed.close() for feed in feeds))
    return sent


async def wait_for_deliveries(lags: Lags, expected: int) -> None:
    lags.expect(expected)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(lags.complete.wait(), DRAIN_TIMEOUT_S)


def lag_figures(broker: str, lags: Lags, expected: int, sent: int) -> dict[str, Any]:
    """What the clients measured for one broker, in milliseconds."""
    samples = sorted(lags.samples)
    nan = float("nan")
    cuts = statistics.quantiles(samples, n=100) if len(samples) >= 2 else [nan] * 99
    return {
        "broker": broker,
        "published": sent,
        "delivered": lags.received,
        "expected": expected,
        "samples": len(samples),
        "lag_p50_ms": cuts[49] * 1000,
        "lag_p99_ms": cuts[98] * 1000,
        "lag_max_ms": samples[-1] * 1000 if samples else nan,
    }


async def server_lag_buckets(
    http: aiohttp.ClientSession, instances: list[LocalServer]
) -> list[tuple[float, float]]:
    """The servers' own publish-to-fan-out lag histogram, summed: (le, count) rows."""
    samples = []
    for instance in instances:
        samples += await scrape(http, instance.http_url + "/metrics")
    return histogram_buckets(samples, PROM_PUBLISH_LAG)


def server_lag(buckets: list[tuple[float, float]]) -> dict[str, float]:
    """p50 and p99 of the servers' own lag (whole run, both instances), in ms."""
    return {
        "server_lag_p50_ms": bucket_quantile(buckets, 0.5) * 1000,
        "server_lag_p99_ms": bucket_quantile(buckets, 0.99) * 1000,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    header = ("broker", "published", "delivered", "expected", "p50 ms", "p99 ms",
              "max ms", "server p50 ms", "server p99 ms")  # fmt: skip
    keys = ("lag_p50_ms", "lag_p99_ms", "lag_max_ms", "server_lag_p50_ms",
            "server_lag_p99_ms")  # fmt: skip
    cells = [
        [row["broker"], row["published"], row["delivered"], row["expected"]]
        + [f"{row[key]:.1f}" for key in keys]
        for row in rows
    ]
    print(format_table(header, cells))
    print(
        "(lag = client receipt minus published_at, after a 1 s warm-up; server = "
        "publish-to-fan-out from the servers' /metrics histogram, both instances)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second")
    parser.add_argument("--sockets", type=int, default=1000, help="across both instances")
    parser.add_argument("--topics", type=int, default=100, help="logical topics")
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time")
    parser.add_argument("--brokers", default="memory,pubsub")
    parser.add_argument("--quick", action="store_true", help="100 sockets, 2 s at 100/s")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--backend-publisher", metavar="PUBSUB_TOPIC", help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.quick:
        args.sockets, args.topics, args.rate, args.seconds = 100, 10, 100.0, 2.0
    return args


async def main() -> None:
    args = parse_args()
    if args.backend_publisher:
        await backend_publisher(args)
        return
    started, load_at_start = time.monotonic(), warn_if_busy()
    raise_open_file_limit(ceiling=20_000)
    children = Children()
    rows = []
    try:
        emulator = await PubSubEmulator.start(children)
        os.environ.update(emulator.env)
        print(
            f"{args.sockets} sockets on 2 instances, {args.topics} topics, "
            f"{args.rate:.0f} msg/s for {args.seconds:.0f} s "
            f"({args.rate * args.sockets / args.topics:.0f} frames/s out in total)",
            flush=True,
        )
        for broker in args.brokers.split(","):
            rows.append(await run_broker(broker, args, emulator))
    finally:
        for process in children.processes:
            await children.stop(process)
    print_table(rows)
    if args.json is not None:
        figures = {"sockets": args.sockets, "topics": args.topics, "rate": args.rate,
                   "publish_seconds": args.seconds, "brokers": rows}  # fmt: skip
        write_json(args.json, figures, started, load_at_start)


if __name__ == "__main__":
    asyncio.run(main())
