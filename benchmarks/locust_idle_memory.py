"""Memory and CPU per idle Locust virtual user: our idle user against a bare one.

One run, one server (``wsharness serve``, embedded broker), Locust set-ups measured
one after the other:

- ``bare``: one process, ``--users`` idle sockets, the smallest honest Locust user
  on websocket-client: connect with a token, one greenlet reading (so pings are
  answered), nothing else;
- ``ours``: one process, ``--users`` sockets of ``loadtests/idle.py`` (subscribe,
  statistics, heartbeats, the socket gauge, reconnect logic, traceparent per upgrade);
- ``ours-2p``: ``--processes 2`` holding ``--distributed-users`` sockets together,
  connecting from ``--source-addresses`` (127.0.0.x) round-robin;
- ``artillery``: Artillery's ws engine holding ``--users`` sockets (optional:
  ``npm install --ignore-scripts --prefix benchmarks/.peers/artillery artillery``;
  skipped with a note when absent; telemetry off).

Each Locust starts with its web UI and no users; the RSS of the processes holding
users (the workers with ``--processes``) is read, users are started through the web
UI's ``/swarm``, and once the server counts every socket open
(``wsh_open_connections``) and ``--settle`` seconds have passed, RSS is read again
and CPU is sampled over ``--cpu-window`` seconds.  Memory per virtual user = RSS
growth / users.  The issue's target: ours at most 1.15x bare.

    .venv/bin/python benchmarks/locust_idle_memory.py        # 10,000 / 10,000 / 18,000
    .venv/bin/python benchmarks/locust_idle_memory.py --users 1000 --distributed-users 1800
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from _common import open_connections, start_logged, wait_until

from wsharness.contract.tokens import mint
from wsharness.localserver import free_port, locust_master_flags
from wsharness.openfiles import raise_open_file_limit

REPO = Path(__file__).resolve().parents[1]
SECRET = "benchmark-secret-that-is-long-enough-for-hs256"
TARGET_RATIO = 1.15

BARE_LOCUSTFILE = '''
"""The bare baseline: websocket-client, one reading greenlet, nothing else."""
import os

import gevent
import websocket
from locust import User, task

from wsharness.openfiles import raise_open_file_limit
raise_open_file_limit()
HEADER = ["Authorization: Bearer " + os.environ["WSH_BENCH_TOKEN"]]


class BareIdleUser(User):
    def on_start(self):
        self.ws = websocket.create_connection(self.host + "/ws", header=HEADER)
        self.reader = gevent.spawn(self.read)

    def read(self):
        try:
            while True:
                self.ws.recv()
        except Exception:
            pass

    @task
    def idle(self):
        gevent.sleep(60)
'''


@dataclass
class Figures:
    variant: str
    users: int
    rss_before: int
    rss_after: int
    cpu_percent: float

    @property
    def kb_per_user(self) -> float:
        return (self.rss_after - self.rss_before) / self.users / 1024


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


def raise_limit() -> None:
    raise_open_file_limit()


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[psutil.Process]:
    process = start_logged(command, env, log, preexec=raise_limit)
    root = psutil.Process(process.pid)
    try:
        yield root
    finally:
        with contextlib.suppress(psutil.Error):
            for child in root.children(recursive=True):
                child.terminate()
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Variant:
    """One Locust set-up to measure."""

    name: str
    locustfile: Path
    users: int
    extra: tuple[str, ...] = ()
    processes: int = 1


def worker_processes(locust: psutil.Process, expected: int) -> list[psutil.Process]:
    """The processes holding the users: the children with --processes, else Locust."""
    return locust.children() if expected > 1 else [locust]


def total_rss(processes: list[psutil.Process]) -> int:
    return sum(process.memory_info().rss for process in processes)


def total_cpu(processes: list[psutil.Process], window: float) -> float:
    for process in processes:
        process.cpu_percent(None)
    time.sleep(window)
    return sum(process.cpu_percent(None) for process in processes)


def worker_count(web: str) -> int:
    try:
        with urllib.request.urlopen(web + "/stats/requests", timeout=2) as response:
            return len(json.loads(response.read()).get("workers") or [])
    except (OSError, ValueError):
        return 0


def measure(
    variant: Variant, server_url: str, args: argparse.Namespace, work: Path
) -> Figures:
    web_port = free_port()
    web = f"http://127.0.0.1:{web_port}"
    ws_host = server_url.replace("http://", "ws://")
    env = {
        **os.environ,
        "WSH_JWT_SECRET": SECRET,
        "WSH_BENCH_TOKEN": mint(SECRET, "bench", ttl=3600),
    }
    command = [
        sys.executable, "-m", "locust", "-f", str(variant.locustfile), "--host", ws_host,
        "--web-host", "127.0.0.1", "--web-port", str(web_port), "--loglevel", "WARNING",
        *variant.extra,
    ]  # fmt: skip
    before_server = open_connections(server_url)
    with running(command, env, work / f"{variant.name}.log") as locust:
        wait_until(lambda: http_ok(web + "/"), 60, f"{variant.name}: Locust web UI")
        if variant.processes > 1:
            ready = lambda: worker_count(web) >= variant.processes  # noqa: E731
            wait_until(ready, 60, f"{variant.name}: {variant.processes} workers")
        workers = worker_processes(locust, variant.processes)
        rss_before = total_rss(workers)
        form = {"user_count": variant.users, "spawn_rate": args.spawn_rate, "host": ws_host}
        body = urllib.parse.urlencode(form).encode()
        urllib.request.urlopen(web + "/swarm", data=body, timeout=10).read()
        expected = before_server + variant.users
        all_open = lambda: open_connections(server_url) >= expected  # noqa: E731
        ramp = variant.users / args.spawn_rate * 3 + 60
        wait_until(all_open, ramp, f"{variant.name}: {variant.users} sockets open")
        time.sleep(args.settle)  # let the heap settle before reading it
        rss_after = total_rss(workers)
        cpu = total_cpu(workers, args.cpu_window)
    wait_until(lambda: open_connections(server_url) <= before_server, 120, "sockets closed")
    return Figures(variant.name, variant.users, rss_before, rss_after, cpu)


def variants(args: argparse.Namespace, bare_file: Path) -> dict[str, Variant]:
    idle = REPO / "loadtests" / "idle.py"
    quiet = ("--sockets-log-interval", "0")
    distributed = (
        *quiet,
        "--source-addresses",
        args.source_addresses,
        "--processes",
        "2",
        *locust_master_flags(free_port()),
    )
    return {
        "bare": Variant("bare", bare_file, args.users),
        "ours": Variant("ours", idle, args.users, quiet),
        "ours-2p": Variant(
            "ours-2p",
            idle,
            args.distributed_users,
            distributed,
            2,
        ),
    }


ARTILLERY = (
    REPO / "benchmarks" / ".peers" / "artillery" / "node_modules" / ".bin" / "artillery"
)
ARTILLERY_PAUSE_S = 8
ARTILLERY_SCENARIO = """
config:
  target: "{target}"
  phases:
    - pause: {pause}
    - duration: {ramp}
      arrivalCount: {users}
scenarios:
  - engine: ws
    flow:
      - think: 3600
"""


def measure_artillery(
    users: int, server_url: str, args: argparse.Namespace, work: Path
) -> Figures:
    """Artillery's ws engine holding ``users`` idle sockets (token in the query)."""
    token = mint(SECRET, "bench", ttl=3600)
    target = server_url.replace("http://", "ws://") + f"/ws?access_token={token}"
    scenario = work / "artillery.yml"
    ramp = max(1, round(users / args.spawn_rate))
    scenario.write_text(
        ARTILLERY_SCENARIO.format(
            target=target, pause=ARTILLERY_PAUSE_S, ramp=ramp, users=users
        )
    )
    env = {**os.environ, "ARTILLERY_DISABLE_TELEMETRY": "true", "NO_UPDATE_NOTIFIER": "1"}
    before_server = open_connections(server_url)
    command = [str(ARTILLERY), "run", "--quiet", str(scenario)]
    with running(command, env, work / "artillery.log") as artillery:
        time.sleep(ARTILLERY_PAUSE_S * 0.75)  # started, still in its pause phase
        rss_before = total_rss(process_tree(artillery))
        all_open = lambda: open_connections(server_url) >= before_server + users  # noqa: E731
        wait_until(all_open, ramp * 3 + 60, f"artillery: {users} sockets open")
        time.sleep(args.settle)
        tree = process_tree(artillery)
        rss_after = total_rss(tree)
        cpu = total_cpu(tree, args.cpu_window)
    wait_until(lambda: open_connections(server_url) <= before_server, 120, "sockets closed")
    return Figures("artillery", users, rss_before, rss_after, cpu)


def process_tree(root: psutil.Process) -> list[psutil.Process]:
    return [root, *root.children(recursive=True)]


def print_figures(results: list[Figures]) -> None:
    print(f"{'variant':<9} {'users':>7} {'RSS before':>11} {'RSS after':>10} "
          f"{'KB/user':>8} {'CPU% idle':>9}")  # fmt: skip
    for row in results:
        print(
            f"{row.variant:<9} {row.users:>7} {row.rss_before / 2**20:>9.1f}MB "
            f"{row.rss_after / 2**20:>8.1f}MB {row.kb_per_user:>8.1f} "
            f"{row.cpu_percent:>9.2f}"
        )
    by_name = {row.variant: row for row in results}
    if "ours" in by_name and "bare" in by_name:
        ratio = by_name["ours"].kb_per_user / by_name["bare"].kb_per_user
        verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
        print(
            f"ours / bare memory per user: {ratio:.2f}x "
            f"(target <= {TARGET_RATIO}x) {verdict}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000, help="idle sockets per run")
    parser.add_argument("--spawn-rate", type=float, default=500.0, help="users per second")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before reading")
    parser.add_argument("--cpu-window", type=float, default=10.0, help="CPU sample seconds")
    parser.add_argument(
        "--distributed-users", type=int, default=18_000, help="sockets for ours-2p"
    )
    parser.add_argument(
        "--source-addresses", default="127.0.0.1-127.0.0.16", help="for ours-2p"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--variants",
        default="bare,ours,ours-2p,artillery",
        help="comma-separated: bare,ours,ours-2p,artillery (if installed)",
    )
    return parser.parse_args()


def variant_names(args: argparse.Namespace) -> list[str]:
    names = args.variants.split(",")
    if "artillery" in names and not ARTILLERY.exists():
        print(
            "artillery skipped: not installed (npm install --ignore-scripts "
            "--prefix benchmarks/.peers/artillery artillery)",
            file=sys.stderr,
        )
        names.remove("artillery")
    return names


def main() -> int:
    args = parse_args()
    raise_limit()
    port = free_port()
    server_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "WSH_JWT_SECRET": SECRET, "WSH_PORT": str(port)}
    files: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="locust-idle-") as tmp:
        work = Path(tmp)
        files["bare"] = work / "bare_idle.py"
        files["bare"].write_text(BARE_LOCUSTFILE)
        serve = [sys.executable, "-m", "wsharness.cli", "serve", "--host", "127.0.0.1"]
        with running(serve, env, work / "server.log"):
            wait_until(lambda: http_ok(server_url + "/readyz"), 30, "the server")
            chosen = variants(args, files["bare"])
            results = [
                measure_artillery(args.users, server_url, args, work)
                if name == "artillery"
                else measure(chosen[name], server_url, args, work)
                for name in variant_names(args)
            ]
    print_figures(results)
    if args.json:
        rows = [{**asdict(row), "kb_per_user": row.kb_per_user} for row in results]
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
