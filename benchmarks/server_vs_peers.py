"""Our server against three peers doing the same job: memory, fan-out, handshakes.

Measured in one run on loopback, with the clients in separate worker processes
(``benchmarks/_loadgen.py``) and each server in its own process:

- ``ours``: ``wsharness serve``, embedded broker, default settings (every feature on,
  telemetry export off), heartbeat shortened to ``--heartbeat`` seconds;
- ``ours-otel``: the same with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointed at a local
  OTLP sink that discards (``_peers/otlp_discard.py``), so spans and metrics export;
- ``aiohttp``: a bare aiohttp server (``_peers/aiohttp_peer.py``);
- ``websockets``: the ``websockets`` library's ``broadcast()``
  (``_peers/websockets_peer.py``);
- ``node-ws``: Node's ``ws`` (``_peers/ws_peer.js``; ``npm install --prefix
  benchmarks/.peers ws`` first).

Each server is reached from its own 127.0.0.x source address.  In turn, each with
``--sockets`` subscribed sockets open: (1) server RSS per idle socket after the first
heartbeat round (RSS delta / sockets; peers without a heartbeat wait as long), and
its CPU use while idle; (2) publish-to-last-receipt of one notification (100 bytes of
data) to every socket, median of ``--rounds``.  Then, rounds interleaved across the
servers so that drift in the machine's load hits all alike: (3) upgrades accepted
per second opening ``--handshakes`` sockets as fast as the workers can (ours
verifies a JWT on each), median of ``--handshake-rounds``.  The server process's CPU
time is recorded for each fan-out and handshake as well: on a shared machine it is
steadier than wall time.  Then the issue's targets as ratios, PASS or MISS.

    .venv/bin/python benchmarks/server_vs_peers.py [--sockets 10000] [--json out.json]
    .venv/bin/python benchmarks/server_vs_peers.py --quick --peers ours,aiohttp
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from _common import (
    Children,
    OtlpReceiver,
    Target,
    format_table,
    ratio,
    wait_listening,
    warn_if_busy,
    write_json,
)

from wsharness.contract.protocol import WS_PATH, ClientType, ServerType, encode
from wsharness.contract.tokens import mint
from wsharness.localserver import free_port

HERE = Path(__file__).resolve().parent
SECRET = "benchmark-secret-0123456789abcdef-0123456789"
TOPIC = "bench"
DATA = "x" * 100  # the notification: 100 bytes of data
PEER_NAMES = ("ours", "ours-otel", "aiohttp", "websockets", "node-ws")
EXTRA_PEERS = ("aiohttp-heartbeat",)  # diagnostics, only when asked for by --peers
COMMAND_TIMEOUT = 180.0
HANDSHAKE_SETTLE_SECONDS = 1.0
FANOUT_PAUSE_SECONDS = 0.2
SOCKETS_PER_PROCESS = 18_000  # under the hard limit of 20,000 open files
STARTED = time.monotonic()


# -- progress ----------------------------------------------------------------------


def note(text: str) -> None:
    """A progress line with the time since the run started."""
    print(f"  [{time.monotonic() - STARTED:6.1f} s] {text}", flush=True)


# -- the peers ---------------------------------------------------------------------


@dataclass
class Peer:
    """How to start one server and make it send one notification to every socket."""

    name: str
    argv: Callable[[int, int], list[str]]
    env: dict[str, str] = field(default_factory=dict)
    needs_token: bool = False
    subscribe: str | None = None
    heartbeat: bool = False


def python_argv(script: str, *extra: str) -> Callable[[int, int], list[str]]:
    path = str(HERE / "_peers" / script)
    return lambda port, _control: [sys.executable, path, str(port), *extra]


def ours_argv(port: int, _control: int) -> list[str]:
    return [sys.executable, "-m", "wsharness.cli", "serve", "--port", str(port)]


def websockets_argv(port: int, control: int) -> list[str]:
    script = HERE / "_peers" / "websockets_peer.py"
    return [sys.executable, str(script), str(port), str(control)]


def node_argv(port: int, _control: int) -> list[str]:
    return ["node", str(HERE / "_peers" / "ws_peer.js"), str(port)]


def make_peers(heartbeat: float, otlp_endpoint: str | None) -> dict[str, Peer]:
    ours_env = {"WSH_JWT_SECRET": SECRET, "WSH_HEARTBEAT_SECONDS": str(heartbeat)}
    otel_env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint or "",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    subscribe = encode(ClientType.SUBSCRIBE, topic=TOPIC)
    node_modules = str(HERE / ".peers" / "node_modules")
    return {
        "ours": Peer("ours", ours_argv, ours_env, True, subscribe, True),
        "ours-otel": Peer(
            "ours-otel", ours_argv, ours_env | otel_env, True, subscribe, True
        ),
        "aiohttp": Peer("aiohttp", python_argv("aiohttp_peer.py")),
        "aiohttp-heartbeat": Peer(
            "aiohttp-heartbeat",
            python_argv("aiohttp_peer.py", str(heartbeat)),
            heartbeat=True,
        ),
        "websockets": Peer("websockets", websockets_argv),
        "node-ws": Peer("node-ws", node_argv, {"NODE_PATH": node_modules}),
    }


class RunningPeer:
    """One started server: its process, where to connect, how to trigger a broadcast."""

    def __init__(
        self,
        peer: Peer,
        process: asyncio.subprocess.Process,
        ports: tuple[int, int],
        source: str,
    ) -> None:
        self.peer = peer
        self.process = process
        self.port, self.control_port = ports
        self.source = source  # the clients' address: each server its own port range
        self.psutil = psutil.Process(process.pid)

    def rss(self) -> int:
        return int(self.psutil.memory_info().rss)

    def cpu_seconds(self) -> float:
        """CPU time of the server process so far: the scheduler's nanosecond count of
        its threads on Linux (``cpu_times`` counts 10 ms ticks: too coarse for a burst
        of a few hundred upgrades), user + system time elsewhere."""
        with contextlib.suppress(OSError, ValueError):
            return _scheduled_seconds(self.process.pid)
        times = self.psutil.cpu_times()
        return float(times.user + times.system)

    async def trigger(self, http: aiohttp.ClientSession) -> None:
        """Ask the server to send one notification to every socket."""
        if self.peer.needs_token:
            token = mint(SECRET, "bench-publisher", scope="publish")
            url = f"http://127.0.0.1:{self.port}/publish"
            headers = {"Authorization": f"Bearer {token}"}
            body = json.dumps({"topic": TOPIC, "data": DATA})
        else:
            port = self.control_port if self.peer.name == "websockets" else self.port
            url, headers = f"http://127.0.0.1:{port}/broadcast", {}
            body = encode(ServerType.MESSAGE, data=DATA)
        async with http.post(url, data=body, headers=headers) as response:
            if response.status >= 300:
                raise RuntimeError(f"{self.peer.name} trigger: HTTP {response.status}")


def _scheduled_seconds(pid: int) -> float:
    """Time the threads of ``pid`` have run on a CPU (``/proc/PID/task/*/schedstat``)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


async def start_peer(children: Children, peer: Peer, index: int) -> RunningPeer:
    ports = (free_port(), free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WSH_"))}
    process = await children.start(peer.argv(*ports), env | peer.env)
    await wait_listening(process, peer.name)
    return RunningPeer(peer, process, ports, f"127.0.0.{10 + index}")


# -- the load-generator workers ------------------------------------------------------


class Worker:
    """One ``_loadgen.py`` process, driven by JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()

    async def receive(self, timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError("load generator worker exited")
        return dict(json.loads(line))

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        await self.send(command)
        return await self.receive()


class Workers:
    """All workers; commands go to every one at once."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    @classmethod
    async def start(cls, children: Children, count: int) -> Workers:
        argv = [sys.executable, str(HERE / "_loadgen.py")]
        return cls([Worker(await children.start(argv, stdin=True)) for _ in range(count)])

    async def ask(self, command: dict[str, Any]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(w.ask(command) for w in self.workers)))

    async def open(
        self,
        running: RunningPeer,
        total: int,
        group: str,
        subscribe: bool,
        concurrency: int,
        reuse_tokens: bool = False,
    ) -> dict[str, Any]:
        """Open ``total`` sockets to one server, shared out over the workers.

        With ``reuse_tokens`` each socket presents the token it had the last time it
        opened in ``group`` (a reconnect), else a fresh one."""
        peer = running.peer
        commands = [
            {
                "cmd": "open",
                "group": group,
                "host": "127.0.0.1",
                "port": running.port,
                "source": running.source,
                "path": WS_PATH,
                "count": share,
                "concurrency": concurrency,
                "secret": SECRET if peer.needs_token else None,
                "sub_prefix": f"{group}-w{index}",
                "subscribe": peer.subscribe if subscribe else None,
                "reuse_tokens": reuse_tokens,
                "timeout": COMMAND_TIMEOUT - 10,
            }
            for index, share in enumerate(_split(total, len(self.workers)))
        ]
        replies = await asyncio.gather(
            *(w.ask(c) for w, c in zip(self.workers, commands, strict=True))
        )
        opened = sum(r["opened"] for r in replies)
        started = min(r["started"] for r in replies)
        finished = max(r["finished"] for r in replies)
        errors = [e for r in replies for e in r["errors"]]
        return {"opened": opened, "seconds": finished - started, "errors": errors[:5]}

    async def close(self, group: str) -> None:
        await self.ask({"cmd": "close", "group": group})


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# -- the three measurements ----------------------------------------------------------


@dataclass
class Figures:
    """What one peer measured."""

    sockets_open: int = 0
    rss_before: int = 0
    rss_after: int = 0
    bytes_per_socket: float = 0.0
    idle_cpu_share: float = 0.0
    sockets_lost: int = 0
    fanout_ms: list[float] = field(default_factory=list)
    fanout_first_ms: list[float] = field(default_factory=list)
    fanout_cpu_ms: list[float] = field(default_factory=list)
    fanout_missing: list[int] = field(default_factory=list)
    handshakes: int = 0
    handshake_rates: list[float] = field(default_factory=list)
    handshake_cpu_us: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def handshakes_per_s(self) -> float:
        return statistics.median(self.handshake_rates) if self.handshake_rates else 0.0

    @property
    def handshake_cpu_median_us(self) -> float:
        cpu = self.handshake_cpu_us
        return statistics.median(cpu) if cpu else float("nan")

    @property
    def fanout_cpu_median_ms(self) -> float:
        cpu = self.fanout_cpu_ms
        return statistics.median(cpu) if cpu else float("nan")

    @property
    def fanout_median_ms(self) -> float:
        return statistics.median(self.fanout_ms) if self.fanout_ms else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {
            "sockets_open": self.sockets_open,
            "rss_before_bytes": self.rss_before,
            "rss_after_bytes": self.rss_after,
            "memory_bytes_per_socket": self.bytes_per_socket,
            "idle_cpu_share_of_a_core": self.idle_cpu_share,
            "sockets_closed_by_server": self.sockets_lost,
            "fanout_ms": self.fanout_ms,
            "fanout_median_ms": self.fanout_median_ms,
            "fanout_first_receipt_ms": self.fanout_first_ms,
            "fanout_server_cpu_ms": self.fanout_cpu_ms,
            "fanout_server_cpu_ms_median": self.fanout_cpu_median_ms,
            "fanout_missing_receipts": self.fanout_missing,
            "handshakes": self.handshakes,
            "handshake_rates_per_s": self.handshake_rates,
            "handshake_server_cpu_us": self.handshake_cpu_us,
            "handshake_server_cpu_us_median": self.handshake_cpu_median_us,
            "handshakes_per_s": self.handshakes_per_s,
            "errors": self.errors,
        }


async def warm_up(
    running: RunningPeer, workers: Workers, http: aiohttp.ClientSession
) -> None:
    """A few sockets and one broadcast: one-time lazy set-up is not a per-socket cost."""
    group = f"warm-{running.peer.name}"
    await workers.open(running, 20, group, subscribe=True, concurrency=10)
    await deliver_once(running, workers, http, group, timeout=10)
    await workers.close(group)


@dataclass(frozen=True)
class Delivery:
    """One notification to every socket."""

    seconds: float  # publish to the last receipt
    first_seconds: float  # publish to the first receipt
    server_cpu_seconds: float  # the server's CPU meanwhile
    missing: int  # receipts that never came
    lost: int  # sockets of the group the server had closed by then


async def deliver_once(
    running: RunningPeer,
    workers: Workers,
    http: aiohttp.ClientSession,
    group: str,
    timeout: float,
) -> Delivery:
    """Publish once and wait for every socket of ``group`` to receive it (bounded)."""
    armed = await workers.ask({"cmd": "arm", "group": group, "timeout": timeout})
    assert all(r["event"] == "armed" for r in armed)
    cpu_before = running.cpu_seconds()
    published = time.monotonic()
    await running.trigger(http)
    replies = await asyncio.gather(*(w.receive(timeout + 10) for w in workers.workers))
    cpu = running.cpu_seconds() - cpu_before
    missing = sum(r["expected"] - r["received"] for r in replies)
    last = max(r["last"] for r in replies)
    first = min(r["first"] for r in replies if r["first"]) if last else published
    lost = sum(r["lost"] for r in replies)
    return Delivery(last - published, first - published, cpu, missing, lost)


async def wait_heartbeat_round(
    running: RunningPeer, workers: Workers, sockets: int, heartbeat: float
) -> None:
    """Until every socket answered one ping (ours), or one heartbeat interval (peers)."""
    if not running.peer.heartbeat:
        await asyncio.sleep(heartbeat + 1)  # the same wait, no pings to wait for
        return
    command = {"cmd": "await_pings", "group": idle_group(running), "timeout": heartbeat * 3}
    replies = await workers.ask(command)
    pinged = sum(min(r["pings"], r["open"]) for r in replies)
    if pinged < sockets:
        print(f"  warning: only {pinged} of {sockets} sockets pinged", flush=True)
    await asyncio.sleep(0.5)  # the last pongs reach the server


async def idle_cpu_share(running: RunningPeer, seconds: float) -> float:
    """The server's CPU use while its sockets sit idle, as a share of one core."""
    cpu_before, started = running.cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    return (running.cpu_seconds() - cpu_before) / (time.monotonic() - started)


def idle_group(running: RunningPeer) -> str:
    return f"idle-{running.peer.name}"


async def measure_idle_and_fanout(
    running: RunningPeer,
    workers: Workers,
    http: aiohttp.ClientSession,
    args: argparse.Namespace,
) -> Figures:
    """Figures 1 and 2 for one server, alone with the clients; its sockets then close.

    (Interleaving fan-out rounds across servers that all hold their sockets would
    even out load drift, but one server's connection storm then starves another's
    heartbeat: aiohttp closes a socket whose pong it has not *processed* within
    heartbeat/2, so healthy sockets of a lagging server get closed.)
    """
    name, group = running.peer.name, idle_group(running)
    figures = Figures()
    await warm_up(running, workers, http)
    figures.rss_before = running.rss()
    opened = await workers.open(
        running, args.sockets, group, subscribe=True, concurrency=args.concurrency
    )
    figures.sockets_open = opened["opened"]
    figures.errors += opened["errors"]
    note(f"{name}: {figures.sockets_open} sockets open")
    await wait_heartbeat_round(running, workers, figures.sockets_open, args.heartbeat)
    figures.rss_after = running.rss()
    delta = figures.rss_after - figures.rss_before
    figures.bytes_per_socket = delta / max(figures.sockets_open, 1)
    figures.idle_cpu_share = await idle_cpu_share(running, args.heartbeat)
    note(f"{name}: {delta / 1024:.0f} KiB more after a heartbeat round")
    for _ in range(args.rounds):
        delivery = await deliver_once(running, workers, http, group, timeout=30)
        figures.fanout_ms.append(delivery.seconds * 1000)
        figures.fanout_first_ms.append(delivery.first_seconds * 1000)
        figures.fanout_cpu_ms.append(delivery.server_cpu_seconds * 1000)
        figures.fanout_missing.append(delivery.missing)
        figures.sockets_lost = delivery.lost
        await asyncio.sleep(FANOUT_PAUSE_SECONDS)  # the clients catch their breath
    note(f"{name}: fan-outs {' '.join(f'{ms:.0f}' for ms in figures.fanout_ms)} ms")
    await workers.close(group)
    return figures


async def measure_handshakes(
    servers: list[RunningPeer],
    results: dict[str, Figures],
    workers: Workers,
    args: argparse.Namespace,
) -> None:
    """Figure 3: bursts of upgrades, rounds interleaved across the servers."""
    for _ in range(args.handshake_rounds):
        for running in servers:
            figures = results[running.peer.name]
            group = f"handshake-{running.peer.name}"
            cpu_before = running.cpu_seconds()
            opened = await workers.open(
                running,
                args.handshakes,
                group,
                subscribe=False,
                concurrency=args.concurrency,
            )
            cpu = running.cpu_seconds() - cpu_before
            figures.handshakes = opened["opened"]
            figures.handshake_rates.append(opened["opened"] / max(opened["seconds"], 1e-9))
            figures.handshake_cpu_us.append(cpu / max(opened["opened"], 1) * 1e6)
            figures.errors += opened["errors"]
            await workers.close(group)
            await asyncio.sleep(HANDSHAKE_SETTLE_SECONDS)  # the server reaps the closes
        note("handshake round done")


# -- report ------------------------------------------------------------------------


def targets(results: dict[str, Figures]) -> list[Target]:
    """The issue's three ratios for each variant of ours, where both sides ran."""
    found: list[Target] = []
    bare, node = results.get("aiohttp"), results.get("node-ws")
    for name in ("ours", "ours-otel"):
        ours = results.get(name)
        if ours is not None and bare is not None:
            memory = ratio(ours.bytes_per_socket, bare.bytes_per_socket)
            handshakes = ratio(ours.handshakes_per_s, bare.handshakes_per_s)
            found.append(Target(f"{name} memory/socket vs aiohttp", memory, 1.25, True))
            found.append(Target(f"{name} handshakes/s vs aiohttp", handshakes, 0.9, False))
        if ours is not None and node is not None:
            fanout = ratio(ours.fanout_median_ms, node.fanout_median_ms)
            found.append(Target(f"{name} fan-out time vs node-ws", fanout, 1.0, True))
    return found


def print_table(results: dict[str, Figures], found: list[Target], sockets: int) -> None:
    header = ("peer", "KB/socket", "idle CPU", "fan-out ms", "(each round)", "CPU ms",
              "handshakes/s", "CPU us", "")  # fmt: skip
    rows = [
        (
            name,
            f"{figures.bytes_per_socket / 1024:.2f}",
            f"{figures.idle_cpu_share:.1%}",
            f"{figures.fanout_median_ms:.1f}",
            " ".join(f"{ms:.0f}" for ms in figures.fanout_ms),
            f"{figures.fanout_cpu_median_ms:.1f}",
            f"{figures.handshakes_per_s:.0f}",
            f"{figures.handshake_cpu_median_us:.0f}",
            trouble(figures),
        )
        for name, figures in results.items()
    ]
    print("\n" + format_table(header, rows))
    print(
        f"({sockets} idle sockets; KB/socket = server RSS delta after the first heartbeat "
        "round; idle CPU = share of one core meanwhile; fan-out = publish to last "
        "receipt, median; CPU = server process CPU per fan-out / per handshake, median)\n"
    )
    for target in found:
        print(target.line())


def trouble(figures: Figures) -> str:
    """What went wrong for a peer, if anything, to print after its row."""
    notes = []
    if figures.sockets_lost:
        notes.append(f"{figures.sockets_lost} sockets closed by the server")
    if missing := sum(figures.fanout_missing):
        notes.append(f"{missing} receipts missing")
    if figures.errors:
        notes.append(f"{len(figures.errors)} open errors, e.g. {figures.errors[0]}")
    return f"({'; '.join(notes)})" if notes else ""


# -- main ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=10_000, help="idle sockets held")
    parser.add_argument("--handshakes", type=int, default=2_000, help="sockets opened fast")
    parser.add_argument("--rounds", type=int, default=5, help="fan-outs (median taken)")
    parser.add_argument(
        "--handshake-rounds", type=int, default=3, help="handshake bursts (median taken)"
    )
    parser.add_argument("--heartbeat", type=float, default=5.0, help="ours: seconds")
    parser.add_argument(
        "--workers", type=int, help="load-generator processes (default: enough for the fds)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=100, help="opens in flight/worker"
    )
    parser.add_argument("--peers", default=",".join(PEER_NAMES), help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="1,000 sockets, short rounds")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.sockets, args.handshakes, args.rounds, args.heartbeat = 1_000, 500, 3, 2.0
        args.handshake_rounds = 1
    args.peers = [name.strip() for name in args.peers.split(",") if name.strip()]
    unknown = set(args.peers) - set(PEER_NAMES + EXTRA_PEERS)
    if unknown:
        known = PEER_NAMES + EXTRA_PEERS
        parser.error(f"unknown peers {sorted(unknown)}; choose from {known}")
    if args.sockets > SOCKETS_PER_PROCESS:
        parser.error(f"a server process holds at most {SOCKETS_PER_PROCESS} sockets here")
    needed = math.ceil(args.sockets / SOCKETS_PER_PROCESS)
    args.workers = max(args.workers or 2, needed)
    return args


async def run(args: argparse.Namespace) -> dict[str, Figures]:
    """Each server in turn: idle memory and fan-outs; then handshakes, interleaved."""
    children = Children()
    results: dict[str, Figures] = {}
    servers: list[RunningPeer] = []
    try:
        sink = await OtlpReceiver.start(children) if "ours-otel" in args.peers else None
        endpoint = sink.endpoint if sink is not None else None
        peers = make_peers(args.heartbeat, endpoint)
        workers = await Workers.start(children, args.workers)
        async with aiohttp.ClientSession() as http:
            for index, name in enumerate(args.peers):
                servers.append(await start_peer(children, peers[name], index))
                results[name] = await measure_idle_and_fanout(
                    servers[-1], workers, http, args
                )
        await asyncio.sleep(HANDSHAKE_SETTLE_SECONDS)
        await measure_handshakes(servers, results, workers, args)
    finally:
        await children.kill_all()
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, load_at_start = time.monotonic(), warn_if_busy()
    results = asyncio.run(run(args))
    found = targets(results)
    print_table(results, found, args.sockets)
    if args.json is not None:
        document = {
            "sockets": args.sockets,
            "handshake_sockets": args.handshakes,
            "rounds": args.rounds,
            "heartbeat_seconds": args.heartbeat,
            "workers": args.workers,
            "notification_data_bytes": len(DATA),
            "peers": {name: figures.as_json() for name, figures in results.items()},
            "targets": [target.as_json() for target in found],
        }
        write_json(args.json, document, started, load_at_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
