"""``make demo``: the main job on one machine, with the embedded broker.

Starts a local server, samples its ``/metrics`` into a fresh run directory, runs the
whole Locust suite headless (every user class) for about a minute, then builds the
capacity-planning report of the run and prints where everything is.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from wsharness.localserver import LocalServer
from wsharness.report.command import build_report
from wsharness.report.inputs import ReportInputError
from wsharness.sampler import MetricsSampler

LOCUSTFILES = Path(__file__).resolve().parent.parent / "loadtests"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m wsharness.demo", description=__doc__)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--users", type=int, default=500, help="Locust users (sockets)")
    parser.add_argument("--spawn-rate", type=float, default=50)
    parser.add_argument("--results", type=Path, default=Path("results"))
    return parser.parse_args(argv)


def locust_command(
    server: LocalServer, run_dir: Path, args: argparse.Namespace
) -> list[str]:
    return [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILES),
        "--headless",
        "--host", f"ws://127.0.0.1:{server.port}",
        "--users", str(args.users),
        "--spawn-rate", str(args.spawn_rate),
        "--run-time", f"{args.duration}s",
        "--stop-timeout", "5",
        "--csv", str(run_dir / "locust"),
        "--csv-full-history",
        "--only-summary",
        "--publish-rate", "0.2",
    ]  # fmt: skip


def run_load(server: LocalServer, run_dir: Path, args: argparse.Namespace) -> int:
    """Run Locust against ``server``; its output goes to ``locust.log``."""
    env = {**os.environ, "WSH_JWT_SECRET": server.env["WSH_JWT_SECRET"]}
    with (run_dir / "locust.log").open("wb") as log:
        completed = subprocess.run(
            locust_command(server, run_dir, args),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=args.duration + 120,
            check=False,
        )
    return completed.returncode


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir = args.results / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    server = LocalServer(secrets.token_hex(32), log_path=run_dir / "server.log").start()
    print(f"server on {server.ws_url}; load for {args.duration}s with {args.users} users")
    sampler = MetricsSampler(f"{server.http_url}/metrics", run_dir, 1.0).start()
    try:
        locust_status = run_load(server, run_dir, args)
    finally:
        sampler.stop()
        server.stop()
    try:
        html = build_report(run_dir)
    except ReportInputError as exc:
        print(f"no report for {run_dir}: {exc}", file=sys.stderr)
        return 2
    print_summary(run_dir, html, locust_status)
    return 0


def print_summary(run_dir: Path, html: Path, locust_status: int) -> None:
    summary = json.loads((run_dir / "report.json").read_text())
    print(f"\nrun directory: {run_dir}")
    print(f"report:        {html}")
    print(f"summary:       {run_dir / 'report.md'}")
    for key in (
        "max_sockets_within_slo",
        "memory_per_socket_bytes",
        "recommended_connections_per_instance",
        "instances_for_peak",
    ):
        print(f"  {key}: {summary.get(key)}")
    if locust_status != 0:
        log = run_dir / "locust.log"
        print(f"  locust reported failures (exit {locust_status}): see {log}")


if __name__ == "__main__":
    sys.exit(main())
