"""What the Locust load generator costs against the server it loads (issue 12).

One run on loopback: ``wsharness serve`` (embedded broker) and Locust, first one
process, then ``--processes 2``.  ``--receivers`` idle users subscribe to one topic
and one publisher user publishes to it, so every publish is one fan-out to every
receiver.  The publish rate steps the delivery rate up (``--start-rate``, times
``--step-factor``) until the generator no longer keeps up (it delivers less than
90% of the target, or a process passes 95% CPU), each step a fresh Locust run:
ramp, ``--settle`` seconds, then a ``--window`` of seconds measured.

Per step: deliveries per second (the generator's exact counts, from its
``_generators.csv``), CPU-seconds per 1,000 delivered messages of the Locust
processes and of the server (``psutil`` over the window), and the generator's worst
CPU share and loop lag.  Then idle memory per user from
``benchmarks/locust_idle_memory.py`` (ours against a bare websocket-client user and
Artillery's ws engine when installed).  It ends with the issue's targets: generator
CPU per delivered message at most 1.0x the server's, one process sustaining 50,000
deliveries/s, idle memory per user at most 15 KB.

    .venv/bin/python benchmarks/loadgen_cost.py                 # full run, ~6 min
    .venv/bin/python benchmarks/loadgen_cost.py --quick         # ~1.5 min, small
    npm install --ignore-scripts --prefix benchmarks/.peers/artillery artillery  # once
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from _common import open_connections, start_logged, wait_until

from wsharness.localserver import LocalServer, free_port, locust_master_flags

REPO = Path(__file__).resolve().parents[1]
SECRET = "benchmark-secret-that-is-long-enough-for-hs256"
TOPIC = "bench"
KEEPS_UP = 0.9
CPU_CEILING = 95.0
TARGET_CPU_RATIO = 1.0
TARGET_DELIVERIES = 50_000
TARGET_IDLE_KB = 15.0

LOCUSTFILE = '''
"""loadgen_cost.py's users: receivers on one topic, a fixed number of publishers."""
import os

from wsharness.loadclient.suite import IdleUser, PublisherUser


class Receiver(IdleUser):
    weight = 1


class Publisher(PublisherUser):
    fixed_count = int(os.environ["WSH_BENCH_PUBLISHERS"])
'''


@dataclass
class Step:
    processes: int
    target: float
    delivered_per_s: float
    generator_cpu_s: float
    server_cpu_s: float
    worst_cpu_percent: float
    worst_lag_ms: float

    @property
    def kept_up(self) -> bool:
        fast_enough = self.delivered_per_s >= KEEPS_UP * self.target
        return fast_enough and self.worst_cpu_percent < CPU_CEILING

    def per_thousand(self, cpu_seconds: float, window: float) -> float:
        delivered = self.delivered_per_s * window
        return 1000.0 * cpu_seconds / delivered if delivered else float("nan")


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


@contextlib.contextmanager
def locust_run(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[psutil.Process]:
    process = start_logged(command, env, log, new_session=True)
    try:
        yield psutil.Process(process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def generator_rows(path: Path, start: float, end: float) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if start <= float(row["time"]) <= end]


def delivery_rate(rows: list[dict[str, str]]) -> float:
    """Deliveries/s of all processes: each one's rates weighted by their intervals."""
    by_process: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_process.setdefault(row["process"], []).append(row)
    total = 0.0
    for samples in by_process.values():
        delivered = span = 0.0
        for before, after in itertools.pairwise(samples):
            interval = float(after["time"]) - float(before["time"])
            delivered += float(after["deliveries_per_s"]) * interval
            span += interval
        total += delivered / span if span else 0.0
    return total


def measure_step(
    server: LocalServer, processes: int, target: float, args: argparse.Namespace, work: Path
) -> Step:
    publish_rate = target / (args.receivers * args.publishers)
    users = args.receivers + args.publishers
    prefix = work / f"p{processes}-{int(target)}"
    ramp = users / args.spawn_rate
    duration = ramp + args.settle + args.window + 30
    command = [
        sys.executable, "-m", "locust", "-f", str(work / "loadgen_users.py"), "--headless",
        "-u", str(users), "-r", str(args.spawn_rate), "-t", f"{duration:.0f}s",
        "--host", server.ws_url.removesuffix("/ws"), "--csv", str(prefix),
        "--topics", TOPIC, "--publish-rate", f"{publish_rate:.3f}",
        "--sockets-log-interval", "0", "--loglevel", "WARNING", "--only-summary",
    ]  # fmt: skip
    if processes > 1:
        command += ["--processes", str(processes), *locust_master_flags(free_port())]
    env = {
        **os.environ,
        "WSH_JWT_SECRET": SECRET,
        "WSH_BENCH_PUBLISHERS": str(args.publishers),
    }
    before = open_connections(server.http_url)
    server_process = psutil.Process(server.process.pid)  # type: ignore[union-attr]
    with locust_run(command, env, Path(f"{prefix}.log")) as locust:
        ready = lambda: open_connections(server.http_url) >= before + users  # noqa: E731
        wait_until(ready, ramp * 3 + 60, f"{users} sockets")
        time.sleep(args.settle)
        tree = [locust, *locust.children(recursive=True)]
        started, generator_0, server_0 = (
            time.time(),
            cpu_seconds(tree),
            server_process.cpu_times(),
        )
        time.sleep(args.window)
        ended, generator_1, server_1 = (
            time.time(),
            cpu_seconds(tree),
            server_process.cpu_times(),
        )
        time.sleep(3.5)  # the workers' last samples reach the master
    # the sample just before the window covers its first second
    rows = generator_rows(Path(f"{prefix}_generators.csv"), started - 1.2, ended)
    workers = [row for row in rows if row["process"] != "master"]
    server_cpu = (server_1.user + server_1.system) - (server_0.user + server_0.system)
    wait_until(lambda: open_connections(server.http_url) <= before, 120, "sockets closed")
    return Step(
        processes=processes,
        target=target,
        delivered_per_s=delivery_rate(rows),
        generator_cpu_s=generator_1 - generator_0,
        server_cpu_s=server_cpu,
        worst_cpu_percent=max((float(r["cpu_percent"]) for r in workers), default=0.0),
        worst_lag_ms=max((float(r["loop_lag_ms"]) for r in workers), default=0.0),
    )


def print_step(step: Step, window: float) -> None:
    generator = step.per_thousand(step.generator_cpu_s, window)
    served = step.per_thousand(step.server_cpu_s, window)
    print(
        f"{step.processes:>5} {step.target:>9.0f} {step.delivered_per_s:>11.0f} "
        f"{generator:>11.3f} {served:>11.3f} {generator / served:>7.2f}x "
        f"{step.worst_cpu_percent:>7.0f} {step.worst_lag_ms:>8.0f}  "
        f"{'yes' if step.kept_up else 'NO'}",
        flush=True,
    )


def idle_memory(args: argparse.Namespace, work: Path) -> dict[str, float]:
    """KB per idle user of each variant, from locust_idle_memory.py."""
    out = work / "idle.json"
    command = [
        sys.executable, str(REPO / "benchmarks" / "locust_idle_memory.py"),
        "--users", str(args.idle_users), "--variants", args.idle_variants,
        "--json", str(out),
    ]  # fmt: skip
    if args.quick:
        command += ["--settle", "1", "--cpu-window", "1"]
    subprocess.run(command, check=True)
    return {row["variant"]: row["kb_per_user"] for row in json.loads(out.read_text())}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def summarise(
    steps: list[Step], memory: dict[str, float], window: float
) -> dict[str, object]:
    print()
    summary: dict[str, object] = {"steps": [asdict(s) for s in steps], "idle_kb": memory}
    for processes in sorted({s.processes for s in steps}):
        kept = [s for s in steps if s.processes == processes and s.kept_up]
        if not kept:
            print(f"{processes} process(es): no step kept up")
            continue
        best = max(kept, key=lambda s: s.delivered_per_s)
        ratio = (
            best.generator_cpu_s / best.server_cpu_s if best.server_cpu_s else float("inf")
        )
        print(
            f"{processes} process(es): sustains {best.delivered_per_s:,.0f} deliveries/s; "
            f"there, CPU-s per 1,000 delivered: generator "
            f"{best.per_thousand(best.generator_cpu_s, window):.3f}, server "
            f"{best.per_thousand(best.server_cpu_s, window):.3f} = {ratio:.2f}x "
            f"(target <= {TARGET_CPU_RATIO}x) {verdict(ratio <= TARGET_CPU_RATIO)}"
        )
        summary[f"sustained_{processes}p"] = best.delivered_per_s
        summary[f"cpu_ratio_{processes}p"] = ratio
        if processes == 1:
            ok = best.delivered_per_s >= TARGET_DELIVERIES
            print(f"  one process: target >= {TARGET_DELIVERIES:,}/s {verdict(ok)}")
    if "ours" in memory:
        others = ", ".join(f"{k} {v:.1f} KB" for k, v in memory.items() if k != "ours")
        ok = memory["ours"] <= TARGET_IDLE_KB
        print(
            f"idle memory per user: ours {memory['ours']:.1f} KB ({others}); "
            f"target <= {TARGET_IDLE_KB} KB {verdict(ok)}"
        )
    return summary


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small and short: a smoke run")
    parser.add_argument("--receivers", type=int, default=2000, help="idle receivers")
    parser.add_argument("--publishers", type=int, default=5, help="publisher users")
    parser.add_argument("--start-rate", type=float, default=10_000, help="deliveries/s")
    parser.add_argument("--step-factor", type=float, default=1.5)
    parser.add_argument("--max-steps", type=int, default=7)
    parser.add_argument("--processes", default="1,2", help="Locust set-ups to measure")
    parser.add_argument("--spawn-rate", type=float, default=500.0)
    parser.add_argument(
        "--settle", type=float, default=4.0, help="seconds before measuring"
    )
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--idle-users", type=int, default=10_000)
    parser.add_argument(
        "--idle-variants", default="bare,ours,artillery", help="'' skips idle memory"
    )
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if args.quick:
        args.receivers, args.start_rate, args.max_steps = 200, 2000, 2
        args.settle, args.window, args.idle_users = 2.0, 4.0, 300
        args.step_factor = 2.0
    return args


def main() -> int:
    args = parse_args()
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="loadgen-cost-") as tmp:
        work = Path(tmp)
        (work / "loadgen_users.py").write_text(LOCUSTFILE)
        server = LocalServer(
            SECRET,
            log_path=work / "server.log",
            WSH_RATE_LIMIT_PER_SECOND="100000",
            WSH_RATE_LIMIT_BURST="100000",
        ).start(timeout=30)
        try:
            print("procs    target  delivered/s  gen CPU-s/1k  srv CPU-s/1k  gen/srv "
                  " max CPU%  max lag  kept up")  # fmt: skip
            for processes in (int(p) for p in args.processes.split(",")):
                target = args.start_rate
                for _ in range(args.max_steps):
                    step = measure_step(server, processes, target, args, work)
                    steps.append(step)
                    print_step(step, args.window)
                    if not step.kept_up:
                        break
                    target *= args.step_factor
        finally:
            server.stop()
        memory = idle_memory(args, work) if args.idle_variants else {}
    summary = summarise(steps, memory, args.window)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
