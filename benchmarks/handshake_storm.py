"""A reconnect storm: upgrades per second and server CPU per upgrade, against bare aiohttp.

After a drain or a network blip every client reconnects at once with the token it
already holds.  In one run, each server in its own process and the clients in
load-generator processes (``_loadgen.py``, the same as ``server_vs_peers.py``):

- ``ours``: ``wsharness serve``, default settings (the verified-token cache on);
- ``ours-nocache``: the same with ``WSH_TOKEN_CACHE_SIZE=0``: every upgrade verifies
  its JWT signature (what a first connection costs);
- ``aiohttp``: the bare aiohttp peer (``_peers/aiohttp_peer.py``, no token).

Each round, for each server in turn (rounds interleaved so that drift in the
machine's load hits all alike): open ``--sockets`` sockets as fast as the workers
can, each with a token of its own (**first**), close them all, then open them again
presenting the same tokens (**reconnect**).  Figures: upgrades accepted per second
and the server process's CPU time per upgrade (steadier than wall time on a shared
machine), medians over ``--rounds``; then issue 2's target as a ratio, PASS or MISS:
at least 0.9x bare aiohttp's upgrades per second.

    .venv/bin/python benchmarks/handshake_storm.py [--sockets 2000] [--rounds 5] [--json F]
    .venv/bin/python benchmarks/handshake_storm.py --quick          # ~20 s, to see it works
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from server_vs_peers import (  # noqa: E402
    HANDSHAKE_SETTLE_SECONDS,
    Children,
    Peer,
    RunningPeer,
    Workers,
    make_peers,
    note,
    start_peer,
)

PEERS = ("ours", "ours-nocache", "aiohttp")
PHASES = ("first", "reconnect")


@dataclass
class Burst:
    """Medians of one phase for one server."""

    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    opened: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_us) if self.cpu_us else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {
            "upgrades_per_s": self.rates,
            "median_upgrades_per_s": self.rate,
            "server_cpu_us_per_upgrade": self.cpu_us,
            "median_server_cpu_us_per_upgrade": self.cpu,
            "opened": self.opened,
            "errors": self.errors[:5],
        }


def storm_peers(heartbeat: float) -> dict[str, Peer]:
    peers = make_peers(heartbeat, None)
    ours = peers["ours"]
    nocache = Peer(
        "ours-nocache",
        ours.argv,
        ours.env | {"WSH_TOKEN_CACHE_SIZE": "0"},
        ours.needs_token,
        ours.subscribe,
        ours.heartbeat,
    )
    return {"ours": ours, "ours-nocache": nocache, "aiohttp": peers["aiohttp"]}


async def burst(
    running: RunningPeer, workers: Workers, args: argparse.Namespace, reuse: bool
) -> tuple[float, float, dict[str, Any]]:
    """Open ``args.sockets`` sockets at once; return upgrades/s, CPU us each, raw reply."""
    cpu_before = running.cpu_seconds()
    opened = await workers.open(
        running,
        args.sockets,
        f"storm-{running.peer.name}",
        subscribe=False,
        concurrency=args.concurrency,
        reuse_tokens=reuse,
    )
    cpu = running.cpu_seconds() - cpu_before
    count = max(opened["opened"], 1)
    return opened["opened"] / max(opened["seconds"], 1e-9), cpu / count * 1e6, opened


async def run(args: argparse.Namespace) -> dict[str, dict[str, Burst]]:
    children = Children()
    results = {name: {phase: Burst() for phase in PHASES} for name in args.peers}
    try:
        peers = storm_peers(heartbeat=20.0)
        workers = await Workers.start(children, args.workers)
        servers = [
            await start_peer(children, peers[name], index)
            for index, name in enumerate(args.peers)
        ]
        for running in servers:  # warm-up: lazy set-up is not a per-upgrade cost
            await workers.open(running, 50, "warm", subscribe=False, concurrency=10)
            await workers.close("warm")
        for round_number in range(args.rounds):
            for running in servers:
                for phase in PHASES:
                    rate, cpu, opened = await burst(
                        running, workers, args, reuse=phase == "reconnect"
                    )
                    figures = results[running.peer.name][phase]
                    figures.rates.append(rate)
                    figures.cpu_us.append(cpu)
                    figures.opened.append(opened["opened"])
                    figures.errors += opened["errors"]
                    await workers.close(f"storm-{running.peer.name}")
                    await asyncio.sleep(HANDSHAKE_SETTLE_SECONDS)  # the closes reaped
            note(f"round {round_number + 1} of {args.rounds} done")
    finally:
        await children.kill_all()
    return results


def targets(results: dict[str, dict[str, Burst]]) -> list[tuple[str, float, bool]]:
    bare = results.get("aiohttp")
    if bare is None:
        return []
    found = []
    for name in ("ours", "ours-nocache"):
        if name in results:
            for phase in PHASES:
                ratio = results[name][phase].rate / max(bare[phase].rate, 1e-9)
                found.append((f"{name} {phase} upgrades/s vs aiohttp", ratio, ratio >= 0.9))
    return found


def print_table(results: dict[str, dict[str, Burst]], sockets: int) -> None:
    print(f"\n{'server':<14} {'phase':<10} {'upgrades/s':>11} {'CPU us':>8}  (each round)")
    for name, phases in results.items():
        for phase, figures in phases.items():
            rounds = " ".join(f"{rate:.0f}" for rate in figures.rates)
            trouble = f"  {len(figures.errors)} errors" if figures.errors else ""
            print(
                f"{name:<14} {phase:<10} {figures.rate:11.0f} {figures.cpu:8.0f}  "
                f"({rounds}){trouble}"
            )
    print(
        f"({sockets} sockets a burst; CPU = server process CPU per accepted upgrade; "
        "medians over the rounds)\n"
    )
    for name, ratio, passed in targets(results):
        print(f"{'PASS' if passed else 'MISS'}  {name}: {ratio:.2f} (>= 0.9)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=2_000, help="upgrades a burst")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (median taken)")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument(
        "--concurrency", type=int, default=100, help="opens in flight/worker"
    )
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="300 sockets, 1 round")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.sockets, args.rounds = 300, 1
    args.peers = [name.strip() for name in args.peers.split(",") if name.strip()]
    if unknown := set(args.peers) - set(PEERS):
        parser.error(f"unknown peers {sorted(unknown)}; choose from {PEERS}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) / 2:
        print(f"warning: load average {load:.1f}: timings will be noisy", flush=True)
    results = asyncio.run(run(args))
    print_table(results, args.sockets)
    if args.json is not None:
        document = {
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "sockets": args.sockets,
            "rounds": args.rounds,
            "cpus": os.cpu_count(),
            "load_average_at_start": load,
            "load_average_at_end": os.getloadavg()[0],
            "servers": {
                name: {phase: figures.as_json() for phase, figures in phases.items()}
                for name, phases in results.items()
            },
            "targets": [
                {"name": name, "ratio": ratio, "limit": 0.9, "pass": passed}
                for name, ratio, passed in targets(results)
            ],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
