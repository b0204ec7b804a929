"""``make demo``: a short capacity run on one machine, with the embedded broker.

Starts a local server, samples its ``/metrics`` into a fresh run directory, runs the
whole Locust suite headless over two Locust processes with ``--shape capacity`` (steps
of open sockets up to several thousand, each a ramp and a steady hold), samples the
Locust processes' CPU from outside, writes ``run.json`` (what the run was measured
on), then builds the capacity report and prints its plan.

``--check PLAN_RUN`` re-runs PLAN_RUN's workload steady at its recommendation for
``--check-seconds`` and reports whether the plan held (exit 5 when it did not).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from wsharness.loadclient.options import LoadOptions
from wsharness.loadclient.shapes import plan_steps, step_users
from wsharness.localserver import LocalServer, free_port, locust_master_flags
from wsharness.report.analysis import Objective
from wsharness.report.command import EXIT_CHECK_FAILED, build_report, read_plan
from wsharness.report.inputs import RUN_INFO_FILE, ReportInputError
from wsharness.report.summary import headline_lines
from wsharness.sampler import GeneratorSampler, MetricsSampler

LOCUSTFILES = Path(__file__).resolve().parent.parent / "loadtests"
DEFAULT_PEAK = 100_000
# The suite's per-socket workload, the same at every step: a fixed number of
# publishers (so each socket receives publishers * --publish-rate notifications per
# second), echoes, drops and expiry in proportion to the sockets.
SUITE_OPTIONS = ("--drop-interval", "20", "--expiry-token-ttl", "30", "--echo-rate", "1")
USER_WEIGHTS = {"IdleUser": 10, "ActiveUser": 3, "DropsUser": 2, "ExpiryUser": 2}


def config_users(publishers: int) -> str:
    classes = [{"user_class_name": "PublisherUser", "fixed_count": publishers}]
    classes += [{"user_class_name": name, "weight": w} for name, w in USER_WEIGHTS.items()]
    return json.dumps(classes)


# What a check re-run takes from the plan run, so it loads the server the same way.
WORKLOAD_KEYS = (
    "processes",
    "publishers",
    "publish_rate",
    "spawn_rate",
    "server_setting",
    "locustfiles",
    "peak",
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m wsharness.demo", description=__doc__)
    parser.add_argument(
        "--capacity-steps",
        default="250,500,1000,2000,4000",
        help="open sockets per step (comma-separated)",
    )
    parser.add_argument("--step-seconds", type=float, default=15.0, help="hold per step")
    parser.add_argument("--spawn-rate", type=float, default=200.0, help="users/s per ramp")
    parser.add_argument("--processes", type=int, default=2, help="Locust processes")
    parser.add_argument("--publishers", type=int, default=2, help="fixed publishers")
    parser.add_argument("--publish-rate", type=float, default=0.5, help="per publisher")
    parser.add_argument("--peak", type=int, default=DEFAULT_PEAK, help="peak to plan for")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument(
        "--locustfiles", default=str(LOCUSTFILES), help="Locust -f (default: the suite)"
    )
    parser.add_argument(
        "--server-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting (e.g. test_delivery_cost_us=50), as WSH_NAME",
    )
    parser.add_argument(
        "--check",
        type=Path,
        default=None,
        metavar="PLAN_RUN",
        help="re-run PLAN_RUN's workload steady at its recommendation and check the plan",
    )
    parser.add_argument("--check-seconds", type=float, default=180.0)
    return parser.parse_args(argv)


def server_env(settings: Sequence[str]) -> dict[str, str]:
    env = {}
    for setting in settings:
        name, sep, value = setting.partition("=")
        if not sep or not name:
            raise SystemExit(f"--server-setting {setting!r}: expected NAME=VALUE")
        env[f"WSH_{name.strip().upper()}"] = value.strip()
    return env


def planned_seconds(args: argparse.Namespace) -> float:
    options = LoadOptions(
        shape="capacity",
        capacity_steps=args.capacity_steps,
        step_seconds=args.step_seconds,
        capacity_spawn_rate=args.spawn_rate,
    )
    steps = plan_steps(step_users(options), args.step_seconds, args.spawn_rate)
    return steps[-1].hold_end


def locust_command(
    server: LocalServer, run_dir: Path, args: argparse.Namespace
) -> list[str]:
    master_port = free_port()
    return [
        sys.executable, "-m", "locust",
        "-f", args.locustfiles,
        "--headless",
        "--host", f"ws://127.0.0.1:{server.port}",
        "--processes", str(args.processes),
        # a port of its own: another run's workers must not join this master
        *locust_master_flags(master_port),
        "--shape", "capacity",
        "--capacity-steps", args.capacity_steps,
        "--step-seconds", f"{args.step_seconds:g}",
        "--capacity-spawn-rate", f"{args.spawn_rate:g}",
        "--run-time", f"{planned_seconds(args) + 30:.0f}s",  # a safety net only
        "--stop-timeout", "5",
        "--csv", str(run_dir / "locust"),
        "--csv-full-history",
        "--only-summary",
        "--publish-rate", f"{args.publish_rate:g}",
        "--config-users", config_users(args.publishers),
        *SUITE_OPTIONS,
    ]  # fmt: skip


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_info(server: LocalServer, args: argparse.Namespace, command: list[str]) -> dict:
    """What the run is measured on (``run.json``)."""
    assert server.process is not None
    limit = psutil.Process(server.process.pid).rlimit(psutil.RLIMIT_NOFILE)[0]
    settings = server_env(args.server_setting)
    return {
        "runner": "demo",
        "started_at": time.time(),
        "locust_command": command,
        "workload": {key: getattr(args, key) for key in WORKLOAD_KEYS},
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": cpu_model(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg()[0],
        },
        "server": {
            "processes": 1,
            "broker": "memory",
            "open_files_limit": limit,
            "test_settings": {
                k.removeprefix("WSH_").lower(): v for k, v in settings.items()
            },
        },
        "generator": {
            "processes": args.processes,
            "where": "loopback, same machine as the server",
            "locustfiles": args.locustfiles,
        },
    }


def run_load(server: LocalServer, run_dir: Path, args: argparse.Namespace) -> int:
    """Run Locust against ``server`` (output in ``locust.log``), sampling its CPU."""
    command = locust_command(server, run_dir, args)
    info = run_info(server, args, command)
    (run_dir / RUN_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    env = {**os.environ, "WSH_JWT_SECRET": server.env["WSH_JWT_SECRET"]}
    with (run_dir / "locust.log").open("wb") as log:
        locust = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    generators = GeneratorSampler(locust.pid, run_dir).start()
    try:
        return locust.wait(timeout=planned_seconds(args) + 120)
    except subprocess.TimeoutExpired:
        locust.kill()
        return locust.wait()
    finally:
        generators.stop()


def check_args(args: argparse.Namespace) -> dict[str, Any]:
    """PLAN_RUN's recommendation and workload, or exit with one line."""
    try:
        plan = read_plan(args.check)
    except ReportInputError as error:
        raise SystemExit(f"demo --check: {error}") from None
    recommendation = plan.get("recommended_connections_per_instance") or 0
    if recommendation <= 0:
        raise SystemExit(f"demo --check: {args.check} recommends no sockets per instance")
    info_path = args.check / RUN_INFO_FILE
    workload = (
        json.loads(info_path.read_text()).get("workload", {}) if info_path.exists() else {}
    )
    return {
        **{key: value for key, value in workload.items() if key in WORKLOAD_KEYS},
        "capacity_steps": str(recommendation),
        "step_seconds": args.check_seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check is not None:
        vars(args).update(check_args(args))
    run_dir = args.results / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    env = server_env(args.server_setting)
    server = LocalServer(secrets.token_hex(32), log_path=run_dir / "server.log")
    server.env.update(env)
    server.start()
    print(
        f"server on {server.ws_url}; capacity steps {args.capacity_steps} sockets, "
        f"{args.step_seconds:g} s each, over {args.processes} Locust processes"
    )
    sampler = MetricsSampler(f"{server.http_url}/metrics", run_dir, 1.0).start()
    try:
        locust_status = run_load(server, run_dir, args)
    finally:
        sampler.stop()
        server.stop()
    try:
        html = build_report(run_dir, Objective(peak=args.peak), check_run=args.check)
    except ReportInputError as error:
        print(f"no report for {run_dir}: {error}", file=sys.stderr)
        return 2
    return print_summary(run_dir, html, locust_status)


def print_summary(run_dir: Path, html: Path, locust_status: int) -> int:
    summary = json.loads((run_dir / "report.json").read_text())
    print(f"\nrun directory: {run_dir}")
    print(f"report:        {html}")
    print(f"summary:       {run_dir / 'report.md'}")
    for line in headline_lines(summary):
        print(f"  {line}")
    if locust_status != 0:
        log = run_dir / "locust.log"
        print(f"  locust reported failures (exit {locust_status}): see {log}")
    check = summary.get("check")
    if check is not None:
        print(f"  check: {check['summary']}")
        return 0 if check["passed"] else EXIT_CHECK_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
