"""``wsharness sample METRICS_URL RUN_DIR``: scrape a server's ``/metrics`` during a run.

For runs whose server ``make demo`` did not start (staging, or a server of your own):
start it beside Locust, stop it with Ctrl-C (or let ``--duration`` end it), then
``wsharness report RUN_DIR``.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from wsharness.sampler import MetricsSampler


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample", help="scrape a server's /metrics into RUN_DIR/server_metrics.csv"
    )
    parser.add_argument("url", help="e.g. https://staging.example.com/metrics")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between scrapes"
    )
    parser.add_argument("--duration", type=float, default=3600.0, help="stop after seconds")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    args.run_dir.mkdir(parents=True, exist_ok=True)
    sampler = MetricsSampler(args.url, args.run_dir, args.interval, args.duration)
    sampler.start()
    print(f"sampling {args.url} into {sampler.path} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        sampler.stop()
    print(f"{sampler.scrapes} scrapes, {sampler.errors} failed")
    return 0 if sampler.scrapes else 1
