"""Memory per topic history, before and after the history window (issue 11, item 4).

One ``wsharness serve`` process (embedded broker) and one publishing socket:

1. ``--topics`` distinct topics get one notification each: the server's RSS growth
   divided by the topics is the memory a topic history costs while it is kept;
2. once the history window (``--window`` seconds) has passed, ``--topics`` *more*
   distinct topics get one each: with expired histories evicted the RSS stays flat
   (the first topics' memory is reused); without eviction it grows by as much again.

Also printed: the histories the server reports keeping (``wsh_topic_histories``) and
those it evicted, by reason (absent from servers older than this benchmark).

    .venv/bin/python benchmarks/topic_memory.py                 # 20,000 + 20,000 topics
    .venv/bin/python benchmarks/topic_memory.py --quick         # 2,000 + 2,000, ~10 s
    .venv/bin/python benchmarks/topic_memory.py --max-topics 5000 --json results/t.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect

from wsharness.contract.tokens import mint
from wsharness.localserver import LocalServer

IN_FLIGHT = 200  # publish frames sent ahead of their acknowledgements


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=20_000, help="topics per phase")
    parser.add_argument("--window", type=float, default=10.0, help="history seconds")
    parser.add_argument("--max-topics", type=int, help="WSH_HISTORY_MAX_TOPICS")
    parser.add_argument("--quick", action="store_true", help="2,000 topics, 2 s window")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.topics, args.window = 2_000, 2.0
    return args


async def publish_each(ws: ClientConnection, topics: list[str]) -> None:
    """One notification per topic, ``IN_FLIGHT`` at a time; wait for every ack."""
    pending = 0
    for number, topic in enumerate(topics):
        await ws.send(json.dumps({"type": "publish", "topic": topic, "data": number}))
        pending += 1
        if pending >= IN_FLIGHT:
            pending -= await drain_acks(ws, pending // 2)
    await drain_acks(ws, pending)


async def drain_acks(ws: ClientConnection, count: int) -> int:
    received = 0
    while received < count:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame["type"] == "error":
            raise RuntimeError(f"publish refused: {frame}")
        received += frame["type"] == "published"
    return received


def scrape(server: LocalServer) -> dict[str, float]:
    """Histories kept and evicted (by reason), from the server's /metrics."""
    with urllib.request.urlopen(server.http_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "wsh_topic_histories":
                series["kept"] = sample.value
            elif sample.name == "wsh_topic_histories_evicted_total":
                series["evicted_" + sample.labels["reason"]] = sample.value
    return series


def rss(process: psutil.Process) -> int:
    return int(process.memory_info().rss)


async def wait_for_window(server: LocalServer, window: float) -> None:
    """The window passes, then (on servers that evict) the histories go."""
    await asyncio.sleep(window + 0.5)  # the history window itself
    deadline = time.monotonic() + window + 10
    while time.monotonic() < deadline:
        kept = scrape(server).get("kept")
        if kept is None or kept == 0:
            return
        await asyncio.sleep(0.2)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    secret = secrets.token_hex(32)
    env = {
        "WSH_HISTORY_SECONDS": str(args.window),
        "WSH_RATE_LIMIT_PER_SECOND": "1000000",
        "WSH_RATE_LIMIT_BURST": "1000000",
    }
    if args.max_topics:
        env["WSH_HISTORY_MAX_TOPICS"] = str(args.max_topics)
    server = LocalServer(secret, **env).start()
    try:
        assert server.process is not None
        process = psutil.Process(server.process.pid)
        token = mint(secret, "bench", ttl=3600, scope="publish")
        headers = {"Authorization": f"Bearer {token}"}
        async with connect(server.ws_url, additional_headers=headers, max_size=None) as ws:
            await ws.recv()  # welcome
            await publish_each(ws, ["warm-up"] * 1_000)  # code paths warm, one topic
            before = rss(process)
            await publish_each(ws, [f"user.{n}" for n in range(args.topics)])
            first = rss(process)
            kept_first = scrape(server)
            await wait_for_window(server, args.window)
            await publish_each(ws, [f"later.{n}" for n in range(args.topics)])
            second = rss(process)
            kept_second = scrape(server)
    finally:
        server.stop()
    return {
        "topics_per_phase": args.topics,
        "window_seconds": args.window,
        "rss_before_mb": before / 1e6,
        "rss_after_first_mb": first / 1e6,
        "rss_after_second_mb": second / 1e6,
        "bytes_per_topic_first": (first - before) / args.topics,
        "bytes_per_topic_second": (second - first) / args.topics,
        "series_after_first": kept_first,
        "series_after_second": kept_second,
    }


def report(figures: dict[str, Any]) -> None:
    topics = figures["topics_per_phase"]
    print(f"topics per phase: {topics:,}   history window: {figures['window_seconds']} s")
    print(f"{'phase':<42} {'RSS MB':>8} {'growth MB':>10} {'B/topic':>8}")
    rows = (
        ("before (1,000 publishes to one topic)", figures["rss_before_mb"], None, None),
        (
            f"after {topics:,} topics",
            figures["rss_after_first_mb"],
            figures["rss_after_first_mb"] - figures["rss_before_mb"],
            figures["bytes_per_topic_first"],
        ),
        (
            f"after the window, {topics:,} more",
            figures["rss_after_second_mb"],
            figures["rss_after_second_mb"] - figures["rss_after_first_mb"],
            figures["bytes_per_topic_second"],
        ),
    )
    for label, total, growth, per_topic in rows:
        growth_text = "" if growth is None else f"{growth:+.1f}"
        per_topic_text = "" if per_topic is None else f"{per_topic:.0f}"
        print(f"{label:<42} {total:>8.1f} {growth_text:>10} {per_topic_text:>8}")
    for phase in ("series_after_first", "series_after_second"):
        series = figures[phase]
        shown = ", ".join(f"{name} {value:,.0f}" for name, value in series.items())
        print(f"histories {phase.replace('_', ' ')}: {shown or 'not reported'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures = asyncio.run(measure(args))
    report(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
