"""Two capacity runs of the same build, side by side: how far apart are they?

Runs ``python -m wsharness.demo`` ``--runs`` times (default 2) with the same options
and prints, per run, the knee (measured sockets within the objective, or a lower
bound), what bounds the plan, the recommendation and the four unit costs, then the
spread of each figure (max / min - 1).  ``--quick`` runs small steps to see that the
script works (its figures mean nothing).  Extra arguments go to the demo, e.g.
``-- --capacity-steps 500,1000,2000,4000,8000 --step-seconds 30``.

    .venv/bin/python benchmarks/capacity_repeat.py [--runs 2] [--quick] [-- DEMO ARGS]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

FIGURES = (
    ("measured_max_sockets", "knee (sockets within objective)"),
    ("recommended_connections_per_instance", "recommended per instance"),
    ("cpu_us_per_delivery", "µs per delivery"),
    ("cpu_us_per_handshake", "µs per handshake"),
    ("cpu_us_per_inbound_frame", "µs per inbound frame"),
    ("cpu_us_per_socket_second", "µs per socket-second"),
    ("saturation_sockets", "one core full at (sockets, projected)"),
)
QUICK = ("--capacity-steps", "30,60,120", "--step-seconds", "10")


def figure(report: dict, key: str) -> float | None:
    value = report.get(key, report["unit_costs"].get(key))
    return None if value is None else float(value)


def run_demo(results: Path, demo_args: list[str]) -> dict:
    before = set(results.iterdir()) if results.exists() else set()
    command = [sys.executable, "-m", "wsharness.demo", "--results", str(results)]
    subprocess.run([*command, *demo_args], check=True)
    (run_dir,) = set(results.iterdir()) - before
    return {"run_dir": str(run_dir), **json.loads((run_dir / "report.json").read_text())}


def spread(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if len(known) < 2 or min(known) <= 0:
        return "—"
    return f"{max(known) / min(known) - 1:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("demo_args", nargs="*")
    args = parser.parse_args()
    results = args.results or Path(tempfile.mkdtemp(prefix="capacity-repeat-"))
    demo_args = [*(QUICK if args.quick else ()), *args.demo_args]
    reports = [run_demo(results, demo_args) for _ in range(args.runs)]
    print(
        f"\n{'figure':40} "
        + " ".join(f"{'run ' + str(i + 1):>12}" for i in range(len(reports)))
        + "   spread"
    )
    for key, label in FIGURES:
        values = [figure(r, key) for r in reports]
        cells = " ".join(f"{'—' if v is None else f'{v:.1f}':>12}" for v in values)
        print(f"{label:40} {cells}   {spread(values)}")
    for index, report in enumerate(reports, 1):
        bound = " (lower bound)" if report["lower_bound"] else ""
        print(f"run {index}: {report['run_dir']}: limited by {report['limited_by']}{bound}")
        print(f"  {report['measured_on']['statement']}")


if __name__ == "__main__":
    main()
